"""What the cluster tests share: a stream of edits whose order matters, free port runs."""

from __future__ import annotations

import random

from playlist2vec.events import PlaylistEvent

PIDS = 300


def edits(count: int, rng: random.Random, vocab: list[str]) -> list[PlaylistEvent]:
    """`count` edits of PIDS playlists (each edited about count / PIDS times, so order matters),
    about 5% deletions, clocks increasing per event."""
    events = []
    for i in range(count):
        pid = rng.randrange(PIDS)
        if rng.random() < 0.05:
            events.append(PlaylistEvent(pid=pid, modified_at=1_700_000_000 + i, deleted=True))
            continue
        tracks = tuple(rng.choice(vocab) if rng.random() < 0.9 else f"spotify:track:new{i}"
                       for _ in range(rng.randint(3, 30)))
        events.append(PlaylistEvent(pid=pid, modified_at=1_700_000_000 + i, name=f"p{pid}",
                                    tracks=tracks))
    return events
