"""The HTTPClient class (core.httpclient()): outbound HTTP/1.1 requests from Lua, on gevent sockets.

``get/head/put/post/delete{url=, headers=, body=, dst=, timeout=}`` send one
request on a new connection (TLS for https URLs, through Python's ssl) and
return ``{status, reason, headers, body}``, headers as 2.6 lays them out
(lower-case name → list of values).  The request and response go through the
worker's own HTTP/1.1 protocol core, so framing (length, chunked, until close)
is handled once.  A failure returns ``nil`` and a message, as Socket does.

TLS verifies the server as haproxy 2.6's httpclient does: against the system
CAs by default, or the ``httpclient.ssl.ca-file`` global, unless
``httpclient.ssl.verify none``; the certificate must also name the URL's host
(haproxy checks it against the SNI it sends, the host).
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

from gevent import socket as gsocket
from gevent import ssl as gssl

from luaproxy.worker.http import CLIENT, Connection
from luaproxy.worker.http.errors import LocalProtocolError, RemoteProtocolError
from luaproxy.worker.http.events import NEED_DATA, Data, EndOfMessage, Request, Response
from luaproxy.worker.http.message import Headers, RequestHead

from . import checks, contexts
from .contexts import Context
from .errors import LuaApiError

CLIENT_CONTEXTS = frozenset({Context.INIT, Context.TASK, Context.ACTION, Context.SERVICE})
DEFAULT_TIMEOUT = 5.0
READ_SIZE = 65536
MAX_RESPONSE = 64 * 1024 * 1024


class TlsSettings:
    """The ``httpclient.ssl.*`` globals of the running configuration (set when Lua boots, before the fork)."""

    verify = True
    ca_file = ""  # "": the system CAs (haproxy's "@system-ca")
    _context: ssl.SSLContext | None = None

    @classmethod
    def configure(cls, verify: bool, ca_file: str) -> None:
        """Raises OSError/ssl.SSLError when *ca_file* cannot be loaded (a configuration error)."""
        cls.verify, cls.ca_file = verify, ca_file
        cls._context = None
        cls.context()

    @classmethod
    def context(cls) -> ssl.SSLContext:
        if cls._context is None:
            context = gssl.SSLContext(gssl.PROTOCOL_TLS_CLIENT)
            if not cls.verify:
                context.check_hostname = False
                context.verify_mode = gssl.CERT_NONE
            elif cls.ca_file and cls.ca_file != "@system-ca":
                context.load_verify_locations(cls.ca_file)
            else:
                context.load_default_certs()
            cls._context = context
        return cls._context


class Failure(Exception):
    """A request that could not complete: its message goes back to Lua as ``nil, message``."""


def new() -> object:
    contexts.require("core.httpclient", CLIENT_CONTEXTS)
    return object()


def _field(request: Any, name: str) -> Any:
    return request[name] if checks.lua_type(request) == "table" else None


def _headers(table: Any) -> list[tuple[str, str]]:
    if table is None:
        return []
    if checks.lua_type(table) != "table":
        raise LuaApiError("httpclient: 'headers' must be a table of name = {values}")
    fields = []
    for name, values in table.items():
        items = values.values() if checks.lua_type(values) == "table" else [values]
        fields += [(checks.string(name, "httpclient", 2), checks.string(v, "httpclient", 2)) for v in items]
    return fields


def _destination(url: Any, dst: Any) -> tuple[str, tuple[str, int] | str, str, str]:
    """(scheme, address or unix path, Host header, request target) from url= and dst=."""
    parts = urlsplit(checks.string(url, "httpclient", 2))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LuaApiError(f"httpclient: invalid url '{url}' (expected http:// or https://)")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    address: tuple[str, int] | str = (parts.hostname, port)
    if dst is not None:
        text = checks.string(dst, "httpclient", 2)
        if text.startswith("unix@"):
            address = text[5:]
        else:
            host, _, port_text = text.removeprefix("ipv4@").rpartition(":")
            address = (host.strip("[]"), int(port_text)) if port_text.isdigit() else (text, port)
    return parts.scheme, address, parts.netloc, target


def _connect(scheme: str, address: tuple[str, int] | str, host: str, timeout: float) -> Any:
    try:
        if isinstance(address, str):
            sock = gsocket.socket(gsocket.AF_UNIX)
            sock.settimeout(timeout)
            sock.connect(address)
        else:
            sock = gsocket.create_connection(address, timeout=timeout)
        if scheme == "https":
            sock = TlsSettings.context().wrap_socket(sock, server_hostname=_server_name(host) or None)
    except TimeoutError:
        raise Failure("timeout") from None
    except ssl.SSLCertVerificationError as exc:
        raise Failure(f"SSL handshake failure: {exc.verify_message or exc.reason}") from None
    except ssl.SSLError as exc:
        raise Failure(f"SSL handshake failure: {exc.reason or exc}") from None
    except OSError as exc:
        raise Failure(f"Can't connect: {exc.strerror or exc}") from None
    return sock


def _server_name(netloc: str) -> str:
    """The host of a URL's authority (``user@host:port``, ``[v6]:port``), for SNI and the name check."""
    host = netloc.rpartition("@")[2]
    if host.startswith("["):
        return host[1:host.find("]")]
    return host.rsplit(":", 1)[0]


def _exchange(sock: Any, method: str, head: RequestHead, body: bytes) -> tuple[Response, bytes]:
    http = Connection(CLIENT)
    data = http.send(Request(head))
    if body:
        data += http.send(Data(body))
    data += http.send(EndOfMessage())
    sock.sendall(data)
    response: Response | None = None
    payload = bytearray()
    while True:
        event = http.next_event()
        if event is NEED_DATA:
            chunk = sock.recv(READ_SIZE)
            http.receive_data(chunk)
            continue
        if isinstance(event, Response):
            response = event
        elif isinstance(event, Data):
            payload += event.data
            if len(payload) > MAX_RESPONSE:
                raise Failure("response too large")
        elif isinstance(event, EndOfMessage) and response is not None:
            return response, bytes(payload)
        elif response is None and not isinstance(event, Response):
            continue
        else:
            raise Failure("connection closed before the end of the response")


def request(runtime: Any, method: str, spec: Any) -> Any:
    """One request; the Lua response table, or (nil, message)."""
    contexts.require(f"HTTPClient.{method.lower()}", CLIENT_CONTEXTS)
    if checks.lua_type(spec) != "table":
        raise LuaApiError(f"bad argument #2 to '{method.lower()}' (table expected, got {checks.lua_type(spec)})")
    scheme, address, host, target = _destination(_field(spec, "url"), _field(spec, "dst"))
    body = checks.as_bytes(_field(spec, "body"), method.lower(), 2) if _field(spec, "body") is not None else b""
    timeout_ms = _field(spec, "timeout")
    timeout = checks.integer(timeout_ms, method.lower(), 2) / 1000.0 if timeout_ms is not None else DEFAULT_TIMEOUT
    headers = Headers(_headers(_field(spec, "headers")))
    if not headers.contains("host"):
        headers.add("host", host)
    if body or method in ("POST", "PUT"):
        headers.set("content-length", str(len(body)))
    run = contexts.current()
    waiting = run.blocking() if run.context in contexts.RUNTIME else None
    try:
        if waiting is not None:
            waiting.__enter__()
        sock = _connect(scheme, address, host, timeout)
        try:
            response, payload = _exchange(sock, method, RequestHead(method, target, "HTTP/1.1", headers), body)
        finally:
            sock.close()
    except Failure as exc:
        return None, str(exc)
    except TimeoutError:
        return None, "timeout"
    except (OSError, LocalProtocolError, RemoteProtocolError) as exc:
        return None, f"HTTP exchange failed: {exc}"
    finally:
        if waiting is not None:
            waiting.__exit__(None, None, None)
    grouped: dict[str, list[str]] = {}
    for name, value in response.head.headers:
        grouped.setdefault(name.lower(), []).append(value)
    return runtime.table_from({
        "status": response.head.status,
        "reason": response.head.reason,
        "headers": runtime.table_from({n: runtime.table_from(dict(enumerate(v))) for n, v in grouped.items()}),
        "body": payload,
    })


def functions(runtime: Any) -> dict[str, Any]:
    def method(name: str) -> Any:
        def send(state: Any, spec: Any = None) -> Any:
            return request(runtime, name, spec)
        return send

    return {name.lower(): method(name) for name in ("GET", "HEAD", "PUT", "POST", "DELETE")}
