"""CONNECT and WebSocket tunnels against haproxy 2.6: what the client sees and the log line.

The log format leaves out timers, dates and %B (haproxy counts a tunnel's
bytes at its internal HTX level, luaproxy the bytes on the wire).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest

from tests.compat.harness import HAPROXY, Case, run_case
from tests.compat.test_compat_logs import masked
from tests.e2e.test_http_tunnel import SwitchingServer, read_until
from tests.helpers import EchoServer, read_all
from tests.logs.syslog import SyslogListener

LOG_FORMAT = '"%ci %ft %b/%s %ST %{+Q}r %tsc %ts"'


def connect_client(close_first: bool) -> Callable[[int], bytes]:
    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
            head = read_until(sock, b"\r\n\r\n")
            sock.sendall(b"ping")
            echo = read_until(sock, b"echo:ping")
            if close_first:
                return head + echo
            return head + echo + read_all(sock, 5)
    return client


def websocket_client(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /chat HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = read_until(sock, b"\r\n\r\n")
        sock.sendall(b"frame")
        return head.split(b"\r\n", 1)[0] + read_until(sock, b"echo:frame").split(b"\r\n\r\n", 1)[-1]


CASES = {
    "connect-client-closes": connect_client(True),
    "connect-idle-timeout": connect_client(False),
    "websocket": websocket_client,
}


@pytest.fixture
def syslog() -> Iterator[SyslogListener]:
    listener = SyslogListener()
    yield listener
    listener.close()


@pytest.mark.parametrize("name", list(CASES))
def test_tunnels_as_haproxy(name: str, syslog: SyslogListener, tmp_path, echo_server: EchoServer) -> None:
    if HAPROXY is None:
        pytest.skip("Debian's haproxy is not installed")
    backend = SwitchingServer()
    config = f"""
        global
           log {syslog.address} local0
        defaults
           mode http
           timeout connect 2s
           timeout client 5s
           timeout server 5s
           timeout tunnel 1s
        listen p
           bind 127.0.0.1:{{port}}
           log global
           log-format {LOG_FORMAT.replace("{", "{{").replace("}", "}}")}
           server s1 127.0.0.1:{backend.port}
        """

    def client(port: int) -> bytes:
        before = len(syslog.datagrams)
        seen = CASES[name](port)
        syslog.wait(before + 1, timeout=5)
        time.sleep(0.2)
        return seen + b"\n" + b"".join(masked(syslog.datagrams[before:]))

    try:
        case = Case(name, config, client)
        ours = run_case(case, "luaproxy", tmp_path, echo_server)
        reference = run_case(case, "haproxy", tmp_path, echo_server)
    finally:
        backend.close()
    assert ours.lower() == reference.lower()
