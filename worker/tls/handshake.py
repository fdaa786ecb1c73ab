"""Handshakes, run in the connection's own greenlet with a deadline, so a slow peer costs only itself.

``accept`` turns an accepted socket into a TLS socket the streams use as
they use a plain one (``recv``, ``sendall``, ``settimeout``, ``close``);
a failure is logged as HAProxy logs it and ends only that connection.
``connect`` does the same towards a server.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from typing import Any

import gevent

from ..access_log import proxy_loggers
from ..samples.logformat import _accept_ms
from ..txn import addresses_of
from . import clienthello, openssl
from .clienthello import MAX_HELLO, ClientHello
from .contexts import ListenerTls, ServerTls
from .counters import COUNTERS

DEFAULT_TIMEOUT = 10.0
"""When the frontend has no ``timeout client`` (HAProxy would wait forever)."""
INFO = 6
PEEK_PAUSE = 0.005


class _Accepted:
    """What the log line of a failed handshake needs."""

    __slots__ = ("accept_date",)

    def __init__(self, accept_date: float) -> None:
        self.accept_date = accept_date


def accept(listener: ListenerTls, sock: Any, frontend: Any, so_id: int, logger: Any) -> Any | None:
    """The handshaken TLS socket, or None (logged, socket closed) when the handshake failed."""
    accept_date = time.time()
    addresses = addresses_of(sock)
    timeout = frontend.timeout("client", DEFAULT_TIMEOUT)
    tls = sock
    try:
        hello = peek_hello(sock, timeout) if listener.mixed_keys else None
        tls = listener.wrap(sock, hello)
        tls.settimeout(timeout)
        tls.do_handshake()
        if tls.context.verify_mode != ssl.CERT_NONE:
            tls.verify = openssl.take_verify_result(tls)
        COUNTERS.handshake(True, tls.session_reused)
    except (OSError, ValueError) as exc:
        openssl.forget_verify_state(tls)
        _log_failure(frontend, so_id, listener.name, logger, addresses[0], accept_date, failure_reason(exc))
        with contextlib.suppress(OSError):
            tls.close()
        return None
    return tls


def peek_hello(sock: Any, timeout: float) -> ClientHello | None:
    """The ClientHello, read without consuming it (MSG_PEEK), within *timeout* (TimeoutError when nothing
    came); None if it is not a whole ClientHello by then."""
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    data = sock.recv(MAX_HELLO, socket.MSG_PEEK)
    while clienthello.incomplete(data) and time.monotonic() < deadline:
        gevent.sleep(PEEK_PAUSE)
        data = sock.recv(MAX_HELLO, socket.MSG_PEEK)
    return clienthello.parse_client_hello(data)


def connect(server_tls: ServerTls, sock: Any, txn: Any, timeout: float | None) -> Any:
    """A TLS connection to a server; raises OSError (ssl.SSLError included) like a failed connect."""
    tls = server_tls.wrap(sock, txn)
    tls.settimeout(timeout)
    try:
        tls.do_handshake()
        server_tls.verify_host(tls)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            tls.close()
        raise
    server_tls.remember(tls)
    COUNTERS.handshake(False, bool(tls.session_reused))
    return tls


def failure_reason(exc: BaseException) -> str:
    """HAProxy's words for a failed handshake (its connection error texts)."""
    if isinstance(exc, TimeoutError | socket.timeout):
        return "Timeout during SSL handshake"
    if isinstance(exc, ssl.SSLEOFError | ConnectionResetError | BrokenPipeError) or (
            isinstance(exc, ssl.SSLError) and "EOF" in str(exc)) or isinstance(exc, ssl.SSLZeroReturnError):
        return "Connection closed during SSL handshake"
    return "SSL handshake failure"


def _log_failure(frontend: Any, so_id: int, bind_name: str, logger: Any, client: tuple[Any, Any],
                 accept_date: float, reason: str) -> None:
    loggers = proxy_loggers(frontend)
    if not loggers:
        return
    host, port = client
    line = f"{host}:{port} [{_accept_ms(_Accepted(accept_date))}] {frontend.name}/{bind_name or so_id}: {reason}"
    logger.send(loggers, INFO, line)
