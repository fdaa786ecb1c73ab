"""req.ssl_* fetches on ClientHellos made by Python's ssl module at test time.

haproxy 2.6.12 (Debian 12) gave the same values for the same kinds of hellos
(tcp mode, each fetch stored by ``tcp-request content set-var`` and logged):
type 1, the SNI, the first ALPN name, ec_ext 1, st_ext 1 (0 with OP_NO_TICKET),
version 196611 (0x0303); nothing for plain text; a cut record waits for more.
"""

from __future__ import annotations

import ssl

import pytest

from luaproxy.worker.samples import AclSet, PatternLibrary, SampleRegistry, parse_condition, parse_expr, to_text
from tests.samples.streamkit import Stream


def client_hello(sni: str | None = None, alpn: list[str] | None = None, tickets: bool = True) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if not tickets:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_TICKET
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


TLS_FETCHES = ("req.ssl_hello_type", "req.ssl_sni", "req.ssl_alpn", "req.ssl_ec_ext", "req.ssl_st_ext", "req.ssl_ver",
               "req_ssl_sni", "req_ssl_hello_type", "req_ssl_ver", "res.ssl_hello_type", "rep_ssl_hello_type")


def values(registry: SampleRegistry, data: bytes) -> tuple[list[str | None], bool]:
    ctx = Stream(data=data)
    return [to_text(parse_expr(f, registry).evaluate(ctx)) for f in TLS_FETCHES[:7]], ctx.incomplete


def test_client_hello_fields(registry: SampleRegistry) -> None:
    hello = client_hello("check.haproxy.org", ["h2", "http/1.1"])
    assert values(registry, hello) == (["1", "check.haproxy.org", "h2", "1", "1", "196611", "check.haproxy.org"], False)
    assert values(registry, client_hello(None, ["http/1.1"]))[0][1:3] == [None, "http/1.1"]
    assert values(registry, client_hello("x.example", tickets=False))[0][4] == "0"


def test_not_tls_and_cut_records(registry: SampleRegistry) -> None:
    assert values(registry, b"GET / HTTP/1.0\r\n\r\n") == ([None] * 7, False)
    hello = client_hello("a.b")
    for cut in (hello[:4], hello[:100]):
        found, incomplete = values(registry, cut)
        assert found == [None] * 7 and incomplete


def test_alpn_acl_tries_every_protocol(registry: SampleRegistry) -> None:
    acls = AclSet(registry, PatternLibrary())
    ctx = Stream(data=client_hello("x", ["h2", "http/1.1"]))
    assert parse_condition(["if", "{", "req.ssl_alpn", "http/1.1", "}"], acls).matches(ctx)
    assert not parse_condition(["if", "{", "req.ssl_alpn", "h3", "}"], acls).matches(ctx)
    assert parse_condition(["if", "{", "req.ssl_sni", "-i", "X", "}"], acls).matches(ctx)


def test_server_hello_type_in_the_response_buffer(registry: SampleRegistry) -> None:
    server_hello = bytes.fromhex("160303000a" "0200000603030000000000")
    ctx = Stream(res_buffer=server_hello)
    assert to_text(parse_expr("res.ssl_hello_type", registry).evaluate(ctx)) == "2"
    assert to_text(parse_expr("rep_ssl_hello_type", registry).evaluate(ctx)) == "2"
