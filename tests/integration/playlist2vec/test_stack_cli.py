"""`playlist2vec stack up|status|down|logs` on a stack of its own (not the session's)."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from playlist2vec.cli import main
from playlist2vec.settings import Settings
from playlist2vec.stack import LocalStack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def own_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    from tests.conftest import private_settings

    settings = private_settings(tmp_path / "home")
    env = {
        "P2V_HOME": str(settings.home),
        "P2V_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "P2V_KAFKA_CONTROLLER_PORT": str(settings.kafka_controller_port),
        "P2V_MONGO_URI": settings.mongo_uri.get_secret_value(),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    yield settings
    LocalStack(settings).down()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_up_twice_status_logs_down(own_stack: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stack", "up"]) == 0
    stack = LocalStack(own_stack)
    pids = {name: stack.pid(name) for name in ("kafka", "mongo")}
    assert all(pids.values())

    assert main(["stack", "up"]) == 0, "a second `up` is harmless"
    assert {name: stack.pid(name) for name in ("kafka", "mongo")} == pids

    capsys.readouterr()
    assert main(["stack", "status"]) == 0
    out = capsys.readouterr().out
    assert out.count("healthy") == 2

    assert main(["stack", "logs", "mongo", "-n", "5"]) == 0
    assert "mongo-java-server listening" in (own_stack.home / "logs" / "mongo.log").read_text()

    assert main(["stack", "down"]) == 0
    assert not any(alive(pid) for pid in pids.values() if pid)
    assert main(["stack", "status"]) == 1


def test_busy_port_is_a_one_line_error(own_stack: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", own_stack.kafka_port))
        blocker.listen()
        assert main(["stack", "up"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: port {own_stack.kafka_port} for kafka is busy (another process); "
        "free it or choose other ports in the P2V_* settings"
    )
    assert LocalStack(own_stack).pid("mongo") is None, "nothing is started when a port is busy"


def test_missing_java_is_a_one_line_error(
    own_stack: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert main(["stack", "up"]) == 1
    assert capsys.readouterr().err.strip().startswith("error: `java` not found on PATH")


def test_down_leaves_foreign_processes_alone(own_stack: Settings) -> None:
    foreign = subprocess.Popen(["sleep", "60"])
    try:
        run = own_stack.home / "run"
        run.mkdir(parents=True, exist_ok=True)
        (run / "kafka.pid").write_text(str(foreign.pid))  # a stale pid file naming someone else
        assert main(["stack", "down"]) == 0
        assert foreign.poll() is None, "a process that is not ours was signalled"
    finally:
        foreign.kill()
        foreign.wait()
    assert os.path.exists(own_stack.home / "run") and not (own_stack.home / "run" / "kafka.pid").exists()
