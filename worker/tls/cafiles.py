"""CA and CRL files by name, as HAProxy 2.6 keeps them: read once, changed at run time, loaded from memory.

Every ``ca-file``, ``ca-verify-file`` and ``crl-file`` of the configuration
is read through the process's ``STORE`` and keeps its path as its name;
``new ssl ca-file`` adds an empty one, ``set``/``commit ssl ca-file``
replaces its content, and the contexts that name it are rebuilt
(worker.tls.runtime).  Contexts load the stored text, never the file again,
so a committed change is what OpenSSL sees from then on.  A reload reads a
file again when it changed on disk, except the ones changed at run time,
which it keeps.
"""

from __future__ import annotations

import hashlib
import os
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import certs
from .certs import CertError, asn1_text, der, dn_text, key_algorithm, load_ca_file, serial_hex, subject_alt_names

if TYPE_CHECKING:
    from cryptography import x509

KINDS = {"ca": "CA file", "crl": "CRL file"}


@dataclass(slots=True, eq=False)
class CaFile:
    """One CA file (certificates) or CRL file (revocation lists) and the PEM text OpenSSL loads."""

    name: str
    kind: str  # "ca" or "crl"
    items: list[Any] = field(default_factory=list)
    mtime: int | None = None
    """The file's modification time when read (None: made at run time)."""

    def pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization  # imported here: cryptography is big

        return b"".join(item.public_bytes(serialization.Encoding.PEM) for item in self.items)

    def load_into(self, context: ssl.SSLContext) -> None:
        """``load_verify_locations`` from memory (CRLs too, which only the file form reads)."""
        if not self.items:
            return
        certs.load_pem(self.pem(), lambda path: context.load_verify_locations(cafile=path),
                       f"unable to load {KINDS[self.kind]} '{self.name}'")

    def summary(self) -> str:
        """A line of ``show ssl ca-file`` / ``show ssl crl-file``."""
        return f"{self.name} - {len(self.items)} certificate(s)" if self.kind == "ca" else self.name

    def describe(self, status: str, shown_name: str, index: int | None = None) -> str:
        """``show ssl ca-file NAME[:N]``: the file, then each certificate (or revocation list), or the Nth."""
        lines = [f"Filename: {shown_name}", f"Status: {status}"]
        for number, item in enumerate(self.items, start=1):
            if index is None or index == number:
                lines += [" ", *(_ca_lines(item, number) if self.kind == "ca" else _crl_lines(item, number))]
        return "".join(f"{line}\n" for line in lines) if self.items else ""


def parse(name: str, kind: str, data: bytes) -> CaFile:
    """The certificates (``ca``) or revocation lists (``crl``) of a PEM text; CertError when it holds none."""
    from cryptography import x509

    try:
        items: list[Any] = (x509.load_pem_x509_certificates(data) if kind == "ca"
                            else [x509.load_pem_x509_crl(block) for block in _crl_blocks(data)])
    except ValueError:
        items = []
    if not items:
        what = "certificate" if kind == "ca" else "certificate revocation list"
        raise CertError(f"unable to load {KINDS[kind]} '{name}': no {what} in it")
    return CaFile(name, kind, items)


def _crl_blocks(data: bytes) -> list[bytes]:
    marker = b"-----END X509 CRL-----"
    return [part + marker for part in data.split(marker) if b"-----BEGIN X509 CRL-----" in part]


SYSTEM_CA = "@system-ca"
"""The ``ca-file`` name of the system's trusted CAs, as in haproxy."""


class CaStore:
    """The process's CA and CRL files by name; ``changed`` are the ones set at run time."""

    def __init__(self) -> None:
        self.files: dict[str, CaFile] = {}
        self.changed: set[str] = set()
        self.transactions: dict[str, CaFile] = {}
        """The management socket's pending ``set ssl ca-file|crl-file`` (one per kind, in the master)."""

    def load(self, path: str, kind: str) -> CaFile:
        """The stored file, read from disk the first time and again when the file changed, unless it was
        changed at run time (CA files: refused when every CA has expired)."""
        source = system_ca_path() if path == SYSTEM_CA and kind == "ca" else path
        found = self.files.get(path)
        if found is not None:
            if found.kind != kind:
                raise CertError(f"'{path}' is already loaded as a {KINDS[found.kind]}")
            if path in self.changed or found.mtime == _mtime(source):
                return found
        mtime = _mtime(source)
        if kind == "ca":
            loaded = CaFile(path, kind, list(load_ca_file(source)), mtime)
        else:
            loaded = parse(path, kind, certs.read_file(source, KINDS[kind]))
            loaded.mtime = mtime
        self.files[path] = loaded
        return loaded

    def install(self, name: str, kind: str, pem: str) -> CaFile:
        """A committed file (empty text: an empty ``new ssl ca-file``)."""
        installed = parse(name, kind, pem.encode()) if pem.strip() else CaFile(name, kind)
        self.files[name] = installed
        self.changed.add(name)
        return installed

    def remove(self, name: str) -> None:
        self.files.pop(name, None)
        self.changed.discard(name)

    def of_kind(self, kind: str) -> dict[str, CaFile]:
        return {name: f for name, f in self.files.items() if f.kind == kind}


def system_ca_path() -> str:
    """The system's trusted CAs (``ca-file @system-ca``): OpenSSL's default CA bundle."""
    paths = ssl.get_default_verify_paths()
    return paths.cafile or paths.openssl_cafile


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


STORE = CaStore()
"""This process's files: the master's is the authoritative one, each worker applies the same commits."""


def _ca_lines(cert: x509.Certificate, number: int) -> list[str]:
    algo, bits = key_algorithm(cert.public_key())
    san = ", ".join(f"DNS:{n}" for n in subject_alt_names(cert))
    return [f"Certificate #{number}:", f"Serial: {serial_hex(cert)}",
            f"notBefore: {asn1_text(certs.not_before(cert))}", f"notAfter: {asn1_text(certs.not_after(cert))}",
            f"Subject Alternative Name: {san}", f"Algorithm: {algo.upper()}{bits}",
            f"SHA1 FingerPrint: {hashlib.sha1(der(cert)).hexdigest().upper()}",
            f"Subject: {dn_text(cert.subject)}", f"Issuer: {dn_text(cert.issuer)}"]


def _crl_lines(crl: x509.CertificateRevocationList, number: int) -> list[str]:
    lines = [f"Certificate Revocation List #{number}:", "Version 1",
             f"Signature Algorithm: {_oid_name(crl.signature_algorithm_oid)}", f"Issuer: {dn_text(crl.issuer)}",
             f"Last Update: {asn1_text(crl.last_update_utc)}"]
    if crl.next_update_utc is not None:
        lines.append(f"Next Update: {asn1_text(crl.next_update_utc)}")
    revoked = list(crl)
    if not revoked:
        return [*lines, "No Revoked Certificates."]
    lines.append("Revoked Certificates:")
    for entry in revoked:
        serial = f"{entry.serial_number:X}"
        lines += [f"    Serial Number: {serial.zfill(len(serial) + len(serial) % 2)}",
                  f"        Revocation Date: {asn1_text(entry.revocation_date_utc)}"]
    return lines


def _oid_name(oid: x509.ObjectIdentifier) -> str:
    """OpenSSL's long name of a signature algorithm (``sha256WithRSAEncryption``), else its dotted form."""
    return getattr(oid, "_name", None) or oid.dotted_string
