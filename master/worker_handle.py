"""What the arbiter knows about one worker process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .control.link import Link


@dataclass(slots=True, eq=False)
class WorkerHandle:
    pid: int
    index: int  # the worker slot, 1..nbproc
    generation: int  # bumped by every reload
    started: float  # time.monotonic() at fork
    link: Link
    born: float = 0.0  # time.time() at fork, for uptimes
    ready: bool = False  # its listeners accept (said so over the control socket)
    retiring: bool = False  # soft-stopped: serves what it has, gets no new changes
    events: int = 1  # what the selector waits for on its link (selectors.EVENT_READ)
    last_beat: float = 0.0  # time.monotonic() of its last heartbeat (0: none yet)
    killed: bool = False  # the watchdog sent it SIGKILL
    handoff: Any = None  # our end of its handoff channel (master.handoff), a non-blocking socket

    @property
    def label(self) -> str:
        return f"worker {self.index} (pid {self.pid})"
