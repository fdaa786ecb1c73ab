"""The worker's live client connections: what ``show sess`` lists and ``shutdown session`` cuts, and
the frontends' ``maxconn`` (per worker, as each of haproxy's processes counted its own)."""

from __future__ import annotations

import contextlib
import itertools
import socket
import time
from typing import Any

from gevent.event import Event


def _peer(client: socket.socket) -> tuple[str, str]:
    """(proto, peer) as ``show sess`` prints them: asked of the socket only when shown."""
    try:
        host, port = client.getpeername()[:2]
        return "tcpv6" if client.family == socket.AF_INET6 else "tcpv4", f"{host}:{port}"
    except (OSError, ValueError, TypeError):
        return "unix_stream", "unix:1"


LiveSession = tuple[Any, socket.socket, float]
"""(frontend, client socket, monotonic start): a plain tuple, one is made per connection."""


class SessionTable:
    """Ids are unique over every worker (the worker's slot in the high bits), shown as haproxy's ``0x…``."""

    def __init__(self, index: int) -> None:
        self._ids = itertools.count((index << 32) + 1)
        self.live: dict[int, LiveSession] = {}
        self.counts: dict[str, int] = {}
        self._freed: Event | None = None
        """Made only when a connection waits for room (a frontend at its maxconn)."""

    def open(self, frontend: Any, client: socket.socket) -> int:
        """Register a new session; with its frontend at its ``maxconn`` the accepted connection first waits,
        unserved, until a session of that frontend ends (haproxy leaves it in the backlog meanwhile; the
        client sees the same)."""
        name = frontend.name
        count = self.counts.get(name, 0)
        while 0 < frontend.maxconn <= count:
            if self._freed is None:
                self._freed = Event()
            self._freed.wait()
            count = self.counts.get(name, 0)
        sid = next(self._ids)
        self.live[sid] = (frontend, client, time.monotonic())
        self.counts[name] = count + 1
        return sid

    def close(self, sid: int) -> None:
        session = self.live.pop(sid, None)
        if session is None:
            return
        self.counts[session[0].name] -= 1
        if self._freed is not None:
            freed, self._freed = self._freed, None
            freed.set()

    def lines(self) -> list[str]:
        """One ``show sess`` line per session, with the fields a worker knows about its clients."""
        now = time.monotonic()
        return [f"0x{sid:x}: proto={proto} src={peer} fe={fe.name} "
                f"be={fe.name if fe.has_backend else '<NONE>'} srv=<none> ts=00 epoch=0 "
                f"age={int(now - started)}s calls=0 rate=0 cpu=0 lat=0\n"
                for sid, (fe, client, started) in self.live.items() for proto, peer in (_peer(client),)]

    def shutdown(self, sid: int) -> bool:
        """Cut one session's client connection (its stream then ends as on a client abort)."""
        session = self.live.get(sid)
        if session is None:
            return False
        with contextlib.suppress(OSError):
            session[1].shutdown(socket.SHUT_RDWR)
        return True
