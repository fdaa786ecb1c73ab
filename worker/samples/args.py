"""Fetch and converter arguments: the typed spec, the lexer and the parsers.

Arguments follow HAProxy 2.6's ``make_arg_list``: they sit between parentheses,
are separated by commas, may be single- or double-quoted (the quotes are
removed), and a backslash escapes a quote or a backslash.  Each argument is then
parsed to its declared type, and an optional ``check`` function validates or
rewrites the whole list (HAProxy's ``val_args``).  Error texts are HAProxy's.
"""

from __future__ import annotations

import enum
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import SampleError

if TYPE_CHECKING:
    from .library import PatternLibrary

Origin = tuple[str, int]  # (config file, line) for "used by ... at file X line N"


class ArgType(enum.Enum):
    """Argument types; the value is the name HAProxy prints in errors."""

    SINT = "integer"
    STR = "string"
    BE = "backend"
    FE = "frontend"
    REG = "regex"
    VAR = "variable"
    IPV4 = "IPv4 address"
    MSK4 = "IPv4 mask"
    IPV6 = "IPv6 address"
    MSK6 = "IPv6 mask"


@dataclass(slots=True)
class ParseEnv:
    """What argument checks may need while an expression is parsed."""

    library: PatternLibrary | None = None
    origin: Origin | None = None


Check = Callable[[list[Any], ParseEnv], list[Any]]


@dataclass(frozen=True, slots=True)
class ArgSpec:
    """Declared argument types, how many are mandatory, and an optional whole-list check."""

    types: tuple[ArgType, ...] = ()
    required: int = 0
    check: Check | None = field(default=None, compare=False)

    def signature(self) -> str:
        """The argument list as the catalogue shows it, e.g. ``(integer,string[,integer])``."""
        if not self.types:
            return ""
        head = ",".join(t.value for t in self.types[: self.required])
        tail = "".join(f"[,{t.value}]" for t in self.types[self.required :])
        if not head:
            tail = tail.replace("[,", "[", 1)
        return f"({head}{tail})"


NO_ARGS = ArgSpec()


def arg_spec(*types: ArgType, required: int | None = None, check: Check | None = None) -> ArgSpec:
    return ArgSpec(tuple(types), len(types) if required is None else required, check)


@dataclass(frozen=True, slots=True)
class RawArgs:
    """Arguments as written: their unquoted texts, and where the list ended."""

    texts: tuple[str, ...]
    starts: tuple[int, ...]  # offset of each argument in the source text
    end: int  # offset just past the closing ')'


def split_args(text: str, pos: int) -> RawArgs:
    """Lex the argument list whose '(' is at text[pos]; raise SampleError("expected ')'")."""
    texts: list[str] = []
    starts: list[int] = []
    i = pos + 1
    n = len(text)
    if i < n and text[i] == ")":
        return RawArgs((), (), i + 1)
    while True:
        starts.append(i)
        buf: list[str] = []
        squote = dquote = False
        while i < n:
            ch = text[i]
            if ch == "\\" and not squote and i + 1 < n and text[i + 1] in "\\\"'":
                buf.append(text[i + 1])
                i += 2
                continue
            if ch == '"' and not squote:
                dquote = not dquote
            elif ch == "'" and not dquote:
                squote = not squote
            elif not squote and not dquote and ch in ",)":
                break
            else:
                buf.append(ch)
            i += 1
        texts.append("".join(buf))
        if i >= n:
            raise SampleError("expected ')'")
        if text[i] == ")":
            return RawArgs(tuple(texts), tuple(starts), i + 1)
        i += 1


def parse_sint(text: str) -> int | None:
    """A whole signed decimal integer, or None."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isdigit() or not body.isascii():
        return None
    return int(text)


def parse_mask4(text: str) -> int | None:
    """An IPv4 mask, dotted or CIDR, as a 32-bit int."""
    if text.isdigit() and text.isascii():
        bits = int(text)
        return None if bits > 32 else (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError):
        return None


def parse_mask6(text: str) -> int | None:
    """An IPv6 mask, as a prefix length or in address form, as a 128-bit int."""
    full = (1 << 128) - 1
    if text.isdigit() and text.isascii():
        bits = int(text)
        return None if bits > 128 else (full << (128 - bits)) & full
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except (OSError, ValueError):
        return None


def _inet(family: int) -> Callable[[str], bytes | None]:
    def parse(text: str) -> bytes | None:
        try:
            return socket.inet_pton(family, text)
        except (OSError, ValueError):
            return None

    return parse


_PARSERS: dict[ArgType, Callable[[str], Any]] = {
    ArgType.SINT: parse_sint,
    ArgType.IPV4: _inet(socket.AF_INET),
    ArgType.IPV6: _inet(socket.AF_INET6),
    ArgType.MSK4: parse_mask4,
    ArgType.MSK6: parse_mask6,
}


def where(kind: str, name: str, position: int | None = None) -> str:
    """HAProxy's error prefix for an argument problem in a fetch or converter."""
    if kind == "converter":
        return (
            f"invalid arg {position} in converter '{name}' : " if position else f"invalid args in converter '{name}' : "
        )
    if position is None:
        return f"invalid args in {kind} '{name}' : "
    return f"{kind} '{name}' : "


def parse_args(spec: ArgSpec, raw: Sequence[str], kind: str, name: str, env: ParseEnv, rest: str = "") -> list[Any]:
    """Type every raw argument per *spec*, then run its check; *rest* is the text after
    the last allowed argument, quoted in the "too many arguments" error."""
    if len(raw) > len(spec.types):
        raise SampleError(where(kind, name, len(spec.types) or 1) + f"expected ')' before '{rest}'")
    if not raw and spec.required:
        first = spec.types[0].value
        raise SampleError(where(kind, name, 1) + f"expected type '{first}' at position 1, but got nothing")
    if len(raw) < spec.required:
        missing = spec.types[len(raw)]
        raise SampleError(
            where(kind, name, len(raw) + 1)
            + f"missing arguments (got {len(raw)}/{spec.required}), type '{missing.value}' expected"
        )
    values: list[Any] = []
    for index, (text, type_) in enumerate(zip(raw, spec.types, strict=False), start=1):
        parser = _PARSERS.get(type_)
        if parser is None:
            values.append(text)
            continue
        if not text:
            raise SampleError(
                where(kind, name, index) + f"expected type '{type_.value}' at position {index}, but got nothing"
            )
        value = parser(text)
        if value is None:
            raise SampleError(
                where(kind, name, index) + f"failed to parse '{text}' as type '{type_.value}' at position {index}"
            )
        values.append(value)
    if spec.check is not None:
        try:
            values = spec.check(values, env)
        except SampleError as err:
            raise SampleError(where(kind, name) + err.message, err.hint) from None
    return values
