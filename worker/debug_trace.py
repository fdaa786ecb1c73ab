"""``-d``: what haproxy's debug mode prints about each connection, on stdout.

``00000000:web.accept(0004)=000c from [127.0.0.1:39584] ALPN=<none>``, then the
request line and headers (``clireq``, ``clihdr``), the server's status line and
headers (``srvrep``, ``srvhdr``), the closes (``clicls``, ``closed``): a stream
number, the proxy, and the client and server file descriptors in hex.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
from typing import Any

NO_FD = "ffffffff"


class DebugTrace:
    def __init__(self) -> None:
        self._numbers = itertools.count()
        self._streams: dict[int, int] = {}  # client fd -> stream number

    def accept(self, frontend: Any, client: socket.socket, listener_fd: int) -> None:
        fd = client.fileno()
        number = self._streams[fd] = next(self._numbers) & 0xFFFFFFFF
        try:
            host, port = client.getpeername()[:2]
        except (OSError, ValueError):
            host, port = "unix", 0
        _write(f"{number:08x}:{frontend.name}.accept({listener_fd:04x})={fd:04x} from [{host}:{port}] ALPN=<none>\n")

    def request(self, client: socket.socket, proxy: str, head: Any) -> None:
        tag = self._tag(client, proxy)
        lines = [f"{tag}.clireq[{client.fileno():04x}:{NO_FD}]: {head.method} {head.target} {head.version}\n"]
        lines += [f"{tag}.clihdr[{client.fileno():04x}:{NO_FD}]: {name.lower()}: {value}\n"
                  for name, value in head.headers if name.lower() != "connection"]  # hop-by-hop: haproxy drops it
        _write("".join(lines))

    def response(self, client: socket.socket, server: socket.socket, proxy: str, head: Any) -> None:
        tag = self._tag(client, proxy)
        fds = f"{client.fileno():04x}:{server.fileno():04x}"
        lines = [f"{tag}.srvrep[{fds}]: {head.version} {head.status} {head.reason}\n"]
        lines += [f"{tag}.srvhdr[{fds}]: {name.lower()}: {value}\n" for name, value in head.headers]
        _write("".join(lines))

    def close(self, client_fd: int, proxy: str) -> None:
        number = self._streams.pop(client_fd, 0)
        _write(f"{number:08x}:{proxy}.clicls[{client_fd:04x}:ffff]\n{number:08x}:{proxy}.closed[{client_fd:04x}:ffff]\n")

    def _tag(self, client: socket.socket, proxy: str) -> str:
        return f"{self._streams.get(client.fileno(), 0):08x}:{proxy}"


def _write(text: str) -> None:
    """One write per stream event, so workers' lines never interleave."""
    with contextlib.suppress(OSError):
        os.write(1, text.encode("utf-8", "replace"))
