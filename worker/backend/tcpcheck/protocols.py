"""The protocol checks (``option redis-check``, ``mysql-check``, ``pgsql-check``, ``ldap-check``,
``spop-check``, ``smtpchk``, ``ssl-hello-chk``) as predefined tcp-check rule sets.

HAProxy builds these options from its own tcp-check rules; doing the same here
keeps one engine.  The bytes sent and the verdicts follow the protocols (and
haproxy 2.6's report texts); the few checks a pattern cannot express (MySQL
packets, the LDAP bind response, the SPOP hello) are small custom judges.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Callable

from .rules import Connect, Expect, Rule, RuleSet, Send, Verdict, hex_bytes, with_implicit_connect


def _line(start: int = 0, strip: bool = False) -> Callable[[bytes], str]:
    """The reply from *start* up to its first CR or LF (HAProxy's ``res.payload(N,0),cut_crlf``)."""
    def text(data: bytes) -> str:
        value = data[start:].decode("latin-1")
        value = value.lstrip(" ") if strip else value
        return re.split("[\r\n]", value, maxsplit=1)[0]

    return text


def _status_code(data: bytes) -> int | None:
    head = data[:3]
    return int(head) if head.isdigit() else None


def _regex(pattern: str) -> re.Pattern[bytes]:
    return re.compile(pattern.encode("latin-1"))


def redis() -> tuple[Rule, ...]:
    return (Send(b"*1\r\n$4\r\nPING\r\n", step=1),
            Expect("string", b"+PONG\r\n", error_status="L7STS", on_error=_line(), on_success="Redis server is ok",
                   step=2))


def smtp(args: tuple[str, ...]) -> tuple[Rule, ...]:
    command = f"{args[0]} {args[1]}" if len(args) >= 2 and args[0] in ("EHLO", "HELO") else "HELO localhost"
    reply = _line(4, strip=True)
    return (Connect(step=1),
            Expect("rstring", regex=_regex(r"^[0-9]{3}[ \r]"), min_recv=4, on_error=_line(), step=2),
            Expect("rstring", regex=_regex(r"^2[0-9]{2}[ \r]"), min_recv=4, error_status="L7STS", on_error=reply,
                   status_code=_status_code, step=3),
            Send(f"{command}\r\n".encode("latin-1"), step=4),
            Expect("rstring", regex=_regex("^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]"), error_status="L7STS",
                   on_error=reply, on_success=reply, status_code=_status_code, step=5))


def pgsql(args: tuple[str, ...]) -> tuple[Rule, ...]:
    if len(args) != 2 or args[0] != "user":
        raise ValueError("'option pgsql-check' expects 'user <username>'.")
    user = args[1].encode("latin-1")
    packet = struct.pack(">I", 15 + len(user)) + bytes.fromhex("00030000") + b"user\0" + user + b"\0\0"
    return (Connect(step=1), Send(packet, step=2),
            Expect("rstring", regex=_regex("^E"), negate=True, min_recv=5, on_error=lambda d: d[6:].decode("latin-1"),
                   step=3),
            Expect("rbinary", regex=_regex("^52000000[A-Z0-9]{2}000000(00|02|03|04|05|06|07|09|0A)"), min_recv=9,
                   error_status="L7STS", on_success="PostgreSQL server is ok", on_error="PostgreSQL unknown error",
                   step=4))


def mysql(args: tuple[str, ...]) -> tuple[Rule, ...]:
    """Without a user: judge the server's greeting; with one: log in (pre-4.1 or 4.1 packet) and quit."""
    if not args:
        return (Connect(step=1), Expect("custom", custom=_mysql_packet(0), step=2))
    if args[0] != "user" or len(args) < 2 or len(args) > 3:
        raise ValueError("'option mysql-check' expects [user <username> [post-41|pre-41]].")
    version = args[2] if len(args) == 3 else "post-41"
    if version not in ("post-41", "pre-41"):
        raise ValueError(f"'option mysql-check': unknown version '{version}', expected post-41 or pre-41.")
    user = args[1].encode("latin-1")
    if version == "pre-41":
        body = bytes.fromhex("0080000001") + user + b"\0\0"
    else:
        body = bytes.fromhex("0082000000800001") + b"\x21" + bytes(23) + user + b"\0\0"
    quit_packet = bytes.fromhex("0100000001")
    packet = struct.pack("<I", len(body))[:3] + b"\x01" + body + quit_packet
    return (Connect(step=1), Send(packet, step=2), Expect("custom", custom=_mysql_packet(0), step=3),
            Expect("custom", custom=_mysql_packet(None), step=4))


def _mysql_packet(offset: int | None) -> Callable[[bytes, bool], Verdict | None]:
    """Judge the MySQL packet at *offset* (None: the one after the greeting); an error packet fails."""
    def judge(data: bytes, last_read: bool) -> Verdict | None:
        start = offset if offset is not None else 4 + int.from_bytes(data[:3], "little")
        if len(data) < start + 4:
            return None if not last_read else Verdict("L7RSP")
        length = int.from_bytes(data[start:start + 3], "little")
        if len(data) < start + 4 + length:
            return None if not last_read else Verdict("L7RSP")
        if data[start + 4] == 0xFF:
            code = int.from_bytes(data[start + 5:start + 7], "little")
            return Verdict("L7STS", data[start + 7:].decode("latin-1"), code)
        return Verdict(None, data[5:].split(b"\0")[0].decode("latin-1"), final=True)

    return judge


def ldap() -> tuple[Rule, ...]:
    return (Send(hex_bytes("300C020101600702010304008000"), step=1),
            Expect("rbinary", regex=_regex("^30"), min_recv=14, on_error="Not LDAPv3 protocol", step=2),
            Expect("custom", custom=_ldap_bind_response, step=3))


def _ldap_bind_response(data: bytes, last_read: bool) -> Verdict | None:
    """A BindResponse with resultCode 0 passes; its own code otherwise (RFC 4511 section 4.1.9)."""
    not_ldap = Verdict("L7RSP", "Not LDAPv3 protocol")
    short = None if not last_read else Verdict("L7RSP")
    pos, size = 1, 0
    if len(data) < 2:
        return short
    if data[pos] & 0x80:
        size = data[pos] & 0x7F
        if len(data) - pos < 1 + size:
            return short
        if size not in (2, 4):
            return not_ldap
        length = int.from_bytes(data[pos + 1:pos + 1 + size], "big")
    else:
        length = data[pos]
    pos += 1 + size
    if len(data) - pos < length:
        return short
    if data[pos:pos + 4] != b"\x02\x01\x01\x61":
        return not_ldap
    pos += 4
    size = data[pos] & 0x7F if data[pos] & 0x80 else 0
    if len(data) - pos < 1 + size + 2 + 1:
        return short
    pos += 1 + size
    if data[pos:pos + 2] != b"\x0a\x01":
        return not_ldap
    code = data[pos + 2]
    if code:
        return Verdict("L7STS", "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9", code)
    return Verdict(None, "Success", final=True)


SPOP_HELLO = hex_bytes(
    "0000004e0100000001" "0000" "12737570706f727465642d76657273696f6e730803322e30"
    "0e6d61782d6672616d652d73697a6503fcf0060c63617061" "62696c697469657308000b6865616c7468636865636b11")
"""HAPROXY-HELLO: supported-versions "2.0", max-frame-size 16380, no capabilities, healthcheck true."""
_SPOP_INVALID = "invalid frame received"


def spop() -> tuple[Rule, ...]:
    return (Connect(step=1), Send(SPOP_HELLO, step=2), Expect("custom", custom=_spop_hello, step=3))


def _spop_hello(data: bytes, last_read: bool) -> Verdict | None:
    """The agent's AGENT-HELLO must be one frame with a supported version, a frame size and capabilities."""
    if len(data) < 4 or len(data) < 4 + int.from_bytes(data[:4], "big"):
        return None if not last_read else Verdict("L7RSP", _SPOP_INVALID)
    frame = data[4:4 + int.from_bytes(data[:4], "big")]
    if len(frame) < 7 or frame[0] not in (101, 102):
        return Verdict("L7RSP", _SPOP_INVALID)
    if not int.from_bytes(frame[1:5], "big") & 1:
        return Verdict("L7RSP", "fragmentation not supported")
    try:
        reader = _SpopReader(frame, 5)
        reader.varint()
        reader.varint()
        items = reader.items()
    except (IndexError, ValueError):
        return Verdict("L7RSP", _SPOP_INVALID)
    if frame[0] == 102:
        return Verdict("L7RSP", str(items.get("message") or "an unknown error occurred"))
    return _spop_items(items)


def _spop_items(items: dict[str, object]) -> Verdict:
    version = items.get("version")
    if version is None:
        return Verdict("L7RSP", "version value not found")
    if not re.fullmatch(r"\d+\.\d+", str(version)):
        return Verdict("L7RSP", _SPOP_INVALID)
    if str(version) != "2.0":
        return Verdict("L7RSP", "unsupported version")
    size = items.get("max-frame-size")
    if size is None:
        return Verdict("L7RSP", "max-frame-size value not found")
    if not isinstance(size, int) or not 256 <= size <= 16380:
        return Verdict("L7RSP", "max-frame-size too big or too small")
    if "capabilities" not in items:
        return Verdict("L7RSP", "capabilities value not found")
    return Verdict(None, "SPOA server is ok", final=True)


class _SpopReader:
    """SPOP's typed key/value items (varints, strings, integers) read from one frame."""

    def __init__(self, data: bytes, pos: int) -> None:
        self.data, self.pos = data, pos

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        value = self.byte()
        if value < 240:
            return value
        shift = 4
        while True:
            byte = self.byte()
            value += byte << shift
            shift += 7
            if byte < 128:
                return value

    def chunk(self) -> bytes:
        size = self.varint()
        if self.pos + size > len(self.data):
            raise ValueError("truncated")
        value = self.data[self.pos:self.pos + size]
        self.pos += size
        return value

    def items(self) -> dict[str, object]:
        items: dict[str, object] = {}
        while self.pos < len(self.data):
            key = self.chunk().decode("latin-1")
            if not key:
                raise ValueError("empty key")
            kind = self.byte() & 0x0F
            if kind in (8, 9):
                items[key] = self.chunk().decode("latin-1")
            elif kind in (2, 3, 4, 5):
                items[key] = self.varint()
            elif kind in (6, 7):
                self.pos += 4 if kind == 6 else 16
            elif kind not in (0, 1):
                raise ValueError("unknown type")
        return items


def ssl_hello() -> tuple[Rule, ...]:
    return (Send(build=_client_hello, step=1),
            Expect("rbinary", regex=_regex("^1[56]"), min_recv=5, ok_status="L6OK", error_status="L6RSP",
                   tout_status="L6TOUT", step=2))


def _client_hello(ctx: object = None) -> bytes:
    """An SSLv3 ClientHello (the 39 common ciphers): enough for a TLS server to answer or alert."""
    ciphers = b"".join(struct.pack(">H", c) for c in (*range(0x01, 0x1C), *range(0x2F, 0x3B)))
    hello = (b"\x03\x00" + struct.pack(">I", int(time.time())) + b"HAPROXYSSLCHK\nHAPROXYSSLCHK\n" + b"\x00"
             + struct.pack(">H", len(ciphers)) + ciphers + b"\x01\x00")
    handshake = b"\x01" + struct.pack(">I", len(hello))[1:] + hello
    return b"\x16\x03\x00" + struct.pack(">H", len(handshake)) + handshake


PROTOCOLS: dict[str, Callable[[tuple[str, ...]], tuple[Rule, ...]]] = {
    "redis-check": lambda args: redis(),
    "smtpchk": smtp,
    "pgsql-check": pgsql,
    "mysql-check": mysql,
    "ldap-check": lambda args: ldap(),
    "spop-check": lambda args: spop(),
    "ssl-hello-chk": lambda args: ssl_hello(),
}


def protocol_rules(option: str, args: tuple[str, ...]) -> RuleSet:
    """The rule set of ``option <option> <args>``; raises ValueError on bad arguments."""
    return RuleSet(with_implicit_connect(list(PROTOCOLS[option](args))), option)
