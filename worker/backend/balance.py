"""Server choice: one class per balancing algorithm."""

from __future__ import annotations

import itertools
from typing import Any


class RoundRobin:
    """Weighted round robin over the usable servers, backups only when no active one is usable."""

    def __init__(self, servers: list[Any]) -> None:
        self.servers = servers
        self._counter = itertools.count()

    def pick(self, txn: Any, exclude: Any = None) -> Any | None:
        candidates = [s for s in self.servers if s.usable and not s.backup and s is not exclude]
        if not candidates:
            candidates = [s for s in self.servers if s.usable and s.backup and s is not exclude]
        if not candidates:
            return None
        weighted = [s for s in candidates for _ in range(max(1, s.weight))]
        return weighted[next(self._counter) % len(weighted)]
