"""``option httplog`` lines of responses made without a server, checked against Debian's haproxy 2.6.

A Lua service, ``return``, ``redirect``, ``deny`` (403 and ``deny_status``) and
a backend without servers: the same configuration and requests on both; every
field must agree (status, ``<lua.NAME>`` / ``<NOSRV>``, Tw/Tc/Tr, termination
flags, bytes) except the measured TR and Ta timers, the date and the port.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from tests.compat.harness import HAPROXY, Case, run_case
from tests.helpers import EchoServer, read_all, wait_until
from tests.logs.syslog import SyslogListener

SERVICE = """
core.register_service("hello", "http", function(applet)
   local body = "hello\\n"
   applet:set_status(200)
   applet:add_header("content-length", tostring(#body))
   applet:start_response()
   applet:send(body)
end)
"""
PATHS = ("/svc", "/ret", "/redir", "/deny", "/deny429", "/none")


def config(syslog: str) -> str:
    return f"""
        global
           log {syslog} local0
           lua-load case.lua
        defaults
           mode http
           log global
           option httplog
           timeout connect 2s
           timeout client 5s
           timeout server 5s
        frontend web
           bind 127.0.0.1:{{port}}
           http-request use-service lua.hello if {{{{ path /svc }}}}
           http-request return status 201 content-type text/plain string "made" if {{{{ path /ret }}}}
           http-request redirect location /elsewhere if {{{{ path /redir }}}}
           http-request deny if {{{{ path /deny }}}}
           http-request deny deny_status 429 if {{{{ path /deny429 }}}}
           default_backend none
        backend none
        """


def masked(datagram: bytes) -> bytes:
    """Keep from the frontend name on; TR and Ta are measured, not computed: mask them."""
    line = datagram.decode().split("] ", 1)[1]
    return re.sub(r" (\d+)/(-?\d+)/(-?\d+)/(-?\d+)/(\d+) ", r" TR/\2/\3/\4/Ta ", line, count=1).encode()


@pytest.fixture
def syslog() -> Iterator[SyslogListener]:
    listener = SyslogListener()
    yield listener
    listener.close()


def _open_connections(port: int) -> bool:
    """Whether the kernel still holds a connection to *port* that its server side has not closed
    (ESTABLISHED or CLOSE_WAIT in /proc/net/tcp)."""
    with open("/proc/net/tcp") as table:
        for row in table.readlines()[1:]:
            local, state = row.split()[1], row.split()[3]
            if int(local.split(":")[1], 16) == port and state in ("01", "08"):
                return True
    return False


def test_local_replies_log_as_haproxy(syslog: SyslogListener, tmp_path, echo_server: EchoServer) -> None:
    def client(port: int) -> bytes:
        before = len(syslog.datagrams)
        for n, path in enumerate(PATHS, 1):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
                read_all(s)
            syslog.wait(before + n)
            # the connection counts in the next line: this one is closed on both sides
            assert wait_until(lambda: not _open_connections(port), 5)
        return b"".join(masked(d) for d in syslog.datagrams[before:])

    case = Case("local-replies", config(syslog.address), client, SERVICE)
    ours = run_case(case, "luaproxy", tmp_path, echo_server)
    assert b"web web/<lua.hello> TR/0/0/0/Ta 200 55 - - LR-- " in ours
    if HAPROXY is None:
        pytest.skip("Debian's haproxy is not installed: only luaproxy ran")
    assert ours == run_case(case, "haproxy", tmp_path, echo_server)
