"""tcp-check rule sets, protocol checks, agent checks and SOCKS4, against real servers on 127.0.0.1.

Each server is a gevent StreamServer in this test's hub that plays one script
(bytes to read, bytes to answer); redis-check runs against a real
redis-server.  Every wait is bounded by the check's own timeouts.
"""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Callable, Iterator

import gevent
import pytest
from gevent import socket as gsocket
from gevent.server import StreamServer

from luaproxy.master.config import loader
from luaproxy.master.config.errors import ConfigErrors
from luaproxy.worker.backend import configure_checks, parse_check_spec
from luaproxy.worker.backend.agent import apply_reply, parse_agent, run_agent
from luaproxy.worker.backend.checks import compile_spec
from luaproxy.worker.backend.health import run_check
from luaproxy.worker.backend.state import AdminState, OpState
from luaproxy.worker.backend.tcpcheck import check_rules, compile_rules, parse_rules
from luaproxy.worker.samples import PatternLibrary, default_registry, parse_expr, parse_log_format
from luaproxy.worker.samples.vars import parse_var_name
from tests.helpers import RedisServer

from .kit import RecordingLogger, farm, proxy


def seconds(text: str) -> float:
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text.rstrip("s"))


class Scripted:
    """Accepts connections; on each, reads *expect* bytes (if any), then sends *reply*, then plays the
    (expect, reply) steps of *then*, then closes (after staying silent for ``hold`` seconds)."""

    def __init__(self, reply: bytes = b"", expect: int = 0, hold: float = 0.0,
                 then: tuple[tuple[int, bytes], ...] = ()) -> None:
        self.steps = ((expect, reply), *then)
        self.hold = hold
        self.received: list[bytes] = []
        self.server = StreamServer(("127.0.0.1", 0), self.handle)
        self.server.start()
        self.port = self.server.server_port

    def handle(self, sock: socket.socket, _address: object) -> None:
        for expect, reply in self.steps:
            data = b""
            while len(data) < expect:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.received.append(data)
            if reply:
                sock.sendall(reply)
        gevent.sleep(self.hold)

    def stop(self) -> None:
        self.server.stop(timeout=1)


@pytest.fixture
def scripted() -> Iterator[Callable[..., Scripted]]:
    made: list[Scripted] = []

    def make(*args: object, **kwargs: object) -> Scripted:
        made.append(Scripted(*args, **kwargs))
        return made[-1]

    yield make
    for server in made:
        server.stop()


def check(port: int, option: tuple[str, ...] = ("tcp-check",), lines: tuple[tuple[str, ...], ...] = (),
          timeouts: dict[str, float] | None = None, options: dict[str, str] | None = None):
    """Run one check of a server at *port* under ``option <option>`` and these ``tcp-check`` lines."""
    server = farm(1)[0]
    server.port, server.check = port, True
    configure_checks(server, {"inter": "2s", **(options or {})}, seconds, check_rules(option, lines))
    backend = proxy([server])
    backend.timeouts.update(timeouts or {"connect": 1.0, "check": 1.0})
    return run_check(backend, server)


def test_send_then_expect_string_passes_as_tcp_check(scripted):
    server = scripted(b"+OK ready\r\n", expect=4)
    result = check(server.port, lines=(("send", "PING"), ("expect", "string", "+OK")))
    assert (result.status, result.code, result.info) == ("L7OK", 0, "(tcp-check)")
    assert server.received == [b"PING"]


def test_negative_regex_waits_for_more_and_times_out_at_its_step(scripted):
    server = scripted(b"valid", hold=1.0)
    result = check(server.port, lines=(("connect",), ("expect", "!rstring", "^error", "comment", "negative")),
                   timeouts={"connect": 1.0, "check": 0.1})
    assert result.status == "L7TOUT"
    assert result.info == " at step 2 of tcp-check (expect regex) comment: 'negative'"


def test_min_recv_makes_a_negative_match_conclusive(scripted):
    server = scripted(b"valid", hold=1.0)
    lines = (("expect", "min-recv", "5", "!rstring", "^error"), ("expect", "binary", "76616c6964"))
    assert check(server.port, lines=lines).status == "L7OK"


def test_mismatch_reports_what_was_expected(scripted):
    server = scripted(b"nope\n")
    result = check(server.port, lines=(("expect", "string", "yes", "error-status", "L7STS"),))
    assert (result.status, result.info) == ("L7STS", "TCPCHK did not match content 'yes' at step 1")


def test_second_connect_failure_names_its_step_and_port(scripted):
    server = scripted()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    result = check(server.port, lines=(("connect",), ("connect", "port", str(port))))
    assert result.status == "L4CON"
    assert result.info == f"Connection refused at step 2 of tcp-check (connect port {port})"


def test_bad_rules_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="does not know 'foo'"):
        parse_rules([("expect", "foo", "x")])
    with pytest.raises(ValueError, match="expects 'user <username>'"):
        check_rules(("pgsql-check",), ())


def test_redis_check_against_a_real_redis(tmp_path):
    redis = RedisServer(tmp_path)
    try:
        result = check(redis.port, option=("redis-check",))
    finally:
        redis.stop()
    assert (result.status, result.code, result.info) == ("L7OK", 0, "Redis server is ok")


def test_redis_error_reply_is_a_wrong_status(scripted):
    server = scripted(b"-ERR nope\r\n", expect=14)
    result = check(server.port, option=("redis-check",))
    assert (result.status, result.info) == ("L7STS", "-ERR nope")


MYSQL_GREETING = bytes.fromhex("0d0000000a382e302e313900" "0000000000")


def test_mysql_greeting_gives_the_version_and_an_error_packet_fails(scripted):
    assert check(scripted(MYSQL_GREETING).port, option=("mysql-check",)).info == "8.0.19"
    error = b"\x07\x00\x00\x02\xff\xe3\x04denied"
    server = scripted(MYSQL_GREETING + error, expect=20)
    result = check(server.port, option=("mysql-check", "user", "user", "pre-41"))
    assert (result.status, result.code, result.info) == ("L7STS", 1251, "denied")
    assert server.received[0] == bytes.fromhex("0b00000100800000017573657200000100000001")


def test_pgsql_ldap_and_spop_replies(scripted):
    pg = scripted(bytes.fromhex("520000000800000000"), expect=23)
    assert check(pg.port, option=("pgsql-check", "user", "postgres")).info == "PostgreSQL server is ok"
    pg_error = scripted(bytes.fromhex("450000000B53464154414C00"), expect=23)
    result = check(pg_error.port, option=("pgsql-check", "user", "postgres"))
    assert (result.status, result.info) == ("L7RSP", "FATAL")
    ldap = scripted(bytes.fromhex("300C0201016107 0A0101 04000400".replace(" ", "")), expect=14)
    result = check(ldap.port, option=("ldap-check",))
    assert (result.status, result.code) == ("L7STS", 1)
    spop = scripted(bytes.fromhex("00000014650000000100000776657273696F6E0803312E30"), expect=82)
    result = check(spop.port, option=("spop-check",))
    assert (result.status, result.info) == ("L7RSP", "unsupported version")


def test_smtp_check_reads_the_code_and_text(scripted):
    server = scripted(b"220 ready\r\n", then=((16, b"250 hello there\r\n"),))
    result = check(server.port, option=("smtpchk",))
    assert (result.status, result.code, result.info) == ("L7OK", 250, "hello there")
    assert server.received[1] == b"HELO localhost\r\n"


def test_agent_reply_sets_weight_maxconn_and_maintenance(scripted):
    agent = scripted(b"50%,maxconn:30 maint # going away\n", expect=4)
    server = farm(8)[0]
    server.agent = parse_agent({"agent-port": str(agent.port), "agent-send": "ping"}, True, seconds, 2.0)
    backend = proxy([server])
    log = RecordingLogger()
    run_agent(backend, server, server.agent, 1.0, log)
    assert (server.weight, server.maxconn, server.admin_state) == (4, 30, AdminState.MAINT)
    assert agent.received == [b"ping"]
    apply_reply(backend, server, "ready,down", log)
    assert (server.admin_state, server.op_state) == (AdminState.READY, OpState.DOWN)


def test_agent_results_are_logged_as_haproxy_logs_them(scripted):
    """option log-health-checks: the agent's own status (rise 1, fall 1) gets 'Agent check' lines when it
    changes; an unreachable agent is logged but leaves the server UP, "down" takes it DOWN."""
    agent = scripted(b"up\n")
    server = farm(1)[0]
    server.agent = parse_agent({"agent-port": str(agent.port)}, True, seconds, 2.0)
    backend = proxy([server], **{"log-health-checks": True})
    log = RecordingLogger()
    run_agent(backend, server, server.agent, 1.0, log)
    run_agent(backend, server, server.agent, 1.0, log)  # same status: no second line
    closed = socket.create_server(("127.0.0.1", 0))
    server.agent = parse_agent({"agent-port": str(closed.getsockname()[1])}, True, seconds, 2.0)
    closed.close()
    run_agent(backend, server, server.agent, 1.0, log)
    apply_reply(backend, server, "down # disk full", log)
    lines = [re.sub(r"duration: \d+ms", "duration: Nms", m) for m in log.messages()]
    assert lines == [
        'Agent check for server be/s1 succeeded, reason: Layer7 check passed, code: 0, info: "via agent : up", '
        "check duration: Nms, status: 1/1 UP.",
        'Agent check for server be/s1 failed, reason: Layer4 connection problem, info: "Connection refused", '
        "check duration: Nms, status: 1/1 UP.",
        'Agent check for server be/s1 failed, reason: Layer7 wrong status, code: 0, '
        'info: "via agent : down (disk full)", check duration: Nms, status: 0/1 DOWN.',
        "Server be/s1 is DOWN. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, "
        "0 remaining in queue.", "backend 'be' has no server available!"]
    assert server.op_state == OpState.DOWN


def test_checks_go_through_a_socks4_proxy(scripted):
    target = scripted(b"+PONG\r\n", expect=14)
    seen: list[bytes] = []

    def socks(client: socket.socket, _address: object) -> None:
        request = client.recv(16)
        seen.append(request)
        port = struct.unpack(">H", request[2:4])[0]
        with gsocket.create_connection(("127.0.0.1", port)) as upstream:
            client.sendall(b"\x00\x5a" + bytes(6))
            upstream.sendall(client.recv(64))
            client.sendall(upstream.recv(64))

    proxy_server = StreamServer(("127.0.0.1", 0), socks)
    proxy_server.start()
    try:
        result = check(target.port, option=("redis-check",),
                       options={"socks4": f"127.0.0.1:{proxy_server.server_port}", "check-via-socks4": ""})
    finally:
        proxy_server.stop(timeout=1)
    assert result.status == "L7OK"
    assert seen[0] == b"\x04\x01" + struct.pack(">H", target.port) + bytes([127, 0, 0, 1]) + b"HAProxy\0"


def test_config_names_the_bad_line_and_keeps_a_sections_own_check_rules(tmp_path):
    def load(text: str):
        path = tmp_path / "t.cfg"
        path.write_text(text)
        return loader.parse_proxies(*loader.load([str(path)]))

    with pytest.raises(ConfigErrors) as info:
        load("backend be\n option tcp-check\n tcp-check expect foo x\n option mysql-check user u post-80\n")
    assert [str(e).split(" : ", 1)[0] for e in info.value.errors] == [f"parsing [{tmp_path}/t.cfg:3]",
                                                                     f"parsing [{tmp_path}/t.cfg:4]"]
    config = load("defaults\n option httpchk GET /status HTTP/1.1\n http-check send hdr Host a\n"
                  "backend inherits\nbackend own_option\n option httpchk\n"
                  "backend own_send\n http-check send hdr Host b\n"
                  "backend own_expect\n http-check expect status 200\n")
    settings = {p.name: p.settings for p in config.proxies}
    assert settings["inherits"]["http-check"] == [("send", "hdr", "Host", "a")]
    assert "http-check" not in settings["own_option"]
    assert settings["own_send"]["http-check"] == [("send", "hdr", "Host", "b")]
    assert settings["own_send"]["health-check"] == [("httpchk",)]
    assert settings["own_expect"]["health-check"] == [("httpchk", "GET", "/status", "HTTP/1.1")]


def test_send_lf_and_set_var_use_the_check_context(scripted):
    registry, library = default_registry(), PatternLibrary()

    def set_var(name, text):
        expr, var = parse_expr(text, registry, library), parse_var_name(name)
        return lambda ctx: ctx.vars.set(var, expr.evaluate(ctx))

    target = scripted(b"OK 1234\r\n", expect=9, then=((5, b"BYE\r\n"),))
    rules = parse_rules([("set-var(check.who)", "str(me)"), ("connect",),
                         ("send-lf", "HI %[var(check.who)] %[srv_name]\n"), ("expect", "rstring", "^OK"),
                         ("set-var(check.got)", "res.payload(3,4)"), ("send-binary-lf", "%[var(check.got),hex]0a"),
                         ("expect", "string", "BYE")])
    rules = compile_rules(rules, lambda text: parse_log_format(text, registry, library), set_var, lambda n: None)
    server = farm(1)[0]
    server.port, server.check = target.port, True
    configure_checks(server, {"inter": "2s"}, seconds, rules)
    backend = proxy([server])
    backend.timeouts.update({"connect": 1.0, "check": 1.0})
    result = run_check(backend, server)
    assert (result.status, result.info) == ("L7OK", "(tcp-check)")
    assert target.received == [b"HI me s1\n", b"1234\n"]


def test_http_check_connect_sets_where_the_http_check_goes(scripted):
    target = scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", expect=10)
    spec = parse_check_spec(("GET", "/h"), [("connect", "addr", f"127.0.0.1:{target.port}")])
    server = farm(1)[0]
    server.port, server.check = 1, True
    configure_checks(server, {"inter": "2s"}, seconds, spec)
    backend = proxy([server])
    backend.timeouts.update({"connect": 1.0, "check": 1.0})
    assert (run_check(backend, server).status, target.received[0][:10]) == ("L7OK", b"GET /h HTT")


def test_each_http_check_connect_runs_its_own_exchange_with_log_formats(scripted):
    registry, library = default_registry(), PatternLibrary()

    def set_var(name, text):
        expr, var = parse_expr(text, registry, library), parse_var_name(name)
        return lambda ctx: ctx.vars.set(var, expr.evaluate(ctx))

    def unset_var(name):
        var = parse_var_name(name)
        return lambda ctx: ctx.vars.unset(var)

    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    first, second = scripted(ok, expect=30), scripted(ok, expect=40)
    spec = parse_check_spec((), [
        ("connect", "addr", f"127.0.0.1:{first.port}"), ("set-var(check.path)", "str(/one)"),
        ("send", "meth", "GET", "uri-lf", "%[var(check.path)]", "hdr", "x-who", "srv=%[srv_name]"),
        ("expect", "status", "200"),
        ("connect", "addr", "127.0.0.1", "port", str(second.port)), ("unset-var(check.path)",),
        ("send", "meth", "PUT", "uri-lf", "%[var(check.path)]", "body-lf", "on %[be_name]-%[srv_name]"),
    ])
    spec = compile_spec(spec, lambda text: parse_log_format(text, registry, library), set_var, unset_var)
    server = farm(1)[0]
    server.port, server.check = 1, True
    configure_checks(server, {"inter": "2s"}, seconds, spec)
    backend = proxy([server])
    backend.timeouts.update({"connect": 1.0, "check": 1.0})
    result = run_check(backend, server)
    assert (result.status, result.code) == ("L7OK", 200)
    assert first.received[0].startswith(b"GET /one HTTP/1.0\r\nx-who: srv=s1\r\n")
    assert second.received[0].startswith(b"PUT / HTTP/1.0\r\nContent-Length: 8\r\n")
    assert second.received[0].endswith(b"\r\n\r\non be-s1")
    second.stop()  # the second exchange cannot connect: the check fails there, after the first passed
    result = run_check(backend, server)
    assert (result.status, len(first.received)) == ("L4CON", 2)


def test_connect_send_proxy_sends_a_proxy_line_first(scripted):
    target = scripted(b"+OK\r\n", expect=1)
    result = check(target.port, lines=(("connect", "send-proxy"), ("expect", "string", "+OK")))
    assert result.status == "L7OK"
    assert target.received[0].startswith(b"PROXY TCP4 127.0.0.1 127.0.0.1 ")
