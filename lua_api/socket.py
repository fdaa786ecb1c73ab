"""The Socket class: a LuaSocket-compatible TCP client on gevent sockets.

Failures that LuaSocket reports as values come back as ``nil, message``
(``"closed"``, ``"timeout"``, a connect error), never as Lua errors; misuse
(wrong context, bad argument) is a Lua error.  Names resolve through gevent's
resolver, so host names work in runtime mode, which HAProxy cannot do.
"""

from __future__ import annotations

import contextlib
import socket as stdlib_socket
from typing import Any

from gevent import socket as gsocket
from gevent import ssl as gssl

from luaproxy.worker.netutil import is_ip_literal

from . import checks, contexts
from .contexts import Context

TCP_CONTEXTS = frozenset({Context.INIT, Context.TASK, Context.ACTION, Context.SERVICE})
READ_SIZE = 65536


class SocketState:
    """The Python side of one Lua Socket; closing on garbage collection, as LuaSocket does."""

    __slots__ = ("__weakref__", "buffer", "closed", "sock", "timeout")

    def __init__(self) -> None:
        self.sock: stdlib_socket.socket | None = None
        self.timeout: float | None = None
        self.buffer = bytearray()
        self.closed = False

    def __del__(self) -> None:
        if self.sock is not None:
            self.sock.close()

    def __repr__(self) -> str:
        return f"0x{id(self):x}"


def tcp() -> SocketState:
    contexts.require("core.tcp", TCP_CONTEXTS)
    return SocketState()


def _resolve_target(host: Any, port: Any) -> tuple[str, int]:
    host = checks.string(host, "connect", 2)
    if port is None:
        host, _, port_text = host.rpartition(":")
        port = port_text
    host = host.strip("[]")
    return host, checks.integer(port, "connect", 3)


def connect(state: SocketState, host: Any, port: Any = None) -> tuple[Any, ...] | int:
    address = _resolve_target(host, port)
    with contexts.blocking("Socket.connect"):
        try:
            state.sock = gsocket.create_connection(address, timeout=state.timeout)
        except TimeoutError:
            return None, "timeout"
        except OSError as exc:
            return None, f"Can't connect: {exc.strerror or exc}"
    state.sock.setsockopt(stdlib_socket.IPPROTO_TCP, stdlib_socket.TCP_NODELAY, 1)
    state.closed = False
    return 1


def connect_ssl(state: SocketState, host: Any, port: Any = None) -> tuple[Any, ...] | int:
    result = connect(state, host, port)
    if result != 1:
        return result
    server, _ = _resolve_target(host, port)
    context = gssl.SSLContext(gssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = gssl.CERT_NONE
    with contexts.blocking("Socket.connect_ssl"):
        try:
            state.sock = context.wrap_socket(state.sock, server_hostname=None if is_ip_literal(server) else server)
        except (OSError, gssl.SSLError) as exc:
            close(state)
            return None, f"Can't connect: TLS handshake failed ({exc})"
    return 1


def _lua_range(length: int, start: Any, end: Any) -> tuple[int, int]:
    """string.sub's index rules: 1-based, inclusive, negatives count from the end."""
    i = checks.integer(start, "send", 3) if start is not None else 1
    j = checks.integer(end, "send", 4) if end is not None else -1
    if i < 0:
        i = max(length + i + 1, 1)
    elif i == 0:
        i = 1
    if j < 0:
        j = length + j + 1
    return i, min(j, length)


def send(state: SocketState, data: Any, start: Any = None, end: Any = None) -> tuple[Any, ...] | int:
    payload = checks.as_bytes(data, "send", 2)
    i, j = _lua_range(len(payload), start, end)
    if state.sock is None or state.closed:
        return None, "closed", i - 1
    chunk = payload[i - 1 : j] if j >= i else b""
    sent = 0
    with contexts.blocking("Socket.send"):
        state.sock.settimeout(state.timeout)
        try:
            while sent < len(chunk):
                sent += state.sock.send(chunk[sent:])
        except TimeoutError:
            return None, "timeout", i - 1 + sent
        except OSError:
            return None, "closed", i - 1 + sent
    return i - 1 + sent


def _fill(state: SocketState) -> str | None:
    """Read more into the buffer; an error word on failure."""
    assert state.sock is not None
    try:
        data = state.sock.recv(READ_SIZE)
    except TimeoutError:
        return "timeout"
    except OSError:
        return "closed"
    if not data:
        return "closed"
    state.buffer += data
    return None


def receive(state: SocketState, pattern: Any = "*l", prefix: Any = None) -> tuple[Any, ...] | bytes:
    head = checks.as_bytes(prefix, "receive", 3) if prefix is not None else b""
    if state.sock is None or state.closed:
        return None, "closed", head
    if isinstance(pattern, str) and pattern.startswith("*"):
        pattern = pattern[1:]
    if pattern not in ("a", "l"):
        pattern = checks.integer(pattern, "receive", 2)
    with contexts.blocking("Socket.receive"):
        state.sock.settimeout(state.timeout)
        return _receive(state, pattern, head)


def _receive(state: SocketState, pattern: str | int, head: bytes) -> tuple[Any, ...] | bytes:
    buf = state.buffer
    if pattern == "a":
        while (error := _fill(state)) is None:
            pass
        data = bytes(buf)
        buf.clear()
        return data if error == "closed" else (None, error, head + data)
    if pattern == "l":
        while b"\n" not in buf:
            if (error := _fill(state)) is not None:
                partial = bytes(buf).replace(b"\r", b"")
                buf.clear()
                return None, error, head + partial
        end = buf.index(b"\n")
        line = bytes(buf[:end]).replace(b"\r", b"")
        del buf[: end + 1]
        return head + line
    while len(buf) < pattern:
        if (error := _fill(state)) is not None:
            partial = bytes(buf)
            buf.clear()
            return None, error, head + partial
    data = bytes(buf[:pattern])
    del buf[:pattern]
    return head + data


def settimeout(state: SocketState, value: Any, mode: Any = None) -> int:
    state.timeout = None if value is None or checks.number(value, "settimeout", 2) < 0 else float(value)
    return 1


def _name(state: SocketState, peer: bool) -> tuple[Any, ...]:
    if state.sock is None or state.closed:
        return None, "closed"
    try:
        host, port = (state.sock.getpeername() if peer else state.sock.getsockname())[:2]
    except OSError as exc:
        return None, exc.strerror or "closed"
    return host, port


def getpeername(state: SocketState) -> tuple[Any, ...]:
    return _name(state, True)


def getsockname(state: SocketState) -> tuple[Any, ...]:
    return _name(state, False)


def setoption(state: SocketState, option: Any = None, value: Any = None) -> int:
    return 1


def shutdown(state: SocketState, mode: Any = "both") -> int:
    how = {"send": stdlib_socket.SHUT_WR, "receive": stdlib_socket.SHUT_RD}.get(mode, stdlib_socket.SHUT_RDWR)
    if state.sock is not None:
        with contextlib.suppress(OSError):
            state.sock.shutdown(how)
    return 1


def close(state: SocketState) -> int:
    if state.sock is not None:
        state.sock.close()
        state.sock = None
    state.closed = True
    state.buffer.clear()
    return 1


FUNCTIONS = {
    "connect": connect,
    "connect_ssl": connect_ssl,
    "send": send,
    "receive": receive,
    "settimeout": settimeout,
    "getpeername": getpeername,
    "getsockname": getsockname,
    "setoption": setoption,
    "shutdown": shutdown,
    "close": close,
}
