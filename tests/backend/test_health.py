"""Health checks against real servers on 127.0.0.1, run by greenlets in this test's hub.

Waits use gevent.sleep (time.sleep would stop the hub) and are bounded.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import gevent
import pytest
from gevent.server import StreamServer

from luaproxy.worker.backend import HealthChecker, configure_checks, parse_check_spec
from luaproxy.worker.backend.state import AdminState, OpState
from tests.helpers import recv_until

from .kit import RecordingLogger, farm, proxy

FAST = {"inter": "50ms", "rise": "2", "fall": "3"}


def seconds(text: str) -> float:
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text.rstrip("s"))


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        gevent.sleep(0.01)
    return predicate()


class HttpServer:
    """Answers each request with the current ``status``; ``silent`` makes it never answer."""

    def __init__(self) -> None:
        self.status, self.reason, self.body = 200, "OK", b"ok"
        self.silent = False
        self.requests: list[bytes] = []
        self.server = StreamServer(("127.0.0.1", 0), self.handle)
        self.server.start()
        self.port = self.server.server_port

    def handle(self, sock: socket.socket, _address: object) -> None:
        data = recv_until(sock, b"\r\n\r\n")
        if data is None:
            return
        self.requests.append(data)
        if self.silent:
            gevent.sleep(10)
        head = f"HTTP/1.1 {self.status} {self.reason}\r\nContent-Length: {len(self.body)}\r\n\r\n"
        sock.sendall(head.encode() + self.body)


def listener(port: int = 0) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(16)
    return sock


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.server.stop(timeout=1)


@pytest.fixture
def run() -> Iterator[Callable[..., tuple[object, RecordingLogger]]]:
    """Start a checker on one backend of *servers*; stopped at teardown."""
    checkers: list[HealthChecker] = []

    def start(servers, options=FAST, spec=None, timeouts=None, **proxy_options):
        be = proxy(servers, **proxy_options)
        be.timeouts.update(timeouts or {})
        for server in servers:
            server.check = True
            configure_checks(server, options, seconds, spec or parse_check_spec(None))
        log = RecordingLogger()
        checker = HealthChecker([be], log)
        checkers.append(checker)
        checker.start()
        return be, log

    yield start
    for checker in checkers:
        checker.stop()


def test_tcp_check_goes_down_after_fall_failures_and_up_after_rise(run):
    sock = listener()
    port = sock.getsockname()[1]
    servers = farm(1)
    servers[0].port = port
    server = servers[0]
    _, log = run(servers)
    try:
        assert wait_for(lambda: server.check_health == 4 and server.check_status == "L4OK")
        sock.close()
        assert wait_for(lambda: server.op_state == OpState.DOWN)
        assert server.check_failures == 3 and server.check_downs == 1
        assert server.check_status == "L4CON" and server.check_info == "Connection refused"
        assert log.messages()[0].startswith('Server be/s1 is DOWN, reason: Layer4 connection problem, '
                                            'info: "Connection refused", check duration: ')
        assert log.lines[1] == ("alert", "backend 'be' has no server available!")
        sock = listener(port)
        assert wait_for(lambda: server.op_state == OpState.UP)
        assert log.messages()[2].startswith("Server be/s1 is UP, reason: Layer4 check passed, check duration: ")
        assert log.messages()[2].endswith(". 1 active and 0 backup servers online. 0 sessions requeued, "
                                          "0 total in queue.")
    finally:
        sock.close()


def test_http_check_follows_the_status(run, http_server):
    servers = farm(1)
    servers[0].port = http_server.port
    server = servers[0]
    _, log = run(servers, spec=parse_check_spec(("GET", "/health")))
    assert wait_for(lambda: server.check_status == "L7OK" and server.check_health == 4)
    assert server.check_code == 200
    assert http_server.requests[0] == b"GET /health HTTP/1.0\r\n\r\n"
    http_server.status, http_server.reason = 500, "Oops"
    assert wait_for(lambda: server.op_state == OpState.DOWN)
    assert log.messages()[0].startswith('Server be/s1 is DOWN, reason: Layer7 wrong status, code: 500, '
                                        'info: "Oops", check duration: ')
    http_server.status, http_server.reason = 301, "Moved"
    assert wait_for(lambda: server.op_state == OpState.UP)
    assert "reason: Layer7 check passed, code: 301, check duration: " in log.messages()[-1]


def test_http_check_expect_status_and_request_line(run, http_server):
    servers = farm(1)
    servers[0].port = http_server.port
    server = servers[0]
    spec = parse_check_spec(("HEAD", "/ready", "HTTP/1.1"), [("send", "hdr", "Host", "app.example"),
                                                             ("expect", "status", "503")])
    http_server.status, http_server.reason = 503, "Unavailable"
    run(servers, spec=spec)
    assert wait_for(lambda: server.check_status == "L7OK" and server.check_code == 503)
    assert http_server.requests[0] == (b"HEAD /ready HTTP/1.1\r\nHost: app.example\r\nConnection: close\r\n\r\n")
    http_server.status, http_server.reason = 200, "OK"
    assert wait_for(lambda: server.op_state == OpState.DOWN)
    assert server.check_status == "L7STS"


def test_check_port_and_addr_redirect_the_check(run, http_server):
    dead = listener()
    dead_port = dead.getsockname()[1]
    dead.close()
    servers = farm(1)
    servers[0].host, servers[0].port = "192.0.2.1", dead_port
    server = servers[0]
    run(servers, options={**FAST, "port": str(http_server.port), "addr": "127.0.0.1"}, spec=parse_check_spec(()))
    assert wait_for(lambda: len(http_server.requests) >= 3)
    assert server.op_state == OpState.UP and server.check_status == "L7OK"
    assert http_server.requests[0] == b"OPTIONS / HTTP/1.0\r\n\r\n"


def test_silent_server_is_a_layer7_timeout(run, http_server):
    http_server.silent = True
    servers = farm(1)
    servers[0].port = http_server.port
    server = servers[0]
    _, log = run(servers, options={"inter": "1s", "fall": "1"}, spec=parse_check_spec(()),
                 timeouts={"check": 0.2, "connect": 0.5})
    assert wait_for(lambda: server.op_state == OpState.DOWN, 3)
    assert server.check_status == "L7TOUT" and 200 <= server.check_duration < 900
    assert log.messages()[0].startswith("Server be/s1 is DOWN, reason: Layer7 timeout, check duration: ")


def test_unanswered_connect_is_a_layer4_timeout(run):
    full = socket.socket()
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    port = full.getsockname()[1]
    pending = []
    try:
        for _ in range(3):
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(("127.0.0.1", port))
            pending.append(client)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            pytest.skip("this kernel accepts connections beyond a full backlog")
        except TimeoutError:
            pass
        servers = farm(1)
        servers[0].port = port
        run(servers, options={"inter": "1s", "fall": "1"}, timeouts={"check": 1.0, "connect": 0.2})
        assert wait_for(lambda: servers[0].op_state == OpState.DOWN, 3)
        assert servers[0].check_status == "L4TOUT" and 150 <= servers[0].check_duration < 900
    finally:
        for client in pending:
            client.close()
        full.close()


def test_maintenance_pauses_checks_and_stop_ends_them(run, http_server):
    servers = farm(1)
    servers[0].port = http_server.port
    run(servers, spec=parse_check_spec(()))
    assert wait_for(lambda: len(http_server.requests) >= 2)
    servers[0].admin_state = AdminState.MAINT
    gevent.sleep(0.1)
    paused = len(http_server.requests)
    gevent.sleep(0.2)
    assert len(http_server.requests) == paused
    servers[0].admin_state = AdminState.READY
    assert wait_for(lambda: len(http_server.requests) > paused)


def test_stop_ends_every_check(http_server):
    servers = farm(1, 1)
    be = proxy(servers)
    for server in servers:
        server.check, server.port = True, http_server.port
        configure_checks(server, FAST, seconds, parse_check_spec(()))
    checker = HealthChecker([be], RecordingLogger())
    checker.start()
    assert wait_for(lambda: len(http_server.requests) >= 4)
    checker.stop()
    count = len(http_server.requests)
    gevent.sleep(0.2)
    assert len(http_server.requests) == count and not checker.greenlets
