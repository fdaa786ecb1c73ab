"""Idle keep-alive connections to servers, reused by later requests of this worker."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any

from ..client_socket import PLAIN
from ..netutil import input_poll, recv_within
from ..tls.tlssocket import TlsSocket
from .connection import Connection

MAX_IDLE_PER_SERVER = 1024
IDLE_SECONDS = 30.0


@dataclass(slots=True, eq=False)
class ServerConnection:
    """A socket to one server and the client-role protocol state over it."""

    server: Any
    sock: socket.socket
    http: Connection
    idle_since: float = field(default_factory=time.monotonic)
    balancer: Any = None
    """Set while this connection holds the server slot its balancer counted (acquire)."""
    address: Any = None
    """What the connection was made for (destination, SNI, PROXY header): it serves only streams that
    would have made the same one, and ``set server addr`` retires connections to the old address."""
    requests: int = 0
    """Requests sent over it (http-reuse aggressive reuses for a first request only those with 2+)."""
    counters: Any = None
    """The server's Counters in its backend, looked up once per connection rather than per request."""
    watch: Any = None
    """A poll set holding only this socket (``netutil.input_poll``), made with the connection: the reuse check and
    each response read ask it with one ``poll`` call, with no register and unregister around it each time."""
    private: bool = False
    """It goes back to its session's own pool, never shared (http-reuse never, or a server that follows
    each client's destination)."""
    tls: bool = False
    """The socket is a TlsSocket, whose ``stale`` says the TLS session can no longer be reused."""
    timer: Any = None
    """The event-loop timer of the response reads (``receive``), re-armed each read that waits (it repeats,
    so that ``again`` arms it for its whole timeout each time)."""
    timer_for: float | None = None
    """The timeout *timer* was made for."""
    connected_at: float = 0.0
    """The clock reading when it was there for the request being sent (taken from the pool or made): the
    request's Tc ends there, and its Tr counts from there, as haproxy's does (from the connection's
    establishment, the request's send included)."""

    def __post_init__(self) -> None:
        self.tls = isinstance(self.sock, TlsSocket)
        self.watch = input_poll(self.sock)

    def release_slot(self) -> None:
        """Give the server's connection slot back once (the backend's queue may move on)."""
        balancer, self.balancer = self.balancer, None
        if balancer is not None:
            balancer.release(self.server)

    def receive(self, size: int, timeout: float | None) -> bytes:
        """The server's next bytes within *timeout* (``recv_within``).

        Right after a request the answer is rarely there yet: a zero-timeout ``poll`` asks first, where a
        ``recv`` failing with EAGAIN costs an exception, and a wait re-arms the connection's own timer
        rather than making one for each read."""
        if type(self.sock) not in PLAIN:  # TLS: its own reads
            return recv_within(self.sock, size, timeout)
        timer = self.timer
        if timeout is not None and (timer is None or self.timer_for != timeout):
            if timer is not None:
                timer.close()
            timer = self.timer = self.sock.hub.loop.timer(timeout, timeout)  # type: ignore[attr-defined]
            self.timer_for = timeout
        return recv_within(self.sock, size, timeout, not self.watch.poll(0), timer if timeout is not None else None)

    def close(self) -> None:
        self.release_slot()
        if self.timer is not None:
            self.timer.close()
        self.sock.close()


class ServerPool:
    def __init__(self) -> None:
        self._idle: dict[Any, list[ServerConnection]] = {}
        """Idle connections by server (a Server hashes by identity), the most recently used last."""

    def take(self, server: Any, key: Any, min_requests: int = 0, now: float | None = None) -> ServerConnection | None:
        """An idle connection made under *key* (see backend.connect.connection_key) that the server has
        not closed meanwhile (and that served at least *min_requests* requests), or None; *now* is the
        caller's clock reading, if it has one."""
        idle = self._idle.get(server)
        if not idle:
            return None
        if now is None:
            now = time.monotonic()
        conn = idle[-1]  # the most recently used first: the usual find, without the search below
        if conn.address == key and conn.requests >= min_requests and now - conn.idle_since < IDLE_SECONDS and not (
                conn.tls and conn.sock.stale):
            idle.pop()
            if not conn.watch.poll(0):
                return conn
            conn.close()
        for index in range(len(idle) - 1, -1, -1):
            conn = idle[index]
            if now - conn.idle_since >= IDLE_SECONDS or (conn.tls and conn.sock.stale):
                del idle[index]
                conn.close()
            elif conn.address == key and conn.requests >= min_requests:
                del idle[index]
                if not conn.watch.poll(0):
                    return conn
                conn.close()
        return None

    def give_back(self, conn: ServerConnection, now: float | None = None) -> None:
        """Keep *conn* idle for a later request (its server slot given back), up to the server's ``pool-max-conn``
        (-1: no limit of its own) and MAX_IDLE_PER_SERVER; *now*: as for ``take``.  It has started its next
        exchange already (``next_cycle`` of its protocol state)."""
        conn.release_slot()
        server = conn.server
        idle = self._idle.get(server)
        if idle is None:
            idle = self._idle[server] = []
        count = len(idle)
        if count >= MAX_IDLE_PER_SERVER or 0 <= server.pool_max_conn <= count:
            conn.close()
            return
        conn.idle_since = time.monotonic() if now is None else now
        idle.append(conn)

    def close_all(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()


def count_request_bytes(conn: ServerConnection, txn: Any, size: int) -> None:
    """Request bytes (head or body) sent to *conn*'s server: its "in" and its backend's, as haproxy counts."""
    if conn.counters is not None:
        conn.counters.bytes_in += size
    if txn is not None and txn.backend is not None:
        txn.backend.be_counters.bytes_in += size
