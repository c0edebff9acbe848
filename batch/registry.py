"""The model registry (`models` collection): versions, the life cycle and the switch between models.

    training --(all vectors written)--> ready --(catch-up)--> active --(next switch)--> retired
        |                                 |                      ^                        |
        +--------(any stage fails)--------+--> failed            +---- rollback/activate -+

Every status change replaces the whole document (followers of the collection's change stream
only see replacements reliably on the local server). A switch makes the model `ready` (the
stream writes its vectors from then on), catches up the playlists changed since its vectors
were derived, then marks it `active` with a fresh `activated_at` in one replace: that write
is the switch (`store.active_model` takes the most recently activated). The models active
before it are retired afterwards and keep their vectors, so a rollback is the same switch.
A run that fails is marked `failed` and no other model is touched.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database

from batch import derive
from playlist2vec import quality, store
from playlist2vec.errors import InvalidInput, NotFound

TRAINING, READY, ACTIVE, RETIRED, FAILED = "training", "ready", "active", "retired", "failed"
# A stream micro-batch stamps `updated_at` before its writes land: changes stamped this long
# before a model stopped being written are caught up too (recomputing more is harmless).
CATCH_UP_MARGIN = timedelta(seconds=60)


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
    """Make `model` the active one (one replace), then retire every other active model."""
    active = save(db, model, status=ACTIVE, activated_at=now)
    for old in db[store.MODELS].find({"status": ACTIVE, "_id": {"$ne": active["_id"]}}):
        save(db, old, status=RETIRED, retired_at=now)
    return active


def fail(db: Database[dict[str, Any]], model: dict[str, Any], stage: str, error: str) -> dict[str, Any]:
    """Record that the run of `model` failed at `stage`; it stays out of service. Its vectors
    are left where they are (keyed by its version, nobody reads them; `models retire` removes
    them): removing them here would add a second failure path to the one being reported."""
    return save(db, model, status=FAILED, error={"stage": stage, "message": error})


def remove_vectors(db: Database[dict[str, Any]], version: str) -> None:
    """Delete one model's track and playlist vectors, provisional ones and its fold-in state."""
    for collection in (store.PLAYLIST_VECTORS, store.TRACK_VECTORS, store.FOLD_IN,
                       store.FOLD_IN_BATCHES):
        db[collection].delete_many({"_id.m": version})


def _untimed(_: str) -> AbstractContextManager[None]:
    return nullcontext()


def switch(db: Database[dict[str, Any]], model: dict[str, Any], since: datetime, subtype: int,
           stage: Callable[[str], AbstractContextManager[None]] = _untimed) -> dict[str, Any]:
    """ready -> catch-up of the playlists stamped since `since` -> active; returns the active
    doc. `stage` times (and names, for errors) the `catch-up` and `activate` steps."""
    if model["status"] != READY:
        model = save(db, model, status=READY)  # from here on the stream writes its vectors too
    with stage("catch-up"):
        caught_up = derive.catch_up(db, model["_id"], since, datetime.now(UTC), subtype)
        model = save(db, model, caught_up=caught_up)
    with stage("activate"):
        return activate(db, model, datetime.now(UTC))


# -- the `models` commands -------------------------------------------------------------------

def models(db: Database[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every model, newest first."""
    return list(db[store.MODELS].find({}, sort=[("created_at", DESCENDING)]))


def record_serving_cost(db: Database[dict[str, Any]], version: str,
                        serving: dict[str, Any]) -> dict[str, Any]:
    """Add what serving a model's vectors costs (`metrics.serving`: the serve benchmark at its
    vocabulary size and dimension) to its entry, beside what it scored."""
    model = _get(db, version)
    return save(db, model, metrics={**(model.get("metrics") or {}), "serving": serving})


def quality_and_cost(model: dict[str, Any]) -> dict[str, Any]:
    """What `models list` shows beside the status: the dimension, the validation R-precision
    and popularity's on the same split (tuned models only), the float32 payload of the
    vectors in MB, the fit seconds (a tuned model's: its winning trial's fit) and the serve
    benchmark's HTTP k=500 p99 at the model's size (tuned models only); None where the run
    did not record it."""
    tuning = model.get("tuning") or {}
    metrics = model.get("metrics") or {}
    stored = metrics.get("vector_bytes")
    return {
        "vector_size": model.get("vector_size"),
        "r_precision": (tuning.get("best_validation") or {}).get("scores", {}).get("r_precision"),
        "popularity": tuning.get("popularity", {}).get("r_precision"),
        "vector_mb": (stored["track_vectors"] + stored["playlist_vectors"]) / 1e6 if stored else None,
        "fit_seconds": metrics.get("stage_seconds", {}).get("fit")
        or (tuning.get("best_validation") or {}).get("fit_seconds"),
        "k500_p99_ms": (metrics.get("serving") or {}).get("k500_http_p99_ms"),
    }


def _get(db: Database[dict[str, Any]], version: str) -> dict[str, Any]:
    model = db[store.MODELS].find_one({"_id": version})
    if model is None:
        raise NotFound(f"no model {version!r}: see `playlist2vec models list`")
    return model


def _servable(model: dict[str, Any]) -> bool:
    return model["status"] in (READY, RETIRED) and not model.get("vectors_removed_at")


def activate_version(db: Database[dict[str, Any]], version: str, subtype: int,
                     require_better: int | None = None) -> dict[str, Any]:
    """Switch to a `ready` model or a retired one whose vectors are kept. With
    `require_better` (a minimum of live trials), only if its live recall beat the active
    model's on the same edits (Refused otherwise)."""
    model = _get(db, version)
    if model["status"] == ACTIVE:
        raise InvalidInput(f"model {version} is already active")
    if not _servable(model):
        raise InvalidInput(f"model {version} is {model['status']}"
                           + (" and its vectors were removed" if model.get("vectors_removed_at")
                              else "") + ": only a ready or retired model can be activated")
    if require_better is not None:
        quality.require_better(db, version, str(store.active_model(db)["_id"]), require_better)
    return switch(db, model, since(model), subtype)


def rollback(db: Database[dict[str, Any]], subtype: int) -> dict[str, Any]:
    """Activate again the most recently active retired model whose vectors are kept."""
    current = store.active_model(db)
    previous = [m for m in db[store.MODELS].find(
        {"status": RETIRED, "_id": {"$ne": current["_id"]}},
        sort=[("activated_at", DESCENDING)]) if _servable(m)]
    if not previous:
        raise NotFound("no retired model with its vectors to roll back to")
    return switch(db, previous[0], since(previous[0]), subtype)


def retire(db: Database[dict[str, Any]], version: str) -> dict[str, Any]:
    """Retire a model that is not active (a failed one too) and remove its vectors now (no
    grace period: a retired model keeps its vectors until this command)."""
    model = _get(db, version)
    if model["status"] in (ACTIVE, TRAINING):
        raise InvalidInput(f"model {version} is {model['status']}: "
                           + ("activate another model first" if model["status"] == ACTIVE
                              else "wait for its run to end"))
    now = datetime.now(UTC)
    retired = save(db, model, status=RETIRED, retired_at=model.get("retired_at") or now,
                   vectors_removed_at=now)
    remove_vectors(db, version)
    return retired


def since(model: dict[str, Any]) -> datetime:
    """The point since which `model`'s vectors may miss changes (less CATCH_UP_MARGIN): when
    it stopped being written (retired), else when its derive pass began."""
    point: datetime = model.get("retired_at") or model.get("derive_started_at") or model["created_at"]
    return point - CATCH_UP_MARGIN
