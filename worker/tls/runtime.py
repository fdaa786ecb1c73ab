"""Certificates changed at runtime (``set ssl cert`` + ``commit ssl cert``, ``add|del ssl crt-list``), the
same way in the master and every worker: parse once, then give each listener and server that uses the name
its new contexts.  ``apply`` takes the message the master sends to the workers.

Connections already open keep the context they were made with; new ones get
the new certificate.  A certificate that does not parse, or whose key does
not match, is refused before anything changes.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Iterable, Iterator
from typing import Any

from . import cafiles, ocsp
from .certs import CertError, Certificate, check_pair, parse_pem
from .contexts import CrtEntry
from .options import CrtListLine, TlsOptions, parse_crt_list_line


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


def loaded_certificates(proxies: Iterable[Any]) -> dict[str, Certificate]:
    """Every certificate the configuration loaded, used or not any more (a deleted server's ``crt`` stays
    known, as in haproxy's certificate store): the builders ``add server`` uses hold them."""
    found: dict[str, Certificate] = {}
    for builder in _builders(proxies):
        for name, cert in builder.certs.items():
            found.setdefault(name, cert)
    return found


def _builders(proxies: Iterable[Any]) -> list[Any]:
    builders = (getattr(p.server_factory, "tls", None) for p in proxies if p.server_factory is not None)
    return list({id(b): b for b in builders if b is not None}.values())


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
                       tuple(certs[1:]) if certs else base.chain, extra if certs else base.extra,
                       ocsp=base.ocsp if base is not None else None,
                       ocsp_issuer=base.ocsp_issuer if base is not None else None)


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
    for builder in _builders(proxies):
        if name in builder.certs:
            builder.certs[name] = cert
    return changed


def crt_lists(proxies: Iterable[Any]) -> dict[str, list[Any]]:
    """Each crt-list file in use and its entries (CrtEntry), as the first listener using it holds them."""
    found: dict[str, list[Any]] = {}
    for user in tls_users(proxies):
        for path in dict.fromkeys(e.crt_list for e in getattr(user, "entries", ()) if e.crt_list):
            found.setdefault(path, [e for e in user.entries if e.crt_list == path])
    return found


def default_users(proxies: Iterable[Any], crt_list: str, name: str, nth: int) -> list[str]:
    """The frontends whose default certificate is the *nth* entry for *name* in *crt_list* (with
    ``strict-sni`` no certificate is a default one)."""
    found = []
    for proxy in proxies:
        for listener in proxy.tls_binds.values():
            if listener.strict_sni:
                continue
            matching = [e for e in listener.entries if e.crt_list == crt_list and e.name == name]
            if len(matching) > nth and listener.entries[0] is matching[nth]:
                found.append(proxy.name)
    return found


def add_crt_list_entry(proxies: Iterable[Any], crt_list: str, line: CrtListLine, cert: Certificate) -> int:
    """Add *line* (its certificate *cert*) to every listener loading *crt_list*."""
    changed = 0
    for user in tls_users(proxies):
        if not any(e.crt_list == crt_list for e in getattr(user, "entries", ())):
            continue
        options = line.options().merged(user.options) if line.words else user.options
        user.certs[cert.name] = cert
        user.entries.append(CrtEntry(cert.name, options, line.filters, crt_list, line))
        try:
            user.build()
        except Exception:
            user.entries.pop()
            raise
        changed += 1
    return changed


def del_crt_list_entry(proxies: Iterable[Any], crt_list: str, name: str, nth: int) -> int:
    """Remove the *nth* entry (from 0) for certificate *name* of *crt_list* from every listener loading it."""
    changed = 0
    for user in tls_users(proxies):
        matching = [e for e in getattr(user, "entries", ()) if e.crt_list == crt_list and e.name == name]
        if len(matching) > nth:
            user.entries.remove(matching[nth])
            user.build()
            changed += 1
    return changed


def ca_names(options: TlsOptions) -> tuple[str, ...]:
    """The CA and CRL files a set of options loads."""
    return tuple(v for key in ("ca-file", "ca-verify-file", "crl-file") for v in options.values.get(key, ()))


def ca_file_used(proxies: Iterable[Any], name: str) -> bool:
    """Whether a listener (its bind line or a crt-list line) loads *name* (haproxy's "Used")."""
    return any(name in ca_names(options) for user in tls_users(proxies) if hasattr(user, "entries")
               for options in (user.options, *(e.options for e in user.entries)))


def install_ca_file(proxies: Iterable[Any], name: str, kind: str, pem: str) -> int:
    """``commit ssl ca-file|crl-file``: store the new content, rebuild every context loading it; the number
    rebuilt.  Nothing changes when one cannot be rebuilt (CertError/TlsError)."""
    old = cafiles.STORE.files.get(name)
    was_changed = name in cafiles.STORE.changed
    cafiles.STORE.install(name, kind, pem)
    rebuilt = []
    try:
        for user in tls_users(proxies):
            if hasattr(user, "entries"):
                if any(name in ca_names(o) for o in (user.options, *(e.options for e in user.entries))):
                    user.build()
                    rebuilt.append(user)
            elif name in user.ca_files and user.rebuild is not None:
                user.context = user.rebuild(user.client_cert)
                user.sessions.clear()
                user.epoch += 1
                rebuilt.append(user)
    except Exception:
        if old is not None:
            cafiles.STORE.files[name] = old
        else:
            cafiles.STORE.remove(name)
        if not was_changed:
            cafiles.STORE.changed.discard(name)
        for user in rebuilt:
            if hasattr(user, "entries"):
                user.build()
            else:
                user.context = user.rebuild(user.client_cert)
        raise
    return len(rebuilt)


def cert_message(name: str, cert: Certificate) -> dict[str, Any]:
    """``commit ssl cert``'s message: the PEM and the OCSP response (base64 DER), if any."""
    return {"t": "ssl-cert", "name": name, "pem": cert.pem().decode("utf-8", "replace"),
            "ocsp": base64.b64encode(cert.ocsp.der).decode() if cert.ocsp is not None else None}


def _from_message(message: dict[str, Any]) -> Certificate:
    cert = parse_update(message["name"], message["pem"])
    if message.get("ocsp"):
        cert.ocsp = ocsp.parse(base64.b64decode(message["ocsp"]))  # the master checked it against the certificate
    return cert


def set_ocsp_response(proxies: Iterable[Any], response: ocsp.OcspResponse) -> int:
    """``set ssl ocsp-response``: the certificates whose response has the same certificate ID take this one
    at once; how many did."""
    return ocsp.replace_matching({**certificates(proxies), **loaded_certificates(proxies)}.values(), response)


def apply(proxies: Iterable[Any], message: dict[str, Any]) -> None:
    """One change from the master: ``ssl-cert`` (replace), ``ssl-ocsp`` (a new OCSP response), ``ssl-crt-list``
    (``add`` / ``del``) or ``ssl-cafile`` (``commit`` / ``del`` of a CA or CRL file)."""
    if message["t"] == "ssl-ocsp":
        set_ocsp_response(proxies, ocsp.parse(base64.b64decode(message["der"])))
    elif message["t"] == "ssl-cafile":
        if message["op"] == "del":
            cafiles.STORE.remove(message["name"])
        else:
            install_ca_file(proxies, message["name"], message["kind"], message["pem"])
    elif message["t"] == "ssl-cert":
        replace(proxies, message["name"], _from_message(message))
    elif message["op"] == "add":
        cert = parse_update(message["name"], message["pem"])
        add_crt_list_entry(proxies, message["list"], parse_crt_list_line(message["line"]), cert)
    else:
        del_crt_list_entry(proxies, message["list"], message["name"], message["nth"])
