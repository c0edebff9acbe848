"""The one-command demo: the whole pipeline on the embedded stack, driven through the public CLI.

Each stage is a `playlist2vec` subcommand run as a child process (so the demo shows exactly
what a user would run, and needs no import of batch/, streaming/ or serving/); the demo only
orchestrates, talks HTTP to the server and Kafka to publish one measured edit.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from playlist2vec.children import Children, wait_for
from playlist2vec.events import PlaylistEvent
from playlist2vec.producer import Producer
from playlist2vec.settings import Settings
from playlist2vec.stack import LocalStack

Say = Callable[[str], None]
ACK_TIMEOUT_MS = 30_000
FRESHNESS_EVERY_S = 30.0
"""How often the trickle prints its end-to-end freshness."""
ONCE_TRICKLE, ONCE_TRICKLE_RATE = 20, 5.0
"""`--once`: the edits whose freshness it prints, and their rate per second."""


@dataclass(frozen=True)
class DemoOptions:
    playlists: int = 3000
    seed: int = 7
    once: bool = False
    trickle_rate: float = 2.0
    ready_timeout_s: float = 300.0


@dataclass
class DemoResult:
    update_seconds: float
    examples: dict[int, list[str]] = field(default_factory=dict)


def http_ok(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.HTTPError:
        return False


def stream_events(settings: Settings) -> dict[str, float]:
    """The streaming job's handled events by result (applied, stale, deleted, invalid), from its
    Prometheus endpoint (empty if not up)."""
    try:
        text = httpx.get(f"http://{settings.stream_metrics_addr}/metrics", timeout=2).text
    except httpx.HTTPError:
        return {}
    return {
        sample.labels["result"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "p2v_stream_events"
        for sample in family.samples
        if sample.name == "p2v_stream_events_total"
    }


def stream_events_seen(settings: Settings) -> float:
    """How many events the streaming job has handled (0 if not up)."""
    return sum(stream_events(settings).values())


def end_to_end_buckets(http: httpx.Client) -> dict[float, float]:
    """Serving's end-to-end freshness histogram: cumulative count by upper bound (+inf last)."""
    text = http.get("/metrics").text
    return {
        float(sample.labels["le"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "p2v_freshness_seconds"
        for sample in family.samples
        if sample.name.endswith("_bucket") and sample.labels.get("stage") == "end_to_end"
    }


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus's histogram_quantile estimate from cumulative buckets: linear within the
    bucket that holds rank q x total (its lower bound when that is the +Inf bucket); None
    when the histogram is empty."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def freshness_line(http: httpx.Client, since: dict[float, float]) -> str:
    """p50/p95 of the end-to-end freshness of the edits served since `since` (a snapshot of
    `end_to_end_buckets`), from serving's own histogram."""
    now = end_to_end_buckets(http)
    delta = {bound: count - since.get(bound, 0.0) for bound, count in now.items()}
    p50, p95 = quantile(0.5, delta), quantile(0.95, delta)
    if p50 is None or p95 is None:
        return "no edit served yet"
    return (f"{delta[math.inf]:.0f} edits servable, Kafka -> servable p50 {p50:.2f}s / p95 "
            f"{p95:.2f}s (p2v_freshness_seconds, end_to_end)")


def trickle_args(corpus: Path, rate: float) -> list[str]:
    """`produce` arguments of the demo's trickle: mostly edits of the corpus's playlists."""
    return ["--input", str(corpus), "--rate", str(rate), "--edits", "0.8", "--deletes", "0.05"]


def short_trickle(settings: Settings, http: httpx.Client, corpus: Path, children: Children,
                  published: int) -> str:
    """`--once`: publish `ONCE_TRICKLE` events and give what became of them: how many the
    stream applied and how many were stale, and the end-to-end freshness of the applied ones.

    Each applied event writes one playlist vector (one model), which serving observes as one
    change, so "applied == servable" is checked, not assumed: the trickle starts once the
    stream has handled the `published` earlier events and serving has observed every change
    the stream applied, and ends when serving has observed the trickle's."""

    def observed() -> float:
        return end_to_end_buckets(http).get(math.inf, 0.0)

    wait_for("the streaming job to handle the earlier events",
             lambda: stream_events_seen(settings) >= published, 120, children)
    before = stream_events(settings)
    wait_for("serving to apply the earlier events",
             lambda: observed() >= before.get("applied", 0.0), 60, children)
    since = end_to_end_buckets(http)
    children.run("trickle", "produce", *trickle_args(corpus, ONCE_TRICKLE_RATE),
                 "--count", str(ONCE_TRICKLE))
    wait_for("the trickle to be processed",
             lambda: stream_events_seen(settings) >= published + ONCE_TRICKLE, 120, children)
    after = stream_events(settings)
    applied, stale = (after.get(r, 0.0) - before.get(r, 0.0) for r in ("applied", "stale"))
    wait_for(f"serving to apply the trickle's {applied:.0f} changes",
             lambda: observed() - since.get(math.inf, 0.0) >= applied, 60, children)
    return (f"{applied:.0f} applied, {stale:.0f} stale (older than the stored playlist); "
            + freshness_line(http, since))


def explained(http: httpx.Client, pid: int) -> list[str]:
    """The top recommendation for `pid` and where its score comes from, as lines."""
    reply = http.get(f"/v1/playlists/{pid}/recommendations", params={"k": 1, "explain": "true"})
    reply.raise_for_status()
    item = reply.json()["items"][0]
    explanation = item["explanation"]
    lines = [f'why "{item["track_name"]} - {item["artist_name"]}" (score {item["score"]:.3f}) '
             f"for playlist {pid}:"]
    lines += [f'    {seed["contribution"]:+.3f} from "{seed["track_name"]} - {seed["artist_name"]}"'
              for seed in explanation["seeds"]]
    others = explanation["seeds_known"] - len(explanation["seeds"])
    if others:
        lines.append(f"    {explanation['rest']:+.3f} from its {others} other tracks")
    return lines


def read_playlists(corpus: Path, n: int) -> list[dict[str, Any]]:
    """The first n playlists of the corpus's first slice, as MPD dicts."""
    first = sorted(corpus.glob("mpd.slice.*.json"))[0]
    return list(json.loads(first.read_text())["playlists"][:n])


def snapshot(playlist: dict[str, Any], tracks_from: dict[str, Any] | None = None) -> PlaylistEvent:
    source = tracks_from or playlist
    tracks = tuple(t["track_uri"] for t in sorted(source["tracks"], key=lambda t: t["pos"]))
    return PlaylistEvent(
        pid=int(playlist["pid"]), name=playlist["name"], tracks=tracks, modified_at=int(time.time())
    )


@contextmanager
def step(say: Say, text: str) -> Iterator[None]:
    started = time.monotonic()
    say(f"  {text} ...")
    yield
    say(f"  {text}: done in {time.monotonic() - started:.1f}s")


def run_demo(
    settings: Settings, options: DemoOptions, say: Say = print, stop: threading.Event | None = None
) -> DemoResult:
    """Stack up, generate, train, stream, serve, show answers and one measured live update.
    Without a `stop` event, SIGINT (Ctrl-C) and SIGTERM stop it and everything it started."""
    if stop is None:
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    say("playlist2vec demo (Ctrl-C stops everything it started)")
    stack = LocalStack(settings)
    stack_was_up = stack.pid("kafka") is not None and stack.pid("mongo") is not None
    children = Children(settings)
    corpus = settings.home / "demo" / "corpus"
    base = f"http://{settings.http_addr}"
    try:
        with step(say, "local stack (Kafka, MongoDB-wire server)"):
            stack.up()
        with step(say, f"generating {options.playlists} playlists"):
            children.run(
                "generate",
                "generate",
                "--playlists",
                str(options.playlists),
                "--out",
                str(corpus),
                "--seed",
                str(options.seed),
            )
        with step(say, "training Word2Vec with Spark"):
            children.run("train", "train", "--input", str(corpus))
        with (
            step(say, "starting the streaming job and the server"),
            httpx.Client(base_url=base, timeout=10) as http,
        ):
            children.start("stream", "stream")
            children.start("serve", "serve")
            wait_for(
                "the server's index", lambda: http_ok(http, "/readyz"), options.ready_timeout_s, children
            )
            sample = read_playlists(corpus, 40)
            producer = Producer(settings, {"message.timeout.ms": ACK_TIMEOUT_MS})
            # the playlists shown are published first: the store may hold another corpus's
            # contents for their pids (newest modified_at wins)
            shown = sample[:3]
            for playlist in shown:
                event = snapshot(playlist)
                producer.send(settings.playlist_topic, key=event.key, value=event.to_json())
            producer.flush()
            wait_for(
                "the streaming job's first batch",
                lambda: stream_events_seen(settings) >= len(shown),
                options.ready_timeout_s,
                children,
            )

        result = DemoResult(update_seconds=0.0)
        say("")
        with httpx.Client(base_url=base, timeout=10) as http:
            for playlist in shown[1:]:
                lines = continuation(http, int(playlist["pid"]), children)
                result.examples[int(playlist["pid"])] = lines
                say(
                    f'  playlist {playlist["pid"]} "{playlist["name"]}" '
                    f"({playlist['num_tracks']} tracks) continues with:"
                )
                for line in lines:
                    say(f"      {line}")
            say("")
            for line in explained(http, int(shown[1]["pid"])):
                say(f"  {line}")
            result.update_seconds = measure_update(settings, producer, http, sample[3:], children)
            say(
                f"\n  a live edit travelled Kafka -> Spark -> MongoDB -> index -> HTTP answer in "
                f"{result.update_seconds:.2f}s"
            )
            if options.once:
                trickle = short_trickle(settings, http, corpus, children, producer.acked)
                say(f"  a trickle of {ONCE_TRICKLE} edits: {trickle}")
        say(
            f"\n  API docs: {base}/docs   metrics: {base}/metrics and "
            f"http://{settings.stream_metrics_addr}/metrics   logs: {settings.logs_dir}"
        )
        if not options.once:
            children.start("produce", "produce", *trickle_args(corpus, options.trickle_rate))
            say("  publishing a trickle of live edits; press Ctrl-C to stop everything")
            with httpx.Client(base_url=base, timeout=10) as http:
                since, printed = end_to_end_buckets(http), time.monotonic()
                while not stop.wait(1.0):
                    children.check_alive()
                    if time.monotonic() - printed >= FRESHNESS_EVERY_S:
                        say(f"  trickle: {freshness_line(http, since)}")
                        printed = time.monotonic()
        producer.close()
        return result
    finally:
        children.stop()
        if not stack_was_up:
            stack.down()


def continuation(http: httpx.Client, pid: int, children: Children) -> list[str]:
    """The served continuation of `pid` (five tracks), once serving has its fresh vector."""
    lines: list[str] = []

    def shown() -> bool:
        reply = http.get(f"/v1/playlists/{pid}/recommendations", params={"k": 5})
        lines[:] = ([f"{i['track_name']} - {i['artist_name']}" for i in reply.json()["items"]]
                    if reply.status_code == 200 else [])
        return bool(lines)

    wait_for(f"recommendations for playlist {pid}", shown, 120, children)
    return lines


def measure_update(
    settings: Settings,
    producer: Producer,
    http: httpx.Client,
    candidates: list[dict[str, Any]],
    children: Children,
) -> float:
    """Give one playlist the tracks of the next and time until the server says they are alike.

    The pair is the first of `candidates` (taken two by two) that the server does not already
    call alike (an earlier demo in the same P2V_HOME may have made that very edit). Both are
    published: the stored contents of their pids may be another corpus's.
    """

    def alike(edited: dict[str, Any], model: dict[str, Any]) -> bool:
        reply = http.get(f"/v1/playlists/{edited['pid']}/similar", params={"k": 3})
        return reply.status_code == 200 and any(
            item["pid"] == model["pid"] and item["score"] > 0.999 for item in reply.json()["items"]
        )

    pairs = zip(candidates[::2], candidates[1::2], strict=False)
    edited, model = next(((e, m) for e, m in pairs if not alike(e, m)), (candidates[0], candidates[1]))
    started = time.monotonic()
    for event in (snapshot(model), snapshot(edited, tracks_from=model)):
        producer.send(settings.playlist_topic, key=event.key, value=event.to_json())
    producer.flush()
    wait_for("the edit to reach the served answer", lambda: alike(edited, model), 120, children)
    return time.monotonic() - started
