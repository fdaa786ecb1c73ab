"""Backends end to end: balancing algorithms, maxconn and the queue, health checks, backups,
and a Lua HTTP service reading the request body — all through a real luaproxy process."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from tests.helpers import (
    HttpBackend,
    ThreadedHttpServer,
    free_port,
    http_exchange,
    parse_responses,
    read_all,
    wait_until,
)
from tests.logs.syslog import SyslogListener
from tests.supervisor.conftest import cli


class ToggleBackend(ThreadedHttpServer):
    """A real HTTP/1.1 server whose ``/health`` answers ``self.health`` (flip it to fail checks);
    any other path answers 200 with ``{"server": name, "path": ...}``.  Counts what it served."""

    def __init__(self, name: str) -> None:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                if self.path == "/health":
                    backend.checks += 1
                    status, payload = backend.health, b"health\n"
                else:
                    backend.requests += 1
                    status, payload = 200, json.dumps({"server": backend.name, "path": self.path}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_OPTIONS = do_GET

        self.name = name
        self.health = 200
        self.checks = 0
        self.requests = 0
        self.serve(Handler)


@pytest.fixture
def backends() -> Iterator[Callable[..., HttpBackend]]:
    """Make named HttpBackends; all closed at teardown (closing twice is harmless)."""
    made: list[HttpBackend] = []

    def make(name: str) -> HttpBackend:
        made.append(HttpBackend(name))
        return made[-1]

    yield make
    close_all(made)


@pytest.fixture
def toggles() -> Iterator[Callable[[str], ToggleBackend]]:
    made: list[ToggleBackend] = []

    def make(name: str) -> ToggleBackend:
        made.append(ToggleBackend(name))
        return made[-1]

    yield make
    close_all(made)


def close_all(made: list) -> None:
    """Close servers side by side: each ``shutdown()`` may wait up to half a second."""
    threads = [threading.Thread(target=server.close, daemon=True) for server in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)


def start(write, luaproxy, port: int, backend: str, *, lua: str = "", frontend: str = ""):
    """A frontend on *port* sending to ``backend be`` (body *backend*); returns the process."""
    if lua:
        write("svc.lua", lua)
    write("b.cfg", f"""
        global
           {"lua-load svc.lua" if lua else ""}
        defaults
           mode http
           timeout connect 2s
           timeout client 5s
           timeout server 5s
        frontend fe
           bind 127.0.0.1:{port}
           {frontend}
           default_backend be
        backend be
        """ + backend)
    return luaproxy("-f", "b.cfg", wait_port=port)


def request(port: int, path: str = "/", headers: str = "", timeout: float = 5.0) -> tuple[int, dict, bytes]:
    """One GET on its own connection (``Connection: close``): (status, headers, body)."""
    raw = f"GET {path} HTTP/1.1\r\nHost: test\r\n{headers}Connection: close\r\n\r\n".encode()
    data = http_exchange(port, raw, timeout)
    assert data, f"no response to GET {path}"
    (response,) = parse_responses(data)
    return response


def served_by(port: int, path: str = "/", headers: str = "") -> str:
    """The name of the server that answered a 200 to GET *path*."""
    status, _, body = request(port, path, headers)
    assert status == 200, f"GET {path} answered {status}: {body[:200]!r}"
    return json.loads(body)["server"]


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list]:
    """Run *target* in a daemon thread; its result (or exception) lands in the returned list."""
    out: list = []

    def run() -> None:
        try:
            out.append(target())
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def servers(*entries: tuple[str, int, str]) -> str:
    return "".join(f"   server {name} 127.0.0.1:{p} {extra}\n" for name, p, extra in entries)


# 1. roundrobin with weights.


def test_roundrobin_follows_weights(write, luaproxy, port, backends):
    s1, s2, s3 = backends("s1"), backends("s2"), backends("s3")
    start(write, luaproxy, port, "   balance roundrobin\n" + servers(
        ("s1", s1.port, "weight 1"), ("s2", s2.port, "weight 2"), ("s3", s3.port, "weight 3")))
    order = [served_by(port, f"/r{i}") for i in range(60)]
    assert Counter(order) == {"s1": 10, "s2": 20, "s3": 30}, Counter(order)
    # One worker: the order is deterministic, the same 6-pick cycle over and over, each cycle 1/2/3.
    cycles = [tuple(order[i:i + 6]) for i in range(0, 60, 6)]
    assert len(set(cycles)) == 1, cycles
    assert Counter(cycles[0]) == {"s1": 1, "s2": 2, "s3": 3}
    assert (s1.requests, s2.requests, s3.requests) == (10, 20, 30)


# 2. hash-based algorithms.


def test_balance_source_sticks_to_one_server(write, luaproxy, port, backends):
    s1, s2, s3 = backends("s1"), backends("s2"), backends("s3")
    start(write, luaproxy, port, "   balance source\n" + servers(
        ("s1", s1.port, ""), ("s2", s2.port, ""), ("s3", s3.port, "")))
    seen = {served_by(port, f"/path/{i}?q={i}") for i in range(12)}
    assert len(seen) == 1, f"balance source from 127.0.0.1 spread over {seen}"


def test_balance_uri_same_path_same_server(write, luaproxy, port, backends):
    s1, s2, s3 = backends("s1"), backends("s2"), backends("s3")
    start(write, luaproxy, port, "   balance uri\n" + servers(
        ("s1", s1.port, ""), ("s2", s2.port, ""), ("s3", s3.port, "")))
    paths = [f"/item/{i}" for i in range(12)]
    first = {path: served_by(port, path) for path in paths}
    for path in paths:
        assert served_by(port, path) == first[path], f"{path} moved server"
        # The query string is not part of the hash by default.
        assert served_by(port, path + "?x=1") == first[path], f"{path}?x=1 moved server"
    assert len(set(first.values())) > 1, f"12 paths all on one server: {first}"


def test_balance_hdr_same_value_same_server(write, luaproxy, port, backends):
    s1, s2, s3 = backends("s1"), backends("s2"), backends("s3")
    start(write, luaproxy, port, "   balance hdr(x-user)\n" + servers(
        ("s1", s1.port, ""), ("s2", s2.port, ""), ("s3", s3.port, "")))
    users = [f"user-{i}" for i in range(10)]
    first = {user: served_by(port, "/", f"X-User: {user}\r\n") for user in users}
    for user in users:
        for i in range(3):
            assert served_by(port, f"/other/{i}", f"X-User: {user}\r\n") == first[user], f"{user} moved server"
    assert len(set(first.values())) > 1, f"10 users all on one server: {first}"
    # Without the header HAProxy falls back to round robin: more than one server answers.
    assert len({served_by(port, f"/nohdr/{i}") for i in range(6)}) > 1


# 3. leastconn.


def test_leastconn_avoids_busy_servers(write, luaproxy, port, backends):
    s1, s2, s3 = backends("s1"), backends("s2"), backends("s3")
    start(write, luaproxy, port, "   balance leastconn\n" + servers(
        ("s1", s1.port, ""), ("s2", s2.port, ""), ("s3", s3.port, "")))
    farm = {"s1": s1, "s2": s2, "s3": s3}
    slow = []
    for count in (1, 2):
        slow.append(in_thread(lambda: served_by(port, "/slow/1.5")))
        assert wait_until(lambda c=count: sum(b.requests for b in farm.values()) == c, 3), "slow request lost"
    busy = {name for name, b in farm.items() if b.requests == 1}
    assert len(busy) == 2, f"two slow requests should hold two servers, got {busy}"
    (free,) = set(farm) - busy
    fast = [served_by(port, f"/fast/{i}") for i in range(6)]
    assert fast == [free] * 6, f"while {sorted(busy)} are busy, leastconn sent {fast}"
    for thread, _ in slow:
        thread.join(5)
        assert not thread.is_alive(), "slow request did not finish"
    assert {out[0] for _, out in slow} == busy
    # Once the slow requests are over, every server is in play again.
    assert len({served_by(port, f"/after/{i}") for i in range(6)}) == 3


# 4. maxconn and the queue.


def test_maxconn_queue_waits_for_a_slot(write, luaproxy, port, backends):
    s1 = backends("s1")
    start(write, luaproxy, port, "   timeout queue 2s\n" + servers(("s1", s1.port, "maxconn 1")))
    started = time.monotonic()
    first = in_thread(lambda: request(port, "/slow/0.6"))
    assert wait_until(lambda: s1.requests == 1, 3)
    second = in_thread(lambda: request(port, "/slow/0.6"))
    for thread, _ in (first, second):
        thread.join(5)
        assert not thread.is_alive()
    elapsed = time.monotonic() - started
    statuses = [out[0][0] if isinstance(out[0], tuple) else out[0] for _, out in (first, second)]
    assert statuses == [200, 200], statuses
    assert s1.requests == 2
    # maxconn 1: the second request reached the server only after the first ended.
    assert elapsed >= 1.15, f"both slow requests ran at once despite maxconn 1 ({elapsed:.2f}s)"


def test_maxconn_queue_timeout_gives_503(write, luaproxy, port, backends):
    s1 = backends("s1")
    start(write, luaproxy, port, "   timeout queue 200ms\n" + servers(("s1", s1.port, "maxconn 1")))
    first = in_thread(lambda: request(port, "/slow/1.5"))
    assert wait_until(lambda: s1.requests == 1, 3)
    started = time.monotonic()
    status, _, _ = request(port, "/second")
    waited = time.monotonic() - started
    assert status == 503, f"queued request past 'timeout queue' answered {status}"
    assert 0.15 <= waited < 1.2, f"503 after {waited:.2f}s, expected about 200ms"
    first[0].join(5)
    assert isinstance(first[1][0], tuple) and first[1][0][0] == 200, first[1]
    assert s1.requests == 1
    assert served_by(port, "/third") == "s1"


def test_abortonclose_gives_up_requests_whose_client_left(write, luaproxy, port, backends):
    """option abortonclose: a client closing while its request is queued (CQ) or awaits its response
    head (CH, logged 400) ends it at once; the queued request never reaches the server."""
    listener = SyslogListener()
    s1 = backends("s1")
    try:
        start(write, luaproxy, port,
              "   option abortonclose\n   timeout queue 5s\n" + servers(("s1", s1.port, "maxconn 1")),
              frontend=f"log {listener.address} local0\n   option httplog")
        waiting = socket.create_connection(("127.0.0.1", port), timeout=5)
        waiting.sendall(b"GET /slow/1.5 HTTP/1.1\r\nHost: test\r\n\r\n")
        assert wait_until(lambda: s1.requests == 1, 3)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as queued:
            queued.sendall(b"GET /queued HTTP/1.1\r\nHost: test\r\n\r\n")
            time.sleep(0.3)
        (line,) = [d.decode() for d in listener.wait(1, timeout=5)]
        assert " be/<NOSRV> " in line and " -1 " in line and " CQ-- " in line and "GET /queued" in line, line
        waiting.close()
        (line,) = [d.decode() for d in listener.wait(2, timeout=5)][1:]
        assert " be/s1 " in line and " 400 " in line and " CH-- " in line and "GET /slow/1.5" in line, line
        time.sleep(1.5)  # the slot is free once the slow answer is dropped: /queued never came
        assert s1.requests == 1
        assert served_by(port, "/after") == "s1"
    finally:
        listener.close()


# 5. health checks.

CHECK = "check inter 200ms fall 2 rise 2"


def test_tcp_check_takes_closed_server_out(write, luaproxy, port, backends):
    s1, s2 = backends("s1"), backends("s2")
    proc = start(write, luaproxy, port, servers(("s1", s1.port, CHECK), ("s2", s2.port, CHECK)))
    assert {served_by(port, f"/a{i}") for i in range(4)} == {"s1", "s2"}
    s2.close()
    assert wait_until(lambda: "Server be/s2 is DOWN" in proc.stderr(), 5), proc.stderr()
    log = proc.stderr()
    assert "Server be/s2 is DOWN, reason: Layer4 connection problem" in log, log
    assert "1 active and 0 backup servers left." in log, log
    responses = [request(port, f"/b{i}") for i in range(10)]
    assert [r[0] for r in responses] == [200] * 10
    assert {json.loads(r[2])["server"] for r in responses} == {"s1"}
    assert "Server be/s1 is DOWN" not in proc.stderr()


def test_http_check_down_then_up(write, luaproxy, port, toggles):
    s1, s2 = toggles("s1"), toggles("s2")
    proc = start(write, luaproxy, port, "   option httpchk GET /health\n   http-check expect status 200\n"
                 + servers(("s1", s1.port, CHECK), ("s2", s2.port, CHECK)))
    assert wait_until(lambda: s1.checks >= 2 and s2.checks >= 2, 5), "checks do not run"
    assert Counter(served_by(port, f"/a{i}") for i in range(10)) == {"s1": 5, "s2": 5}

    s2.health = 500
    assert wait_until(lambda: "Server be/s2 is DOWN" in proc.stderr(), 5), proc.stderr()
    assert "Server be/s2 is DOWN, reason: Layer7 wrong status, code: 500" in proc.stderr(), proc.stderr()
    before = s2.requests
    responses = [request(port, f"/b{i}") for i in range(10)]
    assert [r[0] for r in responses] == [200] * 10
    assert {json.loads(r[2])["server"] for r in responses} == {"s1"}
    assert s2.requests == before

    s2.health = 200
    assert wait_until(lambda: "Server be/s2 is UP" in proc.stderr(), 5), proc.stderr()
    log = proc.stderr()
    assert "Server be/s2 is UP, reason: Layer7 check passed, code: 200" in log, log
    assert "2 active and 0 backup servers online." in log, log
    assert log.index("Server be/s2 is DOWN") < log.index("Server be/s2 is UP")
    assert Counter(served_by(port, f"/c{i}") for i in range(10)) == {"s1": 5, "s2": 5}
    assert "Server be/s1 is DOWN" not in log


# 6. backup servers.


def test_backup_used_only_while_active_is_down(write, luaproxy, port, toggles, backends):
    s1, b1 = toggles("s1"), backends("b1")
    proc = start(write, luaproxy, port, "   option httpchk GET /health\n   http-check expect status 200\n"
                 + servers(("s1", s1.port, CHECK), ("b1", b1.port, "backup")))
    assert {served_by(port, f"/a{i}") for i in range(6)} == {"s1"}
    assert b1.requests == 0

    s1.health = 503
    assert wait_until(lambda: "Server be/s1 is DOWN" in proc.stderr(), 5), proc.stderr()
    log = proc.stderr()
    assert "0 active and 1 backup servers left. Running on backup." in log, log
    assert "backend 'be' has no server available!" not in log
    assert {served_by(port, f"/b{i}") for i in range(6)} == {"b1"}
    assert b1.requests == 6

    s1.health = 200
    assert wait_until(lambda: "Server be/s1 is UP" in proc.stderr(), 5), proc.stderr()
    assert {served_by(port, f"/c{i}") for i in range(6)} == {"s1"}
    assert b1.requests == 6


# 7. Lua HTTP service reading the body.

READER = """
core.register_service("reader", "http", function(applet)
  local line = applet:getline()
  local four = applet:receive(4)
  local rest = applet:receive()
  local after = applet:getline()
  local out = "line=[" .. line .. "] four=[" .. four .. "] rest=[" .. rest .. "] after=[" .. after .. "]"
             .. " length=" .. tostring(applet.length)
  applet:set_status(200)
  applet:add_header("content-length", string.len(out))
  applet:start_response()
  applet:send(out)
end)
"""

BODY = b"first line\nABCDrest of\nthe body\n"
EXPECTED = b"line=[first line\n] four=[ABCD] rest=[rest of\nthe body\n] after=[]"


def send_slowly(port: int, pieces: list[bytes]) -> list[tuple[int, dict, bytes]]:
    """Send *pieces* with short pauses (so the service waits for data), read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for piece in pieces:
            s.sendall(piece)
            time.sleep(0.1)
        return parse_responses(read_all(s, 5))


def test_lua_service_getline_and_receive(write, luaproxy, port):
    start(write, luaproxy, port, "", lua=READER, frontend="http-request use-service lua.reader")
    head = f"POST /read HTTP/1.1\r\nHost: t\r\nContent-Length: {len(BODY)}\r\nConnection: close\r\n\r\n"
    # All at once.
    (response,) = parse_responses(http_exchange(port, head.encode() + BODY))
    assert response[0] == 200
    assert response[2] == EXPECTED + b" length=%d" % len(BODY)
    # In pieces that cut the line and the 4 bytes: getline and receive(4) wait for more.
    (response,) = send_slowly(port, [head.encode() + b"fir", b"st li", b"ne\nAB", b"CDrest of\n", b"the body\n"])
    assert response[0] == 200
    assert response[2] == EXPECTED + b" length=%d" % len(BODY)


def test_lua_service_reads_chunked_body(write, luaproxy, port):
    start(write, luaproxy, port, "", lua=READER, frontend="http-request use-service lua.reader")
    head = b"POST /read HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    chunks = [b"first li", b"ne\nAB", b"CDrest", b" of\nthe body\n"]
    encoded = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    assert b"".join(chunks) == BODY
    (response,) = parse_responses(http_exchange(port, head + encoded))
    assert response[0] == 200
    assert response[2].startswith(EXPECTED), response[2]
    # The same chunks, one TCP write each, with pauses.
    pieces = [head] + [b"%x\r\n%s\r\n" % (len(c), c) for c in chunks] + [b"0\r\n\r\n"]
    (response,) = send_slowly(port, pieces)
    assert response[0] == 200
    assert response[2].startswith(EXPECTED), response[2]


def test_lua_service_keep_alive_after_body(write, luaproxy, port):
    """The body read by the service does not leak into the next request on the connection."""
    start(write, luaproxy, port, "", lua=READER, frontend="http-request use-service lua.reader")
    first = f"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: {len(BODY)}\r\n\r\n".encode() + BODY
    second = b"POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\nConnection: close\r\n\r\nxy\nzwvu"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(first + second)
        responses = parse_responses(read_all(s, 5))
    assert [r[0] for r in responses] == [200, 200]
    assert responses[0][2] == EXPECTED + b" length=%d" % len(BODY)
    assert responses[1][2] == b"line=[xy\n] four=[zwvu] rest=[] after=[] length=7"



# 7. retries and option redispatch.


def redispatch_config(tmp_path, port: int, dead: int, live: int, mode: str, option: str) -> str:
    return f"""
        global
           stats socket {tmp_path}/admin.sock level admin
           log stderr format raw local0
        defaults
           mode {mode}
           log global
           log-format "retries=%rc"
           timeout connect 1s
           timeout client 5s
           timeout server 5s
        frontend fe
           bind 127.0.0.1:{port}
           default_backend be
        backend be
           balance first
           retries 2
           {option}
           server dead 127.0.0.1:{dead}
           server live 127.0.0.1:{live}
        """


def stat_row(tmp_path, server: str) -> dict[str, str]:
    lines = cli(str(tmp_path / "admin.sock"), "show stat\n").split("\n")
    header = lines[0][2:].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:] if line]
    return next(row for row in rows if row["pxname"] == "be" and row["svname"] == server)


# What haproxy 2.6.12 does with the same configuration: with two usable servers and a
# non-hash algorithm it redispatches at the first retry, whatever the interval (even 0).
@pytest.mark.parametrize("option, retried, redispatched, logged", [
    ("option redispatch", "0", "1", "retries=+1"),
    ("option redispatch 3", "0", "1", "retries=+1"),
    ("option redispatch 0", "0", "1", "retries=+1"),
    ("", "2", "0", "retries=2"),
])
def test_redispatch_moves_a_retry_to_another_server(write, luaproxy, port, backends, tmp_path, option, retried,
                                                      redispatched, logged):
    live = backends("live")
    write("b.cfg", redispatch_config(tmp_path, port, free_port(), live.port, "http", option))
    proc = luaproxy("-f", "b.cfg", wait_port=port)
    status, _, body = request(port, "/once")
    if redispatched == "0":
        assert status == 503 and live.requests == 0
    else:
        assert status == 200 and json.loads(body)["server"] == "live"
    assert wait_until(lambda: stat_row(tmp_path, "dead")["wredis"] == redispatched, 10)
    dead = stat_row(tmp_path, "dead")
    # econ counts a request whose connection finally failed, once; wretr each retry to the same server.
    assert (dead["econ"], dead["wretr"]) == ("0" if redispatched == "1" else "1", retried)
    assert wait_until(lambda: logged in proc.stderr(), 5), proc.stderr()


def test_redispatch_in_tcp_mode(write, luaproxy, port, echo_server, tmp_path):
    write("b.cfg", redispatch_config(tmp_path, port, free_port(), echo_server.port, "tcp", "option redispatch"))
    luaproxy("-f", "b.cfg", wait_port=port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"ping\n")
        assert sock.recv(100) == b"ping\n"


def test_redispatch_interval_must_be_an_integer(write, luaproxy, port):
    write("b.cfg", "defaults\n   mode http\nbackend be\n   option redispatch sometimes\n")
    proc = luaproxy("-c", "-f", "b.cfg")
    assert proc.proc.wait(10) != 0
    assert "b.cfg:4" in proc.stderr() and "integer redispatch interval" in proc.stderr()
