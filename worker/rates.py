"""Per-second event rates (``show stat``'s rate, req_rate, conn_rate and their maxima), as haproxy's freq_ctr.

No cost on the hot path: a rate is read off the totals the streams already count (sessions ``total``,
HTTP ``requests``).  Once a second a greenlet marks each total; the events since the mark are the
current period, the events of the period before are weighted by how much of a second is left, as
haproxy 2.6 reads its freq counters.  The max is the largest per-second count seen, as haproxy keeps it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import gevent

from .counters import RATES, Counters

PERIOD = 1.0
_SOURCES = (("total", "rate"), ("requests", "req_rate"))


class _Meter:
    """One total's periods: the total at the current period's start, the previous period's count, the max."""

    __slots__ = ("counters", "mark", "max", "previous", "source")

    def __init__(self, counters: Counters, source: str) -> None:
        self.counters = counters
        self.source = source
        self.mark: int = getattr(counters, source)
        self.previous = 0
        self.max = 0

    def rotate(self, stale: bool) -> None:
        total = getattr(self.counters, self.source)
        count = total - self.mark
        if count > self.max:
            self.max = count
        self.previous = 0 if stale else count
        self.mark = total

    def read(self, elapsed: float) -> tuple[int, int]:
        """(rate over the last second, max per-second count) at *elapsed* seconds into the current period."""
        count = getattr(self.counters, self.source) - self.mark
        left = max(0.0, PERIOD - elapsed) / PERIOD
        return count + int(self.previous * left), max(self.max, count)


class RateMeter:
    """The rates of every counter set of a worker's proxies (frontends, backends, servers)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = clock()
        self.meters: dict[tuple[int, str], _Meter] = {}

    def rotate(self, counter_sets: Iterable[Counters]) -> None:
        """Close the current period; counter sets seen for the first time start counting now
        (servers added at run time), sets no longer present (deleted servers) are dropped."""
        now = self.clock()
        stale = now - self.started >= 2 * PERIOD
        meters: dict[tuple[int, str], _Meter] = {}
        for counters in counter_sets:
            for source, _ in _SOURCES:
                key = (id(counters), source)
                meter = self.meters.get(key)
                if meter is None or meter.counters is not counters:
                    meter = _Meter(counters, source)
                else:
                    meter.rotate(stale)
                meters[key] = meter
        self.meters = meters
        self.started = now

    def cells(self, counters: Counters) -> dict[str, int]:
        """rate, rate_max, req_rate, req_rate_max of one counter set (0 until it is first rotated)."""
        elapsed = self.clock() - self.started
        cells = dict.fromkeys(RATES, 0)
        for source, name in _SOURCES:
            meter = self.meters.get((id(counters), source))
            if meter is not None and meter.counters is counters:
                cells[name], cells[f"{name}_max"] = meter.read(elapsed)
        return cells

    def run(self, proxies: Callable[[], list[Any]]) -> None:
        """The worker's once-a-second rotation (a greenlet for the worker's life)."""
        while True:
            self.rotate(counter_sets(proxies()))
            gevent.sleep(PERIOD)


def counter_sets(proxies: list[Any]) -> Iterator[Counters]:
    for proxy in proxies:
        yield proxy.fe_counters
        yield proxy.be_counters
        yield from (proxy.counters_of(server) for server in proxy.servers)


WORKER = RateMeter()
"""This process's meter: the worker's streams count, ``show stat`` and Lua's get_stats() read it."""
