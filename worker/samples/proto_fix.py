"""FIX (Financial Information eXchange) messages, as HAProxy 2.6's fix_is_valid/fix_tag_value read them.

A message is ``tag=value<SOH>`` fields.  Validation wants BeginString (8) with a
known version first, BodyLength (9) second, MsgType (35) third, and a CheckSum
(10) whose body length and byte sum agree.  Either function may answer
NEED_MORE when the buffer holds only the start of a message.
"""

from __future__ import annotations

import enum

SOH = 0x01
MIN_SIZE = 26
BEGIN_STRING, BODY_LENGTH, CHECKSUM, MSG_TYPE = 8, 9, 10, 35
TAG_NAMES = {"beginstring": 8, "bodylength": 9, "checksum": 10, "msgtype": 35, "sendercompid": 49, "targetcompid": 56}
VERSIONS = {b"FIX.4.0": 140, b"FIX.4.1": 211, b"FIX.4.2": 446, b"FIX.4.3": 659, b"FIX.4.4": 956, b"FIXT.1.1": 1621}
"""Known BeginString values and the highest standard tag id of each (10000-19999 are user tags)."""


class Status(enum.Enum):
    VALID = "valid"
    INVALID = "invalid"
    NEED_MORE = "need more data"


def _uint(text: bytes) -> int:
    """A whole unsigned decimal number, 0 when empty, not all digits, or zero."""
    return int(text) if text and text.isdigit() else 0


def _leading_uint(text: bytes) -> int:
    digits = len(text) - len(text.lstrip(b"0123456789"))
    return int(text[:digits] or b"0")


def tag_id(tag: bytes, version: bytes | None = None) -> int:
    """The numeric id of a tag, 0 when invalid (or out of *version*'s range)."""
    ident = _uint(tag)
    if not ident or version is None or 10000 <= ident <= 19999:
        return ident
    return ident if ident <= VERSIONS[version] else 0


def tag_for_argument(text: str) -> int:
    """fix_tag_value's argument: a positive number or one of the known tag names."""
    ident = tag_id(text.encode("latin-1"))
    return ident or TAG_NAMES.get(text.lower(), 0)


def _fields(msg: bytes) -> list[tuple[int, bytes, bytes] | None]:
    """(offset, tag, value) per complete field; a trailing None when the last one is cut short.
    A field without a tag stops the list with (offset, b"", b"")."""
    out: list[tuple[int, bytes, bytes] | None] = []
    pos = 0
    n = len(msg)
    while pos < n:
        equal = msg.find(b"=", pos)
        end = -1 if equal < 0 else msg.find(bytes([SOH]), equal)
        if end < 0:
            out.append(None)
            break
        out.append((pos, msg[pos:equal], msg[equal + 1 : end]))
        if equal == pos:
            break
        pos = end + 1
    return out


def validate(msg: bytes) -> Status:
    if len(msg) < MIN_SIZE:
        return Status.NEED_MORE
    version: bytes | None = None
    checksum = 0
    body_length = 0
    body_start: int | None = None
    for count, field in enumerate(_fields(msg), start=1):
        if field is None:
            return Status.NEED_MORE
        offset, tag, value = field
        ident = tag_id(tag, version) if tag else 0
        if not ident:
            return Status.INVALID
        if count == 1:
            if ident != BEGIN_STRING or value not in VERSIONS:
                return Status.INVALID
            version = value
        elif count == 2:
            body_length = _uint(value)
            if ident != BODY_LENGTH or not body_length:
                return Status.INVALID
            body_start = offset + len(tag) + len(value) + 2
        elif count == 3:
            if ident != MSG_TYPE:
                return Status.INVALID
        elif ident == CHECKSUM:
            ok = body_start is not None and offset - body_start == body_length
            ok = ok and len(value) == 3 and _leading_uint(value) == checksum
            return Status.VALID if ok else Status.INVALID
        checksum = (checksum + sum(tag) + ord("=") + sum(value) + SOH) & 0xFF
    return Status.NEED_MORE if body_start is not None else Status.INVALID


def tag_value(msg: bytes, wanted: int) -> bytes | Status:
    """The value of tag *wanted*; NEED_MORE while it may still come; INVALID when absent or bad."""
    for field in _fields(msg):
        if field is None:
            return Status.NEED_MORE
        _, tag, value = field
        ident = tag_id(tag) if tag else 0
        if not ident:
            return Status.INVALID
        if ident == wanted:
            return value if value else Status.NEED_MORE
        if ident == CHECKSUM:
            return Status.INVALID
    return Status.NEED_MORE
