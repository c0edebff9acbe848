"""The fetcher against a local provider that is slow, throttles and fails: cap, retries, cache, re-runs."""

from __future__ import annotations

from typing import Any

import pytest

from batch.lyrics import synthetic
from batch.lyrics.fetch import fetch_lyrics
from batch.lyrics.options import FetchOptions
from batch.lyrics.synthetic import Fault
from playlist2vec import store
from playlist2vec.cli import main
from playlist2vec.settings import Settings

pytestmark = pytest.mark.integration

CONCURRENCY = 4
OPTIONS = FetchOptions(concurrency=CONCURRENCY, rate=0, timeout_s=0.5, max_attempts=3,
                       backoff_s=0.01, backoff_max_s=0.2, write_batch=7, progress=False)


def _lyrics(artist: str, title: str) -> str | None:
    return None if title == "missing" else f"words of {title} by {artist}"


def _catalogue(db: Any, n_plain: int) -> list[str]:
    titles = [f"song {i}" for i in range(n_plain)] + ["flaky", "throttled", "broken", "missing"]
    docs = [{"_id": f"spotify:track:{i:022d}", "track_name": t, "artist_name": f"artist {i % 3}"}
            for i, t in enumerate(titles)]
    docs.append({"_id": "spotify:track:unnamed", "track_name": "no artist"})
    db[store.TRACKS].insert_many(docs)
    return titles


def _script() -> synthetic.Script:
    return synthetic.Script(lyrics=_lyrics, latency_s=0.03, faults={
        "flaky": [Fault(status=503), Fault(status=500)],  # third attempt succeeds
        "throttled": [Fault(status=429, retry_after=0.05)],
        "broken": [Fault(status=502)] * 4,  # outlasts 3 attempts, then answers on a later run
    })


def _by_title(db: Any) -> dict[str, dict[str, Any]]:
    names = {d["_id"]: d["track_name"] for d in db[store.TRACKS].find()}
    return {names[d["_id"]]: d for d in db[store.LYRICS].find()}


def test_fetch_honours_cap_retries_records_failures_and_caches(settings: Settings, db: Any) -> None:
    titles = _catalogue(db, n_plain=40)
    with synthetic.serve(_script()) as provider:
        first = fetch_lyrics(settings, provider.url_template, OPTIONS)
        assert provider.stats().max_in_flight == CONCURRENCY  # the cap is reached and never passed
        assert provider.stats().requests == first.requests == len(titles) + 2 + 1 + 2
        assert (first.found, first.not_found, first.errors) == (len(titles) - 2, 1, 1)
        assert first.unnamed == 1 and first.cached == 0

        docs = _by_title(db)
        assert len(docs) == len(titles)
        assert docs["flaky"]["status"] == "found" and docs["flaky"]["attempts"] == 3
        assert docs["throttled"]["status"] == "found" and docs["throttled"]["attempts"] == 2
        assert docs["missing"]["status"] == "not_found" and "text" not in docs["missing"]
        assert docs["broken"]["status"] == "error" and docs["broken"]["attempts"] == 3
        assert "502" in docs["broken"]["error"] and docs["broken"]["fetched_at"] is not None
        assert docs["song 7"]["text"] == "words of song 7 by artist 1"

        before = provider.stats().requests
        again = fetch_lyrics(settings, provider.url_template, OPTIONS)
        assert provider.stats().requests == before  # everything answered is cached, errors included
        assert again.fetched == 0 and again.cached == len(titles)

        retried = fetch_lyrics(settings, provider.url_template,
                               FetchOptions(**{**OPTIONS.__dict__, "retry_errors": True}))
        assert provider.stats().per_title["broken"] == 3 + 2  # one fault left, then the lyrics
        assert provider.stats().requests == before + 2
        assert (retried.fetched, retried.found) == (1, 1)
    assert _by_title(db)["broken"]["status"] == "found"


def test_timeouts_are_retried(settings: Settings, db: Any) -> None:
    # apart from the cap test: the server keeps serving a request its client gave up on
    db[store.TRACKS].insert_one({"_id": "spotify:track:slow", "track_name": "slow", "artist_name": "a"})
    script = synthetic.Script(lyrics=_lyrics, faults={"slow": [Fault(delay_s=2.0)]})
    with synthetic.serve(script) as provider:
        summary = fetch_lyrics(settings, provider.url_template, OPTIONS)
        assert provider.stats().per_title["slow"] == 2
    assert summary.found == 1
    assert db[store.LYRICS].find_one({"_id": "spotify:track:slow"})["attempts"] == 2


def test_cli_fetch_prints_summary(settings: Settings, db: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _catalogue(db, n_plain=3)
    with synthetic.serve(synthetic.Script(lyrics=_lyrics)) as provider:
        code = main(["--mongo-uri", settings.mongo_uri.get_secret_value(), "--mongo-db", settings.mongo_db,
                     "lyrics", "fetch", "--provider-url", provider.url_template, "--concurrency", "2",
                     "--backoff", "0.01"])
    out = capsys.readouterr().out
    assert code == 0
    assert "found 6, not found 1, errors 0" in out and "songs/min" in out


def test_cli_refuses_bad_template_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["lyrics", "fetch", "--provider-url", "http://127.0.0.1:9/lyrics/{artist}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "missing {title}" in err
