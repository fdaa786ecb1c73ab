"""Requests sent to several workers at once, and the replies still awaited.

A map change or a ``show stat`` goes to every live worker; the request is
done when each has answered, died (a respawned worker is forked from the
master and so already has the change) or missed the deadline.  No I/O and
no clock: the caller passes the time in.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Outcome:
    """What a fan-out gathered: replies by worker label, and who failed or never answered."""

    replies: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def problems(self) -> str:
        """One line per worker that did not apply the request, empty when all did."""
        lines = [f"Not acknowledged by {label}." for label in self.missing]
        lines += [f"Failed on {label}: {error}" for label, error in self.errors.items()]
        return "".join(f"{line}\n" for line in lines)


@dataclass(slots=True)
class _Pending:
    waiting: dict[int, str]
    deadline: float
    on_done: Callable[[Outcome], None]
    outcome: Outcome = field(default_factory=Outcome)


class Fanout:
    def __init__(self) -> None:
        self._pending: dict[int, _Pending] = {}
        self._seq = itertools.count(1)

    def start(self, workers: dict[int, str], deadline: float, on_done: Callable[[Outcome], None]) -> int:
        """Track a request sent to *workers* (pid -> label); returns its sequence number."""
        seq = next(self._seq)
        self._pending[seq] = _Pending(dict(workers), deadline, on_done)
        self._finish_if_done(seq)
        return seq

    def reply(self, pid: int, seq: int, payload: Any = None, error: str | None = None) -> None:
        pending = self._pending.get(seq)
        if pending is None or pid not in pending.waiting:
            return
        label = pending.waiting.pop(pid)
        if error is not None:
            pending.outcome.errors[label] = error
        else:
            pending.outcome.replies[label] = payload
        self._finish_if_done(seq)

    def forget(self, pid: int) -> None:
        """A worker died: stop waiting for it."""
        for seq in list(self._pending):
            pending = self._pending.get(seq)
            if pending is not None and pending.waiting.pop(pid, None) is not None:
                self._finish_if_done(seq)

    def expire(self, now: float) -> None:
        for seq in [s for s, p in self._pending.items() if p.deadline <= now]:
            pending = self._pending.pop(seq)
            pending.outcome.missing.extend(pending.waiting.values())
            pending.on_done(pending.outcome)

    def next_deadline(self) -> float | None:
        return min((p.deadline for p in self._pending.values()), default=None)

    def _finish_if_done(self, seq: int) -> None:
        pending = self._pending[seq]
        if not pending.waiting:
            del self._pending[seq]
            pending.on_done(pending.outcome)
