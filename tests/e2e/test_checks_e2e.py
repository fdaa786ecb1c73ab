"""Health checks through a real luaproxy: tcp-check and protocol checks report to the backend's syslog
target, and traffic and checks of a ``socks4`` server go through a real SOCKS4 relay."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from tests.e2e.test_backends import request
from tests.helpers import HttpBackend, RedisServer, TcpServer, free_port
from tests.logs.syslog import SyslogListener, rfc3164


class Socks4Relay(TcpServer):
    """Grants every SOCKS4 CONNECT and relays both ways; keeps each request's 8-byte header."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        super().__init__()

    def handle(self, conn: socket.socket, received: bytearray) -> None:
        conn.settimeout(10)
        with conn:
            head = b""
            while len(head) < 9 or not head[8:].endswith(b"\0"):
                chunk = conn.recv(64)
                if not chunk:
                    return
                head += chunk
            self.requests.append(head[:8])
            port = struct.unpack(">H", head[2:4])[0]
            try:
                upstream = socket.create_connection((socket.inet_ntoa(head[4:8]), port), timeout=10)
            except OSError:  # the server went away (teardown): refuse, as a real relay does
                conn.sendall(b"\x00\x5b" + bytes(6))
                return
            with upstream:
                conn.sendall(b"\x00\x5a" + bytes(6))
                pump = threading.Thread(target=_pump, args=(upstream, conn), daemon=True)
                pump.start()
                _pump(conn, upstream)
                pump.join(10)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        return


@pytest.fixture
def syslog() -> Iterator[SyslogListener]:
    listener = SyslogListener()
    yield listener
    listener.close()


def test_socks4_server_traffic_and_checks_and_protocol_checks_log(write, luaproxy, syslog, tmp_path):
    backend, relay, redis = HttpBackend("a"), Socks4Relay(), RedisServer(tmp_path)
    port = free_port()
    try:
        write("c.cfg", f"""
            defaults
               mode http
               timeout connect 2s
               timeout client 5s
               timeout server 5s
               timeout check 2s
            frontend fe
               bind 127.0.0.1:{port}
               default_backend be
            backend be
               option log-health-checks
               log {syslog.address} local0
               option httpchk GET /health
               server a 127.0.0.1:{backend.port} socks4 127.0.0.1:{relay.port} check-via-socks4 check inter 200ms
            backend cache
               option log-health-checks
               log {syslog.address} local0
               option redis-check
               server r 127.0.0.1:{redis.port} check inter 200ms
            """)
        luaproxy("-f", "c.cfg", wait_port=port)
        assert request(port, "/x")[0] == 200
        check = rfc3164(syslog.matching("Health check for server be/a")[0])
        assert check.level == 5 and "succeeded, reason: Layer7 check passed, code: 200" in check.message
        redis_check = rfc3164(syslog.matching("Health check for server cache/r")[0]).message
        assert 'reason: Layer7 check passed, code: 0, info: "Redis server is ok"' in redis_check
        assert relay.requests[0] == b"\x04\x01" + struct.pack(">H", backend.port) + bytes([127, 0, 0, 1])
        assert len(relay.requests) >= 2  # the check's connection and the request's
        redis.stop()
        down = rfc3164(syslog.matching("Server cache/r is DOWN")[0])
        assert down.level == 1
        assert rfc3164(syslog.matching("backend cache has no server available!")[0]).level == 0
    finally:
        backend.close()
        relay.close()
        redis.stop()
