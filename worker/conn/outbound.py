"""``server … send-proxy | send-proxy-v2 [proxy-v2-options …]``: the PROXY header a server connection starts with.

The header carries the stream's addresses (as ``set-src``/``set-dst`` left
them, or what a PROXY header on the client side advertised) and, in v2, the
TLVs the options ask for.  Its bytes are also part of the key under which the
connection is pooled: a connection is reused only for streams that would
have sent the same header, as haproxy 2.6 does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from . import proxy_protocol as pp
from .inbound import received

V2_OPTIONS = ("ssl", "cert-cn", "ssl-cipher", "cert-sig", "cert-key", "authority", "crc32c", "unique-id")


@dataclass(slots=True)
class SendProxy:
    """A server's PROXY protocol settings (version 0: none)."""

    version: int = 0
    options: set[str] = field(default_factory=set)
    check: bool = False
    """``check-send-proxy``: health checks send it even to an explicit check port or address."""

    def take(self, word: str, rest: list[str]) -> bool:
        """Consume one server keyword of the PROXY protocol (and its value); False when not one."""
        if word == "send-proxy":
            self.version = 1
        elif word == "send-proxy-v2":
            self.version = 2
        elif word in ("send-proxy-v2-ssl", "send-proxy-v2-ssl-cn"):
            self.version = 2
            self.options.add("ssl")
            if word.endswith("-cn"):
                self.options.add("cert-cn")
        elif word in ("no-send-proxy", "no-send-proxy-v2", "no-send-proxy-v2-ssl", "no-send-proxy-v2-ssl-cn"):
            self.version = 0
        elif word == "check-send-proxy":
            self.check = True
        elif word == "proxy-v2-options":
            if not rest:
                raise ValueError("'proxy-v2-options' expects a comma-separated list of options")
            for option in rest.pop(0).split(","):
                if option not in V2_OPTIONS:
                    raise ValueError(f"'proxy-v2-options' : unknown option '{option}' (expected one of "
                                     f"{', '.join(V2_OPTIONS)})")
                self.options.add(option)
        else:
            return False
        return True


def header_for(settings: SendProxy | None, txn: Any) -> bytes | None:
    """The header to send first on a new connection for *txn*, or None without send-proxy."""
    if settings is None or not settings.version:
        return None
    src, dst = (txn.src, txn.src_port), (txn.dst, txn.dst_port)
    if settings.version == 1:
        return pp.build_v1(src, dst)
    return pp.build_v2(src, dst, _tlvs(settings.options, txn), "crc32c" in settings.options)


def check_header(settings: SendProxy | None, own_address: bool, sock: Any) -> bytes | None:
    """The header a health check starts with: with send-proxy (unless the check has its own port or
    address) or check-send-proxy.  It describes the check's own connection (v2: a LOCAL header)."""
    if settings is None or not (settings.check or (settings.version and not own_address)):
        return None
    if settings.version == 2:
        return pp.build_v2_local()
    try:
        return pp.build_v1(sock.getsockname()[:2], sock.getpeername()[:2])
    except (OSError, TypeError):
        return pp.build_v1(None, None)


def _tlvs(options: set[str], txn: Any) -> list[tuple[int, bytes]]:
    client = getattr(txn, "client", None)
    front_tls = client if hasattr(client, "selected_alpn_protocol") else None
    tlvs = []
    alpn = front_tls.selected_alpn_protocol() if front_tls is not None else None
    if alpn:
        tlvs.append((pp.TLV_ALPN, alpn.encode()))
    if "authority" in options:
        authority = _authority(client, front_tls)
        if authority:
            tlvs.append((pp.TLV_AUTHORITY, authority))
    if "unique-id" in options:
        unique_id = txn.unique_id().encode("latin-1", "replace")[: pp.UNIQUE_ID_MAX]
        if unique_id:
            tlvs.append((pp.TLV_UNIQUE_ID, unique_id))
    if options & {"ssl", "cert-cn", "ssl-cipher", "cert-sig", "cert-key"}:
        tlvs.append((pp.TLV_SSL, _ssl_tlv(options, front_tls)))
    return tlvs


def _authority(client: Any, front_tls: Any) -> bytes | None:
    """The client's SNI, else the authority a PROXY header gave us."""
    sni = getattr(front_tls, "sni", None)
    if sni:
        return sni.encode("idna")[: pp.AUTHORITY_MAX]
    header = received(client)
    return header.tlv(pp.TLV_AUTHORITY) if header is not None else None


def _ssl_tlv(options: set[str], tls: Any) -> bytes:
    """PP2_TYPE_SSL: client flags, verify result, then the sub-TLVs the options ask for."""
    if tls is None:
        return struct.pack("!BI", 0, 0)
    peer = tls.getpeercert(binary_form=True)
    flags = pp.SSL_CLIENT_SSL | (pp.SSL_CLIENT_CERT_CONN | pp.SSL_CLIENT_CERT_SESS if peer else 0)
    verify = tls.verify[0] if getattr(tls, "verify", None) else 0
    subs = [(pp.SSL_VERSION, (tls.version() or "").encode())]
    if "cert-cn" in options and peer:
        subs.append((pp.SSL_CN, _common_name(peer)))
    if "ssl-cipher" in options and tls.cipher():
        subs.append((pp.SSL_CIPHER, tls.cipher()[0].encode()))
    return struct.pack("!BI", flags, verify) + b"".join(pp.tlv(kind, value) for kind, value in subs)


def _common_name(der: bytes) -> bytes:
    from cryptography import x509  # imported here: cryptography is big, most workers never use it
    from cryptography.x509.oid import NameOID

    names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value.encode() if isinstance(value, str) else bytes(value)
