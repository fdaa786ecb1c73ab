"""The PROXY protocol, versions 1 (text) and 2 (binary with TLVs), free of I/O.

``parse`` takes the bytes received so far and returns the header and how many
bytes it used, None while more are needed, or raises ``ProxyHeaderError``.
``build_v1``/``build_v2`` make the header a server is sent.  TLVs are
validated as haproxy 2.6 does: each must end inside the header, the
authority and unique-id values have a maximum length, a CRC32C must match.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from ..samples.hashing import crc32c

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V1_PREFIX = b"PROXY "
V1_MAX = 107
"""The longest v1 line, CRLF included."""

TLV_ALPN = 0x01
TLV_AUTHORITY = 0x02
TLV_CRC32C = 0x03
TLV_NOOP = 0x04
TLV_UNIQUE_ID = 0x05
TLV_SSL = 0x20
SSL_VERSION = 0x21
SSL_CN = 0x22
SSL_CIPHER = 0x23
SSL_SIG_ALG = 0x24
SSL_KEY_ALG = 0x25
SSL_CLIENT_SSL = 0x01
SSL_CLIENT_CERT_CONN = 0x02
SSL_CLIENT_CERT_SESS = 0x04

AUTHORITY_MAX = 255
UNIQUE_ID_MAX = 128

_FAMILIES = {0x11: (socket.AF_INET, 4), 0x12: (socket.AF_INET, 4), 0x21: (socket.AF_INET6, 16),
             0x22: (socket.AF_INET6, 16)}
_ADDRESS_SIZES = {0x00: 0, 0x11: 12, 0x12: 12, 0x21: 36, 0x22: 36, 0x31: 216, 0x32: 216}

Address = tuple[str, int]


class ProxyHeaderError(ValueError):
    """A header haproxy would refuse: the connection is closed."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """What a PROXY header said: the addresses (None for LOCAL/UNKNOWN) and the v2 TLVs."""

    version: int
    src: Address | None = None
    dst: Address | None = None
    tlvs: tuple[tuple[int, bytes], ...] = ()

    def tlv(self, kind: int) -> bytes | None:
        """The value of the first TLV of this type, or None."""
        return next((value for t, value in self.tlvs if t == kind), None)


def parse(data: bytes) -> tuple[ProxyHeader, int] | None:
    """(header, bytes it took) from the start of *data*; None when more bytes are needed."""
    if data.startswith(SIGNATURE[: len(data)]) and len(data) < len(SIGNATURE):
        return None
    if data.startswith(SIGNATURE):
        return _parse_v2(data)
    if data.startswith(V1_PREFIX[: len(data)]) and len(data) < len(V1_PREFIX):
        return None
    if data.startswith(V1_PREFIX):
        return _parse_v1(data)
    raise ProxyHeaderError("Received something which does not look like a PROXY protocol header")


def _parse_v1(data: bytes) -> tuple[ProxyHeader, int] | None:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyHeaderError("PROXY v1 header too long")
        return None
    words = data[:end].decode("latin-1").split(" ")
    if len(words) >= 2 and words[1] == "UNKNOWN":
        return ProxyHeader(1), end + 2
    if len(words) != 6 or words[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError("Malformed PROXY v1 header")
    family = socket.AF_INET if words[1] == "TCP4" else socket.AF_INET6
    if not (words[4].isdigit() and words[5].isdigit()):
        raise ProxyHeaderError("Malformed PROXY v1 header")
    ports = int(words[4]), int(words[5])
    try:
        src = socket.inet_ntop(family, socket.inet_pton(family, words[2]))
        dst = socket.inet_ntop(family, socket.inet_pton(family, words[3]))
    except OSError:
        raise ProxyHeaderError("Malformed PROXY v1 header") from None
    if ports[0] > 65535 or ports[1] > 65535:
        raise ProxyHeaderError("Malformed PROXY v1 header")
    return ProxyHeader(1, (src, ports[0]), (dst, ports[1])), end + 2


def _parse_v2(data: bytes) -> tuple[ProxyHeader, int] | None:
    if len(data) < 16:
        return None
    ver_cmd, family = data[12], data[13]
    (length,) = struct.unpack_from("!H", data, 14)
    if ver_cmd >> 4 != 2 or ver_cmd & 0x0F > 1:
        raise ProxyHeaderError("Unsupported PROXY v2 version or command")
    total = 16 + length
    if len(data) < total:
        return None
    body = data[16:total]
    if ver_cmd & 0x0F == 0:  # LOCAL: the connection is the proxy's own (health checks)
        return ProxyHeader(2), total
    size = _ADDRESS_SIZES.get(family)
    if size is None or length < size:
        raise ProxyHeaderError("Truncated or unsupported PROXY v2 address block")
    src = dst = None
    if family in _FAMILIES:
        af, n = _FAMILIES[family]
        src = (socket.inet_ntop(af, body[:n]), struct.unpack_from("!H", body, 2 * n)[0])
        dst = (socket.inet_ntop(af, body[n : 2 * n]), struct.unpack_from("!H", body, 2 * n + 2)[0])
    tlvs = _parse_tlvs(body[size:])
    _validate(tlvs, data[:total])
    return ProxyHeader(2, src, dst, tlvs), total


def _parse_tlvs(data: bytes) -> tuple[tuple[int, bytes], ...]:
    tlvs = []
    pos = 0
    while pos < len(data):
        if pos + 3 > len(data):
            raise ProxyHeaderError("Truncated PROXY v2 TLV")
        kind, length = data[pos], struct.unpack_from("!H", data, pos + 1)[0]
        pos += 3
        if pos + length > len(data):
            raise ProxyHeaderError("PROXY v2 TLV longer than the header")
        tlvs.append((kind, data[pos : pos + length]))
        pos += length
    return tuple(tlvs)


def _validate(tlvs: tuple[tuple[int, bytes], ...], header: bytes) -> None:
    at = 16 + _ADDRESS_SIZES[header[13]]
    for kind, value in tlvs:
        if kind == TLV_AUTHORITY and len(value) > AUTHORITY_MAX:
            raise ProxyHeaderError("PROXY v2 authority TLV too long")
        if kind == TLV_UNIQUE_ID and len(value) > UNIQUE_ID_MAX:
            raise ProxyHeaderError("PROXY v2 unique-id TLV too long")
        if kind == TLV_CRC32C:
            if len(value) != 4:
                raise ProxyHeaderError("PROXY v2 CRC32C TLV of the wrong size")
            zeroed = header[: at + 3] + bytes(4) + header[at + 7 :]
            if crc32c(zeroed) != struct.unpack("!I", value)[0]:
                raise ProxyHeaderError("PROXY v2 CRC32C mismatch")
        at += 3 + len(value)


def build_v1(src: Address | None, dst: Address | None) -> bytes:
    """The v1 line for a stream between these addresses (UNKNOWN when either is not IP)."""
    pair = _ip_pair(src, dst)
    if pair is None:
        return b"PROXY UNKNOWN\r\n"
    (s, sp), (d, dp), version = pair
    return f"PROXY TCP{version} {s} {d} {sp} {dp}\r\n".encode()


def build_v2(src: Address | None, dst: Address | None, tlvs: list[tuple[int, bytes]],
             crc: bool = False) -> bytes:
    """The v2 header (command PROXY; family UNSPEC when the addresses are not IP), with *tlvs* and,
    when *crc*, a CRC32C TLV over the whole header."""
    pair = _ip_pair(src, dst)
    if pair is None:
        family, addresses = 0x00, b""
    else:
        (s, sp), (d, dp), version = pair
        af = socket.AF_INET if version == 4 else socket.AF_INET6
        family = 0x11 if version == 4 else 0x21
        addresses = socket.inet_pton(af, s) + socket.inet_pton(af, d) + struct.pack("!HH", sp, dp)
    body = addresses + b"".join(tlv(kind, value) for kind, value in tlvs)
    if crc:
        body += tlv(TLV_CRC32C, b"\x00\x00\x00\x00")
    header = SIGNATURE + bytes([0x21, family]) + struct.pack("!H", len(body)) + body
    if crc:
        header = header[:-4] + struct.pack("!I", crc32c(header))
    return header


def build_v2_local() -> bytes:
    """A v2 header with the LOCAL command: the connection is the sender's own (a health check)."""
    return SIGNATURE + b"\x20\x00\x00\x00"


def tlv(kind: int, value: bytes) -> bytes:
    return bytes([kind]) + struct.pack("!H", len(value)) + value


def _ip_pair(src: Address | None, dst: Address | None) -> tuple[Address, Address, int] | None:
    """Both addresses in one family (IPv4 shown as IPv4-mapped IPv6 when the other is IPv6)."""
    if not src or not dst or src[0] is None or dst[0] is None:
        return None
    a, b = _version(src[0]), _version(dst[0])
    if a is None or b is None:
        return None
    s, d = src[0], dst[0]
    if a != b:
        s, d = (f"::ffff:{x}" if v == 4 else x for x, v in ((s, a), (d, b)))
    return (s, src[1] or 0), (d, dst[1] or 0), max(a, b)


def _version(host: str) -> int | None:
    for version, family in ((4, socket.AF_INET), (6, socket.AF_INET6)):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return version
    return None
