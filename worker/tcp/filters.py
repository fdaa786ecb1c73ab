"""The filters of one TCP stream (``filter lua.NAME`` in a ``mode tcp`` proxy), between its channels and peers.

The stream calls in only when one of its proxies declares a filter
(``proxy.tcp_filters``; otherwise ``TcpStream.filters`` stays None and no byte
goes through here): ``join`` as the stream starts (the frontend's filters)
and once a backend is chosen (its own), ``start_response`` once the server is
connected, ``tap`` as a channel starts forwarding, ``closed`` when its peer
has closed, and ``stop`` as the stream ends.  Forwarded bytes then pass
through every filter in declaration order before they reach the peer; what a
filter holds back stays with it until more comes or the peer closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..channel import Channel

SIDES = ("req", "res")


class TcpFilterError(OSError):
    """A filter failed (a Lua error, filter.ERROR): the stream ends like a broken connection."""


class TcpFilter(Protocol):
    """One filter instance of one stream (lua_api.tcp_filters.LuaTcpFilter)."""

    def start(self, side: str) -> bool: ...

    def data(self, side: str, data: bytes, closed: bool) -> bytes: ...

    def end(self, side: str) -> None: ...


class TcpFilterConf(Protocol):
    """A ``filter`` line of a proxy: makes the stream's instance (None when the filter declines it)."""

    def attach(self, txn: Any) -> TcpFilter | None: ...


class TcpFilters:
    __slots__ = ("closing", "ended", "filters", "sinks", "started", "txn")

    def __init__(self, txn: Any) -> None:
        self.txn = txn
        self.filters: list[TcpFilter] = []
        self.started: dict[str, list[TcpFilter]] = {"req": [], "res": []}
        self.ended: set[str] = set()
        self.closing: set[str] = set()
        self.sinks: dict[str, Callable[[bytes], None]] = {}

    def attach(self, proxy: Any) -> bool:
        """The proxy's filters join the stream and start analysing the request; False if one failed."""
        ok = True
        for conf in proxy.tcp_filters:
            instance = conf.attach(self.txn)
            if instance is None:
                continue
            self.filters.append(instance)
            self.started["req"].append(instance)
            ok = instance.start("req") and ok
        return ok

    def start_response(self) -> None:
        """The server is connected: the response's analysis starts.  Raises TcpFilterError if a filter failed."""
        ok = True
        for instance in self.filters:
            self.started["res"].append(instance)
            ok = instance.start("res") and ok
        if not ok:
            raise TcpFilterError("a filter failed to start on the response")

    def tap(self, channel: Channel) -> None:
        """From now on the channel's forwarded bytes go through the filters on their way to the peer."""
        side = channel.name
        sink = channel.sink
        if sink is None or side in self.sinks:
            return
        self.sinks[side] = sink

        def filtered(data: bytes) -> None:
            data = self._through(side, data, False)
            if data:
                sink(data)

        channel.sink = filtered

    def closed(self, channel: Channel) -> None:
        """The peer closed this side: the filters let go of what they held, then end their analysis."""
        side = channel.name
        if side in self.closing:
            return
        self.closing.add(side)  # the reader and the stream may both see the close: the first one acts
        sink = self.sinks.get(side)
        if sink is not None:
            tail = self._through(side, b"", True)
            if tail:
                sink(tail)
        self._end(side)

    def stop(self) -> None:
        """The stream ends: every analysis still open ends now."""
        for side in SIDES:
            self._end(side)

    def _end(self, side: str) -> None:
        if side in self.ended:
            return
        self.ended.add(side)
        for instance in self.started[side]:
            instance.end(side)

    def _through(self, side: str, data: bytes, closed: bool) -> bytes:
        for instance in self.filters:
            data = instance.data(side, data, closed)
        return data


def join(chain: TcpFilters | None, txn: Any, proxy: Any) -> TcpFilters:
    """The proxy's filters join the stream's (made on first use) and start on the request.

    Raises TcpFilterError when a filter failed to start: the stream ends."""
    if chain is None:
        chain = TcpFilters(txn)
    if not chain.attach(proxy):
        raise TcpFilterError("a filter failed to start")
    return chain
