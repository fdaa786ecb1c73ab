"""Log-format strings: literals, %[expr], %%, flags, %o, variables, both rendering modes.

The expected texts were produced by haproxy 2.6: log lines through
``log stdout format raw`` with ``log-format``, header-style rendering through
``http-request return ... lf-string``.
"""

from __future__ import annotations

import os
import socket
import time

import pytest

from luaproxy.worker.samples import LOG_VARIABLES, LogVar, SampleError, SampleRegistry, parse_log_format
from tests.samples.streamkit import Proxy, Server, Stream, http_stream


def render(text: str, registry: SampleRegistry, ctx: Stream | None = None, mandatory: bool = True) -> str:
    return parse_log_format(text, registry, mandatory=mandatory).render(ctx or http_stream())


def test_log_line_rendering(registry: SampleRegistry) -> None:
    text = (
        "[%[var(txn.nope)]] [%[str()]] [%{+Q}[var(txn.nope)]] [%{+Q}[str()]] [%{+Q}[str(ab)]] "
        "[%{+E}[str(a]b)]] [%%] [%[str(x)]]"
    )
    assert render(text, registry) == '[-] [-] [""] [""] ["ab"] [a\\]b] [%] [x]'


def test_header_rendering(registry: SampleRegistry) -> None:
    ctx = Stream()
    assert render("[%[var(txn.nope)]][%{+Q}[str(ab)]]", registry, ctx, mandatory=False) == "[][ab]"
    assert render("%[str(a%0d%0a%09b%7f%25),url_dec]", registry, ctx, mandatory=False) == "a%0D%0A\tb%7F%"
    assert render("%{+E}[str(a%22b%5cc%5dd),url_dec]", registry, ctx, mandatory=False) == 'a\\"b\\\\c\\]d'
    assert render("%[str(a%0ab),url_dec]", registry, ctx) == "a\nb"


def test_variables(registry: SampleRegistry) -> None:
    ctx = http_stream()
    ctx.src, ctx.src_port, ctx.dst, ctx.dst_port = "127.0.0.1", 38140, "127.0.0.1", 40183
    out = render("%ci|%{+X}ci|%cp|%{+X}cp|%{+Q}ci|%{+Q}cp|%fi:%fp|%f|%ft|%b|%s|%{+Q}b", registry, ctx)
    assert out == '127.0.0.1|7F000001|38140|94FC|"127.0.0.1"|38140|127.0.0.1:40183|fe|fe|be|s1|"be"'
    ctx.server = None
    ctx.backend = None
    assert render("%b %s %{+Q}s", registry, ctx) == 'fe <NOSRV> "<NOSRV>"'
    assert render("%pid %{+X}pid %H", registry, ctx) == f"{os.getpid()} {os.getpid():04X} {socket.gethostname()}"
    ctx.accept_date = 1795321444.201
    assert render("%Ts %{+X}Ts", registry, ctx) == "1795321444 6B026E64"
    local = time.localtime(1795321444)
    assert render("%t", registry, ctx) == time.strftime("%d/%b/%Y:%H:%M:%S", local) + ".201"
    assert render("%T", registry, ctx) == "22/Nov/2026:04:24:04 +0000"
    assert render("%Tl", registry, ctx).startswith(time.strftime("%d/%b/%Y:%H:%M:%S", local))
    ctx.src = None
    assert render("%ci", registry, ctx) == "-"
    assert render("[%ci]", registry, ctx, mandatory=False) == "[]"


def test_o_applies_flags_to_what_follows(registry: SampleRegistry) -> None:
    ctx = Stream(frontend=Proxy("fe"), server=Server("web1"))
    # haproxy 2.6 prints this format with one space after "fe" (runs of spaces are one separator).
    assert render("%b %{+Q}o %b %[str(x)] %cp %{-Q}s", registry, ctx) == 'fe "fe" "x" 51234 web1'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("%z", "no such format variable 'z'. If you wanted to emit the '%' character verbatim, you need to use '%%'."),
        ("%[str(a)]%", "truncated line after '%'."),
        ("%[str(a)", "missing ']' after 'str(a)'."),
        ("%[str(a)),lower]", "expected ']' after 'str(a)', but found ')'."),
        ("%[str(a)x,lower]", "expected ']' after 'str(a)', but found 'x'."),
        ("%[ str(a)]", "missing fetch method"),
        ("%[foo]", "unknown fetch method 'foo'"),
        ("%{+Q", "missing '}' after '%{'."),
    ],
)
def test_errors(text: str, message: str, registry: SampleRegistry) -> None:
    with pytest.raises(SampleError) as err:
        parse_log_format(text, registry)
    assert err.value.message == message


def test_unknown_flags_are_ignored_and_expressions_listed(registry: SampleRegistry) -> None:
    fmt = parse_log_format("%{+Z}[str(a)] %[src]", registry)
    assert [e.text for e in fmt.expressions] == ["str(a)", "src"]
    assert fmt.render(Stream()) == "a 192.168.1.10"
    assert repr(fmt) == "LogFormat('%{+Z}[str(a)] %[src]')"


def test_variable_table_is_the_extension_hook(registry: SampleRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(LOG_VARIABLES, "rt", LogVar(lambda ctx: 7, "num", 4))
    assert render("%rt %{+X}rt", registry) == "7 0007"
