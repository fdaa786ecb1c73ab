"""Every fetch and converter of the catalogue: values on a full stream, and coverage of the whole registry."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from luaproxy.worker.samples import Sample, SampleRegistry, SampleType, catalogue_markdown, parse_expr, to_text
from tests.samples.streamkit import Stream, http_stream, response
from tests.samples.test_haproxy_values import (
    HAPROXY_BODY_VALUES,
    HAPROXY_SERVER_VALUES,
    HAPROXY_VALUES,
    HAPROXY_VAR_VALUES,
)
from tests.samples.test_json_query import HAPROXY_JSON, json_expr
from tests.samples.test_jwt import CATALOGUE_TEXTS as JWT_TEXTS
from tests.samples.test_maps import MAP_CASES
from tests.samples.test_proto_converters import ROWS, proto_expr
from tests.samples.test_tls_hello import TLS_FETCHES
from tests.sticktable.test_samples import STICK_CASES
from tests.tls.test_fetches import CATALOGUE_TEXTS as SSL_TEXTS


def full_stream() -> Stream:
    ctx = http_stream()
    ctx.response = response(
        302,
        [
            ("Location", "/x"),
            ("Set-Cookie", "sid=abc; Path=/"),
            ("Set-Cookie", "n=12; HttpOnly"),
            ("Set-Cookie", "sid=def"),
            ("X-R", "r1, r2"),
            ("X-IP", "2001:db8::1"),
        ],
    )
    ctx.data = b"\x16\x03\x01\x00\x05hello-world"
    ctx.res_buffer = b"\x20\x02\x00\x00"
    ctx.backend.timeouts.update(server=3.0, tunnel=9.5)
    return ctx


CASES = [
    ("be_conn", "4"),
    ("be_conn(empty)", "0"),
    ("be_conn(nope)", None),
    ("be_id", "3"),
    ("be_name", "be"),
    ("fe_conn", "5"),
    ("fe_id", "2"),
    ("fe_name", "fe"),
    ("so_id", "1"),
    ("internal.strm.is_htx", "1"),
    ("src", "192.168.1.10"),
    ("src_port", "51234"),
    ("dst", "10.0.0.1"),
    ("dst_port", "8080"),
    ("srv_id", "1"),
    ("srv_name", "s1"),
    ("fc_dst", "10.0.0.1"),
    ("fc_dst_port", "8080"),
    ("fc_src_port", "51234"),
    ("be_server_timeout", "3000"),
    ("be_tunnel_timeout", "9500"),
    ("nbsrv", "2"),
    ("nbsrv(empty)", "0"),
    ("connslots", "11"),
    ("nbproc", "4"),
    ("proc", "2"),
    ("req.len", "199"),  # HTTP mode: the HTX size, as checked in test_haproxy_values
    ("req_len", "199"),
    ("req.payload(0,3),hex", "160301"),
    ("payload(5,0)", "hello-world"),
    ("req.payload(10,99)", None),
    ("req.payload_lv(3,2)", "hello"),
    ("payload_lv(3,2,+6)", "world"),
    ("req.payload_lv(3,2,11)", "world"),
    ("res.len", "134"),
    ("res.payload(0,0),hex", "20020000"),
    ("res.payload(1,4)", None),
    ("res.payload_lv(1,1),hex", "0000"),
    ("capture.req.method", "GET"),
    ("capture.req.uri", "/dir/page.html?k=v;x=1&j=2&n=33"),
    ("capture.req.ver", "HTTP/1.1"),
    ("capture.res.ver", "HTTP/1.1"),
    ("cook(a)", "3"),
    ("cook_cnt", "4"),
    ("cook_val(n)", "7"),
    ("cookie(b)", "2"),
    ("hdr_cnt(x-a)", "3"),
    ("fhdr(x-a)", "a3"),
    ("hdr_ip(x-ip)", "10.1.2.3"),
    ("hdr_val(x-n)", "42"),
    ("req_ver", "1.1"),
    ("http_auth_bearer", None),
    ("res.cook(sid)", "def"),
    ("res.cook", "abc"),
    ("res.cook_cnt(sid)", "2"),
    ("res.cook_val(n)", "12"),
    ("scook(sid)", "def"),
    ("scook_cnt", "3"),
    ("scook_val(n)", "12"),
    ("res.hdr(x-r)", "r2"),
    ("res.hdr(x-r,1)", "r1"),
    ("shdr(x-r)", "r2"),
    ("res.fhdr(x-r)", "r1, r2"),
    ("res.hdr_cnt(x-r)", "2"),
    ("shdr_cnt", "7"),
    ("res.fhdr_cnt(set-cookie)", "3"),
    ("res.hdr_ip(x-ip)", "2001:db8::1"),
    ("shdr_ip(x-ip),ipmask(8,32)", "2001:db8::"),
    ("res.hdr_val(location)", "0"),
    ("shdr_val(x-r)", "0"),
    ("res.hdr_names", "location,set-cookie,set-cookie,set-cookie,x-r,x-ip"),
    ("res.hdrs,length", "126"),
    ("res.ver", "1.1"),
    ("resp_ver", "1.1"),
    ("res.cache_hit", "0"),  # not from a cache; tests/filters checks hits
    ("res.cache_name", None),
    ("status", "302"),
    ("hostname,length,bool", "1"),
    ("unique-id", None),  # no unique-id-format here; tests/e2e covers the rendered ID
    ("http_first_req", "1"),
    ("capture.req.hdr(0)", None),  # no capture slots on the test stream; tests/e2e checks the values
    ("capture.res.hdr(0)", None),
    ("fe_client_timeout", None),  # the test stream's frontend has no timeouts
    ("cur_server_timeout", "3000"),  # no set-timeout: the backend's
    ("cur_tunnel_timeout", "9500"),
    ("uuid,length", "36"),
    ("uuid(4),field(3,-),bytes(0,1)", "4"),
    ("rand(1)", "0"),
    ("str(a),add_item(-,txn.n,x)", "a-7x"),
    ("str(),add_item(-,txn.n)", "7"),
    ("str(a),add_item(-,txn.none,x)", "a-x"),
    ("str(a),add_item(-,txn.none,)", "a"),
    ("int(0),ltime(%Y,86400)", time.strftime("%Y", time.localtime(86400))),
    ("str(v),set-var(txn.s),upper", "V"),
    ("str(v),set-var(txn.n,ifnotexists)", "v"),
    ("str(v),unset-var(txn.n)", "v"),
    ("str(x),debug", "x"),
    ("str(x),debug(pfx,stderr)", "x"),
    ("str(be),nbsrv", "2"),
    ("str(nope),nbsrv", None),
    ("var(txn.n),add(txn.n)", "14"),
    ("int(5),sub(txn.n)", "-2"),
    ("int(5),mul(txn.none)", None),
    ("str(10),strcmp(txn.n)", "-6"),
    ("str(7),strcmp(txn.n)", "0"),
    ("str(7a),strcmp(txn.n)", "1"),
    ("fc_rcvd_proxy", "0"),  # a connection without a PROXY header (tests/conn covers one with)
    ("fc_pp_authority", None),
    ("fc_pp_unique_id", None),
    ("fc_err", "0"),  # a connection without an error (tests/conn has a failed handshake)
    ("fc_err_str", "Success"),
    ("ssl_fc_err", None),  # not a TLS connection
    ("ssl_fc_err_str", None),
    ("bc_err", "0"),  # a server connection without an error (tests/tls/test_errors.py has failed ones)
    ("bc_err_str", "Success"),
    ("ssl_bc_err", None),  # not a TLS server
    ("ssl_bc_err_str", None),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[t for t, _ in CASES])
def test_catalogue_value(text: str, expected: str | None, registry: SampleRegistry) -> None:
    ctx = full_stream()
    ctx.vars.set("txn.n", Sample(SampleType.SINT, 7))
    assert to_text(parse_expr(text, registry).evaluate(ctx)) == expected


def test_time_fetches_follow_the_clock(registry: SampleRegistry) -> None:
    now = int(time.time())
    ctx = Stream()
    assert abs(int(to_text(parse_expr("date", registry).evaluate(ctx)) or 0) - now) <= 2
    assert abs(int(to_text(parse_expr("date(-10)", registry).evaluate(ctx)) or 0) - (now - 10)) <= 2
    assert abs(int(to_text(parse_expr("date(0,ms)", registry).evaluate(ctx)) or 0) // 1000 - now) <= 2
    assert 0 <= int(to_text(parse_expr("date_us", registry).evaluate(ctx)) or -1) < 1000000
    assert 0 <= int(to_text(parse_expr("rand", registry).evaluate(ctx)) or -1) < 2**32


def test_layer7_fetches_give_nothing_in_tcp_mode(registry: SampleRegistry) -> None:
    ctx = Stream()
    for name in ("path", "req.hdr(host)", "method", "status", "res.hdr(x)", "req.cook(a)", "url_param(a)", "base32"):
        assert parse_expr(name, registry).evaluate(ctx) is None, name
    assert to_text(parse_expr("internal.strm.is_htx", registry).evaluate(ctx)) == "0"
    proto_http = parse_expr("req.proto_http", registry)
    assert proto_http.evaluate(ctx) is None  # nothing yet: HTTP or not may change (haproxy's MAY_CHANGE)
    ctx.data = b"hello world\r\n\r\n"
    assert to_text(proto_http.evaluate(ctx)) == "0"
    ctx.data = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"
    assert to_text(proto_http.evaluate(ctx)) == "1"
    ctx.data, ctx.res_buffer = b"hello", b"hi"
    assert [to_text(parse_expr(f, registry).evaluate(ctx)) for f in ("req.len", "res.len")] == ["5", "2"]


def test_every_fetch_and_converter_has_a_case(registry: SampleRegistry) -> None:
    haproxy = HAPROXY_VALUES + HAPROXY_VAR_VALUES + HAPROXY_BODY_VALUES + HAPROXY_SERVER_VALUES
    texts = [t for t, _ in haproxy] + [t for t, _ in CASES] + [t for t, *_ in MAP_CASES] + SSL_TEXTS
    texts += [json_expr(*case[:3]) for case in HAPROXY_JSON] + [proto_expr(c, h) for c, h, _ in ROWS]
    texts += [t for t, _ in STICK_CASES] + list(TLS_FETCHES) + JWT_TEXTS
    used = {name for t in texts for name in re.findall(r"(?:^|,)([A-Za-z0-9_.+-]+)", t)}
    time_only = {"date", "date_us", "rand"}
    missing_fetches = set(registry.fetch_names()) - used - time_only
    missing_converters = {c.name for c in registry.converters()} - used
    assert not missing_fetches
    assert not missing_converters


def test_catalogue_markdown_is_current(registry: SampleRegistry) -> None:
    text = catalogue_markdown(registry)
    assert "| `req.hdr` | ([string][,integer]) | string |" in text
    assert "| `field` | (integer,string[,integer]) | string | string |" in text
    path = Path(__file__).resolve().parents[2] / "worker" / "samples" / "CATALOGUE.md"
    assert path.read_text() == text, "regenerate with: python -m worker.samples.catalogue"
