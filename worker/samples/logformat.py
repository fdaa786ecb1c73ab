"""Log-format strings: literal text, ``%[expr]``, ``%%``, ``%{+Q,+E,+X}`` flags and ``%var`` variables.

Two rendering modes, as in HAProxy: *mandatory* (log lines) prints '-' for a
missing or empty value and honours +Q on expressions; the HTTP mode (headers,
``lf-string``) prints nothing for a missing value and %-encodes control
characters so the text fits in a header.  Variables come from ``LOG_VARIABLES``,
a table of name -> (getter, kind); later issues add entries to it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from .args import Origin
from .context import SampleContext
from .errors import SampleError
from .expr import SampleExpr, parse_expr_prefix
from .library import PatternLibrary
from .registry import SampleRegistry
from .types import ip_sample, to_text

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HOSTNAME = socket.gethostname()

Getter = Callable[[SampleContext], str | int | None]


@dataclass(frozen=True, slots=True)
class LogVar:
    """A %-variable: how to read it and how to print it ('str', 'num', 'ip', 'date')."""

    getter: Getter
    kind: str
    hex_width: int = 0


def _date(ctx: SampleContext, local: bool) -> str:
    t = time.localtime(ctx.accept_date) if local else time.gmtime(ctx.accept_date)
    offset = t.tm_gmtoff if local else 0
    sign = "+" if offset >= 0 else "-"
    zone = f"{sign}{abs(offset) // 3600:02d}{abs(offset) % 3600 // 60:02d}"
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {zone}"


def _accept_ms(ctx: SampleContext) -> str:
    t = time.localtime(ctx.accept_date)
    ms = int(ctx.accept_date * 1000) % 1000
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{ms:03d}"


def _backend_name(ctx: SampleContext) -> str:
    return (ctx.backend or ctx.frontend).name


LOG_VARIABLES: dict[str, LogVar] = {
    "ci": LogVar(lambda ctx: ctx.src, "ip"),
    "cp": LogVar(lambda ctx: ctx.src_port, "num", 4),
    "fi": LogVar(lambda ctx: ctx.dst, "ip"),
    "fp": LogVar(lambda ctx: ctx.dst_port, "num", 4),
    "f": LogVar(lambda ctx: ctx.frontend.name, "str"),
    "ft": LogVar(lambda ctx: ctx.frontend.name, "str"),
    "b": LogVar(_backend_name, "str"),
    "s": LogVar(lambda ctx: ctx.server.name if ctx.server else "<NOSRV>", "str"),
    "pid": LogVar(lambda ctx: os.getpid(), "num", 4),
    "H": LogVar(lambda ctx: _HOSTNAME, "str"),
    "Ts": LogVar(lambda ctx: int(ctx.accept_date), "num", 8),
    "t": LogVar(_accept_ms, "date"),
    "T": LogVar(lambda ctx: _date(ctx, False), "date"),
    "Tl": LogVar(lambda ctx: _date(ctx, True), "date"),
}


@dataclass(frozen=True, slots=True)
class _Literal:
    text: str


@dataclass(frozen=True, slots=True)
class _Expr:
    expr: SampleExpr
    flags: frozenset[str]


@dataclass(frozen=True, slots=True)
class _Var:
    name: str
    var: LogVar
    flags: frozenset[str]


_Node = _Literal | _Expr | _Var


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _http_encode(text: str) -> str:
    """Header-safe text: control characters (but tab) and DEL as %XX."""
    if text.isprintable():
        return text
    return "".join(f"%{ord(c):02X}" if (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F else c for c in text)


class LogFormat:
    """A parsed log-format string; ``render(ctx)`` builds the text."""

    __slots__ = ("_nodes", "mandatory", "text")

    def __init__(self, text: str, nodes: list[_Node], mandatory: bool) -> None:
        self.text = text
        self._nodes = tuple(nodes)
        self.mandatory = mandatory

    def __repr__(self) -> str:
        return f"LogFormat({self.text!r})"

    @property
    def expressions(self) -> list[SampleExpr]:
        return [n.expr for n in self._nodes if isinstance(n, _Expr)]

    def render(self, ctx: SampleContext) -> str:
        out: list[str] = []
        for node in self._nodes:
            if isinstance(node, _Literal):
                out.append(node.text)
            elif isinstance(node, _Expr):
                out.append(self._render_expr(ctx, node))
            else:
                out.append(self._render_var(ctx, node))
        return "".join(out)

    def _render_expr(self, ctx: SampleContext, node: _Expr) -> str:
        text = to_text(node.expr.evaluate(ctx))
        quote = self.mandatory and "Q" in node.flags
        if not text:
            return '""' if quote else ("-" if self.mandatory else "")
        if "E" in node.flags:
            text = _escape(text)
        if not self.mandatory:
            return _http_encode(text)
        return f'"{text}"' if quote else text

    def _render_var(self, ctx: SampleContext, node: _Var) -> str:
        value = node.var.getter(ctx)
        kind = node.var.kind
        if value is None or value == "":
            return "-" if self.mandatory else ""
        if kind == "num":
            number = int(value)
            return f"{number:0{node.var.hex_width}X}" if "X" in node.flags else str(number)
        if kind == "ip" and "X" in node.flags:
            smp = ip_sample(str(value))
            text = smp.value.hex().upper() if smp is not None else str(value)
        else:
            text = str(value)
        if kind == "date":
            return text
        if "E" in node.flags:
            text = _escape(text)
        return f'"{text}"' if "Q" in node.flags else text


def _parse_flags(text: str, default: frozenset[str]) -> frozenset[str]:
    flags = set(default)
    for item in text.split(","):
        if len(item) >= 2 and item[0] in "+-":
            if item[0] == "+":
                flags.add(item[1:])
            else:
                flags.discard(item[1:])
    return frozenset(flags)


def parse_log_format(
    text: str,
    registry: SampleRegistry,
    library: PatternLibrary | None = None,
    *,
    mandatory: bool = False,
    origin: Origin | None = None,
) -> LogFormat:
    """Parse a log-format string; *mandatory* selects log-line rendering ('-' for missing values)."""
    nodes: list[_Node] = []
    literal: list[str] = []
    defaults: frozenset[str] = frozenset()
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "%":
            literal.append(ch)
            i += 1
            continue
        i += 1
        if i >= n:
            raise SampleError("truncated line after '%'.")
        if text[i] == "%":
            literal.append("%")
            i += 1
            continue
        flags = defaults
        if text[i] == "{":
            close = text.find("}", i)
            if close < 0:
                raise SampleError("missing '}' after '%{'.")
            flags = _parse_flags(text[i + 1 : close], defaults)
            i = close + 1
        if literal:
            nodes.append(_Literal("".join(literal)))
            literal = []
        if i < n and text[i] == "[":
            expr, end = parse_expr_prefix(text, i + 1, registry, library, origin=origin)
            if end >= n:
                raise SampleError(f"missing ']' after '{text[i + 1 : end]}'.")
            if text[end] != "]":
                raise SampleError(f"expected ']' after '{text[i + 1 : end]}', but found '{text[end]}'.")
            nodes.append(_Expr(expr, flags))
            i = end + 1
            continue
        start = i
        while i < n and text[i].isalpha():
            i += 1
        name = text[start:i]
        if name == "o":
            defaults = flags
            continue
        var = LOG_VARIABLES.get(name)
        if var is None:
            raise SampleError(
                f"no such format variable '{name}'. If you wanted to emit the '%' character verbatim, "
                "you need to use '%%'."
            )
        nodes.append(_Var(name, var, flags))
    if literal:
        nodes.append(_Literal("".join(literal)))
    return LogFormat(text, nodes, mandatory)
