"""Read a TLS ClientHello from buffered bytes, without terminating TLS (``req.ssl_sni`` & co.).

Bytes in, facts out: no socket.  ``parse_client_hello`` returns None while
the hello is incomplete or when the bytes are not a TLS handshake, so a fetch
gives no sample, as HAProxy's does before the hello is whole.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import xxhash

HANDSHAKE = 0x16
CLIENT_HELLO = 1
EXT_SNI, EXT_GROUPS, EXT_POINT_FORMATS, EXT_SIGALGS, EXT_ALPN, EXT_SUPPORTED_VERSIONS = 0, 10, 11, 13, 16, 43
ECDSA_SUITES = frozenset({0xC006, 0xC007, 0xC008, 0xC009, 0xC00A, 0xC023, 0xC024, 0xC02B, 0xC02C, 0xC048, 0xC049,
                          0xC05C, 0xC05D, 0xC072, 0xC073, 0xC086, 0xC087, 0xC0AC, 0xC0AD, 0xC0AE, 0xC0AF, 0xCCA9})
"""TLS 1.2 cipher suites that authenticate with an ECDSA certificate (IANA numbers)."""
SIGNALING = frozenset({0x00FF, 0x5600})
MAX_HELLO = 1 << 16


@dataclass(frozen=True, slots=True)
class ClientHello:
    hello_type: int
    """The handshake message type (1: ClientHello)."""
    version: int
    """The hello's client_version as HAProxy reports it: major * 65536 + minor."""
    sni: str | None = None
    alpn: tuple[str, ...] = ()
    supported_versions: tuple[int, ...] = ()
    ciphers: tuple[int, ...] = ()
    sigalgs: tuple[int, ...] = ()

    def signatures(self) -> tuple[bool, bool]:
        """(ECDSA, RSA): the certificate types this client can be served, as haproxy 2.6 reads them: ECDSA
        needs an ECDSA signature algorithm and a TLS 1.2 ECDSA cipher suite, RSA an RSA PKCS#1 signature
        algorithm (RSA-PSS alone does not count) or no signature_algorithms extension at all."""
        kinds = {alg & 0xFF for alg in self.sigalgs}
        has_ecdsa = 3 in kinds and any(c in ECDSA_SUITES for c in self.ciphers)
        return has_ecdsa, 1 in kinds or not self.sigalgs


def handshake_bytes(data: bytes) -> bytes | None:
    """The handshake messages carried by the leading handshake records; None if the first is not whole."""
    out = bytearray()
    pos = 0
    while pos + 5 <= len(data) and data[pos] == HANDSHAKE:
        length = int.from_bytes(data[pos + 3 : pos + 5], "big")
        if pos + 5 + length > len(data):
            break
        out += data[pos + 5 : pos + 5 + length]
        pos += 5 + length
    return bytes(out) if out else None


def incomplete(data: bytes | bytearray) -> bool:
    """True while *data* starts a TLS handshake whose ClientHello is not all there yet (worth waiting for)."""
    if not data or data[0] != HANDSHAKE:
        return False
    body = handshake_bytes(bytes(data[:MAX_HELLO]))
    if body is None or len(body) < 4:
        return len(data) < MAX_HELLO
    return len(body) < 4 + int.from_bytes(body[1:4], "big") and len(data) < MAX_HELLO


def hello_type(data: bytes) -> int | None:
    """``req.ssl_hello_type``: the type of the first handshake message, once its header is there."""
    body = handshake_bytes(data)
    return body[0] if body else None


def _client_hello(data: bytes) -> bytes | None:
    """The body of the ClientHello starting *data* (buffered records); None when it is not a whole one."""
    body = handshake_bytes(data)
    if body is None or len(body) < 4 or body[0] != CLIENT_HELLO:
        return None
    length = int.from_bytes(body[1:4], "big")
    hello = body[4 : 4 + length]
    return hello if len(hello) == length else None


def parse_client_hello(data: bytes) -> ClientHello | None:
    hello = _client_hello(data)
    if hello is None:
        return None
    try:
        return _parse_hello(CLIENT_HELLO, hello)
    except IndexError:
        return None


def _parse_hello(kind: int, hello: bytes) -> ClientHello:
    version = (hello[0] << 16) | hello[1]
    pos = 2 + 32
    pos += 1 + hello[pos]
    size = int.from_bytes(hello[pos : pos + 2], "big")
    ciphers = tuple(int.from_bytes(hello[i : i + 2], "big") for i in range(pos + 2, pos + 2 + size - 1, 2))
    pos += 2 + size
    pos += 1 + hello[pos]
    if pos + 2 > len(hello):
        return ClientHello(kind, version, ciphers=ciphers)
    end = pos + 2 + int.from_bytes(hello[pos : pos + 2], "big")
    pos += 2
    sni, alpn, versions, sigalgs = None, (), (), ()
    while pos + 4 <= min(end, len(hello)):
        ext = int.from_bytes(hello[pos : pos + 2], "big")
        size = int.from_bytes(hello[pos + 2 : pos + 4], "big")
        data = hello[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if ext == EXT_SNI:
            sni = _server_name(data)
        elif ext == EXT_ALPN:
            alpn = _alpn(data)
        elif ext == EXT_SUPPORTED_VERSIONS and data:
            versions = tuple(int.from_bytes(data[i : i + 2], "big") for i in range(1, 1 + data[0], 2))
        elif ext == EXT_SIGALGS and len(data) >= 2:
            end_algs = 2 + int.from_bytes(data[:2], "big")
            sigalgs = tuple(int.from_bytes(data[i : i + 2], "big") for i in range(2, min(end_algs, len(data)) - 1, 2))
    return ClientHello(kind, version, sni, alpn, versions, ciphers, sigalgs)


@dataclass(frozen=True, slots=True)
class Capture:
    """What ``tune.ssl.capture-buffer-size`` keeps of a ClientHello, as haproxy 2.6 captures it (JA3's parts):
    the lists are cut to the buffer's size, in this order, and ``cipher_hash`` covers the whole cipher list."""

    protocol_version: int
    cipher_hash: int
    """XXH64 (seed 0) of the whole cipher list, unsigned."""
    ciphers: bytes
    extensions: bytes = b""
    curves: bytes = b""
    point_formats: bytes = b""


def capture(data: bytes, size: int) -> Capture | None:
    """The capture of the ClientHello starting *data* (buffered records), at most *size* bytes of lists;
    None when it is not a whole ClientHello.  A malformed tail keeps what was captured before it."""
    hello = _client_hello(data)
    if hello is None or len(hello) < 35:
        return None
    version = int.from_bytes(hello[:2], "big")
    pos = 35 + hello[34]
    if pos + 2 > len(hello):
        return None
    size_ciphers = int.from_bytes(hello[pos : pos + 2], "big")
    suites = hello[pos + 2 : pos + 2 + size_ciphers]
    if len(suites) < size_ciphers:
        return None
    ciphers = suites[:size]
    pos += 2 + size_ciphers
    found = Capture(version, xxhash.xxh64_intdigest(suites), ciphers)
    pos += 1 + (hello[pos] if pos < len(hello) else 0)
    if pos + 2 > len(hello):
        return found
    ext_end = pos + 2 + int.from_bytes(hello[pos : pos + 2], "big")
    if ext_end > len(hello):
        return found
    pos += 2
    room = size - len(ciphers)
    extensions = bytearray()
    curves = formats = None
    while pos + 4 < ext_end and room >= 2:
        extensions += hello[pos : pos + 2]
        room -= 2
        kind, length = int.from_bytes(hello[pos : pos + 2], "big"), int.from_bytes(hello[pos + 2 : pos + 4], "big")
        pos += 4
        if pos + length > ext_end:
            return replace(found, extensions=bytes(extensions))
        item = hello[pos : pos + length]
        if kind == EXT_GROUPS:
            inner = int.from_bytes(item[:2], "big") if len(item) >= 2 else -1
            if inner < 0 or 2 + inner > length:
                return replace(found, extensions=bytes(extensions))
            curves = item[2 : 2 + inner]
        elif kind == EXT_POINT_FORMATS:
            inner = item[0] if item else -1
            if inner < 0 or 1 + inner > length:
                return replace(found, extensions=bytes(extensions))
            formats = item[1 : 1 + inner]
        pos += length
    curves = curves[:max(room, 0)] if curves is not None else b""
    room -= len(curves)
    formats = formats[:max(room, 0)] if formats is not None else b""
    return replace(found, extensions=bytes(extensions), curves=curves, point_formats=formats)


def without_grease(data: bytes) -> bytes:
    """A list of 2-byte values without RFC 8701's GREASE ones (0x?A?A); an odd last byte is kept."""
    kept = bytearray()
    for i in range(0, len(data) - 1, 2):
        if data[i] != data[i + 1] or (data[i] & 0x0F) != 0x0A:
            kept += data[i : i + 2]
    if len(data) % 2:
        kept.append(data[-1])
    return bytes(kept)


def _server_name(data: bytes) -> str | None:
    pos, end = 2, 2 + int.from_bytes(data[:2], "big")
    while pos + 3 <= min(end, len(data)):
        kind, size = data[pos], int.from_bytes(data[pos + 1 : pos + 3], "big")
        if kind == 0:
            return data[pos + 3 : pos + 3 + size].decode("ascii", "replace")
        pos += 3 + size
    return None


def _alpn(data: bytes) -> tuple[str, ...]:
    protocols = []
    pos, end = 2, min(2 + int.from_bytes(data[:2], "big"), len(data))
    while pos < end:
        size = data[pos]
        protocols.append(data[pos + 1 : pos + 1 + size].decode("ascii", "replace"))
        pos += 1 + size
    return tuple(protocols)
