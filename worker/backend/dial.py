"""Dialing a server: directly or, with ``server ... socks4 <addr:port>``, through a SOCKS4 proxy as
HAProxy does; and HAProxy's words for a connection that failed.

The SOCKS4 CONNECT request carries the server's IPv4 address and port and the
user id "HAProxy"; the proxy's 8-byte reply must grant it (0x5A).  Traffic
goes this way whenever ``socks4`` is set, health checks with
``check-via-socks4``.
"""

from __future__ import annotations

import errno
import ipaddress
import struct
import time
from typing import Any

from gevent import socket as gsocket

from ..netutil import connect

GRANTED = 0x5A
REPLY_SIZE = 8
_SOCKET_ERRORS = frozenset((errno.ENETUNREACH, errno.EACCES, errno.EPERM, errno.EAFNOSUPPORT, errno.EINVAL))
"""Errors connect() itself returns (not learnt later from the peer): HAProxy calls them socket errors."""


def connect_error_text(exc: OSError) -> str:
    """A failed connection in HAProxy's words: "Connection refused", "General socket error (...)"."""
    text = exc.strerror or str(exc)
    return f"General socket error ({text})" if exc.errno in _SOCKET_ERRORS else text


def parse_proxy(text: str) -> tuple[str, int]:
    """``socks4 <addr:port>``; raises ValueError."""
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise ValueError(f"'socks4' expects <addr:port>, got '{text}'.")
    return host, int(port)


def open_connection(proxy: tuple[str, int] | None, address: tuple[str, int], timeout: float | None) -> Any:
    """A connected socket to *address*, through the SOCKS4 *proxy* when there is one; raises OSError."""
    if proxy is None:
        return connect(*address, timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    sock = connect(*proxy, timeout)
    try:
        ip = ipaddress.IPv4Address(gsocket.gethostbyname(address[0]))
        sock.sendall(struct.pack(">BBH", 4, 1, address[1]) + ip.packed + b"HAProxy\0")
        reply = b""
        while len(reply) < REPLY_SIZE:
            if deadline is not None:
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(REPLY_SIZE - len(reply))
            if not chunk:
                raise ConnectionResetError("SOCKS4 proxy closed the connection")
            reply += chunk
        if reply[1] != GRANTED:
            raise ConnectionRefusedError(f"SOCKS4 proxy refused the connection (code {reply[1]:#x})")
    except OSError:
        sock.close()
        raise
    except ValueError as exc:  # SOCKS4 carries IPv4 addresses only
        sock.close()
        raise OSError(f"SOCKS4 cannot reach {address[0]}: {exc}") from None
    sock.settimeout(timeout)
    return sock
