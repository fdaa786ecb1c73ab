"""Health checks as each worker runs them: one greenlet per checked server.

Every worker checks on its own, as each HAProxy process did before threads;
the first checks are spread over the shortest ``inter`` so that many servers
are not probed at the same instant.  A server in maintenance is not checked.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from typing import Any

import gevent
from gevent import socket as gsocket

from ..conn.outbound import check_header
from ..http import CLIENT, NEED_DATA, Connection, Data, InformationalResponse, RemoteProtocolError, Response
from ..proxy import Server
from ..tls import handshake
from .checks import BODY_LIMIT, TCP_CHECK, HealthCheckSpec, check_timeouts, next_interval, request_bytes
from .state import AdminState, CheckResult, apply_check_result

READ_SIZE = 16384


class HealthChecker:
    """Checks the servers with ``check`` of *proxies* until stopped; logs through *logger*."""

    def __init__(self, proxies: list[Any], logger: Any) -> None:
        self.logger = logger
        self.targets = [(p, s) for p in proxies if p.has_backend for s in p.servers if s.check]
        self.greenlets: list[gevent.Greenlet] = []

    def start(self) -> None:
        if not self.targets:
            return
        shortest = min(s.check_inter for _, s in self.targets)
        for position, (proxy, server) in enumerate(self.targets):
            delay = shortest * position / len(self.targets)
            self.greenlets.append(gevent.spawn_later(delay, self._watch, proxy, server))

    def stop(self) -> None:
        gevent.killall(self.greenlets)
        self.greenlets = []

    def _watch(self, proxy: Any, server: Server) -> None:
        while True:
            if server.check and server.admin_state != AdminState.MAINT:
                apply_check_result(proxy, server, run_check(proxy, server), self.logger)
            gevent.sleep(next_interval(server))


def run_check(proxy: Any, server: Server) -> CheckResult:
    """Connect to the check address, then run the HTTP exchange if the backend asks for one."""
    spec = server.check_spec or TCP_CHECK
    connect_timeout, read_timeout = check_timeouts(proxy, server)
    started = time.monotonic()
    address = (server.check_addr or server.host, server.check_port or server.port)
    try:
        sock = _connect(address, connect_timeout, quiet=not spec.http and server.check_tls is None)
    except TimeoutError:
        return CheckResult("L4TOUT", duration_ms=_since(started))
    except OSError as exc:
        return CheckResult("L4CON", info=exc.strerror or str(exc), duration_ms=_since(started))
    header = check_header(server.send_proxy, server.check_port is not None or server.check_addr is not None, sock)
    if header is not None:
        try:
            sock.sendall(header)
        except OSError as exc:
            sock.close()
            return CheckResult("L4CON", info=exc.strerror or str(exc), duration_ms=_since(started))
    if server.check_tls is not None:
        try:
            sock = handshake.connect(server.check_tls, sock, None, connect_timeout)
        except TimeoutError:
            return CheckResult("L6TOUT", duration_ms=_since(started))
        except OSError as exc:
            return CheckResult("L6RSP", info=getattr(exc, "reason", None) or "SSL handshake failure",
                               duration_ms=_since(started))
    with sock:
        if not spec.http:
            _reset(sock)
            return CheckResult("L6OK" if server.check_tls is not None else "L4OK", duration_ms=_since(started))
        deadline = started + server.check_inter if read_timeout is None else time.monotonic() + read_timeout
        return _http_check(sock, spec, deadline, started)


def _connect(address: tuple[str, int], timeout: float | None, quiet: bool) -> Any:
    """A connection to the check address.  A *quiet* one (a pure layer-4 check) holds back the ACK of
    the handshake, as haproxy does, so that with ``_reset`` the server's application never sees it."""
    if not quiet:
        return gsocket.create_connection(address, timeout=timeout)
    sock = gsocket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET, socket.SOCK_STREAM)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


def _reset(sock: Any) -> None:
    """End a layer-4 check with a reset rather than a FIN, as haproxy does."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _http_check(sock: Any, spec: HealthCheckSpec, deadline: float, started: float) -> CheckResult:
    """Send the request, read the response head (and the body if an expectation needs it), judge."""
    conn = Connection(CLIENT)
    head = None
    body = bytearray()
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        sock.sendall(request_bytes(conn, spec))
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                conn.receive_data(sock.recv(READ_SIZE))
            elif isinstance(event, Response):
                head = event.head
                if not spec.reads_body:
                    break
            elif isinstance(event, Data):
                body += event.data
                if len(body) >= BODY_LIMIT:
                    break
            elif not isinstance(event, InformationalResponse):
                break
    except TimeoutError:
        return CheckResult("L7TOUT", duration_ms=_since(started))
    except (RemoteProtocolError, OSError) as exc:
        if head is None:
            info = exc.strerror if isinstance(exc, OSError) and exc.strerror else ""
            return CheckResult("L7RSP", info=info, duration_ms=_since(started))
    if head is None:
        return CheckResult("L7RSP", duration_ms=_since(started))
    return spec.judge(head.status, head.reason, bytes(body), _since(started))


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
