"""Log lines checked against Debian's haproxy 2.6: the same configuration, the same request, the same syslog datagrams.

Formats leave out what differs between any two runs (timers, dates, client
ports) and %B in HTTP mode (luaproxy's error pages and replies are not byte
for byte haproxy's); the syslog header's date and pid are masked.  Lua lines come first,
then the traffic line, in the order both programs send them.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from tests.compat.harness import HAPROXY, Case, run_case
from tests.helpers import EchoServer, read_all, talk
from tests.logs.syslog import SyslogListener

HTTP_FORMAT = ('"%ci %ft %b/%s %ST %HM %HU %HP %HQ %{+Q}r %tsc %ts %{+Q}ID %{+Q}CC %rc %sq/%bq %{+X}ci  %hr %hs '
               '%[str(x)] %{+Q}[var(txn.nope)] end <%b %{+Q}o %b>"')
TCP_FORMAT = '"%ci %ft %b/%s %ts %rc %sq/%bq %U %B %{+X}fi  %hr %ID %{+Q}ID %ST end"'
LUA = """
core.register_action("act", {"http-req", "tcp-req"}, function(txn)
   core.Warning("core warning")
   txn:Info("txn info")
   txn:log(core.debug, "txn debug \\1 text")
end)
"""


def http_request(target: str) -> Callable[[int], bytes]:
    def client(port: int) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(f"GET {target} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n".encode())
            read_all(s)
        return b""

    return client


def config(syslog: str, mode: str, log_format: str, rules: str) -> str:
    return f"""
        global
           log {syslog} local0
           lua-load case.lua
        defaults
           mode {mode}
           timeout connect 2s
           timeout client 5s
           timeout server 5s
        listen p
           bind 127.0.0.1:{{port}}
           log global
           log-format {log_format.replace("{", "{{").replace("}", "}}")}
           {rules}
        """


CASES = {
    "http-return": ("http", HTTP_FORMAT, "http-request lua.act\n           http-request return status 200 "
                    "content-type text/plain string ok", http_request("/p/a?q=1&r=%22x"), 4),
    "http-deny": ("http", HTTP_FORMAT, "http-request deny", http_request("/deny"), 1),
    "tcp-echo": ("tcp", TCP_FORMAT, "tcp-request inspect-delay 1s\n           tcp-request content lua.act\n"
                 "           server echo 127.0.0.1:{echo}", lambda port: talk(port, b"hello", shutdown=True), 4),
}


def masked(datagrams: list[bytes]) -> list[bytes]:
    """The header's date and pid are the only parts that must differ."""
    return [re.sub(rb"^<(\d+)>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d haproxy\[\d+\]: ", rb"<\1>DATE haproxy[PID]: ", d)
            for d in datagrams]


@pytest.fixture
def syslog() -> Iterator[SyslogListener]:
    listener = SyslogListener()
    yield listener
    listener.close()


@pytest.mark.parametrize("name", list(CASES))
def test_log_lines_as_haproxy_sends_them(name: str, syslog: SyslogListener, tmp_path, echo_server: EchoServer) -> None:
    mode, log_format, rules, request, count = CASES[name]

    def client(port: int) -> bytes:
        before = len(syslog.datagrams)
        request(port)
        syslog.wait(before + count)
        time.sleep(0.2)
        return b"".join(masked(syslog.datagrams[before:]))

    case = Case(name, config(syslog.address, mode, log_format, rules), client, LUA)
    ours = run_case(case, "luaproxy", tmp_path, echo_server)
    if HAPROXY is None:
        pytest.skip("Debian's haproxy is not installed: only luaproxy ran")
    reference = run_case(case, "haproxy", tmp_path, echo_server)
    assert ours == reference
