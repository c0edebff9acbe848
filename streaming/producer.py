"""Publishing playlist events to Kafka at a target rate, with a progress bar and counts per kind."""

from __future__ import annotations

import itertools
import random
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from playlist2vec import topics
from playlist2vec.errors import InvalidInput
from playlist2vec.producer import Producer
from playlist2vec.settings import Settings
from streaming.simulate import SimEvent, Simulator, read_slices

ACK_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class PublishReport:
    counts: Counter[str]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        kinds = ", ".join(f"{k}={n}" for k, n in sorted(self.counts.items()))
        rate = self.total / self.seconds if self.seconds > 0 else 0.0
        return f"published {self.total} events in {self.seconds:.1f}s ({rate:.0f}/s): {kinds}"


def kafka_producer(settings: Settings) -> Producer:
    # idempotence: a retry after a lost acknowledgement (a broker dying) writes no second copy
    return Producer(settings, {"acks": "all", "enable.idempotence": True, "linger.ms": 10,
                               "batch.size": 256 * 1024,
                               "message.timeout.ms": int(ACK_TIMEOUT_S * 1000),
                               "client.id": "playlist2vec-produce"})


def publish(producer: Producer, topic: str, events: Iterable[SimEvent], rate: float = 0.0,
            total: int | None = None, progress: bool = True) -> PublishReport:
    """Send `events` paced to `rate` per second (0: as fast as possible); waits for every ack
    (StackError if any event was refused or not acknowledged within ACK_TIMEOUT_S)."""
    counts: Counter[str] = Counter()
    started = time.monotonic()
    with tqdm(total=total, unit="ev", disable=not progress, mininterval=0.5) as bar:
        for i, event in enumerate(events):
            if rate > 0:
                ahead = started + i / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)  # pacing, not waiting for a condition
            producer.send(topic, key=event.key, value=event.value)
            counts[event.kind.split(":")[0]] += 1
            bar.update()
        producer.flush()
    return PublishReport(counts=counts, seconds=time.monotonic() - started)


@dataclass(frozen=True)
class ProduceOptions:
    """The `produce` command's stream: creations from the MPD slices at `input_path`, then
    edits and deletions (fractions of the number of playlists), `invalid` of all events
    malformed, at most `count` events, paced to `rate` per second (0: as fast as possible)."""

    input_path: Path
    rate: float = 0.0
    edits: float = 1.0
    deletes: float = 0.05
    invalid: float = 0.0
    count: int | None = None
    partitions: int = 4  # of the topics, when they are created
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.invalid < 1.0:
            raise InvalidInput(f"--invalid must be in [0, 1), got {self.invalid}")


def produce(settings: Settings, options: ProduceOptions) -> PublishReport:
    """The `produce` command: read the slices, make sure the topics exist, publish the stream."""
    playlists = list(read_slices(options.input_path))
    topics.ensure_topics(settings, options.partitions)
    invalid = options.invalid
    simulator = Simulator(playlists, random.Random(options.seed),
                          n_edits=round(options.edits * len(playlists)),
                          n_deletes=round(options.deletes * len(playlists)), invalid=invalid)
    planned = round((len(playlists) + simulator.n_edits + simulator.n_deletes) / (1.0 - invalid))
    count = options.count
    total = min(count, planned) if count is not None else planned
    events = itertools.islice(simulator, count) if count is not None else simulator
    producer = kafka_producer(settings)
    try:
        return publish(producer, settings.playlist_topic, events, options.rate, total,
                       options.progress)
    finally:
        producer.close()
