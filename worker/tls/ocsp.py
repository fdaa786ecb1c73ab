"""OCSP responses of certificates (``crt.pem.ocsp``, ``set ssl ocsp-response``): read with cryptography's
``ocsp`` module, checked, keyed and described as haproxy's CLI shows them.

A response is kept as the DER its file or the CLI gave.  Its key is the DER
of its certificate ID (hash algorithm, issuer name and key hashes, serial),
in hex, as ``show ssl ocsp-response`` lists it; the description follows
OpenSSL's ``ocsp -resp_text`` layout.  Stapling it in handshakes is
``worker.tls.openssl``'s job (Python's ssl module has no API for it).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509 import ocsp

from .certs import CertError, Certificate, asn1_text, read_file

_HASH_OIDS = {"sha1": "1.3.14.3.2.26", "sha224": "2.16.840.1.101.3.4.2.4", "sha256": "2.16.840.1.101.3.4.2.1",
              "sha384": "2.16.840.1.101.3.4.2.2", "sha512": "2.16.840.1.101.3.4.2.3"}
_DN_SHORT = {"emailAddress": "emailAddress"}
_STATUS = {ocsp.OCSPCertStatus.GOOD: "good", ocsp.OCSPCertStatus.REVOKED: "revoked",
           ocsp.OCSPCertStatus.UNKNOWN: "unknown"}


@dataclass(frozen=True, slots=True)
class OcspResponse:
    """One DER response and what the CLI shows of it."""

    der: bytes
    parsed: ocsp.OCSPResponse

    @property
    def key(self) -> str:
        """The certificate ID's DER in hex (``Certificate ID key``)."""
        r = self.parsed
        algorithm = _der(0x30, _oid(_HASH_OIDS[r.hash_algorithm.name]) + b"\x05\x00")
        return _der(0x30, algorithm + _der(0x04, r.issuer_name_hash) + _der(0x04, r.issuer_key_hash)
                    + _der(0x02, _integer(r.serial_number))).hex()

    @property
    def status(self) -> str:
        return _STATUS[self.parsed.certificate_status]

    def cert_id(self, indent: str = "      ") -> str:
        r = self.parsed
        return (f"{indent}Issuer Name Hash: {r.issuer_name_hash.hex().upper()}\n"
                f"{indent}Issuer Key Hash: {r.issuer_key_hash.hex().upper()}\n"
                f"{indent}Serial Number: {_integer(r.serial_number).hex().upper()}\n")

    def describe(self) -> str:
        """The response as ``openssl ocsp -respin F -resp_text`` shows its data."""
        r = self.parsed
        responder = _dn(r.responder_name) if r.responder_name is not None else r.responder_key_hash.hex().upper()
        lines = ["OCSP Response Data:", "  OCSP Response Status: successful (0x0)",
                 "  Response Type: Basic OCSP Response", "  Version: 1 (0x0)", f"  Responder Id: {responder}",
                 f"  Produced At: {asn1_text(r.produced_at_utc)}", "  Responses:", "  Certificate ID:",
                 f"    Hash Algorithm: {r.hash_algorithm.name}", self.cert_id("    ").rstrip("\n"),
                 f"  Cert Status: {self.status}"]
        if r.certificate_status == ocsp.OCSPCertStatus.REVOKED:
            lines.append(f"  Revocation Time: {asn1_text(r.revocation_time_utc)}")
            if r.revocation_reason is not None:
                lines.append(f"  Revocation Reason: {r.revocation_reason.value}")
        lines.append(f"  This Update: {asn1_text(r.this_update_utc)}")
        if r.next_update_utc is not None:
            lines.append(f"  Next Update: {asn1_text(r.next_update_utc)}")
        return "\n".join(lines) + "\n"


def parse(der: bytes, cert: x509.Certificate | None = None, where: str = "OCSP response") -> OcspResponse:
    """A usable response (successful, one certificate, for *cert* when given); CertError otherwise."""
    try:
        parsed = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise CertError(f"{where}: unable to parse the OCSP response ({exc})") from None
    if parsed.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise CertError(f"{where}: OCSP response status not successful ({parsed.response_status.name.lower()})")
    if sum(1 for _ in parsed.responses) != 1:
        raise CertError(f"{where}: the OCSP response must hold exactly one single response")
    if cert is not None and parsed.serial_number != cert.serial_number:
        raise CertError(f"{where}: OCSP single response: Certificate ID does not match the certificate")
    return OcspResponse(der, parsed)


def load_beside(cert: Certificate, path: str) -> None:
    """``PATH.ocsp`` next to a certificate file: its OCSP response (DER), checked, kept on *cert*."""
    ocsp_path = path + ".ocsp"
    if os.path.exists(ocsp_path):
        cert.ocsp = parse(read_file(ocsp_path, "OCSP response"), cert.cert, f"'{ocsp_path}'")


def replace_matching(certs: Iterable[Certificate | None], response: OcspResponse) -> int:
    """``set ssl ocsp-response``: the certificates whose response has the same certificate ID take this one;
    how many did."""
    owners = [c for c in certs if c is not None and c.ocsp is not None and c.ocsp.key == response.key]
    for cert in owners:
        cert.ocsp = response
    return len(owners)


def decode_base64(text: str) -> bytes:
    """The DER of a base64 payload (``set ssl ocsp-response``, ``set ssl cert x.ocsp``); CertError if not base64."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CertError("'set ssl ocsp-response' expects a base64 encoded OCSP response") from None


def _dn(name: x509.Name) -> str:
    """OpenSSL's one-line form: ``C = FR, O = Org, CN = host``."""
    return ", ".join(f"{_DN_SHORT.get(a.rfc4514_attribute_name, a.rfc4514_attribute_name)} = {a.value}"
                     for rdn in name.rdns for a in rdn)


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _integer(value: int) -> bytes:
    """A non-negative INTEGER's content octets (a leading 0 when the high bit is set)."""
    return value.to_bytes(value.bit_length() // 8 + 1, "big") if value else b"\x00"


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([parts[0] * 40 + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.insert(0, 0x80 | (part & 0x7F))
            part >>= 7
        body += bytes(chunk)
    return _der(0x06, body)
