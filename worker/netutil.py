"""Small socket helpers shared by the streams."""

from __future__ import annotations

import contextlib
import ipaddress
import socket

import gevent
from gevent import socket as gsocket

LINGER_SECONDS = 1.0
LINGER_BYTES = 1 << 20


def send_all(sock: socket.socket, data: bytes) -> None:
    """``sendall`` in one ``send`` when the socket takes it all, as it does for most responses.

    gevent's ``sendall`` chunks by the socket's send buffer (a ``getsockopt`` and
    four Python frames per call); a partial send falls back to it for the rest.
    """
    sent = sock.send(data)
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])


def shutdown_write(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


def shutdown_both(sock: socket.socket) -> None:
    """End both directions now: a greenlet waiting on the socket wakes up (closing it would not say why)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def close_gracefully(sock: socket.socket) -> None:
    """Half-close, read what the peer still sends for a moment, then close.

    Closing a socket with unread input makes the kernel send a reset, which
    can destroy the last response before the client reads it.
    """
    shutdown_write(sock)
    drained = 0
    try:
        with gevent.Timeout(LINGER_SECONDS, False):
            while drained < LINGER_BYTES:
                data = sock.recv(65536)
                if not data:
                    break
                drained += len(data)
    except OSError:
        pass
    sock.close()


def connect(host: str, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection with TCP_NODELAY; IP literals skip the resolver (gevent resolves in a thread).
    A host that is a path is a UNIX socket (one starting with a NUL byte: a Linux abstract socket)."""
    if host.startswith(("/", "\0")):
        sock = gsocket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(host)
        except OSError:
            sock.close()
            raise
        return sock
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        sock = gsocket.create_connection((host, port), timeout=timeout)
    else:
        sock = gsocket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect((host, port))
        except OSError:
            sock.close()
            raise
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock
