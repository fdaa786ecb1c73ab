"""``new|set|commit|abort|del|show ssl ca-file`` and the same for ``crl-file``: HAProxy 2.6's words.

A ``set`` parses the payload at once (nothing usable: refused, nothing
changes) and keeps it as the kind's one pending transaction; ``commit``
installs it in the master's store and every worker's, each rebuilding the
contexts that load that file (worker.tls.runtime.install_ca_file), and
answers once all have acknowledged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from luaproxy.worker.tls import CertError, TlsError, cafiles
from luaproxy.worker.tls.runtime import ca_file_used

if TYPE_CHECKING:
    from .commands import Reply, Session

_WORDS = {"ca": ("CA file", "CAs", "CA"), "crl": ("CRL file", "CRLs", "CRL")}


def show(kind: str) -> Any:
    def handler(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
        store = cafiles.STORE
        pending = store.transactions.get(kind)
        if not args:
            head = f"# transaction\n*{pending.summary()}\n" if pending is not None else ""
            return head + "# filename\n" + "".join(f"{f.summary()}\n" for f in store.of_kind(kind).values())
        name, _, index = args[0].partition(":")
        if index and not index.isdigit():
            return f"Can't display the {_WORDS[kind][0]} : invalid index!\n"
        if name.startswith("*"):
            if pending is None or pending.name != name[1:]:
                return f"Can't display the {_WORDS[kind][0]} : Not found!\n"
            found, status = pending, "Unused"
        else:
            found = store.of_kind(kind).get(name)
            if found is None:
                return f"Can't display the {_WORDS[kind][0]} : Not found!\n"
            status = "Used" if ca_file_used(sup.proxies(), name) else "Unused"
        return found.describe(status, name, int(index) if index else None)

    return handler


def new(kind: str) -> Any:
    def handler(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
        if not args:
            return f"'new ssl {kind}-file' expects a filename\n"
        if args[0] in cafiles.STORE.files:
            return f"{_WORDS[kind][0]} '{args[0]}' already exists!\n"
        return _spread(sup, kind, args[0], "", f"New {_WORDS[kind][0]} created '{args[0]}'!\n")

    return handler


def set_file(kind: str) -> Any:
    def handler(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
        what, plural, short = _WORDS[kind]
        if not args or payload is None:
            return f"'set ssl {kind}-file expects a filename and {plural} as a payload\n"
        store, name = cafiles.STORE, args[0]
        pending = store.transactions.get(kind)
        if pending is not None and pending.name != name:
            return f"The ongoing transaction is about '{pending.name}' but you are trying to set '{name}'\n"
        if name not in store.of_kind(kind):
            return f"Can't replace a {what} which is not referenced by the configuration!\n"
        try:
            store.transactions[kind] = cafiles.parse(name, kind, payload.encode())
        except CertError as exc:
            return f"{exc}\nCan't update {name}!\n"
        return f"transaction {'created' if pending is None else 'updated'} for {short} {name}!\n"

    return handler


def commit(kind: str) -> Any:
    def handler(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
        if not args:
            return f"'commit ssl {kind}-file' expects a filename\n"
        store, name = cafiles.STORE, args[0]
        pending = store.transactions.get(kind)
        if pending is None:
            return f"No ongoing transaction! !\nCan't commit {name}!\n"
        if pending.name != name:
            return f"The ongoing transaction is about '{pending.name}' but you are trying to set '{name}'\n"
        del store.transactions[kind]
        return _spread(sup, kind, name, pending.pem().decode(), f"Committing {name}.\nSuccess!\n",
                       f"Committing {name}")

    return handler


def abort(kind: str) -> Any:
    def handler(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
        if not args:
            return f"'abort ssl {kind}-file' expects a filename\n"
        pending = cafiles.STORE.transactions.get(kind)
        if pending is None or pending.name != args[0]:
            return "No ongoing transaction!\n"
        del cafiles.STORE.transactions[kind]
        return f"Transaction aborted for certificate '{args[0]}'!\n"

    return handler


def delete(kind: str) -> Any:
    def handler(sup: Any, session: Session, args: list[str], payload: str | None) -> Reply:
        what = _WORDS[kind][0]
        if not args:
            return f"'del ssl {kind}-file' expects a {what}\n"
        store, name = cafiles.STORE, args[0]
        pending = store.transactions.get(kind)
        if pending is not None and pending.name == name:
            return f"Can't delete a {what} currently performing a transaction!\n"
        if name not in store.of_kind(kind):
            return f"{what} '{name}' doesn't exist!\n"
        if ca_file_used(sup.proxies(), name):
            return f"{what} '{name}' in use, can't be deleted!\n"
        try:
            spread = sup.spread_tls({"t": "ssl-cafile", "op": "del", "name": name, "kind": kind})
        except (CertError, TlsError) as exc:
            return f"{exc}\n"
        return spread.then(lambda problems: f"{what} '{name}' deleted!\n" + problems)

    return handler


def _spread(sup: Any, kind: str, name: str, pem: str, success: str, failure_head: str = "") -> Reply:
    message = {"t": "ssl-cafile", "op": "commit", "name": name, "kind": kind, "pem": pem}
    try:
        spread = sup.spread_tls(message)
    except (CertError, TlsError) as exc:
        return f"{failure_head}\n{exc}\nCan't commit {name}!\n" if failure_head else f"{exc}\n"
    return spread.then(lambda problems: success + problems)


CAFILE_COMMANDS = tuple(
    command for kind in ("ca", "crl") for command in (
        (("show", "ssl", f"{kind}-file"), f"show ssl {kind}-file [<{kind}file>[:<index>]]",
         f"display the SSL {kind.upper()} files used in memory, or the details of a <{kind}file>", show(kind)),
        (("new", "ssl", f"{kind}-file"), f"new ssl {kind}-file <{kind}file>",
         f"create a new {kind.upper()} file to be used in a crt-list", new(kind)),
        (("set", "ssl", f"{kind}-file"), f"set ssl {kind}-file <{kind}file> <payload>",
         f"replace a {kind.upper()} file", set_file(kind)),
        (("commit", "ssl", f"{kind}-file"), f"commit ssl {kind}-file <{kind}file>",
         f"commit a {kind.upper()} file", commit(kind)),
        (("abort", "ssl", f"{kind}-file"), f"abort ssl {kind}-file <{kind}file>",
         f"abort a transaction for a {kind.upper()} file", abort(kind)),
        (("del", "ssl", f"{kind}-file"), f"del ssl {kind}-file <{kind}file>",
         f"delete an unused {kind.upper()} file", delete(kind)),
    )
)
"""(words, usage, help text, handler); every one at the admin level, as SSL_COMMANDS."""
