"""CPU seconds of process trees (`playlist2vec/cputime.py`) on real child processes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest

from playlist2vec.cputime import CpuMeter

BURN_S = 0.3
# a parent that, when told, runs a child burning BURN_S of CPU, reaps it, says so, and waits
PARENT = f"""
import subprocess, sys
sys.stdin.readline()
subprocess.run([sys.executable, "-c", "import time\\nwhile time.process_time() < {BURN_S}: pass"], check=True)
print("reaped", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def parent() -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen([sys.executable, "-c", PARENT], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as process:
        yield process
        process.communicate("\n", timeout=30)


def burn(parent: subprocess.Popen[str]) -> None:
    assert parent.stdin is not None and parent.stdout is not None
    parent.stdin.write("\n")
    parent.stdin.flush()
    assert parent.stdout.readline().strip() == "reaped"


def test_a_reaped_childs_cpu_counts_for_its_parents_part(parent: subprocess.Popen[str]) -> None:
    def part(root: str, _process: psutil.Process, own: bool) -> str:
        return root if own else f"{root} children"

    meter = CpuMeter({"parent": parent.pid}, part)
    meter.start()
    burn(parent)
    used = meter.stop()
    assert used["parent children"] >= BURN_S * 0.9
    assert used["parent"] < BURN_S  # its own time is only the spawning


def test_a_process_counts_once_under_the_first_root_that_holds_it(
        parent: subprocess.Popen[str]) -> None:
    meter = CpuMeter({"first": parent.pid, "again": parent.pid})
    meter.start()
    burn(parent)
    used = meter.stop()
    assert used["first"] >= BURN_S * 0.9 and "again" not in used


def test_a_root_that_is_gone_counts_nothing() -> None:
    with subprocess.Popen([sys.executable, "-c", "pass"]) as gone:
        gone.wait()
    meter = CpuMeter({"gone": gone.pid})
    meter.start()
    assert meter.stop() == {}
