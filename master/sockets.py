"""Listening sockets: bound once by the master, inherited by every worker."""

from __future__ import annotations

import socket

from luaproxy.worker.proxy import Proxy

from .config.model import Bind

BACKLOG = 1024


class BindError(Exception):
    pass


def bind(address: Bind) -> socket.socket:
    """Bind one address (or adopt an inherited fd); errors read as HAProxy's."""
    if address.fd is not None:
        try:
            return socket.socket(fileno=address.fd)
        except OSError as exc:
            raise BindError(f"cannot use inherited socket fd@{address.fd} ({exc.strerror})") from None
    host = address.host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if not host:
        family, host = socket.AF_INET, "0.0.0.0"
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, address.port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise BindError(f"cannot bind socket ({exc.strerror}) [{address.label}]") from None
    sock.setblocking(False)
    return sock


def bind_all(frontends: list[tuple[Proxy, list[Bind]]]) -> list[tuple[socket.socket, Proxy, int]]:
    """Every frontend's listeners with their listener ids (so_id), in order."""
    bound: list[tuple[socket.socket, Proxy, int]] = []
    try:
        for proxy, binds in frontends:
            for so_id, address in enumerate(binds, start=1):
                try:
                    bound.append((bind(address), proxy, so_id))
                except BindError as exc:
                    raise BindError(f"Starting {_kind(proxy)} {proxy.name}: {exc}") from None
    except BindError:
        for sock, _, _ in bound:
            sock.close()
        raise
    return bound


def _kind(proxy: Proxy) -> str:
    return "frontend" if proxy.has_frontend and not proxy.has_backend else "proxy"
