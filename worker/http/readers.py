"""Readers: each takes the receive buffer and returns an event, None for "need more", or raises.

Head readers wait for the whole head (bounded by the head size limit); body
readers hand over bytes as they arrive, so no body is ever held whole.  Each
body reader also says what the peer closing the connection means for it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from .buffer import ReceiveBuffer
from .errors import LocalProtocolError
from .events import END_OF_MESSAGE, Data, EndOfMessage, Request
from .framing import CHUNKED, READ_FIELDS, UNTIL_CLOSE, Found, Framing, plain_head_fields, read_fields
from .grammar import (
    CANONICAL_FIELD_LINE,
    CANONICAL_REQUEST_LINE,
    CANONICAL_STATUS_LINE,
    CHUNK_SIZE_LINE,
    CLEAN_FIELD_LINE,
    CLEAN_REQUEST_LINE,
    CLEAN_STATUS_LINE,
    MAX_CHUNK_SIZE,
    PLAIN_FIELD,
    PLAIN_REQUEST_HEAD,
    PLAIN_STATUS_HEAD,
    REQUEST_LINE,
    STATUS_LINE,
    check_status_line,
    parse_fields,
    split_head,
)
from .message import Headers, RequestHead, ResponseHead

DEFAULT_MAX_HEAD_SIZE = 16384 - 1024
"""``tune.bufsize`` less ``tune.maxrewrite``, HAProxy's defaults.

HAProxy 2.6.12 answers 400 past that; its internal (HTX) overhead makes its
real bound a little lower (a 15270-byte two-field request passes, 15280 fails).
"""

DEFAULT_MAX_HEADERS = 100
"""HAProxy's ``tune.http.maxhdr`` is 101 slots; 2.6 accepts 100 header fields and refuses 101."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one head (or trailer block) may hold."""

    max_head_size: int = DEFAULT_MAX_HEAD_SIZE
    max_headers: int = DEFAULT_MAX_HEADERS


_BAD_METHOD_START = re.compile(rb"(?:\r?\n)*[-!#$%&'*+.^_`|~0-9A-Za-z]*[^-!#$%&'*+.^_`|~0-9A-Za-z \t\r\n]")
"""A start no request line can have (a TLS hello, say): refused at once, as HAProxy does, not when the
head limit or a timeout is reached."""


class RequestHeadReader:
    """Reads a request line and headers into a :class:`Request`.

    A plain head (grammar.PLAIN_REQUEST_HEAD) that arrives whole is checked by
    one match over the buffer, and the same head again by a comparison; a clean
    head is parsed in two regex calls; anything else takes the line-by-line
    path, which finds the same fields or raises the exact error.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.last: tuple[str, tuple[Any, ...], Found, bytes | None] = _NO_REQUEST_HEAD
        """The last plain head read, its first line's parts, framing fields and bytes (shared: read-only): a
        kept-alive client often sends the same head again, and that head needs no check a second time (its
        bytes are compared with the buffer's, which is then not decoded)."""

    def __call__(self, buf: ReceiveBuffer) -> Request | None:
        parsed = self.read(buf)
        return None if parsed is None else Request(parsed[0])

    def read(self, buf: ReceiveBuffer) -> tuple[RequestHead, Found] | None:
        """The head and the fields its framing depends on (:func:`~.framing.read_fields`), or None."""
        limits = self.limits
        if not buf.searched and len(buf) <= limits.max_head_size:
            # Not searched yet: what arrived whole is checked by one match over it, the head's end found with it.
            last = self.last
            raw = last[3]
            if raw is not None and buf.startswith(raw):
                del buf[:len(raw)]
                found = last[2]
                return plain_request(last[1], last[0], found), found
            text = buf.decode("latin-1")
            match = PLAIN_REQUEST_HEAD.match(text)
            if match is not None:
                end = match.end()
                if end < len(text):
                    text = text[:end]
                if (found := _plain_fields(text, limits.max_headers)) is not None:
                    del buf[:end]
                    line = match.groups()
                    self.last = (text, line, found, text.encode("latin-1"))
                    return plain_request(line, text, found), found
        text = buf.take_head(limits.max_head_size)
        if text is None:
            if _BAD_METHOD_START.match(buf, 0, 32):
                raise LocalProtocolError("invalid character in the request method")
            return None
        match = CANONICAL_REQUEST_LINE.match(text)
        canonical = match is not None
        if not canonical:
            match = CLEAN_REQUEST_LINE.match(text)
        if match is not None:
            fields, canonical = clean_fields(text, match.end(), canonical)
            if fields is not None and len(fields) <= limits.max_headers:
                headers = Headers(fields)
                found = read_fields(fields)
                method, target, version = match.groups()
                headers.read_as = (fields.copy(), found, text if canonical else None, (method, target, version))
                return RequestHead(method, target, version, headers), found
        lines = split_head(text)
        line = REQUEST_LINE.fullmatch(lines[0])
        if line is None:
            raise LocalProtocolError(f"invalid request line {lines[0][:64]!r}")
        headers = parse_fields(lines[1:], limits.max_headers)
        return RequestHead(line["method"], line["target"], line["version"], headers), read_fields(headers.fields)


_SHORTEST_FIELD_LINE = len("a: b\r\n")
_NO_HEAD: tuple[str, tuple[Any, ...], Found] = ("\uffff", (), {})
"""No head read yet: no latin-1 text starts with this character."""
_NO_REQUEST_HEAD: tuple[str, tuple[Any, ...], Found, bytes | None] = (*_NO_HEAD, None)


def _plain_fields(text: str, max_headers: int) -> Found | None:
    """The framing fields of a whole head grammar.PLAIN_*_HEAD matches, when no line ends in a space and it has
    no more than *max_headers* fields (a head too short for more is not counted); None otherwise."""
    if " \r\n" in text or (
            len(text) > _SHORTEST_FIELD_LINE * max_headers and text.count("\n") - 2 > max_headers):
        return None
    return plain_head_fields(text)


class HeadFields(Headers):
    """The fields of a head as read, in its own text (a plain head: _plain_fields): split into ``fields`` only
    when something asks for them, since a head relayed unchanged needs no more than its framing fields and text.

    Until then ``read_as`` holds None for the copy of the fields (a copy of the split ones once split).  The
    first read of ``fields`` splits them and makes the object a plain :class:`Headers`, whose slot then serves every
    later read at no cost; ``fields`` cannot be assigned before (nothing assigns it: it is edited in place).
    """

    __slots__ = ()

    @property
    def fields(self) -> list[tuple[str, str]]:  # type: ignore[override]
        text = self.text
        self.__class__ = Headers  # type: ignore[assignment]
        fields = self.fields = CANONICAL_FIELD_LINE.findall(text, text.index("\n"))
        read_as = self.read_as
        if read_as is not None and read_as[0] is None:
            self.read_as = (fields.copy(), *read_as[1:])
        return fields

    def add(self, name: str, value: str) -> None:
        if not self._append(name, value, False):
            Headers.add(self, name, value)

    def set(self, name: str, value: str) -> None:
        """Headers.set; a field the head does not have yet is appended to its text (``_append``)."""
        if not self._append(name, value, True):
            Headers.set(self, name, value)

    def _append(self, name: str, value: str, replace: bool) -> bool:
        """Add ``name: value`` to the end of the head's text, unsplit, when appended_text allows it; False
        otherwise.  Lua's ``req_set_header`` or a ``set-header`` of a field the head lacks then splits no field."""
        read_as = self.read_as
        if read_as is None or read_as[0] is not None:
            return False
        text = appended_text(self.text, name, value, replace)
        if not text:
            return False
        self.text = text
        self.read_as = (None, read_as[1], text, read_as[3])
        return True


@functools.lru_cache(maxsize=64)
def appended_text(text: str, name: str, value: str, replace: bool) -> str:
    """A plain head's *text* with ``name: value`` appended, or "" when that line is not one a plain head may have
    (grammar.PLAIN_FIELD), when framing reads the field (its found fields would be wrong) or, to *replace* it, when
    the head has it already: the text is what the writer writes of the fields split and edited.  Kept for the
    same head again: a kept-alive client sends the same head, and the same rule or Lua action adds the same
    field to it on each request (its checks and the new text cost more than the lookup)."""
    line = f"{name}: {value}"
    lname = name.lower()
    if (replace and f"\n{lname}:" in text.lower()) or lname in READ_FIELDS or not PLAIN_FIELD.fullmatch(line):
        return ""
    return f"{text[:-2]}{line}\r\n\r\n"


_new_object = object.__new__


def plain_request(line: tuple[Any, ...], text: str, found: Found) -> RequestHead:
    """The RequestHead of a plain head (its first line's three parts) and its HeadFields, both built without
    calling their class (a class call goes through the interpreter's C layer to its ``__init__``, about 1k
    instructions more) and in this one call: every kept-alive request makes them."""
    head: RequestHead = _new_object(RequestHead)
    head.method, head.target, head.version = line
    fields: HeadFields = _new_object(HeadFields)
    fields.text = text
    fields.read_as = (None, found, text, line)
    fields.framed = None
    head.headers = fields
    return head


def plain_response(line: tuple[Any, ...], text: str, found: Found) -> ResponseHead:
    """The ResponseHead of a plain head (its status line's three parts), its HeadFields made as plain_request
    makes a request's (a response memo's head: made once per new head, not per response)."""
    head: ResponseHead = _new_object(ResponseHead)
    head.status, head.reason, head.version = line
    head.headers = plain_request(line, text, found).headers
    return head


def clean_fields(text: str, pos: int, canonical: bool) -> tuple[list[tuple[str, str]] | None, bool]:
    """The fields of a whole head from *pos* (its first line's end), when every line is clean (else None),
    and whether the head is written as the writers write it (a *canonical* first line, CANONICAL_FIELD_LINE
    lines, CRLF throughout): such a head is parsed by one findall, as any clean head is, and only other
    heads take a second one."""
    lines = text.count("\n", pos) - 2
    if canonical:
        fields = CANONICAL_FIELD_LINE.findall(text, pos)
        if len(fields) == lines and text.endswith("\r\n\r\n"):
            return fields, True
    fields = CLEAN_FIELD_LINE.findall(text, pos)
    return (fields if len(fields) == lines else None), False


class ResponseHeadReader:
    """Reads a status line and headers into a final or an interim response, clean heads in two regex calls."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.last: tuple[str, tuple[Any, ...], Found] = _NO_HEAD
        """The last plain head read, as RequestHeadReader.last: a server often answers with the same head."""

    def read(self, buf: ReceiveBuffer) -> tuple[ResponseHead, Found] | None:
        """The head (any status from 100 to 599) and the fields its framing depends on, or None."""
        limits = self.limits
        if not buf.searched and len(buf) <= limits.max_head_size:
            # As RequestHeadReader.read: what arrived whole is checked by one match over it.
            text = buf.decode("latin-1")
            last = self.last
            if text.startswith(last[0]):
                text, line, found = last
                del buf[:len(text)]
                return plain_response(line, text, found), found
            match = PLAIN_STATUS_HEAD.match(text)
            if match is not None and 100 <= (status := int(match[2])) <= 599:
                end = match.end()
                if end < len(text):
                    text = text[:end]
                if (found := _plain_fields(text, limits.max_headers)) is not None:
                    del buf[:end]
                    version, _, reason = match.groups()
                    line = (status, reason, version)
                    self.last = (text, line, found)
                    return plain_response(line, text, found), found
        text = buf.take_head(limits.max_head_size)
        if text is None:
            return None
        match = CANONICAL_STATUS_LINE.match(text)
        canonical = match is not None
        if not canonical:
            match = CLEAN_STATUS_LINE.match(text)
        if match is not None and 100 <= (status := int(match[2])) <= 599:
            fields, canonical = clean_fields(text, match.end(), canonical)
            if fields is not None and len(fields) <= limits.max_headers:
                headers = Headers(fields)
                found = read_fields(fields)
                reason, version = match[3] or "", match[1]
                headers.read_as = (fields.copy(), found, text if canonical else None, (status, reason, version))
                return ResponseHead(status, reason, version, headers), found
        lines = split_head(text)
        line = STATUS_LINE.fullmatch(lines[0])
        if line is None:
            raise LocalProtocolError(f"invalid status line {lines[0][:64]!r}")
        status, reason = int(line["status"]), line["reason"] or ""
        check_status_line(status, reason)
        headers = parse_fields(lines[1:], limits.max_headers)
        return ResponseHead(status, reason, line["version"], headers), read_fields(headers.fields)


class ContentLengthReader:
    """A body of exactly ``length`` bytes."""

    def __init__(self, length: int) -> None:
        self.remaining = length

    def __call__(self, buf: ReceiveBuffer) -> Data | EndOfMessage | None:
        if self.remaining == 0:
            return END_OF_MESSAGE
        data = buf.take(self.remaining)
        if not data:
            return None
        self.remaining -= len(data)
        return Data(data)

    def read_eof(self) -> EndOfMessage:
        raise LocalProtocolError(f"connection closed with {self.remaining} body bytes missing")


class ChunkedReader:
    """A chunked body: strict hex sizes, extensions skipped, trailers kept."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.remaining = 0
        self.need_crlf = False
        self.in_trailers = False

    def __call__(self, buf: ReceiveBuffer) -> Data | EndOfMessage | None:
        if self.in_trailers:
            return self._read_trailers(buf)
        if self.need_crlf and not self._take_crlf(buf):
            return None
        if self.remaining == 0:
            size = self._read_size(buf)
            if size is None:
                return None
            if size == 0:
                self.in_trailers = True
                return self._read_trailers(buf)
            self.remaining = size
        if not buf:
            return None
        data = buf.take(self.remaining)
        self.remaining -= len(data)
        self.need_crlf = self.remaining == 0
        return Data(data)

    def _take_crlf(self, buf: ReceiveBuffer) -> bool:
        """Consume the line end after a chunk's data; False until it has arrived."""
        if buf.startswith(b"\n"):
            buf.take(1)
        elif buf.startswith(b"\r\n"):
            buf.take(2)
        elif len(buf) == 0 or (len(buf) == 1 and buf.startswith(b"\r")):
            return False
        else:
            raise LocalProtocolError("chunk data not followed by CRLF")
        self.need_crlf = False
        return True

    def _read_size(self, buf: ReceiveBuffer) -> int | None:
        line = buf.take_line()
        if line is None:
            if len(buf) > self.limits.max_head_size:
                raise LocalProtocolError("chunk size line too long")
            return None
        match = CHUNK_SIZE_LINE.fullmatch(line)
        if match is None:
            raise LocalProtocolError(f"invalid chunk size line {line[:64]!r}")
        size = int(match["size"], 16)
        if size >= MAX_CHUNK_SIZE:
            raise LocalProtocolError("chunk size too large")
        return size

    def _read_trailers(self, buf: ReceiveBuffer) -> EndOfMessage | None:
        block = buf.take_block()
        if block is None:
            if len(buf) > self.limits.max_head_size:
                raise LocalProtocolError("trailers too large")
            return None
        if len(block) > self.limits.max_head_size:
            raise LocalProtocolError("trailers too large")
        trailers = parse_fields(split_head(block.decode("latin-1")), self.limits.max_headers)
        for name in FRAMING_FIELDS:
            if trailers.get_all(name):
                # Framing fields are forbidden in trailers (RFC 9110 6.5.1): a next hop that
                # merged them into the head would frame the message differently.
                raise LocalProtocolError(f"{name} in the trailers")
        return EndOfMessage(trailers)

    def read_eof(self) -> EndOfMessage:
        raise LocalProtocolError("connection closed in the middle of a chunked body")


FRAMING_FIELDS = ("content-length", "transfer-encoding")


class UntilCloseReader:
    """A response body without length: everything until the server closes."""

    def __call__(self, buf: ReceiveBuffer) -> Data | None:
        return Data(buf.take_all()) if buf else None

    def read_eof(self) -> EndOfMessage:
        return END_OF_MESSAGE


BodyReader = ContentLengthReader | ChunkedReader | UntilCloseReader

EMPTY_BODY_READER = ContentLengthReader(0)
"""Shared by every bodiless message: with nothing left to read it only ever returns EndOfMessage."""


def body_reader(framing: Framing, limits: Limits) -> BodyReader:
    """The reader for a body framed as *framing* (an absent body is zero bytes long)."""
    kind = framing.kind
    if kind is CHUNKED:
        return ChunkedReader(limits)
    if kind is UNTIL_CLOSE:
        return UntilCloseReader()
    return ContentLengthReader(framing.length) if framing.length else EMPTY_BODY_READER
