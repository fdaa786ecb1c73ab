"""HTTP/2 header lists to the one message model and back, with HAProxy 2.6's strictness.

A request that breaks the HTTP/2 rules for a message (RFC 9113 8.2-8.3: upper
case names, connection-specific fields, missing or repeated pseudo-headers, a
bad ``:path``) is a stream error: :class:`MalformedMessage`.  Other defects
HAProxy answers with a 400, as it does for an HTTP/1 request.
"""

from __future__ import annotations

import re

from ..http.connection import Connection
from ..http.errors import RemoteProtocolError
from ..http.events import Data, EndOfMessage, Request, Response
from ..http.grammar import TOKEN
from ..http.message import Headers, RequestHead, ResponseHead
from ..http.pages import reason
from ..http.state import CLIENT

H2_VERSION = "HTTP/2.0"
CONNECTION_SPECIFIC = frozenset({"connection", "proxy-connection", "keep-alive", "upgrade", "transfer-encoding"})
"""Fields HTTP/2 forbids (RFC 9113 8.2.2): a request with one is malformed; a response loses them."""
REQUEST_PSEUDO = frozenset({":method", ":scheme", ":path", ":authority", ":protocol"})
_TOKEN = re.compile(rf"{TOKEN}\Z")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*\Z")
_BAD_VALUE = re.compile(r"[\0\r\n]")


class MalformedMessage(Exception):
    """The message breaks HTTP/2's rules: the stream is reset with PROTOCOL_ERROR."""


class BadRequest(Exception):
    """A well-formed HTTP/2 message HTTP rejects: the client gets a 400."""


def _text(value: bytes | str) -> str:
    return value if isinstance(value, str) else value.decode("latin-1")


def request_head(fields: list[tuple[bytes, bytes]], end_stream: bool) -> tuple[RequestHead, int | None, str | None]:
    """The request head of a HEADERS block, its content-length (None when absent) and the :protocol of an
    extended CONNECT (RFC 8441)."""
    pseudo: dict[str, str] = {}
    headers = Headers()
    cookies: list[str] = []
    length: int | None = None
    regular = False
    for raw_name, raw_value in fields:
        name, value = _text(raw_name), _text(raw_value)
        if name != name.lower() or not name or _BAD_VALUE.search(value):
            raise MalformedMessage(f"invalid header field '{name}'")
        if name.startswith(":"):
            if regular or name not in REQUEST_PSEUDO or name in pseudo:
                raise MalformedMessage(f"misplaced, unknown or repeated pseudo-header '{name}'")
            pseudo[name] = value
            continue
        regular = True
        if name in CONNECTION_SPECIFIC or (name == "te" and value.strip().lower() != "trailers"):
            raise MalformedMessage(f"connection-specific header field '{name}'")
        if name == "cookie":
            cookies.append(value)
            continue
        if name == "content-length":
            length = _content_length(value, length)
        headers.add(name, value)
    method = pseudo.get(":method")
    if method is None:
        raise MalformedMessage("no :method")
    authority = pseudo.get(":authority")
    if method == "CONNECT" and ":protocol" not in pseudo:
        if authority is None or ":scheme" in pseudo or ":path" in pseudo:
            raise MalformedMessage("CONNECT needs :authority alone")
        target = authority
    else:
        path, scheme = pseudo.get(":path"), pseudo.get(":scheme")
        if not path or scheme is None:
            raise MalformedMessage("no :path or :scheme")
        if not (path.startswith("/") or (path == "*" and method == "OPTIONS")):
            raise MalformedMessage(f"invalid :path '{path}'")
        if not _SCHEME.match(scheme):
            raise BadRequest(f"invalid :scheme '{scheme}'")
        target = path
        if authority is not None:
            # haproxy's absolute form, its default port dropped (RFC 3986 6.2.3); an HTTP/1 server gets
            # the path alone (origin_form)
            authority = _normalized(scheme.lower(), authority)
            if path != "*":
                target = f"{scheme}://{authority}{path}"
    if not _TOKEN.match(method):
        raise BadRequest(f"invalid :method '{method}'")
    if authority is not None:  # :authority wins over any host field, as in haproxy
        headers.remove("host")
        headers.fields.insert(0, ("host", authority))
    if cookies:
        headers.add("cookie", "; ".join(cookies))
    if end_stream and length not in (None, 0):
        raise MalformedMessage("content-length with an empty body")
    protocol = pseudo.get(":protocol")
    if protocol is not None and method != "CONNECT":
        raise MalformedMessage(":protocol without CONNECT")
    return RequestHead(method, target, H2_VERSION, headers), length, protocol


def _normalized(scheme: str, authority: str) -> str:
    host, colon, port = authority.rpartition(":")
    if not colon or "]" in port:
        return authority
    if not port or (scheme, port) in (("http", "80"), ("https", "443")):
        return host
    return authority


def origin_form(target: str) -> str:
    """The path and query of an absolute target: what an HTTP/1 server gets."""
    if "://" not in target:
        return target
    rest = target.split("://", 1)[1]
    slash = rest.find("/")
    return rest[slash:] if slash >= 0 else "/"


def _content_length(value: str, seen: int | None) -> int:
    parts = [part.strip() for part in value.split(",")]
    if not all(part.isdigit() for part in parts) or len(set(parts)) != 1:
        raise MalformedMessage(f"invalid content-length '{value}'")
    length = int(parts[0])
    if seen is not None and seen != length:
        raise MalformedMessage("conflicting content-length")
    return length


def response_fields(head: ResponseHead) -> list[tuple[str, str]]:
    """A response head as an HTTP/2 field list: lower-case names, no connection-specific fields."""
    fields = [(":status", str(head.status))]
    fields += [(name.lower(), value) for name, value in head.headers
               if name.lower() not in CONNECTION_SPECIFIC and not _BAD_VALUE.search(value)]
    return fields


def request_fields(head: RequestHead, scheme: str) -> list[tuple[str, str]]:
    """A request head as an HTTP/2 field list (towards an h2 server): Host becomes :authority."""
    host = head.headers.get_all("host")
    target = head.target
    if "://" in target:
        scheme, rest = target.split("://", 1)
        slash = rest.find("/")
        authority, target = (rest[:slash], rest[slash:]) if slash >= 0 else (rest, "/")
        host = host or [authority]
    if head.method == "CONNECT":
        fields = [(":method", "CONNECT"), (":authority", target)]
    else:
        fields = [(":method", head.method), (":scheme", scheme), (":path", target or "/")]
        if host:
            fields.append((":authority", host[0]))
    fields += [(name.lower(), value) for name, value in head.headers
               if name.lower() not in CONNECTION_SPECIFIC and name.lower() != "host"
               and not (name.lower() == "te" and value.strip().lower() != "trailers")]
    return fields


def response_head(fields: list[tuple[bytes, bytes]]) -> ResponseHead:
    """A server's HEADERS block as a response head (MalformedMessage when it is not one)."""
    status: int | None = None
    headers = Headers()
    for raw_name, raw_value in fields:
        name, value = _text(raw_name), _text(raw_value)
        if name == ":status":
            if status is not None or not value.isdigit() or len(value) != 3:
                raise MalformedMessage(f"invalid :status '{value}'")
            status = int(value)
        elif name.startswith(":") or name in CONNECTION_SPECIFIC:
            raise MalformedMessage(f"forbidden field '{name}' in a response")
        else:
            headers.add(name, value)
    if status is None:
        raise MalformedMessage("no :status")
    return ResponseHead(status, reason(status), H2_VERSION, headers)


def trailer_headers(fields: list[tuple[bytes, bytes]]) -> Headers:
    return Headers([(_text(n), _text(v)) for n, v in fields if not _text(n).startswith(":")])


def parse_raw_response(raw: bytes) -> tuple[ResponseHead, bytes] | None:
    """An HTTP/1 response held as bytes (an errorfile) as a head and a body, to send on an h2 stream."""
    conn = Connection(CLIENT)
    conn.send(Request(RequestHead("GET", "/", "HTTP/1.1", Headers([("host", "x")]))))
    conn.send(EndOfMessage())
    conn.receive_data(raw)
    conn.receive_data(b"")
    head: ResponseHead | None = None
    body = bytearray()
    try:
        while True:
            event = conn.next_event()
            if type(event) is Response:
                head = event.head
            elif type(event) is Data:
                body += event.data
            else:
                break
    except RemoteProtocolError:
        return None
    return (head, bytes(body)) if head is not None else None
