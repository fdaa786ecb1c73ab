"""``bind … ssl generate-certificates ca-sign-file CA.pem``: a certificate made during the handshake for a
server name no loaded certificate covers, signed by the CA, as haproxy 2.6 makes them.

The new certificate carries the public key of the listener's default
certificate (so no key is generated, only a signature), the CA's subject
with one more CN, the server name, appended, haproxy's extensions and the
name as its DNS SAN; its serial counts up from the start time in
milliseconds, and the CA (with its own chain) is sent after it.  A client
without SNI gets the default certificate: haproxy 2.6 makes none then.
Contexts made from them are kept in one LRU of ``tune.ssl.ssl-ctx-cache-size``
entries per worker, for all its listeners: a name asked again costs nothing.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .certs import CertError, Certificate, check_pair, parse_pem, read_file

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

DEFAULT_CACHE_SIZE = 1000
DAY = datetime.timedelta(days=1)
NETSCAPE_COMMENT_OID = "2.16.840.1.113730.1.13"
NETSCAPE_COMMENT = b'\x16\x1f"OpenSSL Generated Certificate"'
"""The nsComment haproxy's configuration string gives (an IA5String, its quotes included)."""
_SERIALS = itertools.count(int(time.time() * 1000) & 0xFFFFFFFF)


@dataclass(eq=False)
class GeneratedContexts:
    """The contexts of generated certificates, least recently used first: one LRU of
    ``tune.ssl.ssl-ctx-cache-size`` entries for all the listeners of a worker, as haproxy keeps one per process
    (0: none is kept, each handshake makes its own)."""

    size: int = DEFAULT_CACHE_SIZE
    entries: OrderedDict[tuple[int, str], tuple[Any, Certificate]] = field(default_factory=OrderedDict)

    def get(self, key: tuple[int, str]) -> tuple[Any, Certificate] | None:
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def put(self, key: tuple[int, str], value: tuple[Any, Certificate]) -> None:
        if self.size <= 0:
            return
        self.entries[key] = value
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)

    def forget(self, owner: int) -> None:
        for key in [k for k in self.entries if k[0] == owner]:
            del self.entries[key]


def load_signer(path: str, password: str | None, cache: GeneratedContexts) -> Signer:
    """The CA of ``ca-sign-file`` (its certificate, its chain and its key in one PEM; ``ca-sign-pass`` for an
    encrypted key)."""
    data = read_file(path, "CA signing file")
    try:
        certs, key, _ = parse_pem(path, data, password.encode() if password else None)
    except CertError as exc:
        raise CertError(f"'ca-sign-file' : cannot load '{path}' (a key with a password needs 'ca-sign-pass'): "
                        f"{exc}") from None
    if not certs or key is None:
        raise CertError(f"'ca-sign-file' : '{path}' must hold the CA's certificate and its private key")
    check_pair(Certificate(path, certs[0], key))
    return Signer(certs[0], key, cache, tuple(certs[1:]))


@dataclass(eq=False)
class Signer:
    """The signing CA of a listener, and the cache its generated contexts go to."""

    ca_cert: x509.Certificate
    ca_key: Any
    cache: GeneratedContexts = field(default_factory=GeneratedContexts)
    chain: tuple[x509.Certificate, ...] = ()
    """The CA's own chain (after the CA in ``ca-sign-file``), sent after the CA."""

    def context_for(self, name: str, template: Certificate,
                    make_context: Callable[[Certificate], Any]) -> tuple[Any, Certificate]:
        """The context serving *name* and its certificate: cached, or made with a new certificate for it."""
        key = (id(self), name.lower())
        found = self.cache.get(key)
        if found is None:
            cert = self.issue(key[1], template)
            found = (make_context(cert), cert)
            self.cache.put(key, found)
        return found

    def forget(self) -> None:
        """The default certificate changed: the certificates made with its key are dropped."""
        self.cache.forget(id(self))

    def issue(self, name: str, template: Certificate) -> Certificate:
        from cryptography import x509  # imported here: cryptography is big, most workers never use it
        from cryptography.x509.oid import NameOID, ObjectIdentifier

        now = datetime.datetime.now(datetime.UTC)
        ca = self.ca_cert
        subject = x509.Name([*ca.subject.rdns, x509.RelativeDistinguishedName(
            [x509.NameAttribute(NameOID.COMMON_NAME, name)])])
        public_key = template.key.public_key()
        ca_key_id = None
        with contextlib.suppress(x509.ExtensionNotFound):
            ca_key_id = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca.subject)
                   .public_key(public_key).serial_number((next(_SERIALS) + 1) & 0xFFFFFFFF or 1)
                   .not_valid_before(now - DAY).not_valid_after(now + 365 * DAY)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
                   .add_extension(x509.UnrecognizedExtension(ObjectIdentifier(NETSCAPE_COMMENT_OID),
                                                             NETSCAPE_COMMENT), critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier(ca_key_id, [x509.DirectoryName(ca.issuer)],
                                                              ca.serial_number), critical=False)
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                                key_encipherment=True, data_encipherment=False, key_agreement=False,
                                                key_cert_sign=False, crl_sign=False, encipher_only=False,
                                                decipher_only=False), critical=False)
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False))
        cert = builder.sign(self.ca_key, _digest(self.ca_key))
        return Certificate(name, cert, template.key, (ca, *self.chain), template.extra, names=(name,))


def _digest(key: Any) -> hashes.HashAlgorithm | None:
    """haproxy's choice: SHA-1 for a DSA CA, SHA-256 for RSA and EC, the key's own for the others (EdDSA: none)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

    if isinstance(key, dsa.DSAPrivateKey):
        return hashes.SHA1()
    return hashes.SHA256() if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) else None
