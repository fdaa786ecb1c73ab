"""Logs as an operator's syslog receives them: real luaproxy processes, a real datagram listener.

The layouts (rfc3164, rfc5424, httplog, tcplog, "Connect from") were taken
from haproxy 2.6 on the same configurations; timers are checked for shape only.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.helpers import LUAPROXY, HttpBackend, free_port, http_exchange, read_all, talk
from tests.logs.syslog import SyslogListener, rfc3164, rfc5424

LOCAL0, LOCAL1, LOCAL3 = 16, 17, 19
DATE = r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3}"


@pytest.fixture
def syslog() -> Iterator[SyslogListener]:
    listener = SyslogListener()
    yield listener
    listener.close()


@pytest.fixture
def backend() -> Iterator[HttpBackend]:
    server = HttpBackend()
    yield server
    server.close()


def get(port: int, target: str) -> tuple[int, bytes]:
    """One request on its own connection: the client's port and every byte it received."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n".encode())
        return s.getsockname()[1], read_all(s)


def test_httplog_over_udp_rfc3164_with_lua_logs_and_set_loglevel(write, luaproxy, port, syslog, backend):
    write("l.lua", """
        core.register_action("act", {"http-req"}, function(txn)
           core.Warning("core warning " .. txn.sf:path())
           txn:Info("txn info " .. txn.sf:path())
           if txn.sf:path() == "/quiet" then
              txn:set_loglevel(core.warning)
              txn:deflog("deflog after set_loglevel")
           end
        end)
        """)
    write("l.cfg", f"""
        global
           log {syslog.address} local0
           lua-load l.lua
        defaults
           mode http
           timeout connect 2s
           timeout client 5s
           timeout server 5s
        listen p
           bind 127.0.0.1:{port}
           log global
           option httplog
           http-request lua.act
           server s1 127.0.0.1:{backend.port}
        """)
    proc = luaproxy("-f", "l.cfg", wait_port=port)
    client_port, answer = get(port, "/x?a=1")
    records = [rfc3164(d) for d in syslog.wait(3)]
    assert {r.pid for r in records} == {proc.proc.pid}  # without -W, haproxy is one process: its PID
    assert [(r.facility, r.level, r.tag) for r in records] == [(LOCAL0, 4, "haproxy"), (LOCAL0, 6, "haproxy"),
                                                              (LOCAL0, 6, "haproxy")]
    assert [r.message for r in records[:2]] == ["core warning /x", "txn info /x"]
    fields = re.fullmatch(rf'127\.0\.0\.1:(\d+) \[{DATE}\] p p/s1 (\d+)/(\d+)/(\d+)/(\d+)/(\d+) 200 (\d+) - - ---- '
                          r'1/1/0/0/0 0/0 "GET /x\?a=1 HTTP/1\.1"', records[2].message)
    assert fields, records[2].message
    assert int(fields[1]) == client_port
    request, wait, connect, response, active = (int(t) for t in fields.groups()[1:6])
    # Tr (response) does not include Tc (connect): under load either may be the larger one.
    assert 0 <= request <= active and wait == 0 and 0 <= connect <= active and 0 <= response <= active
    assert int(fields[7]) == len(answer)
    get(port, "/quiet")
    quiet = [rfc3164(d) for d in syslog.wait(7)[3:]]
    assert [r.level for r in quiet] == [4, 6, 4, 3]
    assert quiet[2].message == "deflog after set_loglevel"
    assert quiet[3].message.endswith('"GET /quiet HTTP/1.1"')
    assert "core warning /x" in proc.stderr()  # in the foreground, haproxy 2.6 also prints Lua logs there


def test_tcplog_rfc5424_dontlognull_and_connection_errors(write, luaproxy, port, syslog, echo_server):
    refused = socket.socket()
    refused.bind(("127.0.0.1", 0))
    other = free_port()
    write("t.cfg", f"""
        global
           log {syslog.address} format rfc5424 local1
        defaults
           mode tcp
           log global
           option tcplog
           timeout connect 2s
           timeout client 5s
           timeout server 5s
        listen t
           bind 127.0.0.1:{port}
           option dontlognull
           server echo 127.0.0.1:{echo_server.port}
        listen bad
           bind 127.0.0.1:{other}
           retries 1
           server down 127.0.0.1:{refused.getsockname()[1]}
        """)
    try:
        luaproxy("-f", "t.cfg", wait_port=port)
        talk(port, b"", shutdown=True)
        assert talk(port, b"hello", shutdown=True) == b"hello"
        talk(other, b"x", timeout=2)
        records = [rfc5424(d) for d in syslog.wait(2)]
    finally:
        refused.close()
    time.sleep(0.3)
    assert len(syslog.datagrams) == 2, syslog.datagrams
    assert [(r.facility, r.level, r.tag, r.hostname) for r in records] == [(LOCAL1, 6, "haproxy", "")] * 2
    assert re.fullmatch(rf"127\.0\.0\.1:\d+ \[{DATE}\] t t/echo 0/\d+/\d+ 5 -- \d+/\d+/\d+/\d+/0 0/0",
                        records[0].message), records[0].message
    assert re.fullmatch(rf"127\.0\.0\.1:\d+ \[{DATE}\] bad bad/down 0/-1/\d+ 0 SC \d+/\d+/\d+/\d+/1 0/0",
                        records[1].message), records[1].message


LOG_FORMAT = '"%{+Q}HM  %HU|%HP|%HQ|%ST|%B|%U|%tsc %{+X}ci:%{+X}cp %b/%s %[req.hdr(host)] %% %{+Q}ID %hr end"'


def test_log_format_unix_socket_log_tag_and_connect_lines(write, luaproxy, port, backend):
    listener = SyslogListener(unix=True)
    other = free_port()
    write("f.cfg", f"""
        global
           log {listener.address} local3
           log-tag edge
        defaults
           mode http
           log global
           timeout connect 2s
           timeout client 5s
           timeout server 5s
        listen p
           bind 127.0.0.1:{port}
           log-format {LOG_FORMAT}
           server s1 127.0.0.1:{backend.port}
        listen plain
           bind 127.0.0.1:{other}
           server s1 127.0.0.1:{backend.port}
        """)
    try:
        luaproxy("-f", "f.cfg", wait_port=port)
        client_port, answer = get(port, "/p?q=1")
        request = b"GET /k HTTP/1.1\r\nHost: example.com\r\n"
        second = http_exchange(other, request + b"\r\n" + request + b"Connection: close\r\n\r\n")
        records = [rfc3164(d) for d in listener.wait(2)]
        time.sleep(0.3)
        assert len(listener.datagrams) == 2, listener.datagrams
    finally:
        listener.close()
    assert second.count(b"HTTP/1.1 200") == 2
    assert [(r.facility, r.level, r.tag) for r in records] == [(LOCAL3, 6, "edge")] * 2
    expected = (rf'"GET" /p\?q=1\|/p\|\?q=1\|200\|{len(answer)}\|\d+\|---- 7F000001:{client_port:04X} '
                r'p/s1 example\.com % "" end')
    assert re.fullmatch(expected, records[0].message), records[0].message
    assert re.fullmatch(rf"Connect from 127\.0\.0\.1:\d+ to 127\.0\.0\.1:{other} \(plain/HTTP\)",
                        records[1].message)


def test_stdout_raw_and_level_ranges(write, luaproxy, port, syslog):
    write("s.lua", """
        core.register_action("act", {"tcp-req"}, function(txn)
           core.Info("info dropped by stdout")
           core.Warning("warning kept")
           core.Alert("alert raised to err")
           txn.res:send("ok\\n")
           txn:done()
        end)
        """)
    write("s.cfg", f"""
        global
           log stdout format raw local0 warning
           log {syslog.address} local0 err err
           lua-load s.lua
        listen p
           bind 127.0.0.1:{port}
           mode tcp
           log global
           option tcplog
           tcp-request content lua.act
        """)
    proc = luaproxy("-f", "s.cfg", wait_port=port)
    assert talk(port) == b"ok\n"
    assert [rfc3164(d).level for d in syslog.wait(1)] == [3]
    assert rfc3164(syslog.datagrams[0]).message == "alert raised to err"
    deadline = time.monotonic() + 5
    while "alert" not in proc.stdout() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.stdout().splitlines() == ["warning kept", "alert raised to err"]
    assert "info dropped by stdout" in proc.stderr()  # in the foreground haproxy 2.6 copies Lua logs to stderr


@pytest.mark.parametrize(("line", "message"), [
    ("log 127.0.0.1 local9", "log : unknown log facility 'local9'"),
    ("log 127.0.0.1 len 10 local0", "log : invalid log length '10', must be between 80 and 65535"),
    ("log 127.0.0.1 format json local0", "log : unknown log format 'json'"),
    ("log 127.0.0.1 local0 loud", "log : unknown optional log level 'loud'"),
    ("log 127.0.0.1", "log : expects <address> and <facility>  as arguments"),
])
def test_bad_log_lines_name_their_line(write, line, message):
    path = write("bad.cfg", f"""
        global
           {line}
        """)
    result = subprocess.run([*LUAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"parsing [{path}:2] : {message}" in result.stderr


def test_http_variables_are_refused_in_tcp_mode(write):
    path = write("tcp.cfg", """
        global
           log stdout local0
        listen p
           bind 127.0.0.1:1
           mode tcp
           log global
           log-format "%ci %tr"
        """)
    result = subprocess.run([*LUAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "failed to parse log-format : format variable 'tr' is reserved for HTTP mode." in result.stderr
