"""Certificates as HAProxy loads them: a PEM with the chain and the key (or a ``.key`` beside it).

Parsing is the ``cryptography`` package's; this module only checks what
HAProxy checks (a key that matches the certificate, CA files that are
usable), extracts the names SNI selects on, and renders the fields the
``ssl_*`` fetches and ``show ssl cert`` print.  Python's ssl module loads a
certificate chain or DH parameters only from a file, so they go through a
private temporary file for the time of the call.  ``cryptography`` is imported
in the functions that use it: it costs a process about 15 MB, which a worker
without TLS never needs.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import re
import ssl
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography import x509

_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)
_DH_BLOCK = re.compile(rb"-----BEGIN DH PARAMETERS-----.*?-----END DH PARAMETERS-----", re.S)
_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None
_DN_NAMES = {"1.2.840.113549.1.9.1": "emailAddress"}  # by dotted OID: names OpenSSL spells its own way


class CertError(Exception):
    """A certificate, key or CA that cannot be used; the message says why, in HAProxy's terms."""


@dataclass(eq=False, slots=True)
class Certificate:
    """One certificate with its chain and private key."""

    name: str
    cert: x509.Certificate
    key: Any
    chain: tuple[x509.Certificate, ...] = ()
    extra: bytes = b""
    """Other PEM blocks of the file (DH parameters) kept as they were."""
    names: tuple[str, ...] = field(default=())
    ocsp: Any = None
    """Its OCSP response (worker.tls.ocsp.OcspResponse): ``crt.pem.ocsp``, ``set ssl ocsp-response``."""
    ocsp_issuer: x509.Certificate | None = None
    """``crt.pem.issuer``: the issuer an OCSP response is checked with when the chain does not hold it."""

    def __post_init__(self) -> None:
        if not self.names:
            self.names = certificate_names(self.cert)

    def issuer_certificate(self) -> x509.Certificate | None:
        """The certificate's issuer: from its chain first (as haproxy looks), else ``ocsp_issuer``."""
        from cryptography.exceptions import InvalidSignature

        for candidate in self.chain:
            try:
                self.cert.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return candidate
        return self.ocsp_issuer

    @property
    def key_type(self) -> str:
        return key_algorithm(self.key)[0]

    def pem(self) -> bytes:
        """Certificate, chain and key, as one PEM (the key unencrypted)."""
        from cryptography.hazmat.primitives import serialization

        parts = [c.public_bytes(serialization.Encoding.PEM) for c in (self.cert, *self.chain)]
        parts.append(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
        return b"".join(parts) + self.extra

    def load_into(self, context: ssl.SSLContext) -> None:
        """``context.load_cert_chain`` from memory."""
        load_pem(self.pem(), context.load_cert_chain, f"unable to load certificate '{self.name}' into OpenSSL")

    @property
    def dh_params(self) -> bytes | None:
        """The DH parameters the file holds after its certificate, if any (haproxy uses them for DHE)."""
        match = _DH_BLOCK.search(self.extra)
        return match.group(0) if match else None

    def load_dh_into(self, context: ssl.SSLContext) -> bool:
        """``context.load_dh_params`` from the file's own DH parameters; False when it has none."""
        params = self.dh_params
        if params is None:
            return False
        load_pem(params, context.load_dh_params, f"unable to load the DH parameters of '{self.name}'")
        return True

    def info(self, status: str) -> list[tuple[str, str]]:
        """``show ssl cert NAME``: field, value pairs in HAProxy's order."""
        cert = self.cert
        algo, bits = key_algorithm(self.key)
        rows = [("Filename", self.name), ("Status", status), ("Serial", serial_hex(cert)),
                ("notBefore", asn1_text(not_before(cert))), ("notAfter", asn1_text(not_after(cert)))]
        san = subject_alt_names(cert)
        if san:
            rows.append(("Subject Alternative Name", ", ".join(f"DNS:{n}" for n in san)))
        rows += [("Algorithm", f"{algo.upper()}{bits}"),
                 ("SHA1 FingerPrint", hashlib.sha1(der(cert)).hexdigest().upper()),
                 ("Subject", dn_text(cert.subject)), ("Issuer", dn_text(cert.issuer))]
        for chained in self.chain:
            rows += [("Chain Subject", dn_text(chained.subject)), ("Chain Issuer", dn_text(chained.issuer))]
        if self.ocsp is not None:
            rows.append(("OCSP Response Key", self.ocsp.key))
        return rows


def load_pem(pem: bytes, load: Callable[[str], Any], failure: str) -> None:
    """Hand *pem* to one of Python's ssl loaders, which read only files: through a 0600 file (in memory when
    /dev/shm exists) removed at once; CertError naming *failure* when OpenSSL refuses it."""
    with tempfile.NamedTemporaryFile(dir=_SHM, prefix="luaproxy-", suffix=".pem") as tmp:
        tmp.write(pem)
        tmp.flush()
        try:
            load(tmp.name)
        except ssl.SSLError as exc:
            raise CertError(f"{failure} ({exc.reason})") from None


def parse_certificate(name: str, data: bytes, key_data: bytes | None = None) -> Certificate:
    """A Certificate from PEM text (the key may come separately, as a ``.key`` file does), checked."""
    certs, key, extra = parse_pem(name, data + b"\n" + (key_data or b""))
    if not certs:
        raise CertError(f"no certificate found in '{name}'")
    if key is None:
        raise CertError(f"no private key found in '{name}' (nor in '{name}.key')")
    cert = Certificate(name, certs[0], key, tuple(certs[1:]), extra)
    check_pair(cert)
    return cert


def check_pair(cert: Certificate) -> None:
    """The private key must be the certificate's."""
    if _public(cert.cert.public_key()) != _public(cert.key.public_key()):
        raise CertError(f"inconsistencies between private key and certificate loaded '{cert.name}'")


def parse_pem(name: str, data: bytes, password: bytes | None = None) -> tuple[list[x509.Certificate], Any, bytes]:
    """The certificates, the (first) private key (decrypted with *password*) and the other blocks of a PEM text."""
    from cryptography import x509

    certs: list[x509.Certificate] = []
    key = None
    extra = b""
    for match in _BLOCK.finditer(data):
        label, block = match.group(1), match.group(0)
        try:
            if label == b"CERTIFICATE" or label == b"TRUSTED CERTIFICATE":
                certs.append(x509.load_pem_x509_certificate(block))
            elif label.endswith(b"PRIVATE KEY"):
                if key is None:
                    key = _private_key(block, password)
            else:
                extra += block + b"\n"
        except (ValueError, TypeError) as exc:
            raise CertError(f"unable to load the {label.decode().lower()} of '{name}' ({exc})") from None
    return certs, key, extra


def _private_key(block: bytes, password: bytes | None) -> Any:
    """A PEM private key; a password given for a key that is not encrypted is not used (as OpenSSL does)."""
    from cryptography.hazmat.primitives import serialization

    try:
        # OpenSSL checks the key when it loads it: skip the slow RSA validation here
        return serialization.load_pem_private_key(block, password=password, unsafe_skip_rsa_key_validation=True)
    except TypeError:
        if password is None or b"ENCRYPTED" in block:
            raise
        return serialization.load_pem_private_key(block, password=None, unsafe_skip_rsa_key_validation=True)


def load_certificate(path: str, name: str | None = None, del_ext: bool = False) -> Certificate:
    """Read *path* (and ``path.key`` when the PEM has no key; ``ssl-load-extra-del-ext``: ``x.crt`` → ``x.key``)."""
    data = read_file(path, "SSL certificate")
    key_data = None
    key_path = path[:-4] + ".key" if del_ext and path.endswith(".crt") else path + ".key"
    if b"PRIVATE KEY-----" not in data and os.path.exists(key_path):
        key_data = read_file(key_path, "SSL key")
    return parse_certificate(name or path, data, key_data)


def load_ca_file(path: str, what: str = "CA file") -> list[x509.Certificate]:
    """The certificates of a CA file; refused when it holds none or every one of them has expired."""
    from cryptography import x509
    from cryptography.utils import CryptographyDeprecationWarning

    data = read_file(path, what)
    try:
        with warnings.catch_warnings():  # a system bundle may hold an old CA with a zero serial
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            cas = x509.load_pem_x509_certificates(data)
    except ValueError:
        cas = []
    if not cas:
        raise CertError(f"unable to load {what} '{path}': no certificate in it")
    now = datetime.datetime.now(datetime.UTC)
    if all(not_after(ca) < now for ca in cas):
        raise CertError(f"{what} '{path}': every certificate in it has expired "
                        f"(the first one on {asn1_text(not_after(cas[0]))})")
    return cas


def read_file(path: str, what: str) -> bytes:
    """A file's bytes; CertError in haproxy's words when it cannot be read."""
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise CertError(f"unable to load {what} from file '{path}' : {exc.strerror}") from None


def _public(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_algorithm(key: Any) -> tuple[str, int]:
    """("rsa", 2048), ("ecdsa", 256)…, as HAProxy names key types (of a private or a public key)."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "rsa", key.key_size
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ecdsa", key.curve.key_size
    if isinstance(key, dsa.DSAPrivateKey | dsa.DSAPublicKey):
        return "dsa", key.key_size
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey | ed25519.Ed25519PublicKey
                  | ed448.Ed448PublicKey):
        return "eddsa", 0
    return "unknown", 0


def subject_alt_names(cert: x509.Certificate) -> list[str]:
    from cryptography import x509

    with contextlib.suppress(x509.ExtensionNotFound):
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                    .get_values_for_type(x509.DNSName))
    return []


def common_names(cert: x509.Certificate) -> list[str]:
    from cryptography.x509.oid import NameOID

    return [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]


def certificate_names(cert: x509.Certificate) -> tuple[str, ...]:
    """The names SNI may select this certificate by: its DNS SANs and its CNs, lowercased, in order."""
    names: list[str] = []
    for name in [*subject_alt_names(cert), *common_names(cert)]:
        if name.lower() not in names:
            names.append(name.lower())
    return tuple(names)


def name_matches(pattern: str, host: str) -> bool:
    """A DNS name pattern (``*.example.com`` covers exactly one more label) against a host name."""
    pattern, host = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if pattern.startswith("*."):
        first, _, rest = host.partition(".")
        return bool(first) and rest == pattern[2:]
    return pattern == host


def der(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.DER)


def serial_bytes(cert: x509.Certificate) -> bytes:
    serial = cert.serial_number
    return serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big")


def serial_hex(cert: x509.Certificate) -> str:
    return serial_bytes(cert).hex().upper()


def not_before(cert: x509.Certificate) -> datetime.datetime:
    return cert.not_valid_before_utc


def not_after(cert: x509.Certificate) -> datetime.datetime:
    return cert.not_valid_after_utc


def asn1_text(when: datetime.datetime) -> str:
    """OpenSSL's ASN1_TIME_print: ``Jun  3 12:00:00 2030 GMT``."""
    return f"{when:%b} {when.day:2d} {when:%H:%M:%S %Y} GMT"


def utctime(when: datetime.datetime) -> str:
    """The ASN.1 UTCTime text HAProxy's ssl_c_notbefore returns: ``YYMMDDhhmmssZ``."""
    return when.strftime("%y%m%d%H%M%SZ")


def dn_text(name: x509.Name) -> str:
    """A distinguished name as HAProxy prints it by default: ``/C=FR/O=Org/CN=host``."""
    parts = []
    for rdn in name.rdns:
        for attr in rdn:
            key = _DN_NAMES.get(attr.oid.dotted_string) or attr.rfc4514_attribute_name
            parts.append(f"/{key}={attr.value}")
    return "".join(parts)


def dn_entry(name: x509.Name, field_name: str, occurrence: int) -> str | None:
    """One entry of a DN by short name (``CN``), occurrence 1 = first, -1 = last, 0 = last too."""
    values = [str(a.value) for rdn in name.rdns for a in rdn
              if (_DN_NAMES.get(a.oid.dotted_string) or a.rfc4514_attribute_name) == field_name]
    if not values:
        return None
    index = occurrence - 1 if occurrence > 0 else occurrence if occurrence < 0 else -1
    try:
        return values[index]
    except IndexError:
        return None
