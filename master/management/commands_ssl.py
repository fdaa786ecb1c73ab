"""``show ssl cert``, ``set ssl cert``, ``commit ssl cert``, ``abort ssl cert``: HAProxy 2.6's words.

A ``set`` parses and checks the new PEM at once (a bad certificate or key
changes nothing) and keeps it in the one pending transaction; ``commit``
installs it in the master and sends it to every worker, and answers once
each has acknowledged, as map updates do.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from luaproxy.worker.tls import CertError, Certificate, TlsError, cafiles, ocsp
from luaproxy.worker.tls.options import parse_crt_list_line
from luaproxy.worker.tls.runtime import ca_names, loaded_certificates, parse_update, validate

from .pending import Pending

if TYPE_CHECKING:
    from .commands import Reply, Session


class CertSupervisor(Protocol):
    cert_transaction: tuple[str, Certificate] | None
    spare_certs: dict[str, Certificate | None]

    def certificates(self) -> dict[str, Certificate]: ...

    def crt_lists(self) -> dict[str, list[Any]]: ...

    def default_users(self, crt_list: str, name: str, nth: int) -> list[str]:
        """The frontends whose default certificate that crt-list entry is."""

    def spread_tls(self, message: dict[str, Any]) -> Pending:
        """Apply a worker.tls.runtime change in the master and every worker; resolves to the problems text."""

    def spread_certificate(self, name: str, cert: Certificate) -> Pending:
        """Install everywhere; resolves to the problems text ('' when every worker applied it)."""


def _all_certificates(sup: Any) -> dict[str, Certificate | None]:
    """Certificates in use, then the ``new ssl cert`` stores (None until one is committed)."""
    used = sup.certificates()
    return {**used, **{n: c for n, c in sup.spare_certs.items() if n not in used},
            **{n: c for n, c in loaded_certificates(sup.proxies()).items() if n not in used}}


def show_ssl_cert(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
    certs = _all_certificates(sup)
    transaction = sup.cert_transaction
    if not args:
        pending = f"*{transaction[0]}\n" if transaction else ""
        return "# transaction\n" + pending + "# filename\n" + "".join(f"{name}\n" for name in certs)
    name = args[0]
    wanted = name.lstrip("*").removesuffix(".ocsp")
    if name.startswith("*"):
        if transaction is None or transaction[0] != wanted:
            return "No ongoing transaction for this certificate!\n"
        cert, status = transaction[1], "Uncommitted"
    else:
        cert, status = certs.get(wanted), "Used" if wanted in sup.certificates() else "Unused"
    if cert is None:
        return "Can't display the certificate: Not found or the certificate is a bundle!\n"
    if name.endswith(".ocsp"):
        return cert.ocsp.describe() if cert.ocsp is not None else "No OCSP response for this certificate!\n"
    return "".join(f"{key}: {value}\n" for key, value in cert.info(status))


def set_ssl_cert(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
    if not args or payload is None:
        return "'set ssl cert' expects a filename and a certificate as a payload\n"
    certs = _all_certificates(sup)
    name = _certificate_of(args[0], certs)
    transaction = sup.cert_transaction
    if transaction is not None and transaction[0] != name:
        return f"The ongoing transaction is about '{transaction[0]}' but you are trying to set '{name}'\n"
    if name not in certs:
        return "Can't replace a certificate which is not referenced by the configuration!\n"
    current = transaction[1] if transaction is not None else certs[name]
    if current is None and not payload.strip():
        return f"no certificate or private key found in the payload for '{name}'.\nCan't update {args[0]}!\n"
    try:
        if args[0] == name + ".ocsp" and current is not None:
            cert = replace(current, ocsp=ocsp.parse(ocsp.decode_base64(payload), current, args[0])
                           if payload.strip() else None)
        else:
            cert = parse_update(name, payload, current)
    except CertError as exc:
        return f"{exc}.\nCan't update {args[0]}!\n"
    sup.cert_transaction = (name, cert)
    return f"Transaction {'created' if transaction is None else 'updated'} for certificate {name}!\n"


def _certificate_of(name: str, certs: dict[str, Any]) -> str:
    """``x.pem.key`` (or ``x.key`` for ``x.crt``) names the key of certificate ``x.pem``, ``x.pem.ocsp`` its OCSP
    response: the same entry."""
    if name.endswith(".ocsp") and name[:-5] in certs:
        return name[:-5]
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
    if name in sup.spare_certs and name not in sup.certificates():
        sup.spare_certs[name] = cert
        return f"Committing {name}\nSuccess!\n"
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


def new_ssl_cert(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
    if not args:
        return "'new ssl cert' expects a filename\n"
    if args[0] in _all_certificates(sup):
        return f"Certificate '{args[0]}' already exists!\n"
    sup.spare_certs[args[0]] = None
    return f"New empty certificate store '{args[0]}'!\n"


def del_ssl_cert(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
    if not args:
        return "'del ssl cert' expects a certificate name\n"
    name = args[0]
    if name in sup.certificates():
        return f"certificate '{name}' in use, can't be deleted!\n"
    if name not in sup.spare_certs:
        return f"certificate '{name}' doesn't exist!\n"
    if sup.cert_transaction is not None and sup.cert_transaction[0] == name:
        return "Can't delete a certificate which is being modified!\n"
    del sup.spare_certs[name]
    return f"Certificate '{name}' deleted!\n"


def _ocsp_responses(sup: Any) -> dict[str, Any]:
    """The OCSP responses of the certificates, by certificate ID key (``show ssl ocsp-response``)."""
    return {c.ocsp.key: c.ocsp for c in _all_certificates(sup).values() if c is not None and c.ocsp is not None}


def show_ssl_ocsp_response(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
    responses = _ocsp_responses(sup)
    if not args:
        return "# Certificate IDs\n" + "".join(f"  Certificate ID key : {key}\n    Certificate ID:\n"
                                              + response.cert_id("      ") for key, response in responses.items())
    response = responses.get(args[0].lower())
    return response.describe() if response is not None else "Certificate ID does not match any certificate.\n"


def set_ssl_ocsp_response(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
    """A new response for the certificate(s) whose current response has the same certificate ID; used at once
    (no transaction), as in haproxy."""
    text = payload if payload is not None else " ".join(args)
    if not text.strip():
        return "'set ssl ocsp-response' expects response in base64 encoding.\n"
    try:
        response = ocsp.parse(ocsp.decode_base64(text))
    except CertError as exc:
        return f"{exc}.\n"
    if response.key not in _ocsp_responses(sup):
        return "OCSP single response: Certificate ID does not match any certificate or issuer.\n"
    ocsp.replace_matching(sup.spare_certs.values(), response)
    pending = sup.spread_tls({"t": "ssl-ocsp", "der": base64.b64encode(response.der).decode()})
    return pending.then(lambda problems: problems or "OCSP Response updated!\n")


def show_ssl_crt_list(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
    numbered = bool(args) and args[0] == "-n"
    rest = args[1:] if numbered else args
    lists = sup.crt_lists()
    if not rest:
        return "# filename\n" + "".join(f"{name}\n" for name in lists)
    name = rest[0].rstrip("/")
    if name not in lists:
        return "didn't find the specified filename\n"
    lines = [f"# {name}\n"]
    for number, entry in enumerate(lists[name], start=1):
        line = entry.line.text() if entry.line is not None else entry.name
        if numbered:
            crt, _, tail = line.partition(" ")
            line = f"{crt}:{number}" + (f" {tail}" if tail else "")
        lines.append(line + "\n")
    return "".join(lines)


def add_ssl_crt_list(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
    if not args or (payload is None and len(args) < 2):
        return "'add ssl crtlist' expects a filename and a certificate name\n"
    crt_list = args[0].rstrip("/")
    text = payload.strip().split("\n")[0] if payload is not None else args[1]
    try:
        line = parse_crt_list_line(text)
        options = line.options()
    except (ValueError, TlsError) as exc:
        return f"{exc}\n"
    if crt_list not in sup.crt_lists():
        return f"crtlist '{crt_list}' does not exist!\n"
    files = [path for path in ca_names(options) if path not in cafiles.STORE.files]
    if files:
        return f"unable to load {files[0]}: create it first with 'new ssl ca-file' or 'new ssl crl-file'.\n"
    cert = _all_certificates(sup).get(line.crt)
    if cert is None:
        return f"certificate '{line.crt}' does not exist!\n"
    message = {"t": "ssl-crt-list", "op": "add", "list": crt_list, "name": line.crt,
               "pem": cert.pem().decode("utf-8", "replace"), "line": line.text()}
    try:
        pending = sup.spread_tls(message)
    except (CertError, TlsError) as exc:
        return f"{exc}\n"
    sup.spare_certs.pop(line.crt, None)
    return pending.then(lambda problems: f"Inserting certificate '{line.crt}' in crt-list '{crt_list}'.\n"
                        + (problems or "Success!\n"))


def del_ssl_crt_list(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
    if len(args) < 2:
        return "'del ssl crt-list' expects a filename and a certificate name\n"
    crt_list = args[0].rstrip("/")
    name, _, number = args[1].rpartition(":") if ":" in args[1] else (args[1], "", "")
    entries = sup.crt_lists().get(crt_list)
    if entries is None:
        return f"crt-list '{crt_list}' does not exist!\n"
    positions = [i for i, e in enumerate(entries, start=1) if e.name == name]
    if number:
        if not number.isdigit() or int(number) not in positions:
            return f"entry '{args[1]}' not found in crt-list '{crt_list}'!\n"
        nth = positions.index(int(number))
    elif len(positions) == 1:
        nth = 0
    elif not positions:
        return f"certificate '{name}' not found in crt-list '{crt_list}'!\n"
    else:
        return f"certificate '{name}' is used several times in crt-list '{crt_list}', use 'name:line'!\n"
    frontends = sup.default_users(crt_list, name, nth)
    if frontends:
        return (f"Can't delete the entry: certificate '{name}' cannot be deleted, it is used as default certificate "
                "by the following frontends:\n" + "".join(f"  {fe}\n" for fe in frontends))
    try:
        pending = sup.spread_tls({"t": "ssl-crt-list", "op": "del", "list": crt_list, "name": name, "nth": nth})
    except (CertError, TlsError) as exc:
        return f"{exc}\n"
    return pending.then(lambda problems: f"Entry '{name}' deleted in crtlist '{crt_list}'!\n" + problems)


SSL_COMMANDS = (
    (("show", "ssl", "cert"), "show ssl cert [<certfile>]",
     "display the SSL certificates used in memory, or the details of a file", show_ssl_cert),
    (("set", "ssl", "cert"), "set ssl cert <certfile> <payload>", "replace a certificate file", set_ssl_cert),
    (("commit", "ssl", "cert"), "commit ssl cert <certfile>", "commit a certificate file", commit_ssl_cert),
    (("abort", "ssl", "cert"), "abort ssl cert <certfile>", "abort a transaction for a certificate file",
     abort_ssl_cert),
    (("new", "ssl", "cert"), "new ssl cert <certfile>", "create a new certificate file to be used in a crt-list",
     new_ssl_cert),
    (("del", "ssl", "cert"), "del ssl cert <certfile>", "delete an unused certificate file", del_ssl_cert),
    (("show", "ssl", "ocsp-response"), "show ssl ocsp-response [<id>]", "display the IDs of the OCSP responses "
     "used in memory, or the details of a single OCSP response", show_ssl_ocsp_response),
    (("set", "ssl", "ocsp-response"), "set ssl ocsp-response <resp|payload>", "update a certificate's OCSP Response "
     "from a base64-encode DER", set_ssl_ocsp_response),
    (("show", "ssl", "crt-list"), "show ssl crt-list [-n] [<list>]", "show the list of crt-lists or a crt-list's "
     "content", show_ssl_crt_list),
    (("add", "ssl", "crt-list"), "add ssl crt-list <list> <cert> [opts]*", "add a line <cert> to a crt-list <list>",
     add_ssl_crt_list),
    (("del", "ssl", "crt-list"), "del ssl crt-list <list> <cert[:line]>", "delete a line <cert> from a crt-list "
     "<list>", del_ssl_crt_list),
)
"""(words, usage, help text, handler); every one at the admin level."""
