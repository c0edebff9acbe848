"""`playlist2vec` subcommands run as child processes (the demo's and the chaos run's stages):
started with their logs under P2V_HOME/logs, watched, killed on purpose, all stopped at the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from playlist2vec.errors import PipelineError
from playlist2vec.settings import Settings


class Children:
    """Child `playlist2vec` processes, each in its own process group (so a kill reaches the JVM a
    Spark job starts too); settings reach them through the environment, never the command line."""

    def __init__(self, settings: Settings, log_prefix: str = "demo") -> None:
        self.settings = settings
        self.log_prefix = log_prefix
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.args: dict[str, tuple[str, ...]] = {}
        settings.logs_dir.mkdir(parents=True, exist_ok=True)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "playlist2vec.cli", *args]

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.settings.to_env()}

    def log(self, name: str) -> Path:
        return self.settings.logs_dir / f"{self.log_prefix}-{name}.log"

    def run(self, name: str, *args: str) -> None:
        """Run a stage to completion; its output goes to P2V_HOME/logs/<prefix>-<name>.log."""
        log = self.log(name)
        with log.open("wb") as out:
            proc = subprocess.run(
                self.command(*args), stdout=out, stderr=subprocess.STDOUT, env=self.env(), check=False
            )
        if proc.returncode != 0:
            raise PipelineError(f"`playlist2vec {' '.join(args)}` failed: {last_line(log)} (log: {log})")

    def start(self, name: str, *args: str) -> None:
        """Start a long-running stage (again, with the same arguments, when `args` is empty)."""
        self.args[name] = args or self.args[name]
        with self.log(name).open("ab") as log:
            self.procs[name] = subprocess.Popen(
                self.command(*self.args[name]), stdout=log, stderr=subprocess.STDOUT, env=self.env(),
                start_new_session=True,
            )

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def kill(self, name: str) -> None:
        """SIGKILL the child's whole process group, as a crash would end it."""
        proc = self.procs[name]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                log = self.log(name)
                raise PipelineError(f"`{name}` exited with {proc.returncode}: {last_line(log)} (log: {log})")

    def stop(self) -> None:
        """SIGTERM (the stream job finishes its batch), then SIGKILL whoever is still there."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()


def last_line(log: Path) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1][-300:] if lines else "(no output)"


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, children: Children | None = None,
             poll_s: float = 0.25) -> None:
    """Poll `check` until it holds; PipelineError at the deadline or when a child has died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if children is not None:
            children.check_alive()
        if check():
            return
        time.sleep(poll_s)
    raise PipelineError(f"timed out after {timeout_s:.0f}s waiting for {what}")
