"""Idle keep-alive connections without a greenlet, as HAProxy keeps them: a read event and a timer.

A greenlet blocked in ``recv`` holds its stack (about 8 KB); 10,000 idle
keep-alive connections would cost 80 MB for nothing.  A stream idle for
``PARK_AFTER`` seconds ends its greenlet and leaves a ``Parking``: an
event-loop read watcher on the client socket and, when the keep-alive
timeout applies, a timer.  Whichever fires first (or ``wake``, for a soft
stop) calls back once, from the hub, and the stream goes on in a new
greenlet.  A parked stream keeps its listener's connection slot through a
token from the listener's slots (worker.listener.Slots), so ``maxconn`` and
the drain of a soft stop count it as before.
"""

from __future__ import annotations

from collections.abc import Callable

from gevent import get_hub

PARK_AFTER = 0.5
"""Seconds of idleness before a keep-alive connection gives its greenlet up (a busy one never does)."""


class Parking:
    __slots__ = ("_io", "_timer", "_wake")

    def __init__(self, fileno: int, timeout: float | None, wake: Callable[[bool], None]) -> None:
        loop = get_hub().loop
        self._wake: Callable[[bool], None] | None = wake
        self._io = loop.io(fileno, 1)
        self._io.start(self.fire, False)
        self._timer = None
        if timeout is not None:
            self._timer = loop.timer(timeout)
            self._timer.start(self.fire, True)

    def fire(self, expired: bool) -> None:
        """Stop watching and call back once: *expired* when the keep-alive time ran out (or a stop)."""
        wake, self._wake = self._wake, None
        self._io.close()
        if self._timer is not None:
            self._timer.close()
        if wake is not None:
            wake(expired)

