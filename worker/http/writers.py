"""Writers: serialise heads and bodies back to bytes.

Header names keep the case and order the message model holds.  A message keeps
HTTP/1.0 when it came as 1.0 (HAProxy forwards a 1.0 request as 1.0: a server
may refuse a 1.1 request without Host) and says HTTP/1.1 otherwise.  Everything written is checked
first, so an edited head cannot inject a line break.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import LocalProtocolError
from .events import Data, EndOfMessage
from .framing import CHUNKED, LENGTH, UNTIL_CLOSE, Framing
from .grammar import STANDARD_METHODS, check_fields, check_request_line, check_status_line, fields_valid
from .message import Headers, RequestHead, ResponseHead


def write_request(head: RequestHead) -> bytes:
    method, target = head.method, head.target
    read_as = head.headers.read_as
    if read_as is not None and read_as[2] is not None and read_as[3] == (method, target, head.version) and (
            read_as[0] is None or read_as[0] == head.headers.fields):
        return read_as[2].encode("latin-1")  # unchanged since it was read, as the lines below would write it
    if method not in STANDARD_METHODS or type(target) is not str or not target or not target.isascii() \
            or not target.isprintable() or " " in target or "#" in target:
        check_request_line(method, target)  # the exact error, or a method outside the usual ones
    version = "HTTP/1.1" if head.version[5:] >= "1.1" else "HTTP/1.0"
    return _encode(f"{method} {target} {version}", head.headers)


def write_response(head: ResponseHead) -> bytes:
    status, reason = head.status, head.reason
    read_as = head.headers.read_as
    if read_as is not None and read_as[2] is not None and read_as[3] == (status, reason, head.version) and (
            read_as[0] is None or read_as[0] == head.headers.fields):
        return read_as[2].encode("latin-1")  # unchanged since it was read, as the lines below would write it
    if type(status) is not int or not 100 <= status <= 599 or type(reason) is not str or not reason.isascii() \
            or not reason.isprintable():
        check_status_line(status, reason)  # the exact error, or a latin-1 reason phrase
    version = "HTTP/1.1" if head.version[5:] >= "1.1" else "HTTP/1.0"
    return _encode(f"{version} {status:03d} {reason}", head.headers)


def whole_response(status: int, reason: str, fields: list[tuple[str, str]], body: bytes) -> bytes | None:
    """An HTTP/1.1 final response of our own in one piece: the head, then *body* as framed by its fields.
    None when a part is not valid (the general path, ``write_response``, then says which)."""
    if fields and not fields_valid(fields):
        return None
    return checked_response(status, reason, fields, body)


def checked_response(status: int, reason: str, fields: Iterable[tuple[str, str]], body: bytes) -> bytes | None:
    """``whole_response`` of fields already checked (``fields_valid``)."""
    if not (200 <= status <= 599 and reason.isascii() and reason.isprintable()):
        return None
    try:
        head = "\r\n".join([f"HTTP/1.1 {status} {reason}", *map(": ".join, fields), "", ""]).encode("latin-1")
    except UnicodeEncodeError:
        return None
    return head + body


def chunked_whole(body: bytes) -> bytes:
    """A whole body in chunks: what ChunkedWriter writes for ``Data(body)`` and the end without trailers."""
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"


def _encode(first_line: str, headers: Headers) -> bytes:
    """The first line and each field joined by CRLF, then the empty line; the fields are checked first."""
    check_fields(headers)
    try:
        return "\r\n".join([first_line, *map(": ".join, headers.fields), "", ""]).encode("latin-1")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError("a head holds characters beyond latin-1") from exc


class NoBodyWriter:
    """HEAD answers, 1xx, 204, 304 and bodiless requests: only empty Data may pass."""

    def __call__(self, event: Data | EndOfMessage) -> bytes:
        if isinstance(event, Data) and event.data:
            raise LocalProtocolError("this message cannot have a body")
        return b""

    def whole(self, body: bytes, end: EndOfMessage) -> bytes:
        """The whole body and its end at once: what ``Data(body)`` then *end* write, in one call."""
        if body:
            raise LocalProtocolError("this message cannot have a body")
        return b""


class SkippedBodyWriter:
    """The answer to a HEAD: the body a server sent anyway (it got another method, say after
    ``http-request set-method``) is dropped, as HAProxy drops it."""

    def __call__(self, event: Data | EndOfMessage) -> bytes:
        return b""

    def whole(self, body: bytes, end: EndOfMessage) -> bytes:
        return b""


SKIPPED_BODY = SkippedBodyWriter()


class ContentLengthWriter:
    """Exactly the announced number of bytes; trailers are dropped, as HAProxy drops them."""

    __slots__ = ("remaining",)

    def __init__(self, length: int) -> None:
        self.remaining = length

    def __call__(self, event: Data | EndOfMessage) -> bytes:
        if isinstance(event, Data):
            if len(event.data) > self.remaining:
                raise LocalProtocolError("body longer than its Content-Length")
            self.remaining -= len(event.data)
            return event.data
        if self.remaining:
            raise LocalProtocolError(f"body ended {self.remaining} bytes short of its Content-Length")
        return b""

    def whole(self, body: bytes, end: EndOfMessage) -> bytes:
        if len(body) != self.remaining:
            self(Data(body))  # the exact error: too long
            return self(end)  # or too short
        self.remaining = 0
        return body


class ChunkedWriter:
    """Each non-empty Data becomes one chunk; the last chunk carries the trailers."""

    def __call__(self, event: Data | EndOfMessage) -> bytes:
        if isinstance(event, Data):
            if not event.data:
                return b""
            return b"%x\r\n%s\r\n" % (len(event.data), event.data)
        if not event.trailers.fields:
            return b"0\r\n\r\n"
        return _encode("0", event.trailers)  # the last chunk, the trailer fields and the empty line

    def whole(self, body: bytes, end: EndOfMessage) -> bytes:
        if end.trailers.fields:
            return self(Data(body)) + self(end)
        return chunked_whole(body)


class UntilCloseWriter:
    """The body runs until we close; trailers are dropped."""

    def __call__(self, event: Data | EndOfMessage) -> bytes:
        return event.data if isinstance(event, Data) else b""

    def whole(self, body: bytes, end: EndOfMessage) -> bytes:
        return body


BodyWriter = NoBodyWriter | SkippedBodyWriter | ContentLengthWriter | ChunkedWriter | UntilCloseWriter

NO_BODY_WRITER, _CHUNKED_WRITER, _UNTIL_CLOSE_WRITER = NoBodyWriter(), ChunkedWriter(), UntilCloseWriter()
"""These writers keep no state, so every message shares one of each."""


def body_writer(framing: Framing) -> BodyWriter:
    """The writer for a body framed as *framing*."""
    kind = framing.kind
    if kind is LENGTH:
        return ContentLengthWriter(framing.length)
    if kind is CHUNKED:
        return _CHUNKED_WRITER
    if kind is UNTIL_CLOSE:
        return _UNTIL_CLOSE_WRITER
    return NO_BODY_WRITER
