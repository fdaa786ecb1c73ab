"""What every stream of a worker shares: proxies, logger, process identity."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .proxy import Proxy
from .samples import Vars


@dataclass(slots=True)
class WorkerContext:
    logger: Any
    proxies: dict[str, Proxy] = field(default_factory=dict)
    nbproc: int = 1
    index: int = 1
    bufsize: int = 16384
    proc_vars: dict[str, Any] = field(default_factory=dict)
    """The ``proc.`` variables of this worker, shared by all its streams."""

    def new_vars(self) -> Vars:
        """Variables for a new session (connection): its own ``sess.``, the worker's ``proc.``."""
        return Vars(self.proc_vars, {})

    @property
    def process(self) -> tuple[int, int]:
        return (self.nbproc, self.index)
