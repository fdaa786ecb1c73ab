"""Real TLS connections inside one process, for fetch tests: a listener side and a server side, both gevent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gevent
from gevent import socket as gsocket

from luaproxy.worker.tls import handshake, load_certificate
from luaproxy.worker.tls.contexts import CrtEntry, ListenerTls, ServerTls, client_context
from luaproxy.worker.tls.options import TlsOptions
from tests.helpers.pki import Issued, issue, make_ca


@dataclass
class Pki:
    directory: Path
    ca: Issued
    ca_file: Path
    site: Path
    client: Path


def make_pki(directory: Path) -> Pki:
    ca = make_ca()
    ca_file = ca.write(directory / "ca.pem", with_key=False)
    site = issue(ca, "www.test", ("www.test", "*.wild.test"), serial=0x1234).write(directory / "site.pem")
    client = issue(ca, "client one", client=True, serial=0xABCD).write(directory / "client.pem")
    return Pki(directory, ca, ca_file, site, client)


def listener(pki: Pki, words: str = "", paths: tuple[Path, ...] = ()) -> ListenerTls:
    options = TlsOptions()
    rest = words.split()
    while rest:
        assert options.take(rest.pop(0), rest, "bind")
    certs = {}
    entries = []
    for path in paths or (pki.site,):
        cert = load_certificate(str(path))
        certs[cert.name] = cert
        entries.append(CrtEntry(cert.name, options))
    tls = ListenerTls(entries, options, certs, strict_sni="strict-sni" in options.flags)
    tls.build()
    return tls


def server_side(pki: Pki, words: str = "", with_client_cert: bool = True) -> ServerTls:
    options = TlsOptions()
    rest = words.split()
    while rest:
        assert options.take(rest.pop(0), rest, "server")
    cert = load_certificate(str(pki.client)) if with_client_cert else None
    return ServerTls(client_context(options, "none", [], cert), client_cert=cert)


def connect_pair(front: ListenerTls, back: ServerTls, sni: str | None = "www.test"):
    """(listener-side socket, server-side socket) of one handshaken connection."""
    lsock = gsocket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)

    def accept():
        conn, _ = lsock.accept()
        tls = front.wrap(conn)
        tls.settimeout(5)
        tls.do_handshake()
        return tls

    accepted = gevent.spawn(accept)
    back.sni = (lambda txn: sni) if sni else None
    sock = gsocket.create_connection(lsock.getsockname(), timeout=5)
    client = handshake.connect(back, sock, object(), 5)
    server = accepted.get(timeout=5)
    lsock.close()
    return server, client
