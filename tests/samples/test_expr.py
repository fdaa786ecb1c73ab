"""Expression parsing, argument lexing, error texts (haproxy 2.6's wording) and evaluation rules."""

from __future__ import annotations

import pytest

from luaproxy.worker.samples import (
    PatternLibrary,
    SampleError,
    SampleRegistry,
    SampleType,
    parse_expr,
    parse_expr_prefix,
    to_text,
)
from tests.samples.streamkit import Stream, http_stream, response


def value(text: str, registry: SampleRegistry, ctx: Stream | None = None, res: bool = False) -> str | None:
    return to_text(parse_expr(text, registry).evaluate(ctx or http_stream(), res))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('str("a,b")', "a,b"),
        ("str('a,b')", "a,b"),
        ('str("a\\"b")', 'a"b'),
        ('str("a\\\\b")', "a\\b"),
        ('str("a\\xb")', "a\\xb"),
        ("str(a\\\\b)", "a\\b"),
        ('str(a\\"b)', 'a"b'),
        ('str(a"b,c"d)', "ab,cd"),
        ("str(a(b)", "a(b"),
        ('str("a)b")', "a)b"),
        ("str()", ""),
        ("str", ""),
        ("str(a),,lower", "a"),
        ("str(A),lower()", "a"),
        ('str(a),concat("x,y",,"z")', "ax,yz"),
        ('str(a1),regsub("\\d","N",g)', "aN"),
        ("str(a1),regsub(\\d,N,g)", "aN"),
    ],
)
def test_argument_quoting_matches_haproxy(text: str, expected: str, registry: SampleRegistry) -> None:
    # Values from haproxy 2.6 lf-string rendering of the same expressions.
    assert value(text, registry) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo", "unknown fetch method 'foo'"),
        ("src,bar", "unknown converter 'bar'"),
        ("str(a),field(1)", "invalid arg 2 in converter 'field' : missing arguments (got 1/2), type 'string' expected"),
        ("str(a),field(1,2,3,4)", "invalid arg 3 in converter 'field' : expected ')' before ',4)'"),
        ("int(abc)", "fetch method 'int' : failed to parse 'abc' as type 'integer' at position 1"),
        ("int()", "fetch method 'int' : expected type 'integer' at position 1, but got nothing"),
        ("int", "fetch method 'int' : expected type 'integer' at position 1, but got nothing"),
        ("req.payload(1)", "fetch method 'req.payload' : missing arguments (got 1/2), type 'integer' expected"),
        ("req.payload(1,a)", "fetch method 'req.payload' : failed to parse 'a' as type 'integer' at position 2"),
        ("str(a),word(x,2)", "invalid arg 1 in converter 'word' : failed to parse 'x' as type 'integer' at position 1"),
        (
            "src,ipmask(abc)",
            "invalid arg 1 in converter 'ipmask' : failed to parse 'abc' as type 'IPv4 mask' at position 1",
        ),
        (
            "src,ipmask(33)",
            "invalid arg 1 in converter 'ipmask' : failed to parse '33' as type 'IPv4 mask' at position 1",
        ),
        (
            "src,ipmask(24,abc)",
            "invalid arg 2 in converter 'ipmask' : failed to parse 'abc' as type 'IPv6 mask' at position 2",
        ),
        (
            "var(foo)",
            "invalid args in fetch method 'var' : invalid variable name 'foo'. A variable name must be start by its "
            "scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'.",
        ),
        ("var(txn.f-o)", "invalid args in fetch method 'var' : invalid syntax at char '-o'"),
        ("str(a),add(foo)", "invalid args in converter 'add' : expects an integer or a variable name"),
        ("str(a),mul(txn.)", "invalid args in converter 'mul' : expects an integer or a variable name"),
        ("ipv6(::1),add(1)", "converter 'add' cannot be applied"),
        ("bin(4142),ipmask(24)", "converter 'ipmask' cannot be applied"),
        ("str(a),lower(1)", "invalid arg 1 in converter 'lower' : expected ')' before '1)'"),
        ("src(1)", "fetch method 'src' : expected ')' before '1)'"),
        ("int(1),sha2(100)", "invalid args in converter 'sha2' : Unsupported number of bits: '100'."),
        (
            "int(1),json(foo)",
            "invalid args in converter 'json' : Unexpected input code type. Allowed value are 'ascii', 'utf8', "
            "'utf8s', 'utf8p' and 'utf8ps'.",
        ),
        ("date(1,xx)", "invalid args in fetch method 'date' : expects 's', 'ms' or 'us', got 'xx'"),
        ("str(a),field(0,x)", "invalid args in converter 'field' : Unexpected value 0 for index."),
        ("str(a),word(1,)", "invalid args in converter 'word' : Empty separators list."),
        ("bool(2)", "invalid args in fetch method 'bool' : Expects 'true', 'false', '0' or '1'."),
        ("bin(414)", "invalid args in fetch method 'bin' : an even number of hex digit is expected."),
        ("str(a),concat(a,foo,b)", "invalid args in converter 'concat' : failed to register variable name 'foo'"),
        ("str(a),strcmp(foo)", "invalid args in converter 'strcmp' : failed to register variable name 'foo'"),
        ("str(a),lower,", "unknown converter ''"),
        ("", "missing fetch method"),
        ("str(a", "fetch method 'str' : expected ')'"),
        ("str(a),map_foo(x)", "unknown converter 'map_foo'"),
        ("str(a),map_ip_str(x)", "unknown converter 'map_ip_str'"),
        ("str(a)x", "unexpected 'x' after sample expression 'str(a)'"),
        ("str(a),regsub((,x)", "invalid args in converter 'regsub' : regex '(' is invalid"),
    ],
)
def test_parse_errors_use_haproxy_wording(text: str, message: str, registry: SampleRegistry) -> None:
    with pytest.raises(SampleError) as err:
        parse_expr(text, registry, PatternLibrary())
    assert err.value.message.startswith(message)


@pytest.mark.parametrize(
    ("text", "hint"),
    [("req.hdrr(host)", "req.hdr"), ("src,ipmaskk(24)", "ipmask"), ("path,lowr", "lower"), ("zzzzzz", None)],
)
def test_unknown_names_get_a_did_you_mean_hint(text: str, hint: str | None, registry: SampleRegistry) -> None:
    with pytest.raises(SampleError) as err:
        parse_expr(text, registry)
    assert err.value.hint == hint
    if hint:
        assert str(err.value).endswith(f"(did you mean '{hint}'?)")


def test_converter_on_an_uncastable_value_gives_no_sample(registry: SampleRegistry) -> None:
    assert value("str(abc),ipmask(24)", registry) is None
    assert value("str(),add(1)", registry) is None
    assert value("var(txn.x),add(1)", registry) is None
    ctx = http_stream()
    ctx.vars.set("txn.bin", parse_expr("bin(0102)", registry).evaluate(ctx))  # type: ignore[arg-type]
    assert value("var(txn.bin),add(1)", registry, ctx) is None
    assert value("var(txn.bin),hex", registry, ctx) == "0102"


def test_missing_sample_anywhere_gives_none(registry: SampleRegistry) -> None:
    assert value("req.hdr(nope),lower,upper", registry) is None
    assert value("path", registry, Stream()) is None


def test_out_type_and_introspection(registry: SampleRegistry) -> None:
    expr = parse_expr("req.hdr(host),lower,length", registry)
    assert expr.out_type is SampleType.SINT
    assert expr.fetch.name == "req.hdr"
    assert expr.converters == ("lower", "length")
    assert expr.args == ["host"]
    assert repr(expr) == "SampleExpr('req.hdr(host),lower,length')"
    assert parse_expr("src", registry).out_type is SampleType.ADDR


def test_prefix_parsing_stops_where_the_expression_ends(registry: SampleRegistry) -> None:
    expr, end = parse_expr_prefix("%[str(a),upper] tail", 2, registry)
    assert end == len("%[str(a),upper")
    assert to_text(expr.evaluate(Stream())) == "A"


def test_hdr_follows_the_evaluation_direction(registry: SampleRegistry) -> None:
    ctx = http_stream()
    ctx.response = response(200, [("X-A", "from-response")])
    expr = parse_expr("hdr(x-a)", registry)
    assert to_text(expr.evaluate(ctx)) == "a3"
    assert to_text(expr.evaluate(ctx, res=True)) == "from-response"
    assert [to_text(s) for s in expr.evaluate_all(ctx, res=True)] == ["from-response"]


def test_evaluate_all_yields_each_occurrence_through_converters(registry: SampleRegistry) -> None:
    ctx = http_stream()
    assert [s.value for s in parse_expr("req.hdr(x-a),upper", registry).evaluate_all(ctx)] == ["A1", "A2", "A3"]
    assert [s.value for s in parse_expr("req.hdr(x-a,2)", registry).evaluate_all(ctx)] == ["a2"]
    assert [s.value for s in parse_expr("req.fhdr(x-a)", registry).evaluate_all(ctx)] == ["a1, a2", "a3"]
    assert [s.value for s in parse_expr("req.cook(a)", registry).evaluate_all(ctx)] == ["1", "3"]
    assert [s.value for s in parse_expr("src", registry).evaluate_all(ctx)] == [bytes([192, 168, 1, 10])]
    assert list(parse_expr("req.hdr(nope)", registry).evaluate_all(ctx)) == []
