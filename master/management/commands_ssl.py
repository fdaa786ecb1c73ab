"""``show ssl cert``, ``set ssl cert``, ``commit ssl cert``, ``abort ssl cert``: HAProxy 2.6's words.

A ``set`` parses and checks the new PEM at once (a bad certificate or key
changes nothing) and keeps it in the one pending transaction; ``commit``
installs it in the master and sends it to every worker, and answers once
each has acknowledged, as map updates do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from luaproxy.worker.tls import CertError, Certificate, TlsError
from luaproxy.worker.tls.runtime import parse_update, validate

from .pending import Pending

if TYPE_CHECKING:
    from .commands import Reply, Session


class CertSupervisor(Protocol):
    cert_transaction: tuple[str, Certificate] | None

    def certificates(self) -> dict[str, Certificate]: ...

    def spread_certificate(self, name: str, cert: Certificate) -> Pending:
        """Install everywhere; resolves to the problems text ('' when every worker applied it)."""


def show_ssl_cert(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
    certs = sup.certificates()
    transaction = sup.cert_transaction
    if not args:
        pending = f"*{transaction[0]}\n" if transaction else ""
        return "# transaction\n" + pending + "# filename\n" + "".join(f"{name}\n" for name in certs)
    name = args[0]
    if name.startswith("*"):
        if transaction is None or transaction[0] != name[1:]:
            return "No ongoing transaction for this certificate!\n"
        cert, status = transaction[1], "Uncommitted"
    else:
        cert, status = certs.get(name), "Used"
    if cert is None:
        return "Can't display the certificate: Not found or the certificate is a bundle!\n"
    return "".join(f"{key}: {value}\n" for key, value in cert.info(status))


def set_ssl_cert(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
    if not args or payload is None:
        return "'set ssl cert' expects a filename and a certificate as a payload\n"
    certs = sup.certificates()
    name = _certificate_of(args[0], certs)
    transaction = sup.cert_transaction
    if transaction is not None and transaction[0] != name:
        return f"The ongoing transaction is about '{transaction[0]}' but you are trying to set '{name}'\n"
    if name not in certs:
        return "Can't replace a certificate which is not referenced by the configuration!\n"
    current = transaction[1] if transaction is not None else certs[name]
    try:
        cert = parse_update(name, payload, current)
    except CertError as exc:
        return f"{exc}.\nCan't update {args[0]}!\n"
    sup.cert_transaction = (name, cert)
    return f"Transaction {'created' if transaction is None else 'updated'} for certificate {name}!\n"


def _certificate_of(name: str, certs: dict[str, Any]) -> str:
    """``x.pem.key`` (or ``x.key`` for ``x.crt``) names the key of certificate ``x.pem``: the same entry."""
    if name in certs or not name.endswith(".key"):
        return name
    stem = name[:-4]
    if stem in certs:
        return stem
    return next((c for c in certs if c.rpartition(".")[0] == stem), name)


def commit_ssl_cert(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
    if not args:
        return "'commit ssl cert' expects a filename\n"
    transaction = sup.cert_transaction
    if transaction is None:
        return "No ongoing transaction! !\n"
    name, cert = transaction
    if name != args[0]:
        return f"The ongoing transaction is about '{name}' but you are trying to set '{args[0]}'\n"
    try:
        validate(cert)
    except CertError as exc:
        return f"Committing {name}\n{exc}.\nCan't commit {name}!\n"
    sup.cert_transaction = None
    try:
        pending = sup.spread_certificate(name, cert)
    except (CertError, TlsError) as exc:
        return f"Committing {name}\n{exc}.\n"
    return pending.then(lambda problems: f"Committing {name}\n" + (problems or "Success!\n"))


def abort_ssl_cert(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
    if not args:
        return "'abort ssl cert' expects a filename\n"
    transaction = sup.cert_transaction
    if transaction is None or transaction[0] != args[0]:
        return "No ongoing transaction!\n"
    sup.cert_transaction = None
    return f"Transaction aborted for certificate '{args[0]}'!\n"


SSL_COMMANDS = (
    (("show", "ssl", "cert"), "show ssl cert [<certfile>]",
     "display the SSL certificates used in memory, or the details of a file", show_ssl_cert),
    (("set", "ssl", "cert"), "set ssl cert <certfile> <payload>", "replace a certificate file", set_ssl_cert),
    (("commit", "ssl", "cert"), "commit ssl cert <certfile>", "commit a certificate file", commit_ssl_cert),
    (("abort", "ssl", "cert"), "abort ssl cert <certfile>", "abort a transaction for a certificate file",
     abort_ssl_cert),
)
"""(words, usage, help text, handler); every one at the admin level."""
