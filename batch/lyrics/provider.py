"""The lyrics provider contract: a URL template with `{artist}` and `{title}`, and what its answers mean.

GET <template with artist and title URL-encoded> answers
- 200 with the lyrics as the (UTF-8) text body -> `found` (an empty body counts as `not_found`);
- 404 -> `not_found` (the provider has no lyrics for the song);
- 429 or 5xx -> overloaded: retried with backoff (a `Retry-After` in seconds is honoured);
- any other status -> `error`, not retried.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from enum import Enum
from urllib.parse import quote, urlsplit

from playlist2vec.errors import InvalidInput

PLACEHOLDERS = frozenset({"artist", "title"})


class Answer(Enum):
    FOUND = "found"
    NOT_FOUND = "not_found"
    RETRY = "retry"
    ERROR = "error"


def classify(status: int) -> Answer:
    """What an HTTP status from the provider means for the song."""
    if status == 200:
        return Answer.FOUND
    if status == 404:
        return Answer.NOT_FOUND
    if status == 429 or 500 <= status < 600:
        return Answer.RETRY
    return Answer.ERROR


@dataclass(frozen=True)
class ProviderTemplate:
    """A validated URL template; `url` substitutes URL-encoded values."""

    template: str

    @classmethod
    def parse(cls, template: str) -> ProviderTemplate:
        """The template, or InvalidInput naming what is wrong with it."""
        if urlsplit(template).scheme not in ("http", "https"):
            raise InvalidInput(f"provider URL must start with http:// or https://, got {template!r}")
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
        except ValueError as exc:
            raise InvalidInput(f"bad provider URL template {template!r}: {exc}") from None
        missing, unknown = PLACEHOLDERS - fields, fields - PLACEHOLDERS
        if missing or unknown:
            problems = [f"missing {{{n}}}" for n in sorted(missing)]
            problems += [f"unknown placeholder {{{n}}}" for n in sorted(unknown)]
            raise InvalidInput(f"bad provider URL template {template!r}: {', '.join(problems)}")
        return cls(template)

    def url(self, artist: str, title: str) -> str:
        # safe="" so a "/" or "&" in a title cannot change the URL's structure
        return self.template.format(artist=quote(artist, safe=""), title=quote(title, safe=""))
