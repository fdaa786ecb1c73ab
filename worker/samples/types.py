"""Sample types, the ``Sample`` value and HAProxy's implicit casts.

A sample is a (type, value) pair.  Values are plain Python objects chosen so a
cast is cheap: ``bool`` for booleans, ``int`` (signed 64-bit range) for
integers, packed ``bytes`` (4 or 16) for addresses, latin-1 ``str`` for
strings and methods, ``bytes`` for binary blocks.  The cast table follows
HAProxy 2.6's ``sample_casts``: a missing entry means the pair cannot be
converted, which the expression parser reports and the runtime turns into "no
sample".
"""

from __future__ import annotations

import enum
import re
import socket
from collections.abc import Callable
from typing import Any

INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)


class SampleType(enum.Enum):
    """HAProxy's sample types; the value is the name HAProxy prints."""

    __hash__ = object.__hash__
    """Members are singletons: identity hashing spares the Python-level Enum.__hash__ on every set or dict lookup."""

    ANY = "any"
    BOOL = "boolean"
    SINT = "integer"
    ADDR = "ip"
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    STR = "string"
    BIN = "binary"
    METH = "method"

    @property
    def label(self) -> str:
        return self.value


T = SampleType


class Sample:
    """One fetched or converted value with its type."""

    __slots__ = ("type", "value")

    def __init__(self, type_: SampleType, value: Any) -> None:
        self.type = type_
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sample) and other.type is self.type and other.value == self.value

    __hash__ = None

    def __repr__(self) -> str:
        return f"Sample({self.type.name}, {self.value!r})"


def clamp64(value: int) -> int:
    """Saturate to the signed 64-bit range, as HAProxy's arithmetic does."""
    if value > INT64_MAX:
        return INT64_MAX
    if value < INT64_MIN:
        return INT64_MIN
    return value


def wrap64(value: int) -> int:
    """Wrap to the signed 64-bit range (two's complement), as C casts do."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >> 63 else value


_LEADING_INT = re.compile(r"[-+]?([0-9]*)")


def leading_int(text: str) -> int:
    """HAProxy's read_int64: optional sign then leading digits, saturated; '12ab' is 12, 'ab' is 0."""
    m = _LEADING_INT.match(text)
    digits = m.group(1) if m else ""
    value = int(digits) if digits else 0
    return clamp64(-value if text[:1] == "-" else value)


def parse_ipv4(text: str) -> bytes | None:
    """HAProxy's buf2ip: a dotted quad, parsing stops at the first other character."""
    try:
        return socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError):
        pass
    octets: list[int] = []
    current = -1
    for ch in text:
        if "0" <= ch <= "9":
            current = (0 if current < 0 else current * 10) + ord(ch) - 48
            if current > 255:
                return None
        elif ch == ".":
            if current < 0 or len(octets) == 3:
                return None
            octets.append(current)
            current = -1
        else:
            break
    if current < 0 or len(octets) != 3:
        return None
    octets.append(current)
    return bytes(octets)


def parse_ipv6(text: str) -> bytes | None:
    try:
        return socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):
        return None


def ip_text(packed: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(packed) == 4 else socket.AF_INET6, packed)


def ip_sample(text: str | None) -> Sample | None:
    """The address sample for a textual IPv4 or IPv6 address (None if not one)."""
    if not text:
        return None
    v4 = _strict_ipv4(text)
    if v4 is not None:
        return Sample(T.IPV4, v4)
    v6 = parse_ipv6(text)
    return Sample(T.IPV6, v6) if v6 is not None else None


def _strict_ipv4(text: str) -> bytes | None:
    try:
        return socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError):
        return None


_V4_MAPPED = b"\0" * 10 + b"\xff\xff"
_V4_COMPAT = b"\0" * 12


def v6_to_v4(packed: bytes) -> bytes | None:
    """HAProxy's v6tov4 (casts, ipmask): only an IPv4-mapped ::ffff:a.b.c.d carries an IPv4 address."""
    return packed[12:] if packed[:12] == _V4_MAPPED else None


def embedded_v4(packed: bytes) -> bytes | None:
    """The IPv4 address in ::ffff:a.b.c.d, ::a.b.c.d or 2002:AABB:CCDD:: (how ip patterns read IPv6)."""
    if packed[:12] in (_V4_MAPPED, _V4_COMPAT):
        return packed[12:]
    if packed[:2] == b"\x20\x02":
        return packed[2:6]
    return None


def v4_to_v6(packed: bytes) -> bytes:
    return _V4_MAPPED + packed


def _int_to_bin(v: int) -> bytes:
    return (v & ((1 << 64) - 1)).to_bytes(8, "big")


def _bin_to_str(v: bytes) -> str:
    nul = v.find(b"\0")
    return (v if nul < 0 else v[:nul]).decode("latin-1")


def _str_to_int(v: str) -> int | None:
    return leading_int(v) if v else None


def _str_to_addr(v: str) -> Sample | None:
    v4 = parse_ipv4(v)
    if v4 is not None:
        return Sample(T.IPV4, v4)
    v6 = parse_ipv6(v)
    return Sample(T.IPV6, v6) if v6 is not None else None


def _typed(type_: SampleType, convert: Callable[[Any], Any]) -> Callable[[Sample], Sample | None]:
    def cast_one(smp: Sample) -> Sample | None:
        value = convert(smp.value)
        return None if value is None else Sample(type_, value)

    return cast_one


def _same(smp: Sample) -> Sample:
    return smp


_CastFn = Callable[[Sample], "Sample | None"]

_CASTS: dict[tuple[SampleType, SampleType], _CastFn] = {
    (T.BOOL, T.SINT): _typed(T.SINT, int),
    (T.BOOL, T.STR): _typed(T.STR, lambda v: "1" if v else "0"),
    (T.BOOL, T.BIN): _typed(T.BIN, lambda v: _int_to_bin(int(v))),
    (T.SINT, T.BOOL): _typed(T.BOOL, bool),
    (T.SINT, T.ADDR): _typed(T.IPV4, lambda v: (v & 0xFFFFFFFF).to_bytes(4, "big")),
    (T.SINT, T.IPV4): _typed(T.IPV4, lambda v: (v & 0xFFFFFFFF).to_bytes(4, "big")),
    (T.SINT, T.IPV6): _typed(T.IPV6, lambda v: v4_to_v6((v & 0xFFFFFFFF).to_bytes(4, "big"))),
    (T.SINT, T.STR): _typed(T.STR, str),
    (T.SINT, T.BIN): _typed(T.BIN, _int_to_bin),
    (T.IPV4, T.SINT): _typed(T.SINT, lambda v: int.from_bytes(v, "big")),
    (T.IPV4, T.ADDR): _same,
    (T.IPV4, T.IPV6): _typed(T.IPV6, v4_to_v6),
    (T.IPV4, T.STR): _typed(T.STR, ip_text),
    (T.IPV4, T.BIN): _typed(T.BIN, bytes),
    (T.IPV6, T.ADDR): _same,
    (T.IPV6, T.IPV4): _typed(T.IPV4, v6_to_v4),
    (T.IPV6, T.STR): _typed(T.STR, ip_text),
    (T.IPV6, T.BIN): _typed(T.BIN, bytes),
    (T.STR, T.BOOL): _typed(T.BOOL, lambda v: None if not v else bool(leading_int(v))),
    (T.STR, T.SINT): _typed(T.SINT, _str_to_int),
    (T.STR, T.ADDR): lambda smp: _str_to_addr(smp.value),
    (T.STR, T.IPV4): _typed(T.IPV4, parse_ipv4),
    (T.STR, T.IPV6): _typed(T.IPV6, parse_ipv6),
    (T.STR, T.BIN): _typed(T.BIN, lambda v: v.encode("latin-1")),
    (T.STR, T.METH): _typed(T.METH, str),
    (T.BIN, T.STR): _typed(T.STR, _bin_to_str),
    (T.BIN, T.METH): _typed(T.METH, _bin_to_str),
    (T.METH, T.STR): _typed(T.STR, str),
    (T.METH, T.BIN): _typed(T.BIN, lambda v: v.encode("latin-1")),
}

_CONCRETE_ADDR = (T.IPV4, T.IPV6)


def can_cast(src: SampleType, dst: SampleType) -> bool:
    """Whether a sample of type *src* may ever be cast to *dst* (the parse-time check)."""
    if src is dst or src is T.ANY or dst is T.ANY:
        return True
    if src is T.ADDR:
        return any(can_cast(t, dst) for t in _CONCRETE_ADDR)
    return (src, dst) in _CASTS


def cast(smp: Sample, dst: SampleType) -> Sample | None:
    """Cast *smp* to *dst*; None when this value cannot be converted."""
    src = smp.type
    if src is dst or dst is T.ANY:
        return smp
    fn = _CASTS.get((src, dst))
    return fn(smp) if fn is not None else None


def to_text(smp: Sample | None) -> str | None:
    """The string form of a sample (HAProxy's cast to str), or None."""
    if smp is None:
        return None
    if smp.type is T.STR:
        return smp.value
    out = cast(smp, T.STR)
    return None if out is None else out.value


def to_native(smp: Sample) -> bool | int | str:
    """The value a scripting layer sees: bool, int, or latin-1 text (addresses as text, binary raw)."""
    if smp.type is T.BOOL:
        return bool(smp.value)
    if smp.type is T.SINT:
        return smp.value
    if smp.type is T.BIN:
        return smp.value.decode("latin-1")
    return to_text(smp) or ""


def from_native(value: Any) -> Sample | None:
    """The sample for a value returned by a script: str, bytes, int, bool or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return Sample(T.BOOL, value)
    if isinstance(value, int):
        return Sample(T.SINT, clamp64(value))
    if isinstance(value, bytes):
        return Sample(T.BIN, value)
    if isinstance(value, float):
        return Sample(T.SINT, clamp64(int(value)))
    return Sample(T.STR, str(value))
