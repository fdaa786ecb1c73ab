"""A TLS ClientHello read from a channel's raw bytes, as HAProxy's req.ssl_* fetches read it.

Everything here answers one of three ways: a value, NEED_MORE (the record is
not all there yet: a TCP content rule may wait for it) or INVALID (not a
ClientHello, or a malformed one).
"""

from __future__ import annotations

import enum


class Status(enum.Enum):
    NEED_MORE = "need more data"
    INVALID = "invalid"


_HELLO_MIN = 2 + 32 + 1 + 2 + 2 + 1 + 1 + 2 + 2  # version, random, ids, a cipher, a method, extensions
SNI, EC_POINT_CURVES, ALPN, SESSION_TICKET = 0, 10, 16, 35


def _u16(data: bytes, i: int) -> int:
    return (data[i] << 8) | data[i + 1]


def extensions(data: bytes) -> list[tuple[int, bytes]] | Status:
    """The (type, body) extensions of a complete TLS ClientHello record at the start of *data*."""
    if not data:
        return Status.NEED_MORE
    if data[0] != 0x16:
        return Status.INVALID
    if len(data) < 3:
        return Status.NEED_MORE
    if data[1] < 0x03:
        return Status.INVALID
    if len(data) < 5:
        return Status.NEED_MORE
    if _u16(data, 3) < 1 + 3 + _HELLO_MIN:
        return Status.INVALID
    body = data[5:]
    if not body:
        return Status.NEED_MORE
    if body[0] != 0x01:
        return Status.INVALID
    if len(body) < 4:
        return Status.NEED_MORE
    left = int.from_bytes(body[1:4], "big")
    if left < _HELLO_MIN:
        return Status.INVALID
    if len(body) < left:
        return Status.NEED_MORE
    hello = body[4:]
    if hello[0] < 0x03 or hello[1] < 0x01:
        return Status.INVALID
    session_id = hello[34]
    if session_id > 32 or session_id > left - 35:
        return Status.INVALID
    pos, left = 35 + session_id, left - 35 - session_id
    ciphers = _u16(hello, pos)
    if left < 4 or ciphers < 2 or ciphers > left:
        return Status.INVALID
    pos, left = pos + 2 + ciphers, left - 2 - ciphers
    methods = hello[pos]
    if left < 2 or methods < 1 or methods > left:
        return Status.INVALID
    pos, left = pos + 1 + methods, left - 1 - methods
    if left < 2 or _u16(hello, pos) > left - 2:
        return Status.INVALID
    left = _u16(hello, pos)
    pos += 2
    out: list[tuple[int, bytes]] = []
    while left >= 4:
        kind, size = _u16(hello, pos), _u16(hello, pos + 2)
        if size > left - 4:
            return Status.INVALID
        out.append((kind, hello[pos + 4 : pos + 4 + size]))
        pos, left = pos + 4 + size, left - 4 - size
    return out


def server_name(data: bytes) -> bytes | Status:
    """The first host_name of the server_name extension."""
    found = extensions(data)
    if isinstance(found, Status):
        return found
    remaining = sum(4 + len(body) for _, body in found)
    for kind, body in found:
        if kind == SNI:
            if len(body) < 2:
                return Status.INVALID
            names = _u16(body, 0)
            if names < 4 or names > remaining - 6:
                return Status.INVALID
            if body[2] == 0:
                return body[5 : 5 + _u16(body, 3)]
        remaining -= 4 + len(body)
    return Status.INVALID


def alpn_protocols(data: bytes) -> list[bytes] | Status:
    """The ALPN protocol names, in the client's order of preference (up to a malformed one)."""
    found = extensions(data)
    if isinstance(found, Status):
        return found
    for kind, body in found:
        if kind != ALPN:
            continue
        if len(body) < 3:
            return Status.INVALID
        names: list[bytes] = []
        offset = 2  # after the list length
        while True:
            size = body[offset]
            if size + offset + 1 > len(body):
                return names or Status.INVALID
            names.append(body[offset + 1 : offset + 1 + size])
            offset += size + 1
            if offset >= len(body):
                return names
    return Status.INVALID


def has_extension(data: bytes, wanted: int) -> bool | Status:
    found = extensions(data)
    return found if isinstance(found, Status) else any(kind == wanted for kind, _ in found)


def session_ticket(data: bytes) -> int | Status:
    """0: no SessionTicket extension, 1: an empty one, 2: one carrying a ticket."""
    found = extensions(data)
    if isinstance(found, Status):
        return found
    for kind, body in found:
        if kind == SESSION_TICKET:
            return 2 if body else 1
    return 0


def hello_type(data: bytes) -> int | Status:
    """The handshake message type of the first record (1: ClientHello, 2: ServerHello)."""
    if not data:
        return Status.NEED_MORE
    if not (0x14 <= data[0] <= 0x17 or data[0] == 0xFF):
        return Status.INVALID
    if len(data) < 9:
        return Status.NEED_MORE
    if (data[1] << 16) + data[2] < 0x030000 or _u16(data, 3) < 4:
        return Status.INVALID
    if len(data) < 9 + int.from_bytes(data[6:9], "big"):
        return Status.NEED_MORE
    return data[5]


def hello_version(data: bytes, limit: int) -> int | Status:
    """The ClientHello's version as major << 16 | minor (SSLv3+ records and SSLv2 hellos)."""
    if not data:
        return Status.NEED_MORE
    if 0x14 <= data[0] <= 0x17 or data[0] == 0xFF:
        if len(data) < 11:
            return Status.NEED_MORE
        length = _u16(data, 3)
        if (data[1] << 16) + data[2] < 0x030000 or not 6 <= length <= (1 << 14) + 2048:
            return Status.INVALID
        left = len(data) - 5
        version = (data[9] << 16) + data[10]
    else:
        header = 2 if data[0] & 0x80 else 3
        if len(data) < header + 1:
            return Status.NEED_MORE
        record = ((data[0] & (0x7F if header == 2 else 0x3F)) << 8) | data[1]
        padding = 0 if header == 2 else data[2]
        if data[header] != 0x01:
            return Status.INVALID
        rest = data[header + 1 :]
        if len(rest) < 8:
            return Status.NEED_MORE
        version = (rest[0] << 16) + rest[1]
        ciphers, session, challenge = _u16(rest, 2), _u16(rest, 4), _u16(rest, 6)
        if ciphers % 3 or (session and session != 16) or not 16 <= challenge <= 32:
            return Status.INVALID
        if record != 9 + ciphers + session + challenge:
            return Status.INVALID
        length = ciphers + session + challenge + padding
        left = len(rest) - 8
    if left < min(length, limit):
        return Status.NEED_MORE
    return version
