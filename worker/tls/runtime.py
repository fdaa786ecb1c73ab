"""Certificates changed at runtime (``set ssl cert`` + ``commit ssl cert``), the same way in the master and
every worker: parse once, then give each listener and server that uses the name its new contexts.

Connections already open keep the context they were made with; new ones get
the new certificate.  A certificate that does not parse, or whose key does
not match, is refused before anything changes.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Iterator
from typing import Any

from .certs import CertError, Certificate, check_pair, parse_pem


def tls_users(proxies: Iterable[Any]) -> Iterator[Any]:
    """Every ListenerTls and ServerTls of these proxies."""
    for proxy in proxies:
        yield from proxy.tls_binds.values()
        for server in proxy.servers:
            yield from (tls for tls in (server.tls, server.check_tls) if tls is not None)


def certificates(proxies: Iterable[Any]) -> dict[str, Certificate]:
    """Every certificate in use, by name, in loading order."""
    found: dict[str, Certificate] = {}
    for user in tls_users(proxies):
        if hasattr(user, "certs"):
            for entry in user.entries:
                found.setdefault(entry.name, user.certs[entry.name])
        elif user.cert_name is not None and user.client_cert is not None:
            found.setdefault(user.cert_name, user.client_cert)
    return found


def parse_update(name: str, pem: str, current: Certificate | None = None) -> Certificate:
    """*current* with what the payload brings: a certificate (and chain), a key, or both.

    A part missing from the payload is kept from *current*, so a certificate
    and its key may come in two ``set ssl cert`` calls; ``validate`` checks the
    pair at commit.  CertError when the payload holds nothing usable.
    """
    certs, key, extra = parse_pem(name, pem.encode("utf-8", "replace"))
    if not certs and key is None:
        raise CertError(f"no certificate or private key found in the payload for '{name}'")
    if current is None and (not certs or key is None):
        raise CertError(f"no {'certificate' if not certs else 'private key'} found in the payload for '{name}'")
    base = current
    return Certificate(name, certs[0] if certs else base.cert, key if key is not None else base.key,
                       tuple(certs[1:]) if certs else base.chain, extra if certs else base.extra)


def validate(cert: Certificate) -> None:
    """Before a commit: the key matches and OpenSSL loads the pair (CertError otherwise)."""
    check_pair(cert)
    cert.load_into(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))


def replace(proxies: Iterable[Any], name: str, cert: Certificate) -> int:
    """Install *cert* under *name* everywhere it is used; the number of listeners and servers changed."""
    changed = 0
    for user in tls_users(proxies):
        if user.uses(name):
            user.replace(name, cert)
            changed += 1
    return changed
