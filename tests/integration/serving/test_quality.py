"""Live quality on the real pipeline: edits that add tracks move the hit and trial counters of
the active model and of the ready models scored in shadow, `models compare` shows them, and
`models activate --require-better` refuses the worse model and accepts the better one."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from playlist2vec import quality, store
from playlist2vec.cli import main
from playlist2vec.events import PlaylistEvent
from playlist2vec.producer import Producer
from streaming.bench import seed_model
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

PLAYLISTS = 10


def test_live_recall_in_shadow_guards_the_switch(pipeline: Any, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from tests.integration.conftest import PER_CLUSTER, clean_vectors

    for key, value in pipeline.settings.to_env().items():
        monkeypatch.setenv(key, value)
    db, uris = pipeline.db, pipeline.uris
    rng = np.random.default_rng(1)
    seed_model(db, "worse", uris, rng.permutation(clean_vectors()), pipeline.settings.vector_subtype,
               status="ready")
    seed_model(db, "better", uris, clean_vectors(), pipeline.settings.vector_subtype, status="ready")
    get = pipeline.serving.registry.get_sample_value

    def trials(model: str) -> float | None:
        return get("p2v_online_trials_total", {"model": model})

    def hits(model: str) -> float:
        return get("p2v_online_hits_total", {"model": model}) or 0.0

    wait_until(lambda: trials("worse") is not None and trials("better") is not None, 60, "shadow models")

    def publish(playlists: dict[int, list[str]]) -> None:
        with Producer(pipeline.settings, {"linger.ms": 0}) as producer:
            for pid, tracks in playlists.items():
                event = PlaylistEvent(pid=pid, name=f"p{pid}", tracks=tuple(tracks),
                                      modified_at=int(time.time()))
                producer.send(pipeline.settings.playlist_topic, key=event.key, value=event.to_json())
            producer.flush()

    def playlists_seen() -> float:
        return sum(get("p2v_change_events_total", {"collection": store.PLAYLISTS, "op": op}) or 0.0
                   for op in ("insert", "replace", "update"))

    # ten playlists of five tracks, each of one of the six +e_c clusters
    first = {100 + p: [uris[(p % 6) * PER_CLUSTER + j] for j in range(5)] for p in range(PLAYLISTS)}
    publish(first)
    wait_until(lambda: playlists_seen() >= PLAYLISTS, 60, "the first versions")
    assert trials("m1") in (None, 0.0), "a playlist seen for the first time is no trial"

    # each edit adds three more tracks of the playlist's own cluster: the clean model's top 500
    # holds them all
    edited = {pid: tracks + [uris[((pid - 100) % 6) * PER_CLUSTER + 50 + j] for j in range(3)]
              for pid, tracks in first.items()}
    publish(edited)
    wait_until(lambda: trials("better") == 3 * PLAYLISTS and trials("m1") == 3 * PLAYLISTS, 60, "trials")
    assert hits("better") == 3 * PLAYLISTS
    assert hits("worse") < hits("m1") < hits("better")

    # an edit that adds tracks of the opposite cluster: trials move, the clean model's hits do not
    away = {100: edited[100] + [uris[6 * PER_CLUSTER + j] for j in range(3)]}
    publish(away)
    wait_until(lambda: trials("better") == 3 * PLAYLISTS + 3, 60, "the miss")
    assert hits("better") == 3 * PLAYLISTS

    stored = wait_until(lambda: (c := quality.pair(quality.online(db), "better", "m1")) and c.trials == 33
                  and c, 30, "the counts saved")
    assert stored.hits == 30 and stored.against_hits == hits("m1")

    capsys.readouterr()
    assert main(["models", "compare", "--sample", "10"]) == 0
    table = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert set(table) == {"worse", "better"}
    assert float(table["better"][3]) == pytest.approx(30 / 33, abs=1e-3)  # RECALL
    assert float(table["worse"][5]) < float(table["better"][5])  # OVERLAP@10 with the active

    assert main(["models", "activate", "worse", "--require-better", "--min-trials", "10"]) == 1
    assert "is not better" in capsys.readouterr().err
    assert main(["models", "activate", "better", "--require-better", "--min-trials", "100"]) == 1
    assert "fewer than 100" in capsys.readouterr().err
    assert store.active_model(db)["_id"] == "m1"
    assert main(["models", "activate", "better", "--require-better", "--min-trials", "10"]) == 0
    assert store.active_model(db)["_id"] == "better"
