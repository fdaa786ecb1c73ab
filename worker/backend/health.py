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

from .. import netutil
from ..conn.outbound import check_header
from ..http import NEED_DATA, Data, InformationalResponse, RemoteProtocolError, Response
from ..http2.choice import check_http
from ..proxy import Server
from ..tls.handshake import failure_reason
from .agent import run_agent
from .checks import (
    BODY_LIMIT,
    TCP_CHECK,
    HealthCheckSpec,
    check_timeouts,
    next_interval,
    request_bytes,
    server_state_header,
)
from .dial import connect_error_text, open_connection
from .http_expect import CheckContext
from .state import AdminState, CheckResult, apply_check_result
from .tcpcheck import IMPLICIT_CONNECT, RuleSet, run_rules, tls_connect

READ_SIZE = 16384


class HealthChecker:
    """Checks the servers with ``check`` of *proxies* until stopped; logs through *logger*."""

    def __init__(self, proxies: list[Any], logger: Any) -> None:
        self.logger = logger
        self.targets = [(p, s) for p in proxies if p.has_backend for s in p.servers
                        if s.check or (s.dynamic and s.check_spec is not None)]
        self.agents = [(p, s) for p in proxies if p.has_backend for s in p.servers if s.agent is not None]
        self.greenlets: list[gevent.Greenlet] = []

    def start(self) -> None:
        for targets, inter, watch in ((self.targets, lambda s: s.check_inter, self._watch),
                                      (self.agents, lambda s: s.agent.inter, self._watch_agent)):
            if not targets:
                continue
            shortest = min(inter(s) for _, s in targets)
            for position, (proxy, server) in enumerate(targets):
                delay = shortest * position / len(targets)
                self.greenlets.append(gevent.spawn_later(delay, watch, proxy, server))

    def watch(self, proxy: Any, server: Server) -> None:
        """A server added at run time (``add server ... check``): checked while it stays in the farm."""
        self.greenlets.append(gevent.spawn_later(server.check_inter, self._watch, proxy, server))

    def watch_agent(self, proxy: Any, server: Server) -> None:
        """A server added at run time with ``agent-check``: its agent is asked once ``enable agent`` says so."""
        self.greenlets.append(gevent.spawn_later(server.agent.inter, self._watch_agent, proxy, server))

    def stop(self) -> None:
        gevent.killall(self.greenlets)
        self.greenlets = []

    def _watch(self, proxy: Any, server: Server) -> None:
        while server in proxy.servers:
            if server.check and server.admin_state != AdminState.MAINT:
                apply_check_result(proxy, server, self._check(proxy, server), self.logger)
            gevent.sleep(next_interval(server))

    def _check(self, proxy: Any, server: Server) -> CheckResult:
        """One check; a fault inside it (a sample expression, say) fails that check, never the watch."""
        try:
            return run_check(proxy, server)
        except Exception as exc:  # the server must go on being checked
            self.logger.alert(f"health check of {proxy.name}/{server.name} failed: {exc!r}")
            return CheckResult("SOCKERR", info="internal error")

    def _watch_agent(self, proxy: Any, server: Server) -> None:
        """Asks the agent every ``agent-inter`` while it is enabled and the server in its farm; an agent that
        cannot be reached changes nothing."""
        while server in proxy.servers:
            if server.agent_enabled:
                connect, check = check_timeouts(proxy, server)
                timeout = check if check is not None else max(server.agent.inter, connect)
                run_agent(proxy, server, server.agent, timeout, self.logger)
            gevent.sleep(server.agent.inter)


def run_check(proxy: Any, server: Server) -> CheckResult:
    """Connect to the check address, then run the HTTP exchange if the backend asks for one."""
    spec = server.check_spec or TCP_CHECK
    connect_timeout, read_timeout = check_timeouts(proxy, server)
    if isinstance(spec, RuleSet):
        return run_rules(proxy, server, spec, connect_timeout, read_timeout)
    started = time.monotonic()
    ctx = CheckContext(proxy, server)
    result = CheckResult("L4OK")
    for exchange in spec.exchanges:
        result = _exchange(server, exchange, ctx, connect_timeout, read_timeout, started)
        if not result.passed:
            break
    return result


def _exchange(server: Server, spec: HealthCheckSpec, ctx: CheckContext, connect_timeout: float,
              read_timeout: float | None, started: float) -> CheckResult:
    """One connection of a check: its variable steps, the connect, the HTTP exchange if any, the verdict.

    Without ``timeout check`` each exchange must end within ``inter`` of its own start (haproxy counts the
    whole check; a check of several connections costs luaproxy a lot more, and must not time out for it)."""
    own_start = time.monotonic()
    for step in spec.before:
        step.run(ctx)
    connect = spec.connect or IMPLICIT_CONNECT
    address = (connect.addr or server.check_addr or server.host, connect.port or server.check_port or server.port)
    try:
        via = server.socks4 if server.check_via_socks4 else None
        quiet = not spec.http and not connect.ssl and server.check_tls is None
        sock = (open_connection(via, address, connect_timeout) if via is not None
                else _connect(address, connect_timeout, quiet))
    except TimeoutError:
        return CheckResult("L4TOUT", duration_ms=_since(started))
    except OSError as exc:
        return CheckResult("L4CON", info=connect_error_text(exc), duration_ms=_since(started))
    # haproxy 2.6 gives a check the server's PROXY header only for a configured server checked on its own
    # address; an added one ('add server') needs check-send-proxy
    explicit_only = server.dynamic or server.check_port is not None or server.check_addr is not None
    header = check_header(server.send_proxy, explicit_only, sock)
    if header is not None:
        try:
            sock.sendall(header)
        except OSError as exc:
            sock.close()
            return CheckResult("L4CON", info=connect_error_text(exc), duration_ms=_since(started))
    tls = connect.ssl or (connect.uses_server_settings and server.check_tls is not None)
    if tls:
        try:
            sock = tls_connect(server, connect, sock, connect_timeout)
        except TimeoutError:
            return CheckResult("L6TOUT", duration_ms=_since(started))
        except (OSError, ValueError) as exc:
            return CheckResult("L6RSP", info=failure_reason(exc), duration_ms=_since(started))
    with sock:
        if not spec.http:
            _reset(sock)
            return CheckResult("L6OK" if tls else "L4OK", duration_ms=_since(started))
        deadline = own_start + server.check_inter if read_timeout is None else time.monotonic() + read_timeout
        return _http_check(sock, spec, deadline, started, ctx)


def _connect(address: tuple[str, int], timeout: float | None, quiet: bool) -> Any:
    """A connection to the check address.  A *quiet* one (a pure layer-4 check) holds back the ACK of
    the handshake, as haproxy does, so that with ``_reset`` the server's application never sees it."""
    if not quiet:
        return netutil.connect(*address, timeout)
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


def _http_check(sock: Any, spec: HealthCheckSpec, deadline: float, started: float,
                ctx: CheckContext) -> CheckResult:
    """Send the request, read the response head (and the body if an expectation needs it), judge."""
    conn = check_http(ctx.server, sock)
    head = None
    body = bytearray()
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        state = server_state_header(ctx.backend, ctx.server) if spec.send_state else None
        sock.sendall(request_bytes(conn, spec, state, ctx))
        while True:
            event = conn.next_event()
            if event is NEED_DATA:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                conn.receive_data(sock.recv(READ_SIZE))
            elif isinstance(event, Response) or (isinstance(event, InformationalResponse) and
                                                 event.head.status == 101):
                head = event.head
                if not spec.reads_body or head.status == 101:
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
    ctx.response, ctx.body = head, bytes(body)
    return spec.judge(head.status, head.reason, ctx.body, _since(started), ctx)


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
