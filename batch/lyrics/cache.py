"""The `lyrics` collection as a fetch cache: which tracks still need fetching, and the result documents.

A document per track: `_id` track_uri, `status` (found | not_found | error), `text` when found,
`error` when not, `fetched_at`, `attempts` (HTTP attempts of the fetch that produced it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import ReplaceOne
from pymongo.database import Database

from playlist2vec import store

FOUND, NOT_FOUND, ERROR = "found", "not_found", "error"


@dataclass(frozen=True)
class Track:
    uri: str
    artist: str
    title: str


@dataclass(frozen=True)
class Outcome:
    """The result of fetching one track's lyrics."""

    uri: str
    status: str
    attempts: int
    fetched_at: datetime
    text: str | None = None
    error: str | None = None

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"_id": self.uri, "status": self.status,
                               "fetched_at": self.fetched_at, "attempts": self.attempts}
        if self.text is not None:
            doc["text"] = self.text
        if self.error is not None:
            doc["error"] = self.error
        return doc


@dataclass
class Backlog:
    """Tracks to fetch, and why the others are not fetched."""

    todo: list[Track] = field(default_factory=list)
    cached: int = 0
    unnamed: int = 0  # no title or artist to ask the provider with


def backlog(db: Database[dict[str, Any]], retry_errors: bool) -> Backlog:
    """The catalogue's tracks without a cached answer (`error` answers count as missing if asked)."""
    settled = [FOUND, NOT_FOUND] if retry_errors else [FOUND, NOT_FOUND, ERROR]
    done = {doc["_id"] for doc in store.iter_docs(db[store.LYRICS], {"status": {"$in": settled}}, ["_id"])}
    result = Backlog()
    for doc in store.iter_docs(db[store.TRACKS], {}, ["track_name", "artist_name"]):
        if doc["_id"] in done:
            result.cached += 1
        elif doc.get("track_name") and doc.get("artist_name"):
            result.todo.append(Track(doc["_id"], doc["artist_name"], doc["track_name"]))
        else:
            result.unnamed += 1
    return result


def build_writes(outcomes: Iterable[Outcome]) -> Iterator[ReplaceOne[dict[str, Any]]]:
    """Whole-document upserts, so a later fetch replaces an earlier answer completely."""
    for outcome in outcomes:
        yield ReplaceOne({"_id": outcome.uri}, outcome.document(), upsert=True)
