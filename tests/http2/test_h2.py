"""HTTP/2 end to end: real luaproxy processes, real clients (curl, a raw h2 client), certificates made now.

Each h2 stream runs the same transaction path as an HTTP/1 request (rules, Lua, backends, logs).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from h2.errors import ErrorCodes
from h2.events import ConnectionTerminated

from tests.helpers import free_port, wait_until
from tests.helpers.pki import issue, make_ca
from tests.http2.h2client import RawH2

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")

SHOW = "http-request return status 200 content-type text/plain lf-string"
LUA = """
core.register_service("size", "http", function(applet)
    local body = applet:receive()
    local text = "got " .. #body .. " bytes over " .. applet.version
    applet:set_status(200)
    applet:add_header("content-length", #text)
    applet:start_response()
    applet:send(text)
end)
core.register_action("ua", {"http-req"}, function(txn)
    txn:set_var("txn.ua", txn.http:req_get_headers()["user-agent"][0])
end)
"""


def start(write, luaproxy, port: int, text: str):
    write("t.lua", LUA)
    write("t.cfg", """
        global
           log stdout format raw local0
           lua-load t.lua
        defaults
           mode http
           log global
           timeout connect 2s
           timeout client 3s
           timeout server 3s
        """ + text)
    return luaproxy("-f", "t.cfg", wait_port=port)


def curl(*args: str) -> str:
    done = subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True, text=True, timeout=20)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_prior_knowledge_runs_the_http1_path(write, luaproxy, port) -> None:
    h1 = free_port()
    proc = start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} proto h2
           log-format "%HM %HU %HV %ST"
           http-request set-header x-added yes
           http-request return status 403 if {{ path /denied }}
           default_backend inner
        backend inner
           server s1 127.0.0.1:{h1}
        frontend back
           bind 127.0.0.1:{h1}
           {SHOW} "%[req.ver] %[req.hdr(x-added)] %[req.hdr(host)] %[path] %[req.hdr(cookie)]"
        """)
    out = curl("--http2-prior-knowledge", "-H", "cookie: a=1", "-H", "cookie: b=2",
               f"http://127.0.0.1:{port}/some/path?q=1", "-w", " %{http_version}")
    assert out == f"1.1 yes 127.0.0.1:{port} /some/path a=1; b=2 2"
    assert curl("--http2-prior-knowledge", f"http://127.0.0.1:{port}/denied", "-o", "/dev/null",
                "-w", "%{http_code}") == "403"
    assert wait_until(lambda: f"GET http://127.0.0.1:{port}/denied HTTP/2.0 403" in proc.stdout(), 5), proc.stdout()
    assert f"GET http://127.0.0.1:{port}/some/path?q=1 HTTP/2.0 200" in proc.stdout()


def test_http1_listener_switches_on_the_preface(write, luaproxy, port) -> None:
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port}
           {SHOW} "%[req.ver]"
        """)
    assert curl("--http2-prior-knowledge", f"http://127.0.0.1:{port}/") == "2.0"
    assert curl(f"http://127.0.0.1:{port}/") == "1.1"


def test_alpn_h2_over_tls(write, luaproxy, port, tmp_path: Path) -> None:
    ca = make_ca()
    ca.write(tmp_path / "ca.pem", with_key=False)
    issue(ca, "www.test", ("www.test",)).write(tmp_path / "site.pem")
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} ssl crt {tmp_path}/site.pem alpn h2,http/1.1
           {SHOW} "%[req.ver] %[ssl_fc_alpn]"
        """)
    base = ["--cacert", str(tmp_path / "ca.pem"), "--resolve", f"www.test:{port}:127.0.0.1",
            f"https://www.test:{port}/"]
    assert curl("--http2", *base) == "2.0 h2"
    assert curl("--http1.1", *base) == "1.1 http/1.1"


def test_h2_servers_and_bodies_beyond_the_windows(write, luaproxy, port, tmp_path: Path) -> None:
    """curl (h2) → fe → server proto h2 → mid (h2) → an HTTP/1 listener: 1 MB each way crosses every
    flow-control window several times."""
    mid, back = free_port(), free_port()
    (tmp_path / "big.bin").write_bytes(bytes(range(256)) * 4096)
    (tmp_path / "up.bin").write_bytes(b"u" * 1_000_000)
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} proto h2
           default_backend to_mid
        backend to_mid
           server mid 127.0.0.1:{mid} proto h2
        frontend mid
           bind 127.0.0.1:{mid} proto h2
           http-request set-header x-mid %[req.ver]
           default_backend to_back
        backend to_back
           server back 127.0.0.1:{back}
        frontend back
           bind 127.0.0.1:{back}
           http-request use-service lua.size if {{ method POST }}
           http-request return status 200 content-type application/octet-stream file {tmp_path}/big.bin \
               if {{ path /big }}
           {SHOW} "%[req.hdr(x-mid)] %[req.ver]"
        """)
    url = f"http://127.0.0.1:{port}"
    assert curl("--http2-prior-knowledge", f"{url}/") == "2.0 1.1"
    assert curl("--http2-prior-knowledge", f"{url}/big", "-o", str(tmp_path / "got.bin")) == ""
    assert (tmp_path / "got.bin").read_bytes() == (tmp_path / "big.bin").read_bytes()
    assert curl("--http2-prior-knowledge", "--data-binary", f"@{tmp_path}/up.bin", f"{url}/up") == \
        "got 1000000 bytes over 1.1"


def test_lua_and_100_continue_on_a_stream(write, luaproxy, port, tmp_path: Path) -> None:
    (tmp_path / "body.txt").write_bytes(b"b" * 5000)
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} proto h2
           http-request lua.ua
           http-response set-header x-ua %[var(txn.ua)]
           http-request use-service lua.size
        """)
    out = curl("-i", "--http2-prior-knowledge", "-A", "agent/1", "-H", "Expect: 100-continue",
               "--data-binary", f"@{tmp_path}/body.txt", f"http://127.0.0.1:{port}/")
    assert out.startswith("HTTP/2 100")
    assert "x-ua: agent/1" in out and out.endswith("got 5000 bytes over 2.0")


def test_malformed_requests_reset_only_their_stream(write, luaproxy, port) -> None:
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} proto h2
           {SHOW} "ok %[req.hdr(content-length)]"
        """)
    client = RawH2(port)
    try:
        base = [(":method", "POST"), (":scheme", "http"), (":path", "/"), (":authority", "x")]
        upper = client.request([*base, ("X-Upper", "1")])
        hop = client.request([*base, ("connection", "close")])
        te = client.request([*base, ("te", "gzip")])
        longer = client.request([*base, ("content-length", "3")], b"too long")
        shorter = client.request([*base, ("content-length", "30")], b"short")
        bad_path = client.request([(":method", "GET"), (":scheme", "http"), (":path", "nope"), (":authority", "x")])
        good = client.request([*base, ("content-length", "4")], b"fine")
        for sid in (upper, hop, te, longer, shorter, bad_path):
            assert client.wait(sid) == ("reset", ErrorCodes.PROTOCOL_ERROR), sid
        kind, (headers, body) = client.wait(good)
        assert (kind, headers[b":status"], body) == ("response", b"200", b"ok 4")
        method = client.request([(":method", "GE T"), (":scheme", "http"), (":path", "/"), (":authority", "x")])
        kind, (headers, _) = client.wait(method)
        assert headers[b":status"] == b"400"
    finally:
        client.close()


def test_streams_are_bounded_and_idle_connections_end(write, luaproxy, port) -> None:
    start(write, luaproxy, port, f"""
        global
           tune.h2.max-concurrent-streams 5
        defaults
           mode http
           timeout client 1s
           timeout http-keep-alive 1s
        frontend fe
           bind 127.0.0.1:{port} proto h2
           http-request wait-for-body time 2s at-least 10
           {SHOW} "ok"
        """)
    client = RawH2(port)
    try:
        base = [(":method", "POST"), (":scheme", "http"), (":path", "/"), (":authority", "x")]
        waiting = [client.request(base, b"", end=False) for _ in range(5)]
        refused = client.request(base, b"", end=False)
        assert client.wait(refused) == ("reset", ErrorCodes.REFUSED_STREAM)
        assert client.conn.remote_settings.max_concurrent_streams == 5
        for sid in waiting:  # each waited for its body, in vain: the request timeout's 408
            kind, (headers, _) = client.wait(sid)
            assert (kind, headers[b":status"]) == ("response", b"408")
    finally:
        client.close()
    idle = RawH2(port)
    try:
        assert idle.wait(1) == ("closed", None)  # no stream: the idle timeout ends it (GOAWAY, then close)
    finally:
        idle.close()


def test_soft_stop_sends_goaway_to_idle_connections(write, luaproxy, port) -> None:
    proc = start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} proto h2
           {SHOW} "ok"
        """)
    client = RawH2(port)
    try:
        _, (headers, body) = client.wait(client.get())
        assert (headers[b":status"], body) == (b"200", b"ok")
        proc.signal(signal.SIGUSR1)
        started = time.monotonic()
        assert client.wait(99) == ("closed", None)
        assert time.monotonic() - started < 1.5
        assert any(isinstance(event, ConnectionTerminated) for event in client.events)
        assert proc.wait(10) == 0
    finally:
        client.close()


def test_checks_follow_proto_h2_or_check_proto(write, luaproxy, port) -> None:
    h2, h1 = free_port(), free_port()
    proc = start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port}
           default_backend be
        backend be
           option httpchk GET /health
           option log-health-checks
           http-check expect string 2.0
           server by-proto 127.0.0.1:{h2} proto h2 check inter 200ms rise 2 fall 1
           server by-check 127.0.0.1:{h2} check check-proto h2 inter 200ms rise 2 fall 1
           server plain 127.0.0.1:{h1} check inter 200ms rise 2 fall 1
        frontend h2only
           bind 127.0.0.1:{h2} proto h2
           {SHOW} "%[req.ver]"
        frontend h1only
           bind 127.0.0.1:{h1} proto h1
           {SHOW} "%[req.ver]"
        """)
    for name in ("by-proto", "by-check"):  # the h2 listener answers them 2.0
        assert wait_until(lambda n=name: f"Health check for server be/{n} succeeded" in proc.stdout(), 10), \
            proc.stdout()
    assert wait_until(lambda: "Server be/plain is DOWN" in proc.stdout(), 10), proc.stdout()  # it answers 1.1
    assert "be/by-proto is DOWN" not in proc.stdout() and "be/by-check is DOWN" not in proc.stdout()
    assert curl(f"http://127.0.0.1:{port}/") == "2.0"


def test_connection_rules_apply_to_h2_listeners(write, luaproxy, port) -> None:
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} proto h2
           tcp-request connection reject if {{ src 127.0.0.1 }}
           {SHOW} "ok"
        """)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        assert sock.recv(100) == b""  # closed before any SETTINGS: the rule ran at accept time
