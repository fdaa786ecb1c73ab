"""Writers: serialise heads and bodies back to bytes.

Header names keep the case and order the message model holds.  Requests always
leave as HTTP/1.1, as HAProxy sends them to servers; responses keep HTTP/1.0
for a 1.0 message and say HTTP/1.1 otherwise.  Everything written is checked
first, so an edited head cannot inject a line break.
"""

from __future__ import annotations

from .errors import LocalProtocolError
from .events import Data, EndOfMessage
from .framing import BodyKind, Framing
from .grammar import at_least_http11, check_fields, check_request_line, check_status_line
from .message import Headers, RequestHead, ResponseHead


def write_request(head: RequestHead) -> bytes:
    check_request_line(head.method, head.target)
    return _encode(f"{head.method} {head.target} HTTP/1.1\r\n", head.headers)


def write_response(head: ResponseHead) -> bytes:
    check_status_line(head.status, head.reason)
    version = "HTTP/1.1" if at_least_http11(head.version) else "HTTP/1.0"
    return _encode(f"{version} {head.status:03d} {head.reason}\r\n", head.headers)


def _encode(start_line: str, headers: Headers) -> bytes:
    check_fields(headers)
    lines = [start_line, *(f"{name}: {value}\r\n" for name, value in headers), "\r\n"]
    return _latin1("".join(lines))


def _latin1(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise LocalProtocolError("a head holds characters beyond latin-1") from exc


class NoBodyWriter:
    """HEAD answers, 1xx, 204, 304 and bodiless requests: only empty Data may pass."""

    def __call__(self, event: Data | EndOfMessage) -> bytes:
        if isinstance(event, Data) and event.data:
            raise LocalProtocolError("this message cannot have a body")
        return b""


class ContentLengthWriter:
    """Exactly the announced number of bytes; trailers are dropped, as HAProxy drops them."""

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


class ChunkedWriter:
    """Each non-empty Data becomes one chunk; the last chunk carries the trailers."""

    def __call__(self, event: Data | EndOfMessage) -> bytes:
        if isinstance(event, Data):
            if not event.data:
                return b""
            return b"%x\r\n%s\r\n" % (len(event.data), event.data)
        check_fields(event.trailers)
        trailers = "".join(f"{name}: {value}\r\n" for name, value in event.trailers)
        return b"0\r\n" + _latin1(trailers) + b"\r\n"


class UntilCloseWriter:
    """The body runs until we close; trailers are dropped."""

    def __call__(self, event: Data | EndOfMessage) -> bytes:
        return event.data if isinstance(event, Data) else b""


BodyWriter = NoBodyWriter | ContentLengthWriter | ChunkedWriter | UntilCloseWriter


def body_writer(framing: Framing) -> BodyWriter:
    """The writer for a body framed as *framing*."""
    if framing.kind is BodyKind.LENGTH:
        return ContentLengthWriter(framing.length)
    if framing.kind is BodyKind.CHUNKED:
        return ChunkedWriter()
    if framing.kind is BodyKind.UNTIL_CLOSE:
        return UntilCloseWriter()
    return NoBodyWriter()
