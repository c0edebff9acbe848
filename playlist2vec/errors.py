"""The one error hierarchy: every error the project raises on purpose, each knowing its HTTP status."""

from __future__ import annotations


class P2VError(Exception):
    """Base class. The CLI prints `error: <message>` and exits 1; HTTP answers `status` (with
    a `Retry-After` header of `retry_after` seconds when set)."""

    status: int = 500
    exit_code: int = 1
    retry_after: int | None = None


class ConfigError(P2VError):
    """A setting is missing or malformed."""

    exit_code = 2


class InvalidInput(P2VError):
    """Input data (a file, a request, an event) breaks its contract."""

    status = 422
    exit_code = 2


class NotFound(P2VError):
    """A playlist, track or model that does not exist."""

    status = 404


class Unauthorized(P2VError):
    """An admin route was called without the right token."""

    status = 401


class PayloadTooLarge(P2VError):
    """A request body over the configured limit."""

    status = 413
    exit_code = 2


class NotReady(P2VError):
    """The service cannot answer yet (no index loaded, no active model)."""

    status = 503
    retry_after = 5


class Unavailable(P2VError):
    """A backing service (MongoDB, Kafka) cannot be reached or did not answer in time."""

    status = 503
    retry_after = 5


class StackError(P2VError):
    """A local service could not be set up, started, stopped or reached."""


class PipelineError(P2VError):
    """A batch or streaming run failed; the message says which stage."""


class Refused(P2VError):
    """A guarded operation declined: e.g. activating a model that is not better live."""

    status = 409
