"""``bind … ssl generate-certificates ca-sign-file CA.pem``: a certificate made during the handshake for a
server name no loaded certificate covers, signed by the CA, as haproxy makes them.

The new certificate carries the public key of the listener's default
certificate (so no key is generated, only a signature), the CA's subject
with one more CN, the server name, appended, and the name as its DNS SAN.
Contexts made from them are kept in an LRU of ``tune.ssl.ssl-ctx-cache-size``
entries, per worker: a name asked again costs nothing.
"""

from __future__ import annotations

import datetime
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519
from cryptography.x509.oid import NameOID

from .certs import CertError, Certificate, _read, check_pair

DEFAULT_CACHE_SIZE = 1000
_KEY_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----", re.S)
DAY = datetime.timedelta(days=1)


def load_signer(path: str, password: str | None, cache_size: int | None) -> Signer:
    """The CA of ``ca-sign-file`` (its certificate and key in one PEM; ``ca-sign-pass`` for an encrypted key)."""
    data = _read(path, "CA signing file")
    key_block = _KEY_BLOCK.search(data)
    try:
        certs = x509.load_pem_x509_certificates(data) if b"-----BEGIN CERTIFICATE-----" in data else []
        key = serialization.load_pem_private_key(key_block.group(0), password.encode() if password else None) \
            if key_block else None
    except (ValueError, TypeError) as exc:
        raise CertError(f"'ca-sign-file' : cannot load '{path}' (a key with a password needs 'ca-sign-pass'): "
                        f"{exc}") from None
    if not certs or key is None:
        raise CertError(f"'ca-sign-file' : '{path}' must hold the CA's certificate and its private key")
    check_pair(Certificate(path, certs[0], key))
    return Signer(certs[0], key, cache_size if cache_size is not None else DEFAULT_CACHE_SIZE)


@dataclass(eq=False)
class Signer:
    """The signing CA and the contexts already made, by server name (least recently used first)."""

    ca_cert: x509.Certificate
    ca_key: Any
    cache_size: int = DEFAULT_CACHE_SIZE
    contexts: OrderedDict[str, tuple[Any, Certificate]] = field(default_factory=OrderedDict)

    def context_for(self, name: str, template: Certificate,
                    make_context: Callable[[Certificate], Any]) -> tuple[Any, Certificate]:
        """The context serving *name* and its certificate: cached, or made with a new certificate for it."""
        name = name.lower()
        found = self.contexts.get(name)
        if found is not None:
            self.contexts.move_to_end(name)
            return found
        cert = self.issue(name, template)
        found = (make_context(cert), cert)
        if self.cache_size > 0:
            self.contexts[name] = found
            while len(self.contexts) > self.cache_size:
                self.contexts.popitem(last=False)
        return found

    def forget(self) -> None:
        """The default certificate changed: the certificates made with its key are dropped."""
        self.contexts.clear()

    def issue(self, name: str, template: Certificate) -> Certificate:
        now = datetime.datetime.now(datetime.UTC)
        subject = x509.Name([*self.ca_cert.subject.rdns, x509.RelativeDistinguishedName(
            [x509.NameAttribute(NameOID.COMMON_NAME, name)])])
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.ca_cert.subject)
                   .public_key(template.key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - DAY).not_valid_after(now + 365 * DAY)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=False)
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False))
        digest = None if isinstance(self.ca_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) \
            else hashes.SHA256()
        cert = builder.sign(self.ca_key, digest)
        return Certificate(name, cert, template.key, (), template.extra, names=(name,))
