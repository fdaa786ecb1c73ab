"""HAProxy's peers protocol (2.1, with 2.0 accepted), free of I/O: bytes in, messages out, bytes out.

The handshake is three text lines from the connecting side (``HAProxyS 2.1``,
the name it expects the listener to have, then its own name, pid and relative
pid) and one status line back (200 on success).  Then both sides exchange
binary messages: a class byte, a type byte, and for types of 128 and more a
varint length and that many bytes.  Integers are HAProxy's varints (one byte
under 240, then 4 bits and 7 bits per byte).  Data types are numbered as in
HAProxy 2.6's ``STKTABLE_DT_*`` (bit N of a table definition's bitfield).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from luaproxy.worker.sticktable import KeyType, TableSpec

PROTOCOL = "HAProxyS"
VERSION = "2.1"
ACCEPTED_VERSIONS = ("2.0", "2.1")

CLASS_CONTROL, CLASS_ERROR, CLASS_TABLE, CLASS_RESERVED = 0, 1, 10, 255
CTRL_RESYNC_REQ, CTRL_RESYNC_FINISHED, CTRL_RESYNC_PARTIAL, CTRL_RESYNC_CONFIRM, CTRL_HEARTBEAT = range(5)
ERR_PROTOCOL, ERR_SIZE = 0, 1
UPDATE, INC_UPDATE, DEFINE, SWITCH, ACK, UPDATE_TIMED, INC_UPDATE_TIMED = range(0x80, 0x87)

STATUS_OK, STATUS_RETRY = 200, 300
STATUS_PROTOCOL, STATUS_VERSION, STATUS_HOST, STATUS_PEER = 501, 502, 503, 504

MAX_MESSAGE = 64 * 1024
MAX_LINE = 256
U32 = 0xFFFFFFFF

DATA_BITS: dict[str, int] = {
    "server_id": 0, "gpt0": 1, "gpc0": 2, "gpc0_rate": 3, "conn_cnt": 4, "conn_rate": 5, "conn_cur": 6,
    "sess_cnt": 7, "sess_rate": 8, "http_req_cnt": 9, "http_req_rate": 10, "http_err_cnt": 11,
    "http_err_rate": 12, "bytes_in_cnt": 13, "bytes_in_rate": 14, "bytes_out_cnt": 15, "bytes_out_rate": 16,
    "gpc1": 17, "gpc1_rate": 18, "server_key": 19, "http_fail_cnt": 20, "http_fail_rate": 21,
    "gpt": 22, "gpc": 23, "gpc_rate": 24,
}
BIT_NAMES = {bit: name for name, bit in DATA_BITS.items()}
_RATE_BITS = {3, 5, 8, 10, 12, 14, 16, 18, 21, 24, 26}
_DICT_BITS = {19}
_ARRAY_BITS = {22, 23, 24}
DICT_ENTRIES = 128
"""The entries of each session's dictionary cache, one way (HAProxy's ``PEER_STKT_CACHE_MAX_ENTRIES``)."""
MAX_DICT_VALUE = 16384
"""A dictionary string must be shorter (haproxy's limit: its buffer size), so a session's cache stays
under 2 MB."""
_WIRE_KEY_TYPES = {KeyType.INTEGER: 2, KeyType.IP: 4, KeyType.IPV6: 5, KeyType.STRING: 6, KeyType.BINARY: 7}


class ProtocolError(Exception):
    """The peer broke the protocol: send a protocol error and close."""


# Varints.

def encode_int(value: int) -> bytes:
    value &= (1 << 64) - 1
    if value < 240:
        return bytes((value,))
    out = bytearray((value & 0xFF | 0xF0,))
    value = (value - 240) >> 4
    while value >= 128:
        out.append(value & 0xFF | 0x80)
        value = (value - 128) >> 7
    out.append(value)
    return bytes(out)


def decode_int(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position); ProtocolError when *data* ends inside the varint."""
    if pos >= len(data):
        raise ProtocolError("truncated integer")
    value = data[pos]
    pos += 1
    if value < 240:
        return value, pos
    shift = 4
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtocolError("truncated integer")
        byte = data[pos]
        pos += 1
        value += byte << shift
        shift += 7
        if byte < 128:
            return value & ((1 << 64) - 1), pos


# Framing.

def message(cls: int, kind: int, payload: bytes = b"") -> bytes:
    if kind < 128:
        return bytes((cls, kind))
    return bytes((cls, kind)) + encode_int(len(payload)) + payload


def control(kind: int) -> bytes:
    return message(CLASS_CONTROL, kind)


class Reader:
    """Buffers what the peer sent; ``messages()`` yields whole (class, type, payload) messages."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > 4 * MAX_MESSAGE:
            raise ProtocolError("too much unread data")

    def line(self) -> str | None:
        """One handshake line (without its LF), or None until it is complete."""
        end = self.buffer.find(b"\n")
        if end < 0:
            if len(self.buffer) > MAX_LINE:
                raise ProtocolError("handshake line too long")
            return None
        text = bytes(self.buffer[:end]).decode("latin-1")
        del self.buffer[: end + 1]
        return text

    def messages(self) -> list[tuple[int, int, bytes]]:
        out, buf, pos = [], bytes(self.buffer), 0
        while len(buf) - pos >= 2:
            cls, kind = buf[pos], buf[pos + 1]
            if kind < 128:
                out.append((cls, kind, b""))
                pos += 2
                continue
            try:
                length, start = decode_int(buf, pos + 2)
            except ProtocolError:
                break
            if length > MAX_MESSAGE:
                raise ProtocolError("message too large")
            if len(buf) - start < length:
                break
            out.append((cls, kind, buf[start : start + length]))
            pos = start + length
        del self.buffer[:pos]
        return out


# Handshake.

def hello(remote: str, local: str, pid: int) -> bytes:
    return f"{PROTOCOL} {VERSION}\n{remote}\n{local} {pid} 1\n".encode()


def status(code: int) -> bytes:
    return f"{code}\n".encode()


# Tables.

@dataclass(slots=True)
class RemoteTable:
    """What a peer's table definition announced: the local table it maps to and how its updates read."""

    spec: TableSpec | None  # None: not one of ours, its updates are read and dropped
    bits: tuple[int, ...]
    nbelem: dict[int, int] = field(default_factory=dict)
    last_get: int = 0


def wire_key_len(spec: TableSpec) -> int:
    return spec.wire_key_len or spec.key_len


def define(table_id: int, wire_name: str, spec: TableSpec) -> bytes:
    name = wire_name.encode()
    bits = 0
    periods = b""
    for dname, period in spec.data:
        bit = DATA_BITS[dname]
        bits |= 1 << bit
        if bit in _ARRAY_BITS:
            periods += encode_int(bit) + encode_int(spec.elements(dname))
            if bit in _RATE_BITS:
                periods += encode_int(period)
        elif bit in _RATE_BITS:
            periods += encode_int(bit) + encode_int(period)
    payload = (encode_int(table_id) + encode_int(len(name)) + name + encode_int(_WIRE_KEY_TYPES[spec.key_type])
               + encode_int(wire_key_len(spec)) + encode_int(bits) + encode_int(spec.expire_ms) + periods)
    return message(CLASS_TABLE, DEFINE, payload)


def parse_define(payload: bytes, tables: dict[str, TableSpec]) -> tuple[int, RemoteTable]:
    """(the peer's id for the table, what its updates hold); the spec is None when the table is not ours
    or its key differs (HAProxy ignores it then)."""
    table_id, pos = decode_int(payload, 0)
    name_len, pos = decode_int(payload, pos)
    if not name_len or pos + name_len > len(payload):
        raise ProtocolError("bad table name")
    name = payload[pos : pos + name_len].decode("latin-1")
    pos += name_len
    key_type, pos = decode_int(payload, pos)
    key_len, pos = decode_int(payload, pos)
    bitfield, pos = decode_int(payload, pos)
    bits = tuple(b for b in range(64) if bitfield >> b & 1)
    remote = RemoteTable(None, bits)
    if pos < len(payload):
        _expire, pos = decode_int(payload, pos)
        for bit in bits:
            if bit in _ARRAY_BITS:
                _type, pos = decode_int(payload, pos)
                remote.nbelem[bit], pos = decode_int(payload, pos)
                if bit in _RATE_BITS:
                    _period, pos = decode_int(payload, pos)
            elif bit in _RATE_BITS:
                _type, pos = decode_int(payload, pos)
                _period, pos = decode_int(payload, pos)
    spec = tables.get(name)
    if spec is not None and key_type == _WIRE_KEY_TYPES[spec.key_type] and key_len == wire_key_len(spec):
        remote.spec = spec
    return table_id, remote


class Dictionaries:
    """One session's dictionary caches (``server_key`` strings), both ways, as HAProxy keeps per peer:
    a string sent once is then sent as its cache number alone; what the peer sent is kept by number.
    A new session starts with empty caches on both sides."""

    def __init__(self) -> None:
        self.tx: dict[bytes, int] = {}
        self.tx_slots: list[bytes | None] = [None] * DICT_ENTRIES
        self.tx_next = 0
        self.rx: list[bytes | None] = [None] * DICT_ENTRIES

    def encode(self, text: bytes | None) -> bytes:
        """A server_key value: 0 for none, else its length-prefixed (number[, length, string])."""
        if text is None:
            return encode_int(0)
        number = self.tx.get(text)
        if number is not None:
            return encode_int(1) + encode_int(number + 1)
        number = self.tx_next
        old = self.tx_slots[number]
        if old is not None:
            del self.tx[old]
        self.tx_slots[number], self.tx[text] = text, number
        self.tx_next = (number + 1) % DICT_ENTRIES
        body = encode_int(number + 1) + encode_int(len(text)) + text
        return encode_int(len(body)) + body

    def decode(self, payload: bytes, pos: int) -> tuple[bytes | None, int]:
        """(the string a server_key value names, or None; next position)."""
        length, pos = decode_int(payload, pos)
        if not length:
            return None, pos
        end = pos + length
        if end > len(payload):
            raise ProtocolError("truncated dictionary entry")
        number, at = decode_int(payload[:end], pos)
        if not 1 <= number <= DICT_ENTRIES:
            raise ProtocolError("invalid dictionary entry number")
        if at == end:
            return self.rx[number - 1], end
        size, at = decode_int(payload[:end], at)
        if at + size > end or size >= MAX_DICT_VALUE:
            raise ProtocolError("truncated or oversized dictionary entry")
        self.rx[number - 1] = payload[at : at + size]
        return self.rx[number - 1], end


def update(spec: TableSpec, update_id: int | None, expire_ms: int, key: bytes, raw: dict[str, object],
           now: int, dicts: Dictionaries | None = None) -> bytes:
    """An entry update: with its update id (else the receiver counts one more than the last), with the
    time left before it expires, the key, then each stored value in data-type order (an array's
    elements one after the other, server_key through the session's dictionary cache)."""
    out = bytearray()
    if update_id is not None:
        out += struct.pack("!I", update_id & U32)
    out += struct.pack("!I", max(expire_ms, 0) & U32)
    if spec.key_type is KeyType.STRING:
        text = key.split(b"\0", 1)[0]
        out += encode_int(len(text)) + text
    elif spec.key_type is KeyType.INTEGER:
        out += key[:4].rjust(4, b"\0")
    else:
        out += key[: wire_key_len(spec)].ljust(wire_key_len(spec), b"\0")
    for dname, _period in spec.data:
        value = raw[dname]
        if dname == "server_key":
            out += (dicts or Dictionaries()).encode(None if value is None else str(value).encode("latin-1"))
            continue
        for item in value if isinstance(value, list) else (value,):
            if isinstance(item, tuple):
                tick, curr, prev = item
                out += encode_int((now - tick) & U32) + encode_int(curr & U32) + encode_int(prev & U32)
            else:
                out += encode_int(int(item))  # type: ignore[call-overload]
    return message(CLASS_TABLE, UPDATE_TIMED if update_id is not None else INC_UPDATE_TIMED, bytes(out))


@dataclass(slots=True)
class Update:
    key: bytes
    expire_ms: int | None  # None: the peer did not say (an untimed update)
    values: dict[str, object]


def parse_update(kind: int, payload: bytes, remote: RemoteTable, now: int,
                 dicts: Dictionaries | None = None) -> Update | None:
    """One entry update from the peer (None when its table is not ours); sets ``remote.last_get``.
    An array comes as a list of its elements, server_key as bytes (absent when the peer sent none)."""
    pos = 0
    if kind in (UPDATE, UPDATE_TIMED):
        if len(payload) < 4:
            raise ProtocolError("truncated update id")
        (remote.last_get,) = struct.unpack_from("!I", payload)
        pos = 4
    else:
        remote.last_get = (remote.last_get + 1) & U32
    expire = None
    if kind in (UPDATE_TIMED, INC_UPDATE_TIMED):
        if len(payload) < pos + 4:
            raise ProtocolError("truncated expiry")
        (expire,) = struct.unpack_from("!I", payload, pos)
        pos += 4
    spec = remote.spec
    if spec is None:
        return None
    if spec.key_type is KeyType.STRING:
        length, pos = decode_int(payload, pos)
        if pos + length > len(payload):
            raise ProtocolError("truncated key")
        key = payload[pos : pos + min(length, spec.key_len)]
        pos += length
    else:
        size = 4 if spec.key_type is KeyType.INTEGER else wire_key_len(spec)
        if pos + size > len(payload):
            raise ProtocolError("truncated key")
        key = payload[pos : pos + size][: spec.key_len].ljust(spec.key_len, b"\0")
        pos += size
    values: dict[str, object] = {}
    for bit in remote.bits:
        name = BIT_NAMES.get(bit)
        wanted = name is not None and spec.stores(name)
        if bit in _DICT_BITS:
            text, pos = (dicts or Dictionaries()).decode(payload, pos)
            if wanted and text is not None:
                values["server_key"] = text
            continue
        items: list[object] = []
        for _ in range(remote.nbelem.get(bit, 1) if bit in _ARRAY_BITS else 1):
            first, pos = decode_int(payload, pos)
            if bit in _RATE_BITS:
                curr, pos = decode_int(payload, pos)
                prev, pos = decode_int(payload, pos)
                items.append((now - first, curr, prev))
            else:
                items.append(first)
        if wanted:
            values[name] = items if bit in _ARRAY_BITS else items[0]  # type: ignore[index]
    return Update(key, expire, values)


def ack(remote_table_id: int, update_id: int) -> bytes:
    return message(CLASS_TABLE, ACK, encode_int(remote_table_id) + struct.pack("!I", update_id & U32))


def parse_ack(payload: bytes) -> tuple[int, int]:
    table_id, pos = decode_int(payload, 0)
    if len(payload) < pos + 4:
        raise ProtocolError("truncated ack")
    return table_id, struct.unpack_from("!I", payload, pos)[0]


def parse_switch(payload: bytes) -> int:
    return decode_int(payload, 0)[0]
