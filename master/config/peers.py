"""``peers`` sections: the nodes that share stick tables with HAProxy's peers protocol.

A section lists its peers (``peer NAME ADDR:PORT``, or ``server NAME [ADDR:PORT]``
with ``bind ADDR:PORT`` for the local one) and may declare tables of its own
(``table NAME type ... size ...``, known elsewhere as ``SECTION/NAME``).  The
local peer is the one named by ``-L`` or, by default, the host name
(``HAPROXY_LOCALPEER``); a section without it is dropped with a warning, as
HAProxy does.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from luaproxy.worker.sticktable import SpecError, TableSpec, parse_table_args
from luaproxy.worker.tls.certs import CertError, load_certificate

from .addresses import expand_env, split_host_port
from .errors import ConfigError
from .lexer import Line

KEYWORDS = ("peer", "server", "bind", "table", "disabled", "enabled", "default-server", "log")


@dataclass(frozen=True, slots=True)
class Tls:
    """TLS on a peers link: ``ssl`` with ``crt`` (our certificate and key), ``ca-file`` and ``verify``."""

    crt: str = ""
    ca_file: str = ""
    verify: bool = True


@dataclass(slots=True)
class Peer:
    name: str
    address: str  # "host:port", "fd@N" or "" (a ``server`` line without address: the local peer)
    line: Line
    tls: Tls | None = None

    @property
    def reachable(self) -> bool:
        """False for an address with neither host nor port (``${UNSET}:${UNSET}``): haproxy keeps such a
        peer, and never reaches it."""
        return bool(self.address) and self.address.rpartition(":")[2] not in ("", "0")


@dataclass(slots=True)
class PeersConf:
    name: str
    header: Line
    peers: list[Peer] = field(default_factory=list)
    bind: str = ""
    bind_tls: Tls | None = None
    default_server: tuple[str, ...] = ()
    tables: list[TableSpec] = field(default_factory=list)
    disabled: bool = False
    local_name: str = ""

    @property
    def local(self) -> Peer | None:
        return next((p for p in self.peers if p.name == self.local_name), None)

    @property
    def listen_address(self) -> str:
        """Where the local peer accepts its peers: its ``bind``, else its own address."""
        local = self.local
        return self.bind or (local.address if local is not None else "")

    @property
    def remotes(self) -> list[Peer]:
        return [p for p in self.peers if p.name != self.local_name]


def local_peer_name() -> str:
    return os.environ.get("HAPROXY_LOCALPEER") or os.uname().nodename


def parse_section(header: Line, body: list[Line], errors: list[ConfigError]) -> PeersConf | None:
    """One ``peers`` section; errors go to *errors*."""
    if len(header.words) != 2:
        errors.append(header.error("'peers' expects exactly one name.", "Write 'peers <name>'."))
        return None
    conf = PeersConf(header.words[1], header, local_name=local_peer_name())
    for line in body:
        try:
            _parse_line(conf, line)
        except ConfigError as exc:
            errors.append(exc)
    return conf


def _address(line: Line, text: str) -> str:
    text = expand_env(text)
    if text.startswith("fd@"):
        if not text[3:].isdigit():
            raise line.error(f"invalid inherited socket '{text}'.", "Expected fd@<number>.")
        return text
    if text == ":" and line.words[0] == "server":
        return text  # both halves from unset variables: haproxy accepts the peer, which is never reached
    try:
        split_host_port(text)
    except ValueError as exc:
        raise line.error(f"'{line.words[0]}': {exc}.", "Write ADDRESS:PORT, e.g. 127.0.0.1:10000.") from None
    return text


def _parse_line(conf: PeersConf, line: Line) -> None:
    word, args = line.words[0], line.words[1:]
    if word not in KEYWORDS:
        raise line.error(f"unknown keyword '{word}' in 'peers' section '{conf.name}'.",
                         f"Expected one of: {', '.join(KEYWORDS[:4])}.")
    if word in ("peer", "server"):
        if not args:
            raise line.error(f"'{word}' expects a peer name.", f"Write '{word} <name> <address>:<port>'.")
        name = args[0]
        if any(p.name == name for p in conf.peers):
            raise line.error(f"peer '{name}' is already declared in peers section '{conf.name}'.")
        if word == "peer" and len(args) < 2:
            raise line.error(f"'peer {name}' expects an address.", f"Write 'peer {name} <address>:<port>'.")
        address = _address(line, args[1]) if len(args) > 1 else ""
        options = (*conf.default_server, *args[2:]) if word == "server" else args[2:]
        conf.peers.append(Peer(name, address, line, _tls(line, options)))
    elif word == "bind":
        if not args:
            raise line.error("'bind' expects an address.", "Write 'bind <address>:<port>'.")
        conf.bind = _address(line, args[0])
        conf.bind_tls = _tls(line, args[1:])
        if conf.bind_tls is not None and not conf.bind_tls.crt:
            raise line.error("'bind ... ssl' needs a certificate.", "Add 'crt <file.pem>'.")
    elif word == "default-server":
        _tls(line, args)
        conf.default_server = args
    elif word == "table":
        if not args:
            raise line.error("'table' expects a name.", "Write 'table <name> type <type> size <size> ...'.")
        try:
            spec = parse_table_args(f"{conf.name}/{args[0]}", args[1:])
        except SpecError as exc:
            raise line.error(f"table '{args[0]}': {exc}.") from None
        if any(t.name == spec.name for t in conf.tables):
            raise line.error(f"table '{args[0]}' is already declared in peers section '{conf.name}'.")
        conf.tables.append(dataclasses.replace(spec, peers=conf.name))
    elif word == "disabled":
        conf.disabled = True
    elif word == "enabled":
        conf.disabled = False


TLS_OPTIONS = ("ssl", "crt", "ca-file", "verify")


def _tls(line: Line, words: tuple[str, ...]) -> Tls | None:
    """The TLS options of a peers ``bind``/``server`` line (None without ``ssl``)."""
    rest, found, ssl = list(words), {}, False
    while rest:
        word = rest.pop(0)
        if word == "ssl":
            ssl = True
        elif word in TLS_OPTIONS:
            if not rest:
                raise line.error(f"'{word}' expects an argument.")
            found[word] = rest.pop(0)
        else:
            raise line.error(f"'{word}' is not supported on a peers '{line.words[0]}' line.",
                             f"luaproxy's peers links take: {', '.join(TLS_OPTIONS)}.")
    if ssl and "crt" in found:
        try:
            load_certificate(found["crt"])
        except CertError as exc:
            raise line.error(f"'crt {found['crt']}': {exc}.") from None
    verify = found.get("verify", "required")
    if verify not in ("none", "required"):
        raise line.error(f"'verify' expects 'none' or 'required', got '{verify}'.")
    return Tls(found.get("crt", ""), found.get("ca-file", ""), verify == "required") if ssl else None


def wire_name(table: str) -> str:
    """The name a table is known by on the wire: a peers section's ``SECTION/NAME`` is sent as NAME."""
    return table.rpartition("/")[2]
