"""Services run by someone else (a real Kafka cluster and replica set): only checked, never started."""

from __future__ import annotations

from playlist2vec import topics
from playlist2vec.errors import StackError
from playlist2vec.stack.base import ServiceStatus, Stack


class ExternalStack(Stack):
    def up(self) -> list[ServiceStatus]:
        statuses = self.status()
        down = [s.name for s in statuses if not s.healthy]
        if down:
            raise StackError(f"external services not reachable: {', '.join(down)} (P2V_STACK=external)")
        topics.ensure_topics(self.settings)
        return statuses

    def down(self) -> list[str]:
        return []
