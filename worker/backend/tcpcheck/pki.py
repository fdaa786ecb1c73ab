"""TLS for check connections: the server's ``check-ssl`` context, or one made for a ``connect ssl`` rule.

A ``tcp-check connect ssl [sni S] [alpn A]`` rule on a server without TLS
settings of its own gets a client context that does not verify the server
(checks only look at whether it answers), made once per rule and reused.
"""

from __future__ import annotations

import ssl
from typing import Any

from .rules import Connect

_CONTEXTS: dict[tuple[int, Connect], ssl.SSLContext] = {}


def tls_connect(server: Any, rule: Connect, sock: Any, timeout: float) -> Any:
    """The handshake on *sock*; raises OSError (ssl.SSLError) or TimeoutError like a failed connect."""
    base = server.check_tls if server.check_tls is not None else server.tls
    context = base.context if base is not None and not rule.alpn else _context(server, rule, base)
    sni = rule.sni or (base.sni(None) if base is not None and base.sni is not None else None)
    tls = context.wrap_socket(sock, server_hostname=sni, do_handshake_on_connect=False)
    tls.settimeout(timeout)
    tls.do_handshake()
    if base is not None:
        base.verify_host(tls)
    return tls


def _context(server: Any, rule: Connect, base: Any) -> ssl.SSLContext:
    key = (id(server), rule)
    context = _CONTEXTS.get(key)
    if context is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE if base is None else base.context.verify_mode
        if base is not None and base.context.verify_mode != ssl.CERT_NONE:
            context.load_default_certs()
        if rule.alpn:
            context.set_alpn_protocols(rule.alpn.split(","))
        _CONTEXTS[key] = context
    return context
