"""Idle keep-alive connections to servers, reused by later requests of this worker."""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from .connection import Connection

MAX_IDLE_PER_SERVER = 1024
IDLE_SECONDS = 30.0


@dataclass(slots=True)
class ServerConnection:
    """A socket to one server and the client-role protocol state over it."""

    server: Any
    sock: socket.socket
    http: Connection
    idle_since: float = field(default_factory=time.monotonic)
    balancer: Any = None
    """Set while this connection holds the server slot its balancer counted (acquire)."""
    address: tuple[str, int] | None = None
    """The server's address when first pooled: ``set server addr`` retires connections to the old one."""

    def release_slot(self) -> None:
        """Give the server's connection slot back once (the backend's queue may move on)."""
        balancer, self.balancer = self.balancer, None
        if balancer is not None:
            balancer.release(self.server)

    def close(self) -> None:
        self.release_slot()
        self.sock.close()


class ServerPool:
    def __init__(self) -> None:
        self._idle: dict[int, list[ServerConnection]] = {}

    def take(self, server: Any) -> ServerConnection | None:
        """An idle connection that the server has not closed meanwhile, or None."""
        idle = self._idle.get(id(server), [])
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            fresh = now - conn.idle_since < IDLE_SECONDS and conn.address == (server.host, server.port)
            if fresh and not getattr(conn.sock, "stale", False) and not _readable(conn.sock):
                return conn
            conn.close()
        return None

    def give_back(self, conn: ServerConnection) -> None:
        conn.release_slot()
        idle = self._idle.setdefault(id(conn.server), [])
        if len(idle) >= MAX_IDLE_PER_SERVER:
            conn.close()
            return
        conn.http.start_next_cycle()
        conn.idle_since = time.monotonic()
        if conn.address is None:
            conn.address = (conn.server.host, conn.server.port)
        idle.append(conn)


def _readable(sock: socket.socket) -> bool:
    """An idle connection with something to read was closed (or spoke out of turn): unusable."""
    try:
        ready, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(ready)
