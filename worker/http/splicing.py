"""Kernel splicing of HTTP/1 bodies (``option splice-request|splice-response|splice-auto``).

Once a body's head went out and nothing of it is buffered in user space, the rest of a
Content-Length or close-delimited body moves socket → pipe → socket with ``os.splice``:
the bytes never enter Python.  The sockets are non-blocking (gevent), so each side waits
on its own read/write event; the pipe holds at most PIPE_SIZE bytes.  Anything that must
see the bytes (a filter, TLS, a chunked or reframed body) keeps the normal copy.
"""

from __future__ import annotations

import os
from typing import Any

from gevent import socket as gsocket

from .connection import Connection
from .readers import ContentLengthReader, UntilCloseReader
from .server_pool import count_request_bytes
from .state import SEND_BODY
from .writers import ContentLengthWriter, UntilCloseWriter

PIPE_SIZE = 65536
"""Bytes in flight per spliced body (Linux's default pipe capacity)."""
_FLAGS = getattr(os, "SPLICE_F_MOVE", 0) | getattr(os, "SPLICE_F_NONBLOCK", 0)
AVAILABLE = hasattr(os, "splice")
disabled = False
"""``nosplice`` or ``-dS``: the master sets it before it forks each worker."""
off_by_command_line = False


def configure(nosplice: bool) -> None:
    """Splicing off for the workers forked next when the configuration says ``nosplice`` or the command
    line ``-dS``."""
    global disabled
    disabled = nosplice or off_by_command_line


def wanted(option: str, *proxies: Any) -> bool:
    """True when splicing is on for this direction (*option* is ``splice-request`` or ``splice-response``)."""
    if not AVAILABLE or disabled:
        return False
    return any(p is not None and (p.options.get(option) or p.options.get("splice-auto")) for p in proxies)


def splice_rest(src: Connection, src_sock: Any, dst: Connection, dst_sock: Any, timeout: float | None) -> int | None:
    """Move the rest of the body *src* reads to *dst*'s peer through the kernel; the bytes moved, or None
    when this body must take the normal copy.  Both protocol states advance as if the bytes had been
    parsed and sent: the next ``src.next_event()`` ends the body (or reports it cut short)."""
    if src.buffer or src.eof or type(src_sock) is not gsocket.socket or type(dst_sock) is not gsocket.socket:
        return None
    if src.their_state is not SEND_BODY or dst.our_state is not SEND_BODY:
        return None
    reader, writer = src.body_framing[0], dst.body_framing[1]  # the framing both ends agreed on
    if type(reader) is ContentLengthReader and type(writer) is ContentLengthWriter:
        length: int | None = reader.remaining
        if not length or length != writer.remaining:
            return None
    elif type(reader) is UntilCloseReader and type(writer) is UntilCloseWriter:
        length = None
    else:
        return None
    moved, eof = pump(src_sock, dst_sock, length, timeout)
    if length is not None:
        reader.remaining -= moved
        writer.remaining -= moved
    if eof:
        src.receive_data(b"")
    return moved


def pump(src: gsocket.socket, dst: gsocket.socket, length: int | None, timeout: float | None) -> tuple[int, bool]:
    """Splice up to *length* bytes (None: until end of file) from *src* to *dst*; (bytes written, eof seen).
    A side idle past *timeout* raises TimeoutError; a failed write raises OSError."""
    src_fd, dst_fd = src.fileno(), dst.fileno()
    pipe_r, pipe_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    moved = in_pipe = 0
    eof = False
    try:
        while True:
            left = None if length is None else length - moved - in_pipe
            readable = not eof and left != 0 and in_pipe < PIPE_SIZE
            if not readable and not in_pipe:
                return moved, eof
            read_blocked = write_blocked = False
            if readable:
                want = PIPE_SIZE - in_pipe if left is None else min(PIPE_SIZE - in_pipe, left)
                try:
                    got = os.splice(src_fd, pipe_w, want, flags=_FLAGS)
                except BlockingIOError:
                    read_blocked = True
                else:
                    in_pipe += got
                    eof = got == 0
            if in_pipe:
                try:
                    moved_now = os.splice(pipe_r, dst_fd, in_pipe, flags=_FLAGS)
                except BlockingIOError:
                    write_blocked = True
                else:
                    in_pipe -= moved_now
                    moved += moved_now
            if write_blocked:
                gsocket.wait_write(dst_fd, timeout=timeout, timeout_exc=TimeoutError("splice: write timeout"))
            elif read_blocked and not in_pipe:
                gsocket.wait_read(src_fd, timeout=timeout, timeout_exc=TimeoutError("splice: read timeout"))
    finally:
        os.close(pipe_r)
        os.close(pipe_w)


def response_body(stream: Any, backend: Any, conn: Any, server_counters: Any, timeout: float | None) -> bool:
    """Splice the rest of a response body server → client, counted as the copy would count it; False when
    it must take the normal copy."""
    txn = stream.txn
    if txn is None or txn.filters is not None or not wanted("splice-response", stream.frontend, backend):
        return False
    moved = splice_rest(conn.http, conn.sock, stream.front, stream.client, timeout)
    if moved is None:
        return False
    fe, be = stream.frontend.fe_counters, backend.be_counters
    server_counters.bytes_out += moved
    be.bytes_out += moved
    be.spliced_in += moved
    fe.bytes_out += moved
    fe.spliced_out += moved
    txn.bytes_out += moved
    return True


def request_body(stream: Any, conn: Any, timeout: float | None) -> bool:
    """Splice the rest of a request body client → server; False when it must take the normal copy.
    OSError when either side failed, as the copy's send or receive would."""
    txn = stream.txn
    backend = txn.backend if txn is not None else None
    if txn is None or txn.filters is not None or not wanted("splice-request", stream.frontend, backend):
        return False
    front = stream.front
    moved = splice_rest(front, stream.client, conn.http, conn.sock, timeout)
    if moved is None:
        return False
    fe = stream.frontend.fe_counters
    fe.bytes_in += moved
    fe.spliced_in += moved
    txn.bytes_in += moved
    if backend is not None:
        backend.be_counters.spliced_out += moved
    count_request_bytes(conn, txn, moved)
    if front.eof:  # the client left in the middle of its body (the splice stops at its end otherwise)
        raise ConnectionAbortedError("the client closed in the middle of its request body")
    return True
