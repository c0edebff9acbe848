"""`playlist2vec serve` as a real process over the private stack, and its flag errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from playlist2vec.cli import main

pytestmark = pytest.mark.integration


def test_serve_process_becomes_ready_and_answers(catalog: Any, settings: Any, tmp_path: Path,
                                                 wait: Any) -> None:
    env = {**os.environ, "P2V_HOME": str(tmp_path), "P2V_MONGO_DB": settings.mongo_db,
           "P2V_MONGO_URI": settings.mongo_uri.get_secret_value(), "P2V_STACK": settings.stack}
    url = f"http://{settings.http_addr}"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "playlist2vec"), "serve", "--http-addr", settings.http_addr,
         "--index", "exact", "--instance", "cli-test"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def ready() -> bool:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait(ready, 60, "serve process ready")
        items = httpx.get(f"{url}/v1/playlists/300/similar", params={"k": 3}).json()["items"]
        assert [item["pid"] // 100 for item in items] == [3, 3, 3]
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert list((tmp_path / "indexes").glob("cli-test-*")), "indexes written under P2V_HOME"


def test_bad_shard_flag_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--shard", "5/2"]) == 2
    assert capsys.readouterr().err.strip() == "error: --shard expects i/n with 0 <= i < n, got '5/2'"


def test_unknown_index_strategy_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--index", "faiss"]) == 2
    assert capsys.readouterr().err.strip().startswith("error: unknown index strategy 'faiss'")
