"""Listening sockets: bound by the master, inherited by the workers.

Each worker slot gets its own socket per ``bind`` line, bound with
SO_REUSEPORT, so the kernel spreads new connections evenly across workers (one
shared socket lets whichever gevent worker wakes first take most of them).
The master keeps every socket open: a respawned worker finds the connections
queued on its slot, and a reload hands the same sockets to the new workers
(``reload.rebind``), so no connection is refused.  Sockets always set SO_REUSEPORT,
so that a new instance started with ``-sf`` can bind next to the old one.  An
inherited ``fd@N`` socket is shared by all workers.
"""

from __future__ import annotations

import os
import socket
import stat
from dataclasses import dataclass

from luaproxy.worker.proxy import Proxy

from .config.model import Bind

BACKLOG = 1024


class BindError(Exception):
    pass


@dataclass(slots=True)
class Listening:
    """One bind line: its frontend, listener id and one socket per worker slot."""

    frontend: Proxy
    so_id: int
    sockets: list[socket.socket]
    label: str = ""

    def for_worker(self, index: int) -> socket.socket:
        return self.sockets[(index - 1) % len(self.sockets)]

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def bind_unix(address: Bind) -> socket.socket:
    """A UNIX listening socket, shared by every worker (a stale file from an earlier run is replaced)."""
    path = address.path or ""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if not path.startswith("\0") and os.path.exists(path) and stat.S_ISSOCK(os.stat(path).st_mode):
            os.unlink(path)
        sock.bind(path)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot bind UNIX socket ({exc.strerror}) [{address.label}]") from None
    sock.setblocking(False)
    return sock


def bind(address: Bind, reuse_port: bool) -> socket.socket:
    """Bind one address; errors read as HAProxy's."""
    host = address.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if not host:
        family, host = socket.AF_INET, "0.0.0.0"
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, address.port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot bind socket ({exc.strerror}) [{address.label}]") from None
    sock.setblocking(False)
    return sock


def open_listener(address: Bind, workers: int) -> list[socket.socket]:
    if address.fd is not None:
        try:
            return [socket.socket(fileno=address.fd)]
        except OSError as exc:
            raise BindError(f"cannot use inherited socket fd@{address.fd} ({exc.strerror})") from None
    if address.path is not None:
        return [bind_unix(address)]
    sockets: list[socket.socket] = []
    try:
        for _ in range(workers):
            sockets.append(bind(address, reuse_port=True))
    except BindError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def bind_all(frontends: list[tuple[Proxy, list[Bind]]], workers: int) -> list[Listening]:
    """Every frontend's listeners, with listener ids (so_id) counted per frontend."""
    listening: list[Listening] = []
    try:
        for proxy, binds in frontends:
            for so_id, address in enumerate(binds, start=1):
                try:
                    listening.append(Listening(proxy, so_id, open_listener(address, workers), address.label))
                except BindError as exc:
                    raise BindError(f"Starting {_kind(proxy)} {proxy.name}: {exc}") from None
    except BindError:
        for item in listening:
            item.close()
        raise
    return listening


def _kind(proxy: Proxy) -> str:
    return "frontend" if proxy.has_frontend and not proxy.has_backend else "proxy"
