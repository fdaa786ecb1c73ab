"""MQTT CONNECT and CONNACK packets, as HAProxy 2.6's mqtt_is_valid/mqtt_field_value read them.

Only the first packet of each side can be inspected, so only CONNECT (3.1,
3.1.1, 5.0) and CONNACK are parsed; any other type is invalid.  Parsing gives
the packet's fields by the names the converter uses: ``flags``,
``protocol_name`` ... and MQTT 5.0 property ids as decimal strings ("17").
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Status(enum.Enum):
    VALID = "valid"
    INVALID = "invalid"
    NEED_MORE = "need more data"


CONNECT, CONNACK = 1, 2
TYPES = {
    name: number
    for number, name in enumerate(
        ("CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK",
         "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"),
        start=1,
    )
}
_FIXED_FLAGS = {3: 0x0F, 6: 0x02, 8: 0x02, 10: 0x02}  # the flags each type must carry (others: 0)

_WILL, _WILL_QOS, _WILL_RETAIN, _PASSWORD, _USERNAME = 0x04, 0x18, 0x20, 0x40, 0x80

def _names(text: str) -> frozenset[str]:
    return frozenset(text.split(" "))


FIELDS_BY_TYPE: dict[int, frozenset[str]] = {
    CONNECT: _names(
        "protocol_name protocol_version flags keepalive 17 33 39 34 25 23 38 21 22 client_identifier "
        "24 1 2 3 8 9 will_topic will_payload username password"
    ),
    CONNACK: _names("flags protocol_version reason_code 17 33 36 37 39 18 34 31 40 41 42 19 26 28 38 21 22"),
    3: _names("1 2 3 8 9 11 35 38"),
    4: _names("reason_code 31 38"),
    5: _names("reason_code 31 38"),
    6: _names("reason_code 31 38"),
    7: _names("reason_code 31 38"),
    8: _names("11 38"),
    9: _names("31 38"),
    10: _names("38"),
    11: _names("31 38"),
    14: _names("reason_code 17 28 31 38"),
    15: _names("21 22 31 38"),
}
"""The field names mqtt_field_value accepts for each packet type (it can only find CONNECT/CONNACK ones)."""

_ALL_FIELDS = frozenset().union(*FIELDS_BY_TYPE.values()) | {"keepalive"}

# Property id -> (kind, check): kind is 1, 2, 4 (integer bytes), "s" (string) or "u" (user property).
_NONZERO = bool


def _boolean(value: int) -> bool:
    return value <= 1


_CONNECT_PROPS: dict[int, tuple[int | str, Callable[[Any], bool] | None]] = {
    0x11: (4, None), 0x21: (2, _NONZERO), 0x27: (4, _NONZERO), 0x22: (2, None), 0x19: (1, _boolean),
    0x17: (1, _boolean), 0x26: ("u", None), 0x15: ("s", None), 0x16: ("s", None),
}
_WILL_PROPS: dict[int, tuple[int | str, Callable[[Any], bool] | None]] = {
    0x18: (4, None), 0x01: (1, _boolean), 0x02: (4, None), 0x03: ("s", None), 0x08: ("s", None),
    0x09: ("s", None), 0x26: ("u", None),
}
_CONNACK_PROPS: dict[int, tuple[int | str, Callable[[Any], bool] | None]] = {
    0x11: (4, None), 0x21: (2, _NONZERO), 0x24: (1, _boolean), 0x25: (1, _boolean), 0x27: (4, _NONZERO),
    0x12: ("s", bool), 0x22: (2, None), 0x1F: ("s", None), 0x28: (1, _boolean), 0x29: (1, _boolean),
    0x2A: (1, _boolean), 0x13: (2, None), 0x1A: ("s", None), 0x1C: ("s", None), 0x26: ("u", None),
    0x15: ("s", None), 0x16: ("s", None),
}
_INT_PROPS = {0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x18, 0x01, 0x02, 0x24, 0x25, 0x28, 0x29, 0x2A, 0x13}
_WILL_FIELDS = {"1", "2", "3", "8", "9", "24"}


class _Bad(Exception):
    """The packet is invalid."""


class _NeedMore(Exception):
    """HAProxy answers "need more data" for an unknown CONNACK property."""


@dataclass
class Packet:
    type: int
    version: int = 0
    fields: dict[str, int | bytes] = field(default_factory=dict)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def integer(self, size: int) -> int:
        if self.left() < size:
            raise _Bad
        value = int.from_bytes(self.data[self.pos : self.pos + size], "big")
        self.pos += size
        return value

    def string(self) -> bytes:
        size = self.integer(2)
        if self.left() < size:
            raise _Bad
        value = self.data[self.pos : self.pos + size]
        self.pos += size
        return value

    def varint(self) -> int | None:
        """A variable byte integer: None when no final byte comes within 4 bytes."""
        value = shift = 0
        for _ in range(4):
            if not self.left():
                return value
            byte = self.data[self.pos]
            self.pos += 1
            value += (byte & 0x7F) << shift
            shift += 7
            if byte <= 0x7F:
                return value
        return None

    def block(self, size: int) -> _Reader:
        if self.left() < size:
            raise _Bad
        inner = _Reader(self.data[self.pos : self.pos + size])
        self.pos += size
        return inner


def _properties(reader: _Reader, known: dict[int, tuple[int | str, Callable[[Any], bool] | None]],
                out: dict[str, int | bytes], unknown: type[Exception]) -> None:
    length = reader.varint()
    if length is None:
        raise _Bad
    props = reader.block(length)
    seen: set[int] = set()
    while props.left():
        ident = props.integer(1)
        spec = known.get(ident)
        if spec is None:
            raise unknown
        kind, check = spec
        if kind == "u":
            props.string()
            props.string()
            continue
        if ident in seen:
            raise _Bad
        seen.add(ident)
        value: int | bytes = props.string() if kind == "s" else props.integer(int(kind))
        if check is not None and not check(value):
            raise _Bad
        out[str(ident)] = value


def _connect(reader: _Reader, packet: Packet) -> None:
    fields = packet.fields
    name = reader.string()
    version = reader.integer(1)
    if name.lower() not in (b"mqtt", b"mqisdp") or version not in (3, 4, 5):  # 3.1, 3.1.1, 5.0
        raise _Bad
    flags = reader.integer(1)
    if flags & 0x01 or flags & (_WILL | _WILL_QOS | _WILL_RETAIN) == _WILL_QOS:
        raise _Bad
    packet.version = version
    fields.update(protocol_name=name, protocol_version=version, flags=flags, keepalive=reader.integer(2))
    if version == 5:
        _properties(reader, _CONNECT_PROPS, fields, _Bad)
    if fields.get("22") and not fields.get("21"):
        raise _Bad
    fields["client_identifier"] = reader.string()
    if version == 5 and flags & _WILL:
        _properties(reader, _WILL_PROPS, fields, _Bad)
    if flags & _WILL:
        fields["will_topic"] = reader.string()
        fields["will_payload"] = reader.string()
    if flags & _USERNAME:
        fields["username"] = reader.string()
    if flags & _PASSWORD:
        fields["password"] = reader.string()


def _connack(reader: _Reader, packet: Packet) -> None:
    if reader.left() < 2:
        raise _Bad
    packet.version = 4 if reader.left() == 2 else 5
    flags = reader.integer(1)
    if flags & 0xFE:
        raise _Bad
    packet.fields.update(flags=flags, reason_code=reader.integer(1), protocol_version=packet.version)
    if packet.version == 5:
        _properties(reader, _CONNACK_PROPS, packet.fields, _NeedMore)


def parse(msg: bytes) -> tuple[Status, Packet | None]:
    """Validate one packet at the start of *msg*; a valid one comes with its fields."""
    if len(msg) < 2:
        return Status.NEED_MORE, None
    kind, flags = msg[0] >> 4, msg[0] & 0x0F
    if kind == 0 or flags != _FIXED_FLAGS.get(kind, 0):
        return Status.INVALID, None
    reader = _Reader(msg)
    reader.pos = 1
    remaining = reader.varint()
    if remaining is None:
        return Status.INVALID, None
    if reader.left() < remaining:
        return Status.NEED_MORE, None
    if kind not in (CONNECT, CONNACK):
        return Status.INVALID, None
    packet = Packet(kind)
    start = reader.pos
    try:
        (_connect if kind == CONNECT else _connack)(reader, packet)
    except _Bad:
        return Status.INVALID, None
    except _NeedMore:
        return Status.NEED_MORE, None
    if reader.pos - start != remaining:
        return Status.INVALID, None
    return Status.VALID, packet


def type_for_argument(text: str) -> int:
    """mqtt_field_value's packet type: a number from 1 to 15 or a name (any case); 0 if unknown."""
    if text.isdigit() and 1 <= int(text) <= 15:
        return int(text)
    return TYPES.get(text.upper(), 0)


def field_for_argument(kind: int, text: str) -> str | None:
    name = text.lower()
    return name if name in FIELDS_BY_TYPE.get(kind, frozenset()) else None


def field_value(msg: bytes, kind: int, name: str) -> bytes | Status:
    """The text of field *name* of a *kind* packet; NEED_MORE while incomplete; INVALID when absent."""
    status, packet = parse(msg)
    if status is not Status.VALID:
        return status
    assert packet is not None
    if packet.type != kind or name not in _ALL_FIELDS:
        return Status.INVALID
    if name.isdigit() and (packet.version != 5 or (name in _WILL_FIELDS and not packet.fields["flags"] & _WILL)):
        return Status.INVALID
    if name.isdigit() and int(name) in _INT_PROPS:
        return str(packet.fields.get(name, 0)).encode()
    value = packet.fields.get(name)
    if isinstance(value, int):
        return str(value).encode()
    return value if value else Status.INVALID
