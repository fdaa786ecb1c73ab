"""HAProxy's default error pages, ``errorfile`` overrides, and replies built by rules.

The texts and headers are haproxy 2.6's own (checked on the wire): generated
replies use lower-case headers and keep the connection; the parser's 400 and
the 408 use the legacy capitalised form with ``Connection: close``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter
from pathlib import Path
from typing import Any

from .message import Headers, ResponseHead
from .writers import whole_response

MESSAGES: dict[int, tuple[str, str]] = {
    200: ("OK", "Service ready."),
    400: ("Bad request", "Your browser sent an invalid request."),
    401: ("Unauthorized", "You need a valid user and password to access this content."),
    403: ("Forbidden", "Request forbidden by administrative rules."),
    404: ("Not Found", "The resource could not be found."),
    405: ("Method Not Allowed", "A request was made of a resource using a request method not supported by that "
                                "resource"),
    407: ("Unauthorized", "You need a valid user and password to access this content."),
    408: ("Request Time-out", "Your browser didn't send a complete request in time."),
    410: ("Gone", "The resource is no longer available and will not be available again."),
    413: ("Payload Too Large", "The request entity exceeds the maximum allowed."),
    425: ("Too Early", "Your browser sent early data."),
    429: ("Too Many Requests", "You have sent too many requests in a given amount of time."),
    500: ("Internal Server Error", "An internal server error occurred."),
    501: ("Not Implemented", "The server does not support the functionality required to fulfill the request."),
    502: ("Bad Gateway", "The server returned an invalid or incomplete response."),
    503: ("Service Unavailable", "No server is available to handle this request."),
    504: ("Gateway Time-out", "The server didn't respond in time."),
}
_NAME = itemgetter(0)
LEGACY = frozenset({400, 408})
BODILESS = frozenset({204, 304})
"""Statuses whose replies carry no body and, as haproxy sends them, no content-length."""
FRAMING_FIELDS = frozenset({"content-length", "transfer-encoding", "connection"})
"""Fields that make an answer's framing or connection handling its own: a reply (Reply.whole) or a Lua
service's response (ServiceIO.whole) with one takes the general path (a service's, but for one exact
Content-Length)."""
REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 202: "Accepted", 204: "No Content",
    206: "Partial Content", 301: "Moved Permanently", 302: "Found", 303: "See Other", 304: "Not Modified",
    307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request", 401: "Unauthorized",
    403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict",
    410: "Gone", 413: "Payload Too Large", 414: "URI Too Long", 415: "Unsupported Media Type",
    418: "I'm a teapot", 421: "Misdirected Request", 422: "Unprocessable Content", 425: "Too Early",
    429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


_REASON_OF = {**REASONS, **{status: title for status, (title, _) in MESSAGES.items()}}
"""The reason phrase of each status we know, the error pages' own first: one lookup per answer."""


def reason(status: int) -> str:
    return _REASON_OF.get(status, "Other")


@dataclass(slots=True)
class Reply:
    """A complete response produced by luaproxy itself (error page, return, redirect, deny)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    close: bool = False
    raw: bytes | None = None
    reason: str | None = None
    errorfile: bool = False  # the proxy's page for this status (its errorfile, else the default page)
    wire: bytes | None = field(default=None, compare=False, repr=False)
    """The whole response as ``whole()`` made it the first time (b"": it cannot be made so)."""

    def head(self) -> ResponseHead:
        framed = self.status in BODILESS or "content-length" in map(_NAME, self.headers)
        fields = list(self.headers) if framed else [("content-length", str(len(self.body))), *self.headers]
        return ResponseHead(self.status, self.reason or reason(self.status), "HTTP/1.1", Headers(fields))

    def whole(self) -> bytes:
        """The reply as one piece of bytes for a kept-alive HTTP/1.1 exchange (``Connection.plain_answer``),
        made once: a reply a rule keeps (``http-request return`` with nothing dynamic) is written once.
        b"" when its fields frame it themselves or are not valid: ``head()`` and the general path then."""
        wire = self.wire
        if wire is None:
            names = {name.lower() for name, _ in self.headers}
            wire = b""
            if self.raw is None and self.status not in BODILESS and names.isdisjoint(FRAMING_FIELDS):
                fields = [("content-length", str(len(self.body))), *self.headers]
                wire = whole_response(self.status, self.reason or reason(self.status), fields, self.body) or b""
            self.wire = wire
        return wire


@cache
def error_page(status: int) -> Reply:
    """HAProxy's default page for *status*: one Reply a status, shared (nothing changes a Reply once made:
    ``head()`` gives a copy), so its bytes are written once (``Reply.whole``)."""
    title, text = MESSAGES.get(status, (reason(status), ""))
    body = f"<html><body><h1>{status} {title}</h1>\n{text}\n</body></html>\n".encode("latin-1")
    if status in LEGACY:
        head = (f"HTTP/1.1 {status} {title}\r\nContent-length: {len(body)}\r\nCache-Control: no-cache\r\n"
                "Connection: close\r\nContent-Type: text/html\r\n\r\n").encode("latin-1")
        return Reply(status, body=body, close=True, raw=head + body)
    return Reply(status, [("cache-control", "no-cache"), ("content-type", "text/html")], body)


class ErrorPages:
    """The pages of one proxy: defaults, replaced by ``errorfile CODE FILE`` (a raw HTTP response)."""

    def __init__(self, files: dict[int, bytes] | None = None, replies: dict[int, Any] | None = None) -> None:
        self.files = files or {}
        self.replies = replies or {}  # http-error status N ...: a reply builder taking the transaction

    @classmethod
    def load(cls, errorfiles: dict[int, str]) -> ErrorPages:
        return cls({code: Path(path).read_bytes() for code, path in errorfiles.items()})

    def reply(self, status: int, txn: Any = None) -> Reply:
        if status in self.replies and txn is not None:
            return self.replies[status](txn)
        if status in self.files:
            return Reply(status, close=status in LEGACY, raw=self.files[status])
        return error_page(status)


HTX_FRAMING = 21
"""What haproxy 2.6 adds to a response's parts when it counts one in its internal (HTX) form."""


def logged_size(head: ResponseHead) -> int:
    """A response made here (service, return, redirect, deny, error page) as haproxy 2.6 counts it in %B:
    the status line's parts and each header's name and value without separators, plus its framing; the
    Connection header its HTTP/1 layer writes is not counted.  Add the body's length."""
    fields = sum(len(name) + len(value) for name, value in head.headers if name.lower() != "connection")
    return HTX_FRAMING + len(head.version) + len(str(head.status)) + len(head.reason) + fields
