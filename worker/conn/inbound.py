"""``bind … accept-proxy``: read the PROXY header off an accepted socket before anything else.

The header is consumed exactly (never a byte of what follows), within the
frontend's client timeout.  What it said is kept per connection socket, so
``addresses_of`` gives the advertised addresses and the ``fc_pp_*`` fetches
read its TLVs.
"""

from __future__ import annotations

import contextlib
import socket
import time
import weakref
from typing import Any

from .proxy_protocol import SIGNATURE, V1_MAX, ProxyHeader, ProxyHeaderError, parse

_received: weakref.WeakKeyDictionary[Any, ProxyHeader] = weakref.WeakKeyDictionary()
_connection_addresses: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


DEFAULT_TIMEOUT = 10.0
"""When the frontend has no ``timeout client``."""


def accept(sock: socket.socket, frontend: Any) -> ProxyHeader | None:
    """The header this accepted connection starts with, remembered for it; None (the socket closed)
    when it is missing, malformed or late, as haproxy drops such a connection."""
    try:
        header = read_header(sock, frontend.timeout("client", DEFAULT_TIMEOUT))
    except (OSError, ProxyHeaderError):
        with contextlib.suppress(OSError):
            sock.close()
        return None
    attach(sock, header)
    return header


def attach(sock: Any, header: ProxyHeader) -> None:
    """Remember *header* as what this connection socket was told (the raw socket and its TLS wrapper)."""
    _received[sock] = header


def received(sock: Any) -> ProxyHeader | None:
    """The PROXY header this connection started with, or None (at once when no listener accepts one)."""
    if not _received:
        return None
    try:
        return _received.get(sock)
    except TypeError:  # not weak-referenceable: not a connection of ours
        return None


def note_connection_addresses(txn: Any) -> None:
    """After ``tcp-request connection`` rules: their addresses are the connection's (``fc_src``…).  The
    session starts from what a PROXY header advertised, if any, else from these (as haproxy 2.6)."""
    addresses = ((txn.src, txn.src_port), (txn.dst, txn.dst_port))
    try:
        _connection_addresses[txn.client] = addresses
    except TypeError:
        return
    header = received(txn.client)
    if header is not None and header.src is not None:
        (txn.src, txn.src_port), (txn.dst, txn.dst_port) = header.src, header.dst


def connection_addresses(sock: Any) -> Any:
    """The connection's (client, destination) addresses as ``tcp-request connection`` rules left them,
    or None when no such rule ran."""
    if not _connection_addresses:
        return None
    try:
        return _connection_addresses.get(sock)
    except TypeError:
        return None


def read_header(sock: socket.socket, timeout: float) -> ProxyHeader:
    """The header at the start of *sock*; raises ProxyHeaderError (bad or missing header), TimeoutError
    or OSError.  v2 is read by its length field; a v1 line is peeked for its CRLF, then taken."""
    deadline = time.monotonic() + timeout
    data = _read_exact(sock, 6, deadline)
    if data.startswith(SIGNATURE[:6]):
        data += _read_exact(sock, 10, deadline)
        if not data.startswith(SIGNATURE):
            raise ProxyHeaderError("Received something which does not look like a PROXY protocol header")
        data += _read_exact(sock, int.from_bytes(data[14:16], "big"), deadline)
        result = parse(data)
    else:
        result = parse(data)  # refuses anything but "PROXY "
        while result is None:
            if data.endswith(b"\n"):
                raise ProxyHeaderError("Malformed PROXY v1 header")
            data += _read_line_part(sock, V1_MAX - len(data), deadline)
            result = parse(data)
    return result[0]


def _read_exact(sock: socket.socket, size: int, deadline: float) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise ProxyHeaderError("Connection closed while waiting for PROXY protocol header")
        chunks += chunk
    return bytes(chunks)


def _read_line_part(sock: socket.socket, limit: int, deadline: float) -> bytes:
    """Up to the v1 line's CRLF when it is already here (one peek, one read), else one byte."""
    if limit <= 0:
        raise ProxyHeaderError("PROXY v1 header too long")
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    peeked = sock.recv(limit, socket.MSG_PEEK)
    end = peeked.find(b"\n")
    return _read_exact(sock, end + 1 if end >= 0 else 1, deadline)
