"""Cache documents: whole-document upserts carrying exactly the fields of their status."""

from __future__ import annotations

from datetime import UTC, datetime

from batch.lyrics.cache import ERROR, FOUND, NOT_FOUND, Outcome, build_writes
from tests.support.operations import spec

WHEN = datetime(2026, 1, 2, tzinfo=UTC)


def test_each_status_writes_its_fields() -> None:
    outcomes = [Outcome("t:1", FOUND, 1, WHEN, text="la la"), Outcome("t:2", NOT_FOUND, 2, WHEN),
                Outcome("t:3", ERROR, 5, WHEN, error="gave up after 5 attempts: HTTP 503")]
    ops = list(build_writes(outcomes))
    docs = [spec(op).document for op in ops]
    assert [spec(op).filter for op in ops] == [{"_id": "t:1"}, {"_id": "t:2"}, {"_id": "t:3"}]
    assert all(spec(op).upsert for op in ops)
    assert docs[0] == {"_id": "t:1", "status": "found", "text": "la la", "fetched_at": WHEN, "attempts": 1}
    assert docs[1] == {"_id": "t:2", "status": "not_found", "fetched_at": WHEN, "attempts": 2}
    assert docs[2]["error"].endswith("HTTP 503") and "text" not in docs[2]
