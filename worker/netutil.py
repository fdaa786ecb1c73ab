"""Small socket helpers shared by the streams."""

from __future__ import annotations

import contextlib
import ipaddress
import select
import socket
import time
from typing import Any

from gevent import getcurrent
from gevent import socket as gsocket

from .client_socket import PLAIN, ClientSocket

LINGER_SECONDS = 1.0
LINGER_BYTES = 1 << 20
DRAIN_SIZE = 65536


def send_all(sock: socket.socket, data: bytes, raw: socket.socket | None = None) -> None:
    """``sendall`` in one ``send`` when the socket takes it all, as it does for most responses.

    gevent's ``sendall`` chunks by the socket's send buffer (a ``getsockopt`` and
    four Python frames per call); a partial send falls back to it for the rest.
    A plain gevent socket is written directly (it is non-blocking underneath):
    *raw* is the plain socket under it when the caller keeps that (HttpStream.direct).
    """
    if raw is None and type(sock) in PLAIN:
        raw = sock._sock  # type: ignore[attr-defined]  # gevent's send: a Python frame more
    if raw is not None:
        try:
            sent = raw.send(data)
        except BlockingIOError:
            sent = 0
    else:
        sent = sock.send(data)
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])


class _Closed:
    """The poll set of a socket already closed: always "readable", so its next read finds it closed."""

    @staticmethod
    def poll(timeout: int) -> bool:
        return True


def input_poll(sock: socket.socket) -> Any:
    """A poll set watching *sock* for input, kept with the socket: whether bytes wait is then asked of the
    kernel with a zero-timeout ``poll``, not a ``recv`` that finds nothing and says so with EAGAIN, which
    Python turns into an exception (about 7k instructions to the poll's 1k).  An idle server connection
    with something to read was closed (or spoke out of turn), so it is unusable; a client's next request
    is read only when it is there.
    """
    watch = select.poll()
    try:
        watch.register(sock.fileno(), select.POLLIN)
    except (OSError, ValueError):
        return _Closed
    return watch


def recv_within(sock: socket.socket, size: int, timeout: float | None, tried: bool = False,
                timer: Any = None) -> bytes:
    """``recv`` bounded by *timeout* (TimeoutError), paying for the timer only when the read must wait.

    A plain gevent socket is read directly first (unless the caller *tried*
    already and found nothing); only when nothing is there does an event-loop
    timer start, with no ``gevent.Timeout`` object (a few Python calls a read).
    A caller that waits as long again and again passes its own *timer*, made
    repeating every *timeout* (``loop.timer(timeout, timeout)``): it is
    re-armed for the whole *timeout* (``again``) and stopped, not made and
    closed, each time (libev's ``start`` of a stopped timer would wait only what
    was left of its last wait).
    The socket's own timeout is left as it is: it bounds the sends.  Other
    sockets (TLS) read with their timeout set to *timeout*.
    """
    if type(sock) not in PLAIN:
        if sock.timeout != timeout:
            sock.settimeout(timeout)
        return sock.recv(size)
    raw = sock._sock  # type: ignore[attr-defined]
    if not tried:
        try:
            return raw.recv(size)
        except BlockingIOError:
            pass
    hub = sock.hub  # type: ignore[attr-defined]
    watcher = sock.read_watcher() if type(sock) is ClientSocket else sock._read_event  # type: ignore[attr-defined]
    kept = timer is not None
    if kept:
        timer.again(_time_out, getcurrent(), update=False)
    elif timeout is not None:
        timer = hub.loop.timer(timeout)
        timer.start(_time_out, getcurrent())
    try:
        while True:
            hub.wait(watcher)
            try:
                return raw.recv(size)
            except BlockingIOError:
                continue
    finally:
        if kept:
            timer.stop()
        elif timer is not None:
            timer.close()


def _time_out(greenlet: Any) -> None:
    """A read's deadline passed: its TimeoutError is made only now (most reads end before it)."""
    greenlet.throw(TimeoutError("timed out"))


def shutdown_write(sock: socket.socket) -> None:
    try:  # noqa: SIM105  (contextlib.suppress: three Python calls more on every connection's close)
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def shutdown_both(sock: socket.socket) -> None:
    """End both directions now: a greenlet waiting on the socket wakes up (closing it would not say why)."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def close_gracefully(sock: socket.socket, heard: bool = False) -> None:
    """Half-close after the last response, read what the peer sent meanwhile, then close.

    Closing a socket with unread input makes the kernel send a reset, which
    can destroy the last response before the client reads it.  As HAProxy
    does, what is already there is read without waiting and the socket closes
    at once, once the peer has been *heard* (its request read) or something
    was there; a peer that has sent nothing yet may still be sending its
    request, so the socket lingers until it ends or for a moment.
    """
    shutdown_write(sock)
    if type(sock) in PLAIN:
        raw = sock._sock  # type: ignore[attr-defined]
        drained = 0
        while drained < LINGER_BYTES:
            try:
                data = raw.recv(DRAIN_SIZE)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                sock.close()
                return
            drained += len(data)
            if len(data) < DRAIN_SIZE:  # the read emptied the receive queue: no second read failing with EAGAIN
                break
        if heard or drained:
            sock.close()
            return
    _linger(sock)


def _linger(sock: socket.socket) -> None:
    """Read and drop what the peer sends until it ends or for LINGER_SECONDS, then close."""
    drained = 0
    deadline = time.monotonic() + LINGER_SECONDS
    try:
        while drained < LINGER_BYTES:
            data = recv_within(sock, DRAIN_SIZE, max(deadline - time.monotonic(), 0.0))
            if not data:
                break
            drained += len(data)
    except OSError:  # TimeoutError included: the peer kept the connection open past the linger time
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


def is_ip_literal(text: str) -> bool:
    """Whether *text* is an IPv4 or IPv6 address (not a name to resolve)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
