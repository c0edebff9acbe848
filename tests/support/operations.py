"""What a pymongo write operation will send, for tests of pure functions that build them.

pymongo's `UpdateOne`/`ReplaceOne` expose no accessor for their filter and document, only
whole-operation equality; this module is the one place tests read them.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Spec(NamedTuple):
    filter: Any
    document: Any
    upsert: bool


def spec(operation: Any) -> Spec:
    """The filter (None for an insert), document (inserted, replacement or update) and upsert
    flag of `operation`."""
    return Spec(getattr(operation, "_filter", None), operation._doc,
                bool(getattr(operation, "_upsert", False)))
