"""Which protocol a connection speaks, HTTP/2 or HTTP/1: the configuration's ``proto h2``, ``ws``, or ALPN.

The HTTP/2 side (the ``h2`` library and the modules built on it, about 3 MB
in a process) is imported when a connection first speaks it, so a
configuration that never does never loads it.  One that may does load it in
the master (``load_if_spoken``, as it compiles), so that its workers share it.
"""

from __future__ import annotations

import importlib
import socket
from collections.abc import Iterable
from typing import Any

from ..http.connection import Connection
from ..http.state import CLIENT


def negotiated(sock: socket.socket) -> bool:
    """The TLS handshake chose HTTP/2 by ALPN."""
    selected = getattr(sock, "selected_alpn_protocol", None)
    return selected is not None and selected() == "h2"


def server_http(server: Any, sock: socket.socket, websocket: str | None = None) -> Any:
    """The protocol core for a new connection to *server*: HTTP/2 when it says ``proto h2`` or ALPN chose
    h2, else HTTP/1; a WebSocket's connection speaks what websocket_mode chose."""
    if websocket == "h2" or (websocket is None and (getattr(server, "proto", "") == "h2" or negotiated(sock))):
        from .backend import H2ServerHttp

        return H2ServerHttp(sock)
    return Connection(CLIENT)


def check_http(server: Any, sock: socket.socket) -> Any:
    """The protocol core of an HTTP check: ``check-proto``, else the server's ``proto``, else ALPN's choice."""
    proto = getattr(server, "check_proto", "") or getattr(server, "proto", "")
    if proto == "h2" or (proto != "h1" and negotiated(sock)):
        from .backend import H2ServerHttp

        return H2ServerHttp(sock)
    return Connection(CLIENT)


def websocket_mode(server: Any, txn: Any) -> str | None:
    """For a WebSocket upgrade, the protocol its server connection speaks (``ws h1|h2|auto``), on a
    connection of its own; None for any other request.  ``auto`` follows ``proto h2``, else prefers
    HTTP/1.1: ALPN then offers http/1.1 alone when the server line lists it, as haproxy does."""
    request = getattr(txn, "request", None)
    if request is None or "websocket" not in {v.lower() for v in request.headers.get_values("upgrade")}:
        return None
    mode = getattr(server, "ws", "auto")
    alpn = list(getattr(server, "alpn", ()) or ())
    if mode == "auto":
        mode = "h2" if getattr(server, "proto", "") == "h2" or (alpn and "http/1.1" not in alpn) else "h1"
    if mode == "h1" and alpn:
        txn.server_alpn = ["http/1.1"]  # worker.tls.contexts.ServerTls.wrap offers it alone
    return mode


def tunnel_end(conn: Any) -> Any:
    """What a tunnel relays with on the server side: the socket, or the HTTP/2 stream the switch opened."""
    tunnel_socket = getattr(conn.http, "tunnel_socket", None)  # only backend.H2ServerHttp has one
    return tunnel_socket() if tunnel_socket is not None else conn.sock


def load_if_spoken(proxies: Iterable[Any]) -> None:
    """Import the HTTP/2 side now when a bind or a server of *proxies* may speak HTTP/2."""
    if any(_may_speak_h2(proxy) for proxy in proxies):
        importlib.import_module(f"{__package__}.session")
        importlib.import_module(f"{__package__}.backend")


def _may_speak_h2(proxy: Any) -> bool:
    if proxy.h2_binds:
        return True
    for tls in proxy.tls_binds.values():
        if any("h2" in options.alpn() for options in (tls.options, *(e.options for e in tls.entries))):
            return True
    return any("h2" in (s.proto, s.ws, s.check_proto) or "h2" in s.alpn for s in proxy.servers)
