"""The model registry (`models` collection): versions and the training -> ready -> active lifecycle.

Every status change replaces the whole document (followers of the collection's change stream
only see replacements reliably on the local server). A model becomes `active` in one replace,
after all its vectors are written; the models active before it are then `retired`. Between
those two writes two models are active, and readers take the newest (`store.active_model`).
A run that fails is marked `failed`, with the stage and the error, and never becomes active.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from playlist2vec import store

TRAINING, READY, ACTIVE, RETIRED, FAILED = "training", "ready", "active", "retired", "failed"


def new_version(now: datetime) -> str:
    """`w2v-<UTC timestamp>-<6 hex>`: sorts by creation time, unique across concurrent runs."""
    return f"w2v-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def new_model(now: datetime, params: dict[str, Any], artifact_uri: str,
              version: str | None = None) -> dict[str, Any]:
    """The `models` document of a run that starts now (status `training`)."""
    return {"_id": version or new_version(now), "status": TRAINING, "created_at": now,
            "params": params, "vocab_size": None, "vector_size": params.get("vector_size"),
            "corpus": {}, "artifact_uri": artifact_uri, "metrics": {}}


def save(db: Database[dict[str, Any]], model: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Write `model` with `changes` applied as one whole-document replace; returns the new document."""
    doc = {**model, **changes}
    db[store.MODELS].replace_one({"_id": doc["_id"]}, doc, upsert=True)
    return doc


def activate(db: Database[dict[str, Any]], model: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Make `model` the active one, then retire every other active model."""
    active = save(db, model, status=ACTIVE, activated_at=now)
    for old in db[store.MODELS].find({"status": ACTIVE, "_id": {"$ne": active["_id"]}}):
        save(db, old, status=RETIRED, retired_at=now)
    return active


def fail(db: Database[dict[str, Any]], model: dict[str, Any], stage: str, error: str) -> dict[str, Any]:
    """Record that the run of `model` failed at `stage` (it stays out of service)."""
    return save(db, model, status=FAILED, error={"stage": stage, "message": error})
