"""The HTTP/1.1 syntax we accept, as compiled patterns over latin-1 text.

Readers use it on what arrives and writers on what leaves, so a rule or a Lua
script cannot slip a CR, LF or NUL into a head.  Where HAProxy 2.6 is laxer
(control characters in values) we refuse, as RFC 9112 allows; elsewhere we
accept what it accepts (runs of SP/HTAB between the parts of a start line, any
``HTTP/d.d`` version, printable bytes in the target, obsolete line folding,
unfolded as HAProxy does: a CRLF fold becomes two spaces).
"""

from __future__ import annotations

import re

from .errors import LocalProtocolError
from .message import Headers

TOKEN = r"[-!#$%&'*+.^_`|~0-9A-Za-z]+"
FIELD_VALUE = r"[\t\x20-\x7e\x80-\xff]*"
_TARGET = r"[\x21\x22\x24-\x7e]+"
_VERSION = r"HTTP/[0-9]\.[0-9]"

REQUEST_LINE = re.compile(rf"(?P<method>{TOKEN})[ \t]+(?P<target>{_TARGET})[ \t]+(?P<version>{_VERSION})")
STATUS_LINE = re.compile(rf"(?P<version>{_VERSION})[ \t]+(?P<status>[0-9]{{3}})(?:[ \t]+(?P<reason>{FIELD_VALUE}))?")
HEADER_LINE = re.compile(rf"(?P<name>{TOKEN}):[ \t]*(?P<value>{FIELD_VALUE}?)[ \t]*")
CHUNK_SIZE_LINE = re.compile(rb"(?P<size>[0-9A-Fa-f]+)[ \t]*(?:;[\t\x20-\x7e\x80-\xff]*)?\r?\n")
DECIMAL = re.compile(r"[0-9]+")

_TOKEN_RE = re.compile(TOKEN)
_TARGET_RE = re.compile(_TARGET)
_VALUE_RE = re.compile(FIELD_VALUE)

_LINE_END = r"\r?(?=\n)"
CLEAN_REQUEST_LINE = re.compile(rf"({TOKEN})[ \t]+({_TARGET})[ \t]+({_VERSION}){_LINE_END}")
CLEAN_STATUS_LINE = re.compile(rf"({_VERSION})[ \t]+([0-9]{{3}})(?:[ \t]+({FIELD_VALUE}))?{_LINE_END}")
CLEAN_FIELD_LINE = re.compile(rf"\n({TOKEN}):[ \t]*((?:{FIELD_VALUE}[\x21-\x7e\x80-\xff])?)[ \t]*{_LINE_END}")
"""The lines of a whole head, as decoded text: each ends before its LF, and a field line starts after one.

A field's value runs greedily to its last visible character, so trailing blanks fall outside it without a lazy match.
Every line of a head must match for the count of fields to come out right (the readers compare it with the
count of line ends): a head with any defect, or too many fields, takes the line-by-line path and its exact error.
"""

CANONICAL_REQUEST_LINE = re.compile(rf"({TOKEN}) ({_TARGET}) (HTTP/1\.[01])\r(?=\n)")
CANONICAL_STATUS_LINE = re.compile(r"(HTTP/1\.[01]) ([0-9]{3}) ((?:[\x21-\x7e][\x20-\x7e]*)?)\r(?=\n)")
_VISIBLE = r"[\x21-\x7e\x80-\xff]"
CANONICAL_FIELD_LINE = re.compile(rf"\n({TOKEN}): ((?:{_VISIBLE}(?:{FIELD_VALUE}{_VISIBLE})?)?)\r(?=\n)")
"""The lines of a head written exactly as the writers write it (single spaces, ``name: value``, CRLF, HTTP/1.0
or 1.1, a printable ASCII reason), matched first: such a head's groups are the CLEAN_* patterns' groups, and
while it is unchanged its own text is what the writer would make of it."""

_PLAIN_FIELD_LINES = rf"(?:{TOKEN}: [\x21-\x7e][\x20-\x7e]*+\r\n)*+\r\n"
PLAIN_FIELD = re.compile(rf"{TOKEN}: [\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
"""``name: value`` as a line of a plain head (_PLAIN_FIELD_LINES, no space before its CRLF), for ``fullmatch``."""
PLAIN_REQUEST_HEAD = re.compile(rf"({TOKEN}) ({_TARGET}) (HTTP/1\.[01])\r\n{_PLAIN_FIELD_LINES}")
PLAIN_STATUS_HEAD = re.compile(rf"(HTTP/1\.[01]) ([0-9]{{3}}) ((?:[\x21-\x7e][\x20-\x7e]*+)?)\r\n{_PLAIN_FIELD_LINES}")
"""A whole head written as the writers write it in printable ASCII: with no space before a CRLF in it, its first
line is a CANONICAL_*_LINE and the others CANONICAL_FIELD_LINEs.  Checked in one match that builds only the first
line's parts (possessive, it never backtracks), for a head that may be relayed without being split into fields."""

STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"})
"""Tokens already: the usual methods skip the regex."""

MAX_CHUNK_SIZE = 1 << 52
"""HAProxy 2.6 refuses a chunk of 2^52 bytes or more."""

MAX_CONTENT_LENGTH = 1 << 63
"""HAProxy 2.6 refuses a Content-Length of 2^63 or more."""


def split_head(text: str) -> list[str]:
    """Split a head (latin-1 text ending in an empty line) into its lines, refusing a bare CR."""
    lines = text.split("\n")[:-2]
    out = []
    for line in lines:
        text = line[:-1] if line.endswith("\r") else line
        if "\r" in text:
            raise LocalProtocolError("bare CR in message head")
        out.append(text)
    return out


def parse_fields(lines: list[str], max_headers: int) -> Headers:
    """Parse header (or trailer) lines into Headers, keeping names' case and order."""
    if len(lines) > max_headers:
        raise LocalProtocolError(f"more than {max_headers} header fields")
    fields: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not fields or not _VALUE_RE.fullmatch(line):
                raise LocalProtocolError(f"invalid header line {line[:64]!r}")
            name, value = fields[-1]
            fields[-1] = (name, f"{value}  {line}".strip(" \t"))
            continue
        match = HEADER_LINE.fullmatch(line)
        if match is None:
            raise LocalProtocolError(f"invalid header line {line[:64]!r}")
        fields.append((match["name"], match["value"]))
    return Headers(fields)


def check_fields(headers: Headers) -> None:
    """Refuse header names and values that would break the framing when written.

    All names are checked at once, and all values: concatenated names are one
    token exactly when each is a non-empty token, and values joined by a space
    (itself a value character) are valid exactly when each is.  Only a failure
    walks the fields one by one, for the exact error.  Fields still as a head
    reader checked them pass at once.
    """
    fields = headers.fields
    if not fields or ((read_as := headers.read_as) is not None and read_as[0] == fields) or fields_valid(fields):
        return  # none, those a head reader checked, or valid ones
    for name, value in fields:
        if not _TOKEN_RE.fullmatch(name):
            raise LocalProtocolError(f"invalid header name {name!r}")
        if not _VALUE_RE.fullmatch(value):
            raise LocalProtocolError(f"invalid value for header {name!r}")


def fields_valid(fields: list[tuple[str, str]]) -> bool:
    """True when every name is a token and every value a field value, checked all at once (False says
    nothing of which field is wrong: check_fields finds it)."""
    try:
        names, values = zip(*fields, strict=True)
        return names_valid(names) and values_valid(values)
    except (TypeError, ValueError):
        return False


_VALID_NAMES: dict[tuple[str, ...], bool] = {}
_KEPT_NAMES = 256
"""Sets of names remembered: a worker's services and replies send a few, the same on every request."""


def names_valid(names: tuple[str, ...]) -> bool:
    """Every name is a token (a set of names seen before is answered from memory)."""
    valid = _VALID_NAMES.get(names)
    if valid is None:
        valid = "" not in names and _TOKEN_RE.fullmatch("".join(names)) is not None
        if len(_VALID_NAMES) < _KEPT_NAMES:
            _VALID_NAMES[names] = valid
    return valid


def values_valid(values: tuple[str, ...]) -> bool:
    """Every value is a field value (checked at once: values joined by a space are valid exactly when each is)."""
    return _is_field_value(" ".join(values))


def _is_field_value(text: str) -> bool:
    """Printable ASCII, the usual case, passes without a regex call."""
    if type(text) is str and text.isascii() and text.isprintable():
        return True
    return _VALUE_RE.fullmatch(text) is not None


def check_request_line(method: str, target: str) -> None:
    if method not in STANDARD_METHODS and not _TOKEN_RE.fullmatch(method):
        raise LocalProtocolError(f"invalid method {method!r}")
    if not _TARGET_RE.fullmatch(target):
        raise LocalProtocolError(f"invalid request target {target[:64]!r}")


def check_status_line(status: int, reason: str) -> None:
    if not 100 <= status <= 599:
        raise LocalProtocolError(f"invalid status {status}")
    if not _is_field_value(reason):
        raise LocalProtocolError(f"invalid reason phrase {reason[:64]!r}")


def at_least_http11(version: str) -> bool:
    """True for HTTP/1.1 and later (HAProxy accepts any ``HTTP/d.d``)."""
    return version[5:] >= "1.1"
