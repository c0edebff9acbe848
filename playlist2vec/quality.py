"""Live quality: recall@500 of each model on real edits, as serving records it and as
`models compare` and `models activate --require-better` read it.

Every edit that adds tracks to a playlist serving already knew is a test of the previous
version's recommendations: each added track is a trial, and a hit when it was among the top
`LIVE_K` tracks that version would have been served. The active model and every `ready` one
(in shadow) are scored on the same edits, so a candidate's counts sit beside the active
model's on exactly its own trials. Serving keeps them in its `serving_state` document:
`online.<version>` = {"trials", "hits", "against", "against_hits"}, where `against` is the
model that was active during those trials and `against_hits` its hits on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo.database import Database

from playlist2vec import store
from playlist2vec.errors import Refused

LIVE_K = 500
MIN_TRIALS = 100
"""Added tracks a candidate must have been scored on before `--require-better` trusts it."""


@dataclass(frozen=True)
class Pair:
    """A candidate's live trials beside the model that was active during them."""

    instance: str
    candidate: str
    against: str
    trials: int
    hits: int
    against_hits: int

    @property
    def recall(self) -> float:
        return self.hits / self.trials if self.trials else 0.0

    @property
    def against_recall(self) -> float:
        return self.against_hits / self.trials if self.trials else 0.0


def online(db: Database[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """instance -> version -> counts, from every serving instance's state."""
    return {str(doc["_id"]): dict(doc.get("online") or {})
            for doc in db[store.SERVING_STATE].find({}, {"online": 1})}


def pair(counts: Mapping[str, Mapping[str, Mapping[str, Any]]], candidate: str,
         active: str) -> Pair | None:
    """The candidate's trials against `active` on the instance that scored it most (replicas
    each score every edit: adding them up would count an edit once per replica)."""
    found = [Pair(instance, candidate, active, int(c.get("trials", 0)), int(c.get("hits", 0)),
                  int(c.get("against_hits", 0)))
             for instance, versions in counts.items()
             if (c := versions.get(candidate)) and c.get("against") == active]
    return max(found, key=lambda p: p.trials, default=None)


def require_better(db: Database[dict[str, Any]], candidate: str, active: str,
                   min_trials: int = MIN_TRIALS) -> Pair:
    """The candidate's pair if its live recall beats the active model's on the same trials;
    Refused (saying why) if it does not, or was scored on fewer than `min_trials`."""
    found = pair(online(db), candidate, active)
    if found is None or found.trials < min_trials:
        raise Refused(f"model {candidate} has {found.trials if found else 0} live trials against "
                      f"{active}, fewer than {min_trials}: let serving score it on more edits")
    if found.hits <= found.against_hits:
        raise Refused(f"model {candidate} is not better: live recall@{LIVE_K} {found.recall:.3f} "
                      f"against {active}'s {found.against_recall:.3f} on the same {found.trials} "
                      "added tracks")
    return found
