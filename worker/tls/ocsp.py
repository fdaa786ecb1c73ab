"""OCSP responses of certificates (``crt.pem.ocsp``, ``set ssl ocsp-response``): read with cryptography's
``ocsp`` module, checked, keyed and described as haproxy's CLI shows them.

A response is kept as the DER its file or the CLI gave.  Its key is the DER
of its certificate ID (hash algorithm, issuer name and key hashes, serial),
in hex, as ``show ssl ocsp-response`` lists it; the description follows
OpenSSL's ``ocsp -resp_text`` layout.  Stapling it in handshakes is
``worker.tls.openssl``'s job (Python's ssl module has no API for it).
``cryptography`` is imported where a response is parsed or described, so that
a worker without OCSP responses never loads it.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .certs import CertError, Certificate, asn1_text, load_ca_file, read_file

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.x509 import ocsp

_HASH_OIDS = {"sha1": "1.3.14.3.2.26", "sha224": "2.16.840.1.101.3.4.2.4", "sha256": "2.16.840.1.101.3.4.2.1",
              "sha384": "2.16.840.1.101.3.4.2.2", "sha512": "2.16.840.1.101.3.4.2.3"}
_DN_SHORT = {"emailAddress": "emailAddress"}
SKEW = datetime.timedelta(minutes=5)
"""OpenSSL's OCSP_check_validity slack haproxy gives (OCSP_MAX_RESPONSE_TIME_SKEW)."""


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
        return self.parsed.certificate_status.name.lower()  # good, revoked, unknown

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
        if self.status == "revoked":
            lines.append(f"  Revocation Time: {asn1_text(r.revocation_time_utc)}")
            if r.revocation_reason is not None:
                lines.append(f"  Revocation Reason: {r.revocation_reason.value}")
        lines.append(f"  This Update: {asn1_text(r.this_update_utc)}")
        if r.next_update_utc is not None:
            lines.append(f"  Next Update: {asn1_text(r.next_update_utc)}")
        return "\n".join(lines) + "\n"


def parse(der: bytes, cert: Certificate | None = None, where: str = "OCSP response") -> OcspResponse:
    """A usable response, as haproxy 2.6 checks one: successful, one single response whose status is known,
    with a next update, valid now (5 minutes of skew), and when *cert* is given, whose certificate ID is
    *cert*'s and its issuer's; CertError otherwise."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509 import ocsp

    try:
        parsed = ocsp.load_der_ocsp_response(der)
    except ValueError as exc:
        raise CertError(f"{where}: unable to parse the OCSP response ({exc})") from None
    if parsed.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise CertError(f"{where}: OCSP response status not successful ({parsed.response_status.name.lower()})")
    count = sum(1 for _ in parsed.responses)
    if count != 1:
        raise CertError(f"{where}: OCSP response ignored because contains multiple single responses ({count})"
                        if count else f"{where}: Failed to get OCSP single response")
    if parsed.certificate_status == ocsp.OCSPCertStatus.UNKNOWN:
        raise CertError(f"{where}: OCSP single response: certificate status is unknown")
    if parsed.next_update_utc is None:
        raise CertError(f"{where}: OCSP single response: missing nextupdate")
    now = datetime.datetime.now(datetime.UTC)
    if parsed.this_update_utc > now + SKEW or parsed.next_update_utc < now - SKEW:
        raise CertError(f"{where}: OCSP single response: no longer valid.")
    if cert is not None:
        issuer = cert.issuer_certificate()
        if issuer is None:
            raise CertError(f"{where}: impossible to compute the OCSP certificate ID (maybe the issuer could not "
                            "be found)")
        if _cert_id(parsed) != _cert_id(ocsp.OCSPRequestBuilder().add_certificate(
                cert.cert, issuer, hashes.SHA1()).build()):
            raise CertError(f"{where}: OCSP single response: Certificate ID does not match certificate and issuer")
    return OcspResponse(der, parsed)


def _cert_id(r: Any) -> tuple[Any, ...]:
    """What OpenSSL's OCSP_id_cmp compares (haproxy computes the ID with SHA-1)."""
    return r.hash_algorithm.name, r.issuer_name_hash, r.issuer_key_hash, r.serial_number


def load_beside(cert: Certificate, path: str) -> str | None:
    """``PATH.ocsp`` next to a certificate file: its OCSP response (DER), checked against the certificate and its
    issuer (in the chain, else ``PATH.issuer``), kept on *cert*.  As in haproxy, a response that is not
    usable is left out with a warning (returned), but one whose issuer cannot be found is an error."""
    ocsp_path = path + ".ocsp"
    if not os.path.exists(ocsp_path):
        return None
    issuer_path = path + ".issuer"
    if os.path.exists(issuer_path):
        cert.ocsp_issuer = load_ca_file(issuer_path, "OCSP issuer")[0]
    if cert.issuer_certificate() is None:
        raise CertError(f"'{ocsp_path}' is present and activates OCSP but it is impossible to compute the OCSP "
                        "certificate ID (maybe the issuer could not be found)")
    try:
        cert.ocsp = parse(read_file(ocsp_path, "OCSP response"), cert)
    except CertError as exc:
        return f"Loading '{ocsp_path}': {str(exc).removeprefix('OCSP response: ')}. Content will be ignored."
    return None


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
