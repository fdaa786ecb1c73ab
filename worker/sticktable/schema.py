"""What a ``stick-table`` line declares: key type, size, expiry and the stored data types.

Pure parsing, no memory: ``parse_table_args`` turns the words after
``stick-table`` into a ``TableSpec`` and ``KeyType`` turns samples into the
fixed-width key bytes the shared table stores (and back into the text
``show table`` prints).  Data types follow HAProxy 2.6's names and kinds:
counters, frequency counters (``name(period)``), tags and the server id.
"""

from __future__ import annotations

import dataclasses
import enum
import re
import socket
from dataclasses import dataclass, field

from ..samples.types import Sample, SampleType, cast, v4_to_v6, v6_to_v4

DEFAULT_KEY_LEN = 32
MAX_STRING_KEY = 256


class Kind(enum.Enum):
    """How a data type is stored and updated."""

    COUNTER = "counter"  # unsigned, only grows (or is set from the CLI)
    RATE = "rate"  # a frequency counter over a period (three words)
    TAG = "tag"  # gpt0: a value set by sc-set-gpt0
    SERVER = "server"  # server_id
    CURRENT = "current"  # conn_cur: up when a connection is tracked, down when it ends
    DICT = "dict"  # server_key: a server's name or address, one word naming a dictionary entry


DATA_KINDS: dict[str, Kind] = {
    "server_id": Kind.SERVER,
    "gpt0": Kind.TAG,
    "gpc0": Kind.COUNTER,
    "gpc0_rate": Kind.RATE,
    "conn_cnt": Kind.COUNTER,
    "conn_rate": Kind.RATE,
    "conn_cur": Kind.CURRENT,
    "sess_cnt": Kind.COUNTER,
    "sess_rate": Kind.RATE,
    "http_req_cnt": Kind.COUNTER,
    "http_req_rate": Kind.RATE,
    "http_err_cnt": Kind.COUNTER,
    "http_err_rate": Kind.RATE,
    "bytes_in_cnt": Kind.COUNTER,
    "bytes_in_rate": Kind.RATE,
    "bytes_out_cnt": Kind.COUNTER,
    "bytes_out_rate": Kind.RATE,
    "gpc1": Kind.COUNTER,
    "gpc1_rate": Kind.RATE,
    "server_key": Kind.DICT,
    "http_fail_cnt": Kind.COUNTER,
    "http_fail_rate": Kind.RATE,
    "gpt": Kind.TAG,
    "gpc": Kind.COUNTER,
    "gpc_rate": Kind.RATE,
}
"""HAProxy 2.6's data types in its own order (``show table`` prints them in this order)."""

ARRAYS = ("gpt", "gpc", "gpc_rate")
"""The array types (HAProxy 2.5+): ``gpt(N)``, ``gpc(N)``, ``gpc_rate(N,period)``, N from 1 to 100."""
MAX_ARRAY = 100
LEGACY = {"gpt": ("gpt0",), "gpc": ("gpc0", "gpc1"), "gpc_rate": ("gpc0_rate", "gpc1_rate")}
"""The older single types an array overrides: HAProxy refuses both in one table, and the older
fetches and actions fall back on the array's first elements."""

EVENTS: dict[str, tuple[str, ...]] = {
    "conn": ("conn_cnt", "conn_rate"),
    "sess": ("sess_cnt", "sess_rate"),
    "http_req": ("http_req_cnt", "http_req_rate"),
    "http_err": ("http_err_cnt", "http_err_rate"),
    "http_fail": ("http_fail_cnt", "http_fail_rate"),
    "gpc0": ("gpc0", "gpc0_rate"),
    "gpc1": ("gpc1", "gpc1_rate"),
    "bytes_in": ("bytes_in_cnt", "bytes_in_rate"),
    "bytes_out": ("bytes_out_cnt", "bytes_out_rate"),
}
"""What one event increments: a counter and its rate, whichever the table stores."""


class SpecError(ValueError):
    """A ``stick-table`` line HAProxy would refuse; the message is the reason."""


class KeyType(enum.Enum):
    IP = "ip"
    IPV6 = "ipv6"
    INTEGER = "integer"
    STRING = "string"
    BINARY = "binary"

    __hash__ = object.__hash__


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One table's declaration; two specs equal means the same memory layout (kept across reloads)."""

    name: str
    key_type: KeyType
    key_len: int
    size: int
    expire_ms: int = 0  # 0: entries never expire
    nopurge: bool = False
    data: tuple[tuple[str, int], ...] = field(default=())  # (type, period ms for rates else 0), HAProxy order
    peers: str = ""  # the ``peers`` section that shares this table
    wire_key_len: int = 0  # the key size HAProxy announces to peers (a string ``len N`` counts its NUL)
    arrays: tuple[tuple[str, int], ...] = field(default=())  # (array type, element count)
    srvkey: str = "name"  # what server_key holds: the server's "name" or its "addr" (ip:port)

    @property
    def type_label(self) -> str:
        """``show table``'s ``type:`` column (HAProxy prints 'ip' for IPv4 tables)."""
        return self.key_type.value

    def stores(self, name: str) -> bool:
        return any(n == name for n, _ in self.data)

    def period(self, name: str) -> int:
        return next((p for n, p in self.data if n == name), 0)

    def elements(self, name: str) -> int:
        """How many values a stored type holds: an array's count, else 1."""
        return next((c for n, c in self.arrays if n == name), 1)

    def with_data(self, name: str) -> TableSpec:
        """The same spec also storing *name* (stick rules add ``server_id`` and ``server_key``)."""
        if self.stores(name):
            return self
        wanted = {**dict(self.data), name: 0}
        return dataclasses.replace(self, data=tuple((n, wanted[n]) for n in DATA_KINDS if n in wanted))

    # Keys.

    def key_of(self, smp: Sample) -> bytes | None:
        """The key bytes for a sample, after HAProxy's cast to the table type; None: no key."""
        kt = self.key_type
        if kt is KeyType.IP:
            typed = cast(smp, SampleType.ADDR)
            if typed is None:
                return None
            return typed.value if len(typed.value) == 4 else v6_to_v4(typed.value)
        if kt is KeyType.IPV6:
            typed = cast(smp, SampleType.ADDR)
            if typed is None:
                return None
            return typed.value if len(typed.value) == 16 else v4_to_v6(typed.value)
        if kt is KeyType.INTEGER:
            typed = cast(smp, SampleType.SINT)
            return None if typed is None else (typed.value & 0xFFFFFFFF).to_bytes(4, "big")
        if kt is KeyType.STRING:
            typed = cast(smp, SampleType.STR)
            return None if typed is None else typed.value.encode("latin-1")[: self.key_len]
        typed = cast(smp, SampleType.BIN)
        return None if typed is None else bytes(typed.value[: self.key_len]).ljust(self.key_len, b"\0")

    def key_from_text(self, text: str) -> bytes:
        """A key written on the management socket or given to Lua; ValueError if it cannot be one."""
        kt = self.key_type
        if kt is KeyType.IP:
            return socket.inet_pton(socket.AF_INET, text)
        if kt is KeyType.IPV6:
            try:
                return socket.inet_pton(socket.AF_INET6, text)
            except OSError:
                return v4_to_v6(socket.inet_pton(socket.AF_INET, text))
        if kt is KeyType.INTEGER:
            if not re.fullmatch(r"[0-9]+", text):
                raise ValueError(text)
            return (int(text) & 0xFFFFFFFF).to_bytes(4, "big")
        if kt is KeyType.STRING:
            return text.encode("latin-1")[: self.key_len]
        return bytes.fromhex(text)[: self.key_len].ljust(self.key_len, b"\0")

    def key_text(self, key: bytes) -> str:
        """The key as ``show table`` prints it."""
        kt = self.key_type
        if kt is KeyType.IP:
            return socket.inet_ntop(socket.AF_INET, key)
        if kt is KeyType.IPV6:
            return socket.inet_ntop(socket.AF_INET6, key)
        if kt is KeyType.INTEGER:
            return str(int.from_bytes(key, "big"))
        if kt is KeyType.STRING:
            return key.decode("latin-1")
        return key.hex().upper()

    def key_sample(self, key: bytes) -> Sample:
        """The key as a sample (Lua's dump() and stick rules compare it)."""
        kt = self.key_type
        if kt is KeyType.IP:
            return Sample(SampleType.IPV4, key)
        if kt is KeyType.IPV6:
            return Sample(SampleType.IPV6, key)
        if kt is KeyType.INTEGER:
            return Sample(SampleType.SINT, int.from_bytes(key, "big"))
        if kt is KeyType.STRING:
            return Sample(SampleType.STR, key.decode("latin-1"))
        return Sample(SampleType.BIN, key)


_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_DATA_WORD = re.compile(r"([a-z0-9_]+)(?:\((.*)\))?$")


def parse_size(text: str) -> int:
    match = re.fullmatch(r"([0-9]+)([kKmMgG]?)", text)
    if match is None:
        raise SpecError(f"'size' expects a number with an optional k, m or g unit, got '{text}'")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


def parse_period(text: str) -> int:
    """A period in milliseconds (the default unit), with HAProxy's time units."""
    match = re.fullmatch(r"([0-9]+)(us|ms|s|m|h|d)?", text)
    if match is None:
        raise SpecError(f"invalid period '{text}'")
    factor = {"us": 0.001, "ms": 1, None: 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}[match.group(2)]
    return int(int(match.group(1)) * factor)


def parse_table_args(name: str, words: tuple[str, ...]) -> TableSpec:
    """``type T [len N] size N [expire T] [nopurge] [peers P] [srvkey K] [store D,...]...``."""
    rest = list(words)
    key_type: KeyType | None = None
    key_len = 0
    size = 0
    expire = 0
    nopurge = False
    data: dict[str, int] = {}
    arrays: dict[str, int] = {}
    peers = ""
    srvkey = "name"
    wire_key_len = 0
    while rest:
        word = rest.pop(0)
        if word in ("type", "size", "expire", "store", "peers", "srvkey", "len", "write-to") and not rest:
            raise SpecError(f"'{word}' expects an argument")
        if word == "type":
            value = rest.pop(0)
            if value == "integer_autoinc":
                value = "integer"
            try:
                key_type = KeyType(value)
            except ValueError:
                raise SpecError(f"unknown type '{value}'") from None
            key_len = {KeyType.IP: 4, KeyType.IPV6: 16, KeyType.INTEGER: 4}.get(key_type, DEFAULT_KEY_LEN)
            wire_key_len = key_len
            if rest[:1] == ["len"] and key_type in (KeyType.STRING, KeyType.BINARY):
                rest.pop(0)
                if not rest or not rest[0].isdigit() or int(rest[0]) < 1:
                    raise SpecError("'len' expects a positive length")
                wire_key_len = int(rest[0]) + (key_type is KeyType.STRING)
                key_len = min(int(rest.pop(0)), MAX_STRING_KEY)
        elif word == "size":
            size = parse_size(rest.pop(0))
        elif word == "expire":
            expire = parse_period(rest.pop(0))
        elif word == "nopurge":
            nopurge = True
        elif word == "peers":
            peers = rest.pop(0)
        elif word == "srvkey":
            srvkey = rest.pop(0)
            if srvkey not in ("name", "addr"):
                raise SpecError(f"unknown server key type '{srvkey}' (expected 'name' or 'addr')")
        elif word == "write-to":
            rest.pop(0)
        elif word == "store":
            for item in _store_items(rest.pop(0)):
                match = _DATA_WORD.match(item)
                dname, arg = match.groups() if match is not None else ("", None)
                dname = "server_key" if dname == "server_name" else dname  # its name before 2.2
                if dname not in DATA_KINDS:
                    raise SpecError(f"unknown data type '{item}'")
                if dname in ARRAYS:
                    count, _, arg = (arg or "").partition(",")
                    if not count.isdigit() or not 1 <= int(count) <= MAX_ARRAY:
                        raise SpecError(f"array size is out of allowed range (1-{MAX_ARRAY}) for store option "
                                        f"'{dname}', e.g. {dname}(3{',10s' if dname == 'gpc_rate' else ''})")
                    arrays[dname] = int(count)
                if DATA_KINDS[dname] is Kind.RATE:
                    if not arg:
                        raise SpecError(f"data type '{dname}' expects a period, e.g. {dname}(10s)")
                    data[dname] = parse_period(arg)
                elif arg:
                    raise SpecError(f"data type '{dname}' takes no argument")
                else:
                    data[dname] = 0
        else:
            raise SpecError(f"unknown argument '{word}'")
    if key_type is None:
        raise SpecError("missing 'type'")
    if size <= 0:
        raise SpecError("missing or null 'size'")
    for array, legacy in LEGACY.items():
        if array in data and any(n in data for n in legacy):
            raise SpecError(f"simultaneous usage of '{array}' and '{'/'.join(legacy)}' in a same table is not "
                            f"permitted as '{array}' overrides '{'/'.join(legacy)}'")
    ordered = tuple((n, data[n]) for n in DATA_KINDS if n in data)
    counts = tuple((n, arrays[n]) for n in ARRAYS if n in arrays)
    return TableSpec(name, key_type, key_len, size, expire, nopurge, ordered, peers, wire_key_len, counts, srvkey)


def _store_items(text: str) -> list[str]:
    """``store``'s comma-separated list, where a comma inside parentheses (``gpc_rate(3,10s)``) stays."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item for item in items if item]
