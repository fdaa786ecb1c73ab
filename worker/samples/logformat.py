"""Log-format strings: literal text, ``%[expr]``, ``%%``, ``%{+Q,+E,+X}`` flags and ``%var`` variables.

Two rendering modes, as in HAProxy: *mandatory* (log lines) prints '-' for a
missing or empty value and honours +Q on expressions; the HTTP mode (headers,
``lf-string``) prints nothing for a missing value and %-encodes control
characters so the text fits in a header.  Spaces are separators, as in
HAProxy: a run of them prints one space, and only when something other than
an empty capture (%hr, %hs) came since the start or the previous space.
Variables come from ``LOG_VARIABLES``, a table of name -> how to read and print
it; the traffic ones read the Transaction's timers and counters, and print
HAProxy's placeholder for what luaproxy does not track.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .args import Origin
from .context import SampleContext
from .errors import SampleError
from .expr import SampleExpr, parse_expr_prefix
from .fetch_ssl import front, front_cipher, front_version
from .library import PatternLibrary
from .registry import SampleRegistry
from .types import ip_sample, to_text

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HOSTNAME = socket.gethostname()

Getter = Callable[[SampleContext], str | int | None]


@dataclass(frozen=True, slots=True)
class LogVar:
    """A %-variable: how to read it and how to print it.

    Kinds: 'str' (+Q quotes, '""' when empty), 'num' (+X prints *hex_width*
    hex digits when set, *pad* zero-pads), 'ip', 'date' and 'raw' (never
    quoted), 'enc' (request parts: '"', '#' and control bytes as #XX, nothing
    when empty) and 'opt' (captures: nothing when empty).  *http* marks the
    variables HAProxy reserves for HTTP mode.
    """

    getter: Getter
    kind: str
    hex_width: int = 0
    http: bool = False
    pad: int = 0


def _retries(ctx: SampleContext) -> str:
    """Connection retries, with a "+" once ``option redispatch`` moved one to another server."""
    return ("+" if getattr(ctx, "redispatched", False) else "") + str(ctx.retries)


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


def _ms(seconds: float) -> int:
    """A timer in milliseconds; -1 when its step was never reached."""
    return int(seconds * 1000) if seconds >= 0 else -1


def _served_locally(ctx: Any) -> bool:
    """A Lua service answered: HAProxy counts its queue, connect and response times as 0."""
    return getattr(ctx, "applet", None) is not None


def _t_wait(ctx: Any) -> int:
    if ctx.server is not None or _served_locally(ctx):
        return 0
    return _ms(getattr(ctx, "t_queue", -1.0))


def _t_connect(ctx: Any) -> int:
    return 0 if _served_locally(ctx) else _ms(ctx.t_connect)


def _t_response(ctx: Any) -> int:
    return 0 if _served_locally(ctx) else _ms(ctx.t_response)


def _t_data(ctx: Any) -> int:
    """%Td: the time spent moving data, the total less the steps before it (-1 if one never happened)."""
    steps = [_t_wait(ctx), _t_connect(ctx)]
    if getattr(ctx, "http_mode", False):
        steps += [_ms(ctx.t_request), _t_response(ctx)]
    total = _ms(ctx.t_active)
    return -1 if total < 0 or min(steps) < 0 else max(total - sum(steps), 0)


def _active_conns(ctx: SampleContext) -> int:
    """Connections on the frontends this stream can see (the access log passes the worker's exact count)."""
    proxies = {id(p): p for p in (ctx.frontend, *ctx.proxies.values())}
    return sum(p.current_conns for p in proxies.values())


def _backend_conns(ctx: SampleContext) -> int:
    counters = getattr(ctx.backend, "be_counters", None)
    return counters.current if counters is not None else 0


def _request_line(ctx: SampleContext) -> str | None:
    req = ctx.request
    return None if req is None else f"{req.method} {req.target} {req.version}"


def _request_part(part: Callable[[Any], str]) -> Getter:
    return lambda ctx: None if ctx.request is None else part(ctx.request)


def _captures(ctx: SampleContext, side: str, frame: str, separator: str, missing: str) -> str:
    """The captured headers of one side ('capture request|response header'), as %hr/%hrl show them."""
    values = getattr(ctx, "captures", {}).get(side)
    return frame % separator.join(missing if v is None else v for v in values) if values else ""


def _path_only(target: str) -> str:
    """The path of a request target, without scheme, authority or query (%HPO)."""
    path = target.split("?", 1)[0]
    if "://" in path:
        path = path.split("://", 1)[1]
        path = path[path.find("/"):] if "/" in path else "/"
    return path


def _http(getter: Getter, kind: str = "num") -> LogVar:
    return LogVar(getter, kind, http=True)


LOG_VARIABLES: dict[str, LogVar] = {
    "ci": LogVar(lambda ctx: ctx.src, "ip"),
    "cp": LogVar(lambda ctx: ctx.src_port, "num", 4),
    "fi": LogVar(lambda ctx: ctx.dst, "ip"),
    "fp": LogVar(lambda ctx: ctx.dst_port, "num", 4),
    "f": LogVar(lambda ctx: ctx.frontend.name, "str"),
    "ft": LogVar(lambda ctx: ctx.frontend.name + ("~" if front(ctx) is not None else ""), "str"),
    "b": LogVar(_backend_name, "str"),
    "s": LogVar(lambda ctx: ctx.server.name if ctx.server else getattr(ctx, "applet", None) or "<NOSRV>", "str"),
    "pid": LogVar(lambda ctx: os.getpid(), "num", 4),
    "H": LogVar(lambda ctx: _HOSTNAME, "str"),
    "Ts": LogVar(lambda ctx: int(ctx.accept_date), "num", 8),
    "t": LogVar(_accept_ms, "date"),
    "T": LogVar(lambda ctx: _date(ctx, False), "date"),
    "Tl": LogVar(lambda ctx: _date(ctx, True), "date"),
    "tr": _http(_accept_ms, "date"),
    "trg": _http(lambda ctx: _date(ctx, False), "date"),
    "trl": _http(lambda ctx: _date(ctx, True), "date"),
    "ms": LogVar(lambda ctx: int(ctx.accept_date * 1000) % 1000, "num", 2, pad=3),
    "TR": _http(lambda ctx: _ms(ctx.t_request)),
    "Tq": _http(lambda ctx: _ms(ctx.t_request)),
    "Th": LogVar(lambda ctx: 0, "num"),
    "Ti": _http(lambda ctx: 0),
    "Tw": LogVar(_t_wait, "num"),
    "Tc": LogVar(_t_connect, "num"),
    "Tr": _http(_t_response),
    "Ta": _http(lambda ctx: _ms(ctx.t_active)),
    "Tt": LogVar(lambda ctx: _ms(ctx.t_active), "num"),
    "Td": LogVar(_t_data, "num"),
    "ST": LogVar(lambda ctx: ctx.status or (-1 if getattr(ctx, "http_mode", False) else 0), "num"),
    # -1: an HTTP transaction that got no response, as HAProxy logs it (TCP streams log 0)
    "B": LogVar(lambda ctx: ctx.bytes_out if getattr(ctx, "bytes_logged", None) is None else ctx.bytes_logged,
                "num"),
    "U": LogVar(lambda ctx: ctx.bytes_in, "num"),
    "CC": _http(lambda ctx: None, "str"),
    "CS": _http(lambda ctx: None, "str"),
    "ts": LogVar(lambda ctx: ctx.termination, "raw"),
    "tsc": LogVar(lambda ctx: ctx.termination + (ctx.cookie.flags if getattr(ctx, "cookie", None) else "--"),
                  "raw"),
    "ac": LogVar(_active_conns, "num"),
    "fc": LogVar(lambda ctx: ctx.frontend.current_conns, "num"),
    "bc": LogVar(_backend_conns, "num"),
    "sc": LogVar(lambda ctx: ctx.server.current_conns if ctx.server else 0, "num"),
    "rc": LogVar(_retries, "raw"),
    "sq": LogVar(lambda ctx: 0, "num"),
    "bq": LogVar(lambda ctx: 0, "num"),
    "hr": LogVar(lambda ctx: _captures(ctx, "request", "{%s}", "|", ""), "opt"),
    "hs": LogVar(lambda ctx: _captures(ctx, "response", "{%s}", "|", ""), "opt"),
    "hrl": LogVar(lambda ctx: _captures(ctx, "request", "%s", " ", "-"), "opt"),
    "hsl": LogVar(lambda ctx: _captures(ctx, "response", "%s", " ", "-"), "opt"),
    "r": _http(_request_line, "enc"),
    "HM": _http(_request_part(lambda req: req.method), "enc"),
    "HU": _http(_request_part(lambda req: req.target), "enc"),
    "HV": _http(_request_part(lambda req: req.version), "enc"),
    "HP": _http(_request_part(lambda req: req.target.split("?", 1)[0]), "enc"),
    "HPO": _http(_request_part(lambda req: _path_only(req.target)), "enc"),
    "HQ": _http(_request_part(lambda req: req.target[req.target.find("?"):] if "?" in req.target else ""), "enc"),
    "ID": LogVar(lambda ctx: ctx.unique_id() if hasattr(ctx, "unique_id") else None, "str"),
    "rt": LogVar(lambda ctx: None, "num", 4),
    "lc": LogVar(lambda ctx: None, "num", 4),
    "bi": LogVar(lambda ctx: None, "ip"),
    "bp": LogVar(lambda ctx: None, "num", 4),
    "si": LogVar(lambda ctx: ctx.server.host if ctx.server else None, "ip"),
    "sp": LogVar(lambda ctx: ctx.server.port if ctx.server else None, "num", 4),
    "sslc": LogVar(front_cipher, "str"),
    "sslv": LogVar(front_version, "str"),
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


@dataclass(frozen=True, slots=True)
class _Separator:
    """A run of spaces: one space, unless only empty captures ('opt') came since the last one."""


_SEPARATOR = _Separator()
_Node = _Literal | _Expr | _Var | _Separator
_LOG_UNSAFE = frozenset('"#')


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _http_encode(text: str) -> str:
    """Header-safe text: control characters (but tab) and DEL as %XX."""
    if text.isprintable():
        return text
    return "".join(f"%{ord(c):02X}" if (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F else c for c in text)


def _log_encode(text: str) -> str:
    """A request part as HAProxy logs it: '"', '#', control and non-ASCII bytes as #XX."""
    if text.isascii() and text.isprintable() and _LOG_UNSAFE.isdisjoint(text):
        return text
    data = text.encode("latin-1", "replace")
    return "".join(f"#{b:02X}" if b < 0x20 or b >= 0x7F or b in (0x22, 0x23) else chr(b) for b in data)


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

    @property
    def variables(self) -> list[str]:
        """The %-variables used, in order (the config layer checks the HTTP-only ones)."""
        return [n.name for n in self._nodes if isinstance(n, _Var)]

    def render(self, ctx: SampleContext, overrides: Mapping[str, str | int | None] | None = None) -> str:
        """The text for *ctx*; *overrides* gives variables the caller knows better (the access log's counters)."""
        out: list[str] = []
        spaced = True
        for node in self._nodes:
            if isinstance(node, _Separator):
                if not spaced:
                    out.append(" ")
                    spaced = True
                continue
            if isinstance(node, _Literal):
                text = node.text
            elif isinstance(node, _Expr):
                text = self._render_expr(ctx, node)
            else:
                value = overrides[node.name] if overrides and node.name in overrides else node.var.getter(ctx)
                text = self._render_var(value, node)
            out.append(text)
            if text or not isinstance(node, _Var) or node.var.kind != "opt":
                spaced = False
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

    def _render_var(self, value: str | int | None, node: _Var) -> str:
        var, kind, quote = node.var, node.var.kind, "Q" in node.flags
        if value is None or value == "":
            if kind == "opt" or (kind == "enc" and not quote):
                return ""
            if quote and kind in ("str", "enc"):
                return '""'
            return "-" if self.mandatory else ""
        if kind == "num":
            number = int(value)
            if "X" in node.flags and var.hex_width:
                return f"{number:0{var.hex_width}X}"
            return f"{number:0{var.pad}d}"
        if kind == "ip" and "X" in node.flags:
            smp = ip_sample(str(value))
            text = smp.value.hex().upper() if smp is not None else str(value)
        else:
            text = str(value)
        if kind in ("date", "raw"):
            return text
        if kind == "enc":
            text = _log_encode(text)
        if "E" in node.flags:
            text = _escape(text)
        return f'"{text}"' if quote else text


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
        if ch == " ":
            if literal:
                nodes.append(_Literal("".join(literal)))
                literal = []
            if not nodes or nodes[-1] is not _SEPARATOR:
                nodes.append(_SEPARATOR)
            i += 1
            continue
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
