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
from collections.abc import Callable
from typing import Any

import gevent

from ..access_log import proxy_loggers
from ..channel import Channel
from ..samples.logformat import _accept_ms
from ..txn import Transaction, addresses_of
from . import clienthello, errors, openssl
from .clienthello import MAX_HELLO
from .contexts import ListenerTls, ServerTls
from .counters import COUNTERS
from .tlssocket import TlsSocket

DEFAULT_TIMEOUT = 10.0
"""When the frontend has no ``timeout client`` (HAProxy would wait forever)."""
ERR, INFO = 3, 6
PEEK_PAUSE, PEEK_PAUSE_MAX = 0.002, 0.25


class _Accepted:
    """What the log line of a failed handshake needs."""

    __slots__ = ("accept_date",)

    def __init__(self, accept_date: float) -> None:
        self.accept_date = accept_date


def accept(listener: ListenerTls, sock: Any, frontend: Any, so_id: int, logger: Any,
           new_vars: Callable[[], Any] | None = None) -> Any | None:
    """The handshaken TLS socket, or None (logged, socket closed) when the handshake failed (*new_vars*:
    the variables of a new session, which error-log-format may read)."""
    accept_date = time.time()
    addresses = addresses_of(sock)
    timeout = frontend.timeout("client", DEFAULT_TIMEOUT)
    tls = sock
    try:
        hello = capture = None
        if listener.mixed_keys or listener.capture_size:
            data = peek_hello(sock, timeout)
            hello = clienthello.parse_client_hello(data) if listener.mixed_keys else None
            capture = clienthello.capture(data, listener.capture_size) if listener.capture_size else None
        tls = listener.wrap(sock, hello)
        tls.capture = capture
        tls.settimeout(timeout)
        try:
            tls.do_handshake()
        finally:
            if listener.keylog:
                tls.keylog = openssl.take_keylog(tls)
        if tls.context.verify_mode != ssl.CERT_NONE:
            tls.verify = openssl.take_verify_result(tls)
        COUNTERS.handshake(True, tls.session_reused)
    except (OSError, ValueError) as exc:
        level = ERR if frontend.options.get("log-separate-errors") else INFO
        verify = openssl.take_verify_result(tls) if isinstance(tls, TlsSocket) else None
        rejected = openssl.forget_verify_state(tls)
        error = errors.classify(exc, verify)
        if frontend.error_log_format is not None and isinstance(tls, TlsSocket):
            from cryptography import x509  # imported here: most workers never need cryptography

            tls.handshake_error = error
            tls.verify = verify
            tls.peer_x509 = x509.load_der_x509_certificate(rejected) if rejected else False
            _log_custom(frontend, so_id, logger, tls, addresses, accept_date, level,
                        new_vars() if new_vars is not None else None)
        else:
            _log_failure(frontend, so_id, listener.name, logger, addresses[0], accept_date, error.text, level)
        with contextlib.suppress(OSError):
            tls.close()
        return None
    return tls


def peek_hello(sock: Any, timeout: float) -> bytes:
    """The bytes of the ClientHello, read without consuming them (MSG_PEEK), within *timeout* (TimeoutError
    when nothing came); what came by then if the hello is still not whole.

    Peeked bytes keep the socket readable, so the rest is polled for, the
    pause doubling up to PEEK_PAUSE_MAX: a client that stalls in its hello
    costs a few wake-ups a second, not hundreds."""
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    data = sock.recv(MAX_HELLO, socket.MSG_PEEK)
    pause = PEEK_PAUSE
    while clienthello.incomplete(data) and time.monotonic() < deadline:
        gevent.sleep(pause)
        pause = min(pause * 2, PEEK_PAUSE_MAX)
        data = sock.recv(MAX_HELLO, socket.MSG_PEEK)
    return data


def connect(server_tls: ServerTls, sock: Any, txn: Any, timeout: float | None) -> Any:
    """A TLS connection to a server; raises OSError (ssl.SSLError included) like a failed connect."""
    tls = server_tls.wrap(sock, txn)
    tls.settimeout(timeout)
    try:
        tls.do_handshake()
        server_tls.verify_host(tls)
    except (OSError, ValueError) as exc:
        with contextlib.suppress(AttributeError):  # bc_err, ssl_bc_err
            txn.server_error = errors.classify(exc)
        with contextlib.suppress(OSError):
            tls.close()
        raise
    if getattr(txn, "server_error", None) is not None:
        txn.server_error = None  # a retry that succeeded
    server_tls.remember(tls)
    COUNTERS.handshake(False, bool(tls.session_reused))
    return tls


def failure_reason(exc: BaseException) -> str:
    """HAProxy's words for a failed handshake (its connection error texts), for health checks."""
    return errors.classify(exc).text


def _log_custom(frontend: Any, so_id: int, logger: Any, tls: Any, addresses: Any, accept_date: float,
                level: int, variables: Any) -> None:
    """``error-log-format``: the line rendered over the failed connection, as haproxy logs it."""
    loggers = proxy_loggers(frontend)
    if not loggers:
        return
    txn = Transaction(tls, frontend, Channel("req", 0), Channel("res", 0), logger, so_id, variables=variables,
                      addresses=addresses)
    txn.accept_date = accept_date
    txn.termination = "CR"
    logger.send(loggers, level, frontend.error_log_format.render(txn))


def _log_failure(frontend: Any, so_id: int, bind_name: str, logger: Any, client: tuple[Any, Any],
                 accept_date: float, reason: str, level: int) -> None:
    loggers = proxy_loggers(frontend)
    if not loggers:
        return
    host, port = client
    line = f"{host}:{port} [{_accept_ms(_Accepted(accept_date))}] {frontend.name}/{bind_name or so_id}: {reason}"
    logger.send(loggers, level, line)
