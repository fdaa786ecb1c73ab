"""ACL lines, match methods, flags, predefined ACLs and if/unless conditions."""

from __future__ import annotations

from pathlib import Path

import pytest

from luaproxy.worker.samples import AclSet, PatternLibrary, SampleError, SampleRegistry, parse_condition
from tests.samples.streamkit import Stream, http_stream, request

# Each body was declared as "acl t<N> <body>" in haproxy 2.6 and used as
# "http-request return status 200 ... string Y if { req.hdr(x-t) -m str N } t<N>",
# then "... string N" otherwise; the request was streamkit.http_stream()'s, sent from 127.0.0.1.
HAPROXY_ACLS = [
    ("str(::10.1.2.3),map_ip(ipk.map) -m found", True),
    ("str(2002:a01:203::),map_ip(ipk.map) -m found", True),
    ("str(::ffff:10.1.2.3),map_ip(ipk.map) -m found", True),
    ("str(::10.1.2.3) -m ip 10.1.2.3", True),
    ("str(2002:a01:203::) -m ip 10.1.2.3", True),
    ("str(2002:a01:203::) -m ip 10.1.2.0/24", True),
    ("str(::10.1.2.3) -m ip 10.1.0.0/255.255.0.255", False),
    ("str(2002:a01:203::) -m ip 10.0.0.3/255.0.0.255", True),
    ("req.hdr(x-a) a1", True),
    ("req.hdr(x-a) a2", True),
    ("req.hdr(x-a) a1,a2", False),
    ("req.hdr(x-a,1) a2", False),
    ("req.fhdr(x-a) a1", False),
    ("hdr(x-a) a2", True),
    ("hdr_beg(x-a) a", True),
    ("hdr_end(x-a) 2", True),
    ("hdr_sub(x-a) 3", True),
    ("hdr_reg(x-a) ^a[12]$", True),
    ("hdr_len(x-a) 2", True),
    ("hdr_cnt(x-a) 3", True),
    ("hdr_cnt(x-a) gt 2", True),
    ("hdr_cnt(x-a) lt 3", False),
    ("hdr_cnt(x-a) 1:2", False),
    ("hdr_cnt(x-a) 3:", True),
    ("hdr_cnt(x-a) :3", True),
    ("hdr_cnt(x-a) le 3", True),
    ("hdr_cnt(x-a) ge 4", False),
    ("hdr_cnt(x-a) eq 3", True),
    ("hdr_cnt(x-a) lt 1 eq 3", True),
    ("req.cook(a) 1", True),
    ("req.cook(a) 3", True),
    ("cook(a) 1", True),
    ("cook_beg(a) 3", True),
    ("req.cook -m found", True),
    ("req.cook(zz) -m found", False),
    ("req.cook(a) -m found", True),
    ("path /dir/page.html", True),
    ("path -i /DIR/page.html", True),
    ("path /DIR/page.html", False),
    ("path_beg /dir", True),
    ("path_beg -i /DIR", True),
    ("path_end .html", True),
    ("path_sub page", True),
    ("path_dir dir", True),
    ("path_dir page.html", True),
    ("path_dir ir", False),
    ("path_dir dir/page.html", True),
    ("path_dom html", True),
    ("path_dom dir", True),
    ("path_dom page", True),
    ("path_dom -i PAGE", True),
    ("path_reg ^/d.r/", True),
    ("path_reg -i ^/D.R/", True),
    ("path_len 14", True),
    ("path_len 10:20", True),
    ("url_beg /dir", True),
    ("url_sub k=v", True),
    ("urlp(k) v", True),
    ("urlp(j) 2", True),
    ("urlp(n) 33", True),
    ("urlp -m found", True),
    ("urlp(nope) -m found", False),
    ("urlp_val(n) 33", True),
    ("base example.com/dir/page.html", True),
    ("base_beg example.com/", True),
    ("method GET", True),
    ("method get", False),
    ("method POST", False),
    ("method GET HEAD", True),
    ("src 127.0.0.1", True),
    ("src 127.0.0.0/8", True),
    ("src 10.0.0.0/8", False),
    ("src ::1", False),
    ("src ::ffff:127.0.0.1", True),
    ("src ::ffff:127.0.0.0/104", True),
    ("src 127.1", True),
    ("src -m str 127.0.0.1", True),
    ("src -m beg 127.", True),
    ("req.hdr_ip(x-ip) 10.1.2.3", True),
    ("req.hdr_ip(x-ip) 10.1.0.0/16", True),
    ("req.hdr_val(x-n) 42", True),
    ("req.hdr_val(x-n) gt 41", True),
    ("req.hdr_val(x-n) -m bool", True),
    ("req.hdr(x-n) -m int 42", True),
    ("req.hdr(x-n) -m len 2", True),
    ("req.hdr(x-n) -m bin 3432", True),
    ("req.hdr(x-n),lower 42", True),
    ("always_true", True),
    ("always_false", False),
    ("always_true -m int 1", True),
    ("always_true -m int 0", False),
    ("str(abc) -m found", True),
    ("var(txn.nope) -m found", False),
    ("str(abc) -m sub b", True),
    ("str(abc) -m beg ab", True),
    ("str(abc) -m end bc", True),
    ("str(ABC) -m str -i abc", True),
    ("str(ABC) -m sub -i b", True),
    ("str(ABC) -m beg -i ab", True),
    ("str(ABC) -m end -i bc", True),
    ("str(ABC) -m reg -i ^abc$", True),
    ("str(a.b.c) -m dom b", True),
    ("str(a.b.c) -m dom .b.", True),
    ("str(a.b.c) -m dom a.b", True),
    ("str(a.b.c) -m dom b.c", True),
    ("str(a.b.c) -m dom x", False),
    ("str(/a/b/c) -m dir /a/b", True),
    ("str(/a/b/c) -m dir b/c/", True),
    ("str(/a/b/c) -m dir a/b/c", True),
    ("str(/a/b/c) -m dir b/", True),
    ("str(abc) -m len 3", True),
    ("str(abc) -m len 4:", False),
    ("str(12) -m int 12", True),
    ("str(abc) -m bool", False),
    ("str(5) -m bool", True),
    ("int(5) -m bool", True),
    ("int(0) -m bool", False),
    ("str(abc) -m bin 616263", True),
    ("str(abc) -- -i", False),
    ("str(-i) -- -i", True),
    ("str(-i) -i -i", False),
    ("str(abc) -i ABC", True),
    ("query -m found", True),
    ("query k=v;x=1&j=2&n=33", True),
    ("req.ver 1.1", True),
    ("str(x) x y z", True),
    ("str(z) x y z", True),
]


@pytest.fixture
def acls(registry: SampleRegistry, tmp_path: Path) -> AclSet:
    (tmp_path / "ipk.map").write_text("10.1.2.3 host\n")
    (tmp_path / "a.acl").write_text("abc\n  /DIR/page.html\n#comment\n")
    (tmp_path / "ips.acl").write_text("192.168.0.0/16\n")
    (tmp_path / "m.map").write_text("/dir/page.html value\n")
    return AclSet(registry, PatternLibrary(str(tmp_path)))


def stream_from_localhost() -> Stream:
    ctx = http_stream()
    ctx.src = "127.0.0.1"
    return ctx


@pytest.mark.parametrize(("body", "expected"), HAPROXY_ACLS, ids=[b for b, _ in HAPROXY_ACLS])
def test_acl_matches_like_haproxy(body: str, expected: bool, acls: AclSet) -> None:
    assert acls.parse_term(body.split(" ")).matches(stream_from_localhost()) is expected


def test_files_case_and_map_flags(acls: AclSet) -> None:
    ctx = stream_from_localhost()
    assert not acls.parse_term(["path", "-f", "a.acl"]).matches(ctx)
    assert acls.parse_term(["path", "-i", "-f", "a.acl"]).matches(ctx)
    assert acls.parse_term(["path", "-f", "a.acl", "-i", "/DIR/PAGE.HTML"]).matches(ctx)
    assert acls.parse_term(["path", "-M", "-f", "m.map"]).matches(ctx)
    assert acls.parse_term(["src", "-n", "-f", "ips.acl"]).matches(http_stream())
    assert acls.parse_term(["path", "-m", "beg", "-f", "a.acl", "-i", "/d"]).matches(ctx)


def test_unique_id_and_inline_lists_are_registered(acls: AclSet) -> None:
    acls.add(["a4", "path", "-u", "77", "baz"], ("h.cfg", 13))
    ref = acls.library.find("#77", "acl")
    assert [e.key for e in ref.entries()] == ["baz"]
    assert ref.display == "acl 'path' file 'h.cfg' line 13"
    ref.add("/dir/page.html")
    assert acls.get("a4").matches(stream_from_localhost())  # type: ignore[union-attr]
    with pytest.raises(SampleError, match="already used"):
        acls.add(["a5", "path", "-u", "77", "x"])


def test_same_name_lines_or_together(acls: AclSet) -> None:
    acls.add(["static", "path_beg", "/static", "/images"])
    acls.add(["static", "path_end", ".html"])
    assert acls.get("static").matches(stream_from_localhost())  # type: ignore[union-attr]
    assert len(acls.get("static").terms) == 2  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["x", "src", "foo"], "error detected while parsing ACL 'x' : 'foo' is not a valid IPv4 or IPv6 address."),
        (["x", "src", "-n", "127.1"], "'127.1' is not a valid IPv4 or IPv6 address."),
        (["x", "src", "::1/129"], "'::1/129' is not a valid IPv4 or IPv6 address."),
        (["x", "hdr_cnt", "abc"], "'abc' is not a number."),
        (["x", "hdr_cnt", "1:abc"], "'1:abc' is not a valid number range."),
        (["x", "path_reg", "("], "regex '(' is invalid"),
        (["x", "req.payload(0,3)", "abc"], "matching method must be specified first (using '-m') when using a sample"),
        (["x", "req.payload(0,3)", "-m", "bin", "61626"], "an even number of hex digit is expected."),
        (["x", "path", "-m", "foo", "x"], "unknown matching method 'foo' when parsing ACL expression."),
        (["x", "path", "-m"], "unknown matching method '' when parsing ACL expression."),
        (["x", "path", "-f"], "failed to open pattern file <>"),
        (["x", "path", "-Z", "x"], "'-Z' is not a valid ACL option. Please use '--' before any pattern beginning"),
        (["x", "foo", "x"], "unknown fetch method 'foo' in ACL expression 'foo'"),
        (["x", "path_bog", "x"], "unknown fetch method 'path_bog' in ACL expression 'path_bog'"),
        (["x", "var(txn.x)", "x"], "matching method must be specified first"),
        (["x"], "missing fetch method"),
        (["bad name", "path", "x"], "invalid characters in ACL name"),
    ],
)
def test_acl_errors(words: list[str], message: str, acls: AclSet) -> None:
    with pytest.raises(SampleError) as err:
        acls.add(words)
    assert message in err.value.message


def test_unknown_acl_keyword_gets_a_hint(acls: AclSet) -> None:
    with pytest.raises(SampleError) as err:
        acls.add(["x", "path_bgn", "/a"])
    assert err.value.hint == "path_beg"


def cond(acls: AclSet, text: str) -> bool:
    return parse_condition(text.split(" "), acls).matches(stream_from_localhost())


def test_conditions_and_or_not(acls: AclSet) -> None:
    acls.add(["is_get", "method", "GET"])
    acls.add(["is_post", "method", "POST"])
    acls.add(["html", "path_end", ".html"])
    assert cond(acls, "if is_get html")
    assert not cond(acls, "if is_get !html")
    assert cond(acls, "if is_post || html")
    assert cond(acls, "if is_post or html")
    assert not cond(acls, "if is_post || !html")
    assert cond(acls, "unless is_post")
    assert not cond(acls, "unless is_get html")
    assert cond(acls, "if ! is_post")
    assert cond(acls, "if !!is_get")


def test_anonymous_acls(acls: AclSet) -> None:
    assert cond(acls, "if { path_beg /dir } { src 127.0.0.1 }")
    assert cond(acls, "if !{ req.cook(zz) -m found } { req.hdr_cnt(x-a) eq 3 }")
    assert cond(acls, "if FALSE || { nbsrv(be) lt 3 }")
    assert not cond(acls, "if { nbsrv(be) lt 2 } || { nbsrv(empty) gt 0 }")
    with pytest.raises(SampleError, match=r"missing closing '\}' in condition\."):
        cond(acls, "if { path foo")


def test_predefined_acls(acls: AclSet) -> None:
    ctx = stream_from_localhost()
    for name, expected in [
        ("TRUE", True),
        ("FALSE", False),
        ("LOCALHOST", True),
        ("METH_GET", True),
        ("METH_POST", False),
        ("HTTP", True),
        ("HTTP_1.1", True),
        ("HTTP_1.0", False),
        ("HTTP_URL_SLASH", True),
        ("HTTP_URL_STAR", False),
        ("HTTP_URL_ABS", False),
        ("HTTP_CONTENT", False),
        ("REQ_CONTENT", True),  # req.len counts the HTTP message, as haproxy 2.6.12 answers
        ("WAIT_END", True),
    ]:
        assert parse_condition(["if", name], acls).matches(ctx) is expected, name
    post = Stream(request=request("POST", "http://h/x", [("Content-Length", "3")]), data=b"abc")
    for name in ("METH_POST", "HTTP_URL_ABS", "HTTP_CONTENT", "REQ_CONTENT"):
        assert parse_condition(["if", name], acls).matches(post), name
    assert not parse_condition(["if", "HTTP"], acls).matches(Stream())


def test_undefined_acl_is_an_error_with_hint(acls: AclSet) -> None:
    acls.add(["is_static", "path_beg", "/static"])
    with pytest.raises(SampleError) as err:
        parse_condition(["if", "is_statik"], acls)
    assert err.value.message == "no such ACL : 'is_statik'."
    assert err.value.hint == "is_static"
    with pytest.raises(SampleError, match="must start with 'if' or 'unless'"):
        parse_condition(["when", "TRUE"], acls)


def test_empty_condition_behaves_like_haproxy(acls: AclSet) -> None:
    assert not cond(acls, "if !")
    assert cond(acls, "unless")
    assert cond(acls, "if || TRUE")
    assert cond(acls, "if TRUE ||")


def test_response_direction(acls: AclSet) -> None:
    from tests.samples.streamkit import response

    ctx = stream_from_localhost()
    ctx.response = response(404, [("X-A", "resp")])
    term = acls.parse_term(["hdr(x-a)", "resp"])
    assert not term.matches(ctx)
    assert term.matches(ctx, res=True)
    assert parse_condition(["if", "{", "status", "404", "}"], acls).matches(ctx, res=True)
    assert acls.parse_condition(["if", "{", "shdr(x-a)", "resp", "}"]).matches(ctx)
