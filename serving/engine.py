"""The serving engine: `Queries` over the current model state plus the `Background` that keeps
it fresh (a `Refresher` following MongoDB, or `Idle` over a source with no change streams).

Queries only read references that are swapped atomically, so they never wait for the
refresher's threads.
"""

from __future__ import annotations

from serving.metrics import ServingMetrics
from serving.options import ServeOptions
from serving.queries import Queries
from serving.refresher import Background, Idle, Refresher
from serving.source import MongoSource, Source
from serving.state import ModelState

__all__ = ["Engine", "ServeOptions"]


class Engine(Queries):
    """The queries the HTTP app answers and the lifecycle of what refreshes their state."""

    def __init__(self, source: Source, options: ServeOptions, metrics: ServingMetrics) -> None:
        super().__init__(source, options.provisional_penalty)
        self.options = options
        self.metrics = metrics
        # only MongoDB has change streams to follow; any other source serves installed states
        self.background: Background = (Refresher(source, self, options, metrics)
                                       if isinstance(source, MongoSource) else Idle())

    def start(self) -> None:
        self.background.start()

    def stop(self) -> None:
        self.background.stop()

    def follower_problem(self, max_lag_s: float) -> str | None:
        return self.background.follower_problem(max_lag_s)

    def request_rebuild(self) -> None:
        self.background.request_rebuild()

    def rebuild_due(self, state: ModelState) -> bool:
        return self.background.rebuild_due(state)
