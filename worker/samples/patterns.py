"""Pattern matching methods and their indexes (HAProxy's pattern.c).

A match method says how a pattern text is parsed and how a sample is compared
with it.  Patterns of one list are kept in an index chosen as HAProxy chooses:
a tree (here a dict) for exact strings, longest-prefix trees for ``beg`` and
``ip``, a list scanned in order for everything else or when matching ignores
case.  Lookups return the matching ``Entry``; an entry only matches while its
generation is the list's current version.
"""

from __future__ import annotations

import enum
import re
import socket
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from .args import parse_sint
from .text import ascii_lower
from .types import Sample, SampleType, embedded_v4, parse_ipv6

T = SampleType


class PatternError(Exception):
    """A pattern that does not parse; the message has no trailing period (callers add context)."""


class Method(enum.Enum):
    FOUND = "found"
    BOOL = "bool"
    INT = "int"
    IP = "ip"
    BIN = "bin"
    LEN = "len"
    STR = "str"
    BEG = "beg"
    SUB = "sub"
    DIR = "dir"
    DOM = "dom"
    END = "end"
    REG = "reg"
    METH = "meth"

    @property
    def input_type(self) -> SampleType:
        """The type a sample is cast to before matching."""
        return _INPUT[self]


_INPUT = {
    Method.FOUND: T.ANY,
    Method.BOOL: T.SINT,
    Method.INT: T.SINT,
    Method.IP: T.ADDR,
    Method.BIN: T.BIN,
    Method.LEN: T.STR,
    Method.METH: T.METH,
}

STRING_METHODS = (Method.STR, Method.BEG, Method.SUB, Method.DIR, Method.DOM, Method.END, Method.REG)
for _m in STRING_METHODS:
    _INPUT[_m] = T.STR

METHODS_BY_NAME = {m.value: m for m in Method}


class Entry:
    """One line of a pattern list: key, optional value, and the version it belongs to."""

    __slots__ = ("_parsed", "gen", "key", "line", "ref_id", "value")

    def __init__(self, ref_id: int, key: str, value: str | None, gen: int, line: int = 0) -> None:
        self.ref_id = ref_id
        self.key = key
        self.value = value
        self.gen = gen
        self.line = line
        self._parsed: dict[SampleType, Sample] = {}

    def __repr__(self) -> str:
        return f"Entry(#{self.ref_id:x} {self.key!r} {self.value!r} @{self.gen})"

    def sample(self, out: SampleType) -> Sample:
        """The value parsed to *out* (cached); the index checked it parses when the entry came in."""
        smp = self._parsed.get(out)
        if smp is None:
            smp = parse_value(self.value or "", out)
            self._parsed[out] = smp
        return smp

    def set_value(self, value: str) -> None:
        self.value = value
        self._parsed.clear()


def parse_value(text: str, out: SampleType) -> Sample:
    """Parse a map value to the converter's output type; raise PatternError."""
    if out is T.SINT:
        number = parse_sint(text)
        if number is None:
            raise PatternError(f"unable to parse '{text}'")
        return Sample(T.SINT, number)
    if out in (T.ADDR, T.IPV4, T.IPV6):
        try:
            return Sample(T.IPV4, socket.inet_pton(socket.AF_INET, text))
        except (OSError, ValueError):
            v6 = parse_ipv6(text)
            if v6 is None:
                raise PatternError(f"unable to parse '{text}'") from None
            return Sample(T.IPV6, v6)
    return Sample(T.STR, text)


# --- pattern parsing -------------------------------------------------------------------------------


def parse_int_range(text: str) -> tuple[int | None, int | None]:
    """'N', 'N:M', ':M' or 'N:' as inclusive bounds (None: open)."""
    if ":" not in text:
        number = parse_sint(text)
        if number is None:
            raise PatternError(f"'{text}' is not a number")
        return number, number
    low_text, _, high_text = text.partition(":")
    low = parse_sint(low_text) if low_text else None
    high = parse_sint(high_text) if high_text else None
    if (low_text and low is None) or (high_text and high is None) or ":" in high_text:
        raise PatternError(f"'{text}' is not a valid number range")
    return low, high


def _ipv4_net(addr: str, resolve: bool) -> int | None:
    try:
        return int.from_bytes(socket.inet_pton(socket.AF_INET, addr), "big")
    except (OSError, ValueError):
        pass
    if resolve and addr and all(c.isdigit() or c == "." for c in addr):
        try:
            return int.from_bytes(socket.inet_aton(addr), "big")
        except (OSError, ValueError):
            return None
    return None


def parse_ip_pattern(text: str, resolve: bool = False) -> tuple[int, int, int]:
    """'addr[/mask]' as (family 4 or 6, network int, mask int).

    *resolve* accepts the abbreviated IPv4 forms ('127.1', '10.12') that HAProxy
    gets from the resolver at startup; host names are never resolved here.
    """
    addr, slash, mask_text = text.partition("/")
    v4 = _ipv4_net(addr, resolve)
    if v4 is not None:
        mask = 0xFFFFFFFF
        if slash:
            if mask_text.isdigit() and mask_text.isascii() and int(mask_text) <= 32:
                mask = (0xFFFFFFFF << (32 - int(mask_text))) & 0xFFFFFFFF
            else:
                dotted = _ipv4_net(mask_text, False)
                if dotted is None:
                    raise PatternError(f"'{text}' is not a valid IPv4 or IPv6 address")
                mask = dotted
        return 4, v4 & mask, mask
    v6 = parse_ipv6(addr)
    if v6 is not None:
        full = (1 << 128) - 1
        bits = 128
        if slash:
            if not (mask_text.isdigit() and mask_text.isascii() and int(mask_text) <= 128):
                raise PatternError(f"'{text}' is not a valid IPv4 or IPv6 address")
            bits = int(mask_text)
        mask = (full << (128 - bits)) & full
        return 6, int.from_bytes(v6, "big") & mask, mask
    raise PatternError(f"'{text}' is not a valid IPv4 or IPv6 address")


def compile_regex(text: str, icase: bool) -> re.Pattern[str]:
    try:
        return re.compile(text, re.ASCII | (re.IGNORECASE if icase else 0))
    except re.error as err:
        raise PatternError(f"regex '{text}' is invalid (error={err.msg}, erroffset={err.pos})") from None


def _parse_bin(text: str) -> bytes:
    if len(text) % 2:
        raise PatternError("an even number of hex digit is expected")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise PatternError(f"'{text}' is not a valid hex string") from None


def _word_regex(pattern: str, delimiters: str, icase: bool) -> re.Pattern[str] | None:
    """match_word as a regex: the pattern (outer delimiters dropped) between delimiters or the ends."""
    core = pattern.strip(delimiters)
    if not core:
        return None
    delim = re.escape(delimiters)
    flags = re.ASCII | (re.IGNORECASE if icase else 0)
    return re.compile(rf"(?:^|(?<=[{delim}])){re.escape(core)}(?=[{delim}]|$)", flags)


def _matcher(method: Method, text: str, icase: bool, resolve: bool) -> Callable[[Any], bool]:
    """A predicate on the cast sample value, for list indexes."""
    if method in (Method.INT, Method.LEN):
        low, high = parse_int_range(text)

        def in_range(value: int) -> bool:
            return (low is None or value >= low) and (high is None or value <= high)

        if method is Method.LEN:
            return lambda value: in_range(len(value))
        return in_range
    if method is Method.BIN:
        block = _parse_bin(text)
        return lambda value: value == block
    if method is Method.REG:
        regex = compile_regex(text, icase)
        return lambda value: regex.search(value) is not None
    if method is Method.METH:
        if icase:
            wanted = ascii_lower(text)
            return lambda value: ascii_lower(value) == wanted
        return text.__eq__
    if method is Method.IP:
        family, net, mask = parse_ip_pattern(text, resolve)
        return lambda value: _ip_in(value, family, net, mask)
    pattern = ascii_lower(text) if icase else text
    if method in (Method.DIR, Method.DOM):
        regex_or_none = _word_regex(text, "/?" if method is Method.DIR else "/?.:", icase)
        if regex_or_none is None:
            return lambda value: False
        found = regex_or_none
        return lambda value: found.search(value) is not None
    compare: Callable[[str], bool]
    if method is Method.STR:
        compare = pattern.__eq__
    elif method is Method.BEG:
        compare = lambda value: value.startswith(pattern)  # noqa: E731
    elif method is Method.END:
        compare = lambda value: value.endswith(pattern)  # noqa: E731
    else:
        compare = lambda value: pattern in value  # noqa: E731
    if icase:
        return lambda value: compare(ascii_lower(value))
    return compare


def _ip_in(packed: bytes, family: int, net: int, mask: int) -> bool:
    if family == 4:
        if len(packed) == 16:
            v4 = embedded_v4(packed)
            if v4 is None:
                return False
            packed = v4
        return int.from_bytes(packed, "big") & mask == net
    if len(packed) == 4:
        packed = b"\0" * 10 + b"\xff\xff" + packed
    return int.from_bytes(packed, "big") & mask == net


# --- indexes ---------------------------------------------------------------------------------------


class PatternIndex(Protocol):
    method: Method
    icase: bool
    kind: str  # "tree" or "list", as HAProxy's "get map" reports it

    def check(self, key: str) -> None: ...

    def add(self, entry: Entry) -> None: ...

    def remove(self, entry: Entry) -> None: ...

    def rebuild(self, entries: Iterable[Entry]) -> None: ...

    def lookup(self, value: Any, gen: int) -> Entry | None: ...


def _first_current(entries: list[Entry] | None, gen: int) -> Entry | None:
    if entries:
        for entry in entries:
            if entry.gen == gen:
                return entry
    return None


class StrIndex:
    """Exact strings in a dict; with -i, keys are folded (HAProxy then scans a list, same result)."""

    def __init__(self, icase: bool) -> None:
        self.method = Method.STR
        self.icase = icase
        self.kind = "list" if icase else "tree"
        self._table: dict[str, list[Entry]] = {}

    def check(self, key: str) -> None:
        """Strings always parse."""

    def add(self, entry: Entry) -> None:
        key = ascii_lower(entry.key) if self.icase else entry.key
        self._table.setdefault(key, []).append(entry)

    def remove(self, entry: Entry) -> None:
        key = ascii_lower(entry.key) if self.icase else entry.key
        entries = self._table.get(key)
        if entries and entry in entries:
            entries.remove(entry)
            if not entries:
                del self._table[key]

    def rebuild(self, entries: Iterable[Entry]) -> None:
        self._table = {}
        for entry in entries:
            self.add(entry)

    def lookup(self, value: str, gen: int) -> Entry | None:
        return _first_current(self._table.get(ascii_lower(value) if self.icase else value), gen)


class PrefixIndex:
    """Case-sensitive prefixes: one dict per prefix length, longest first (HAProxy's prefix tree)."""

    def __init__(self) -> None:
        self.method = Method.BEG
        self.icase = False
        self.kind = "tree"
        self._by_len: dict[int, dict[str, list[Entry]]] = {}
        self._lengths: list[int] = []

    def check(self, key: str) -> None:
        """Prefixes always parse."""

    def add(self, entry: Entry) -> None:
        size = len(entry.key)
        table = self._by_len.get(size)
        if table is None:
            table = self._by_len[size] = {}
            self._lengths = sorted(self._by_len, reverse=True)
        table.setdefault(entry.key, []).append(entry)

    def remove(self, entry: Entry) -> None:
        table = self._by_len.get(len(entry.key))
        if table is None:
            return
        entries = table.get(entry.key)
        if entries and entry in entries:
            entries.remove(entry)
            if not entries:
                del table[entry.key]

    def rebuild(self, entries: Iterable[Entry]) -> None:
        self._by_len = {}
        self._lengths = []
        for entry in entries:
            self.add(entry)

    def lookup(self, value: str, gen: int) -> Entry | None:
        size = len(value)
        for length in self._lengths:
            if length <= size:
                found = _first_current(self._by_len[length].get(value[:length]), gen)
                if found is not None:
                    return found
        return None


class _Level:
    __slots__ = ("mask", "prefix", "table")

    def __init__(self, prefix: int, mask: int) -> None:
        self.prefix = prefix
        self.mask = mask
        self.table: dict[int, list[Entry]] = {}


class IpIndex:
    """Longest-prefix match: one dict per prefix length and family, plus a list for odd IPv4 masks."""

    def __init__(self, resolve: bool = False) -> None:
        self.method = Method.IP
        self.icase = False
        self.kind = "tree"
        self.resolve = resolve
        self._levels: dict[int, dict[int, _Level]] = {4: {}, 6: {}}
        self._order: dict[int, list[_Level]] = {4: [], 6: []}
        self._odd: list[tuple[Entry, int, int]] = []
        self._nets: dict[int, tuple[int, int, int]] = {}

    def check(self, key: str) -> None:
        parse_ip_pattern(key, self.resolve)

    def add(self, entry: Entry) -> None:
        family, net, mask = parse_ip_pattern(entry.key, self.resolve)
        self._nets[id(entry)] = (family, net, mask)
        width = 32 if family == 4 else 128
        prefix = bin(mask).count("1")
        if family == 4 and mask != ((1 << width) - 1) ^ ((1 << (width - prefix)) - 1):
            self._odd.append((entry, net, mask))
            return
        levels = self._levels[family]
        level = levels.get(prefix)
        if level is None:
            level = levels[prefix] = _Level(prefix, mask)
            self._order[family] = sorted(levels.values(), key=lambda lv: -lv.prefix)
        level.table.setdefault(net, []).append(entry)

    def remove(self, entry: Entry) -> None:
        found = self._nets.pop(id(entry), None)
        if found is None:
            return
        family, net, mask = found
        self._odd = [item for item in self._odd if item[0] is not entry]
        level = self._levels[family].get(bin(mask).count("1"))
        if level is None:
            return
        entries = level.table.get(net)
        if entries and entry in entries:
            entries.remove(entry)
            if not entries:
                del level.table[net]

    def rebuild(self, entries: Iterable[Entry]) -> None:
        self._levels = {4: {}, 6: {}}
        self._order = {4: [], 6: []}
        self._odd = []
        self._nets = {}
        for entry in entries:
            self.add(entry)

    def _longest(self, family: int, addr: int, gen: int) -> Entry | None:
        for level in self._order[family]:
            entries = level.table.get(addr & level.mask)
            if entries:
                found = _first_current(entries, gen)
                if found is not None:
                    return found
        return None

    def lookup(self, value: bytes, gen: int) -> Entry | None:
        if len(value) == 4:
            addr = int.from_bytes(value, "big")
            found = self._longest(4, addr, gen)
            if found is None and self._order[6]:
                found = self._longest(6, 0xFFFF00000000 | addr, gen)
        else:
            found = self._longest(6, int.from_bytes(value, "big"), gen)
            if found is None:
                v4 = embedded_v4(value)
                if v4 is not None:
                    found = self._longest(4, int.from_bytes(v4, "big"), gen)
        if found is not None or not self._odd:
            return found
        for entry, net, mask in self._odd:
            if entry.gen == gen and _ip_in(value, 4, net, mask):
                return entry
        return None


class ListIndex:
    """Patterns tried in order; the first current one that matches wins."""

    def __init__(self, method: Method, icase: bool, resolve: bool = False) -> None:
        self.method = method
        self.icase = icase
        self.kind = "list"
        self.resolve = resolve
        self._items: list[tuple[Entry, Callable[[Any], bool]]] = []
        self._regexes: dict[int, re.Pattern[str]] = {}

    def check(self, key: str) -> None:
        _matcher(self.method, key, self.icase, self.resolve)

    def add(self, entry: Entry) -> None:
        self._items.append((entry, _matcher(self.method, entry.key, self.icase, self.resolve)))
        if self.method is Method.REG:
            self._regexes[id(entry)] = compile_regex(entry.key, self.icase)

    def remove(self, entry: Entry) -> None:
        self._items = [item for item in self._items if item[0] is not entry]
        self._regexes.pop(id(entry), None)

    def rebuild(self, entries: Iterable[Entry]) -> None:
        self._items = []
        self._regexes = {}
        for entry in entries:
            self.add(entry)

    def lookup(self, value: Any, gen: int) -> Entry | None:
        for entry, matches in self._items:
            if entry.gen == gen and matches(value):
                return entry
        return None

    def search(self, value: str, gen: int) -> tuple[Entry, re.Match[str]] | None:
        """For map_regm: the first matching regex entry and its match object."""
        for entry, _ in self._items:
            if entry.gen == gen:
                m = self._regexes[id(entry)].search(value)
                if m is not None:
                    return entry, m
        return None


def new_index(method: Method, icase: bool, resolve: bool = False) -> PatternIndex:
    """The index HAProxy would use for this method and case flag."""
    if method is Method.STR:
        return StrIndex(icase)
    if method is Method.BEG and not icase:
        return PrefixIndex()
    if method is Method.IP:
        return IpIndex(resolve)
    return ListIndex(method, icase, resolve)
