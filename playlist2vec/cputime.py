"""Where the cores went: CPU seconds of named process trees between two readings, by part.

A tree's CPU is the user and system time of its live processes plus what their reaped children
used (`children_*` times: a Spark Python worker that exited and was waited for by its daemon
still counts, with the daemon). A pid is counted once, under the first root whose tree holds it,
so a parent process listed last (a benchmark over the services it started) counts only what no
other root claims. Linux and macOS (psutil); a process that vanishes between the listing and the
reading is skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping

import psutil

Classifier = Callable[[str, psutil.Process, bool], str]
"""(root name, process, own time?) -> part name; `own` False names the part of its reaped children."""


def by_root(root: str, _process: psutil.Process, _own: bool) -> str:
    return root


def reading(roots: Mapping[str, int], classify: Classifier = by_root) -> dict[str, float]:
    """CPU seconds used so far by each root's process tree, by part."""
    parts: defaultdict[str, float] = defaultdict(float)
    claimed: set[int] = set()
    for name, pid in roots.items():
        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:  # gone: nothing to count
            continue
        for process in tree:
            if process.pid in claimed:
                continue
            claimed.add(process.pid)
            try:
                times = process.cpu_times()
                parts[classify(name, process, True)] += times.user + times.system
                parts[classify(name, process, False)] += times.children_user + times.children_system
            except psutil.Error:
                continue
    return dict(parts)


class CpuMeter:
    """CPU seconds by part between `start()` and `stop()` (processes started in between count
    from their start)."""

    def __init__(self, roots: Mapping[str, int], classify: Classifier = by_root) -> None:
        self.roots = dict(roots)
        self.classify = classify
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._before = reading(self.roots, self.classify)

    def stop(self) -> dict[str, float]:
        after = reading(self.roots, self.classify)
        return {part: round(max(after.get(part, 0.0) - self._before.get(part, 0.0), 0.0), 2)
                for part in sorted(after.keys() | self._before.keys())}
