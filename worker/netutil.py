"""Small socket helpers shared by the streams."""

from __future__ import annotations

import contextlib
import socket

import gevent

LINGER_SECONDS = 1.0
LINGER_BYTES = 1 << 20


def shutdown_write(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)


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
