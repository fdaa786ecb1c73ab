"""What every stream of a worker shares: proxies, logger, process identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .proxy import Proxy


@dataclass(slots=True)
class WorkerContext:
    logger: Any
    proxies: dict[str, Proxy] = field(default_factory=dict)
    nbproc: int = 1
    index: int = 1
    bufsize: int = 16384

    @property
    def process(self) -> tuple[int, int]:
        return (self.nbproc, self.index)
