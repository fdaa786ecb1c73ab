"""Connections the master accepted on a silent worker's socket and handed to this worker (``master.handoff``).

Each arrives as one ``SOCK_SEQPACKET`` message: the listener it came from
(``so_id frontend``) and its descriptor.  It is served like a connection this
worker accepted itself, by the listener of the same frontend and ``bind``.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from gevent import socket as gsocket

MAX_FDS = 16


def adopt_loop(channel: socket.socket, listeners: list[Any]) -> None:
    """Run in a greenlet for the worker's life: serve every connection the master passes."""
    by_key = {(listener.frontend.name, listener.so_id): listener for listener in listeners}
    sock = gsocket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=channel.detach())
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, 512, MAX_FDS)
        except OSError:
            return
        if not data and not fds:
            return  # the master closed its end
        so_id, _, frontend = data.decode(errors="replace").partition(" ")
        listener = by_key.get((frontend, int(so_id))) if so_id.isdigit() else None
        for fd in fds:
            client = gsocket.socket(fileno=fd)
            if listener is None:
                with contextlib.suppress(OSError):
                    client.close()
                continue
            listener.adopt(client)
