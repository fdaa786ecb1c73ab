"""Check settings from the configuration, and how an HTTP check response is judged."""

from __future__ import annotations

import pytest

from luaproxy.worker.backend.checks import (
    TCP_CHECK,
    HttpExpect,
    check_timeouts,
    compile_spec,
    configure_checks,
    next_interval,
    parse_check_spec,
    request_bytes,
    server_state_header,
)
from luaproxy.worker.backend.http_expect import CheckContext
from luaproxy.worker.backend.state import CheckResult, OpState
from luaproxy.worker.http import CLIENT, Connection, Headers, ResponseHead
from luaproxy.worker.samples import PatternLibrary, default_registry, parse_expr, parse_log_format
from luaproxy.worker.samples.vars import parse_var_name

from .kit import farm, proxy


def seconds(text: str) -> float:
    """A stand-in for the configuration's time parser: '500ms', '2s'."""
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text.rstrip("s"))


def test_server_check_settings_and_defaults():
    server = farm(1)[0]
    server.check = True
    configure_checks(server, {}, seconds)
    assert (server.check_inter, server.check_rise, server.check_fall, server.check_health) == (2.0, 2, 3, 2)
    assert server.check_spec is TCP_CHECK
    configure_checks(server, {"inter": "500ms", "fastinter": "100ms", "downinter": "5s", "rise": "1",
                              "fall": "5", "port": "8081", "addr": "127.0.0.2"}, seconds)
    assert (server.check_inter, server.check_fastinter, server.check_downinter) == (0.5, 0.1, 5.0)
    assert (server.check_rise, server.check_fall, server.check_port, server.check_addr) == (1, 5, 8081, "127.0.0.2")


@pytest.mark.parametrize(("options", "message"), [
    ({"rise": "0"}, "'rise' expects a positive integer, got '0'"),
    ({"fall": "x"}, "'fall' expects a positive integer, got 'x'"),
    ({"port": "70000"}, "'port' expects a port number"),
    ({"inter": "0s"}, "'inter' has to be > 0"),
])
def test_bad_server_check_settings(options, message):
    with pytest.raises(ValueError) as info:
        configure_checks(farm(1)[0], options, seconds)
    assert message in str(info.value)


def test_intervals_follow_the_health_counter():
    server = farm(1)[0]
    server.check = True
    configure_checks(server, {"inter": "2s", "fastinter": "500ms", "downinter": "10s"}, seconds)
    assert next_interval(server) == 0.5
    server.check_health = 4
    assert next_interval(server) == 2.0
    server.check_health, server.op_state = 0, OpState.DOWN
    assert next_interval(server) == 10.0


def test_check_timeouts_as_haproxy_measures_them():
    server = farm(1)[0]
    server.check_inter = 1.0
    be = proxy([server])
    assert check_timeouts(be, server) == (1.0, None)
    be.timeouts.update({"connect": 0.3, "check": 2.0})
    assert check_timeouts(be, server) == (0.3, 2.0)
    be.timeouts["connect"] = 5.0
    assert check_timeouts(be, server) == (1.0, 2.0)


def test_option_httpchk_forms():
    assert parse_check_spec(None) is TCP_CHECK
    spec = parse_check_spec(())
    assert (spec.http, spec.method, spec.uri, spec.version) == (True, "OPTIONS", "/", "HTTP/1.0")
    assert parse_check_spec(("/health",)).uri == "/health"
    spec = parse_check_spec(("GET", "/health"))
    assert (spec.method, spec.uri, spec.version) == ("GET", "/health", "HTTP/1.0")
    spec = parse_check_spec(("HEAD", "/x", "HTTP/1.1\r\nHost: foo"))
    assert (spec.version, spec.headers) == ("HTTP/1.1", (("Host", "foo"),))


def test_http_check_send_and_expect_lines():
    spec = parse_check_spec(("GET", "/"), [
        ("send", "meth", "POST", "uri", "/s", "ver", "HTTP/1.1", "hdr", "Host", "example.com", "body", "ping"),
        ("expect", "!", "status", "500-599"),
        ("expect", "rstring", "^ok"),
    ])
    assert (spec.method, spec.uri, spec.version, spec.body) == ("POST", "/s", "HTTP/1.1", "ping")
    assert spec.headers == (("Host", "example.com"),)
    assert spec.expects == (HttpExpect("status", "500-599", True), HttpExpect("rstring", "^ok"))
    assert spec.reads_body


@pytest.mark.parametrize(("lines", "message"), [
    ([("expect", "status", "abc")], "expects codes or ranges"),
    ([("expect", "status", "200", "302")], "expects one pattern"),
    ([("expect", "header", "x")], "supports [!] status, rstatus, string, rstring, hdr or fhdr"),
    ([("expect", "rstatus", "(")], "invalid regex"),
    ([("disable-on-404",)], "'http-check disable-on-404' is not supported"),
    ([("send", "meth")], "'http-check send' expects meth, uri, uri-lf, ver, hdr"),
    ([("send", "uri", "/a b")], "the health-check request 'OPTIONS /a b' is invalid"),
    ([("send", "uri", "/a"), ("connect",)], "the first step must be a 'connect' too"),
    ([("connect",), ("expect", "status", "200")], "it needs a 'send' step before it"),
    ([("connect",), ("send",), ("connect",)], "it needs an 'expect' step before it"),
    ([("expect", "status", "200"), ("send",)], "it needs a 'connect' step before it"),
    ([("send", "uri", "/a", "uri-lf", "/b")], "takes 'uri' or 'uri-lf', not both"),
])
def test_bad_http_check_lines(lines, message):
    with pytest.raises(ValueError) as info:
        parse_check_spec((), lines)
    assert message in str(info.value)


def test_request_bytes_keep_the_configured_version():
    post = parse_check_spec(("POST", "/x"), [("send", "body", "hello")])
    assert request_bytes(Connection(CLIENT), post) == b"POST /x HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello"
    http11 = parse_check_spec(("GET", "/", "HTTP/1.1"))
    assert request_bytes(Connection(CLIENT), http11) == b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"


def test_judging_responses():
    default = parse_check_spec(())
    assert default.judge(200, "OK", b"", 1) == CheckResult("L7OK", 200, "", 1)
    assert default.judge(302, "Found", b"", 0).passed
    assert default.judge(404, "Not Found", b"", 0) == CheckResult("L7STS", 404, "Not Found", 0)
    status = parse_check_spec((), [("expect", "status", "200-299,404")])
    assert status.judge(404, "X", b"", 0).passed and not status.judge(302, "X", b"", 0).passed
    negated = parse_check_spec((), [("expect", "!", "status", "200")])
    assert negated.judge(200, "X", b"", 0) == CheckResult("L7STS", 200, "X", 0)
    assert parse_check_spec((), [("expect", "rstatus", "^3")]).judge(301, "X", b"", 0).passed
    body = parse_check_spec((), [("expect", "string", "ok")])
    assert body.judge(500, "X", b"all ok", 0).passed
    assert body.judge(200, "X", b"nope", 0) == CheckResult("L7RSP", None, "HTTP content check did not match", 0)


def test_header_expectations_and_check_variables():

    registry, library = default_registry(), PatternLibrary()
    spec = parse_check_spec(("GET", "/"), [
        ("expect", "hdr", "name", "-m", "beg", "X-Test", "value", "-m", "reg", "^v[0-9]$"),
        ("set-var(check.wanted)", "res.fhdr(x-name)"),
        ("expect", "fhdr", "name-lf", "%[var(check.wanted)]", "value", "a, b"),
        ("expect", "!", "hdr", "name", "x-absent"),
    ])
    def set_var(name, text):
        expr, var = parse_expr(text, registry, library), parse_var_name(name)
        return lambda ctx: ctx.vars.set(var, expr.evaluate(ctx))

    spec = compile_spec(spec, lambda text: parse_log_format(text, registry, library), set_var,
                        lambda name: None)
    head = ResponseHead(200, "OK", "HTTP/1.1", Headers([("x-test-1", "w, v7"), ("X-Name", "x-list"),
                                                        ("x-list", "a, b")]))
    ctx = CheckContext(None, None, response=head)
    assert spec.judge(200, "OK", b"", 1, ctx).status == "L7OK"
    head.headers.set("x-list", "a")
    result = spec.judge(200, "OK", b"", 1, CheckContext(None, None, response=head))
    assert (result.status, result.info) == ("L7RSP", "HTTP header did not match")


def test_send_state_header_and_comment():
    spec = parse_check_spec(("GET", "/h", "HTTP/1.1"), [("send-state",), ("comment", "why")])
    servers = farm(3, 5)
    servers[0].check = True
    configure_checks(servers[0], {}, lambda text: float(text), spec)
    state = server_state_header(proxy(servers), servers[0])
    assert state.startswith("UP 1/3; address=127.0.0.1; port=8000; name=be/s1; node=")
    assert state.endswith("; weight=3/8; scur=0/0; qcur=0")
    assert b"X-Haproxy-Server-State: UP 1/3;" in request_bytes(Connection(CLIENT), spec, state)
