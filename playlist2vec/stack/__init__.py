"""The service stack behind the CLI's `stack` command: the embedded local one, or external services."""

from __future__ import annotations

from playlist2vec.settings import Settings
from playlist2vec.stack.base import ServiceStatus, Stack
from playlist2vec.stack.external import ExternalStack
from playlist2vec.stack.local import LocalStack


def for_settings(settings: Settings) -> Stack:
    """The stack that `P2V_STACK` names."""
    return LocalStack(settings) if settings.stack == "local" else ExternalStack(settings)


__all__ = ["ExternalStack", "LocalStack", "ServiceStatus", "Stack", "for_settings"]
