"""The JSON lookup behind ``json_query``, matching HAProxy 2.6 (which embeds the mjson library).

mjson is a streaming tokenizer: the lookup stops as soon as the path's value is
seen, so whatever follows it (even broken JSON) does not matter, while an error
before it means "not found".  Paths are ``$`` followed by ``.key`` and ``[n]``
steps; a backslash in a key escapes the next character (``$.my\\.key``).  Keys
compare with the raw bytes between the quotes.  Only ``\\u00XX`` escapes can be
decoded in strings; any other ``\\u`` escape, ``\\/`` or an unknown escape makes
the string unreadable.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

MAX_DEPTH = 20
_WS = b" \t\n\r"
_PASS_ESCAPES = b'\b\f\n\r\t\\"'  # mjson skips a backslash only before these raw bytes
_UNESCAPE = {ord("b"): 8, ord("f"): 12, ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("\\"): 92, ord('"'): 34}


class Tok(enum.Enum):
    KEY = "key"
    STRING = "string"
    NUMBER = "number"
    TRUE = "true"
    FALSE = "false"
    NULL = "null"
    OPEN = "open"  # '{' or '['
    CLOSE = "close"  # '}' or ']'
    COMMA = "comma"
    COLON = "colon"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Tok
    start: int
    end: int  # exclusive
    char: int = 0  # the bracket for OPEN/CLOSE


class JsonError(Exception):
    """The document is not valid JSON up to the point the lookup needed."""


def number_end(data: bytes, i: int) -> tuple[float, int]:
    """mjson's number reader: (value, end offset); end == i when nothing was read."""
    n = len(data)
    p = i
    sign = 1.0
    if p < n and data[p] in b"-+":
        sign = -1.0 if data[p] == ord("-") else 1.0
        p += 1
    digits_start = p
    while p < n and 48 <= data[p] <= 57:
        p += 1
    if p == digits_start and (p >= n or data[p] != ord(".")):
        return 0.0, i
    end = p
    text = data[digits_start:p].decode() or "0"
    if p < n and data[p] == ord("."):
        p += 1
        frac_start = p
        while p < n and 48 <= data[p] <= 57:
            p += 1
        text += "." + data[frac_start:p].decode()
        end = p
    value = float(text)
    if p < n and data[p] in b"eE":
        p += 1
        negative = p < n and data[p] == ord("-")
        if negative:
            p += 1
        if p < n and data[p] == ord("+"):
            p += 1
        exp_start = p
        while p < n and 48 <= data[p] <= 57:
            p += 1
        exponent = int(data[exp_start:p] or b"0")
        try:
            value = value / 10.0**exponent if negative else value * 10.0**exponent
        except OverflowError:
            value = 0.0 if negative else float("inf")
        end = p
    elif p > i and not 48 <= data[p - 1] <= 57:
        return sign * value, i  # '1.': a zero-length token, yet read as 1 later
    return sign * value, end


def _string_end(data: bytes, i: int) -> int:
    """Offset of the closing quote of a string whose body starts at *i*."""
    n = len(data)
    while i < n:
        c = data[i]
        if c == 92 and i + 1 < n and data[i + 1] in _PASS_ESCAPES:
            i += 2
            continue
        if c == 0:
            break
        if c == 34:
            return i
        i += 1
    raise JsonError("unterminated string")


def tokens(data: bytes) -> Iterator[Token]:
    """The document's tokens in order; raises JsonError where it stops being JSON."""
    expecting = "value"
    nesting: list[int] = []
    i = 0
    n = len(data)
    while i < n:
        c = data[i]
        if c in _WS:
            i += 1
            continue
        if expecting == "value":
            if c in b"{[":
                if len(nesting) >= MAX_DEPTH:
                    raise JsonError("too deep")
                nesting.append(c)
                expecting = "key" if c == ord("{") else "value"
                yield Token(Tok.OPEN, i, i + 1, c)
                i += 1
                continue
            if c == ord("]") and nesting:
                yield from _close(nesting, c, i)
                expecting = "comma"
                i += 1
                continue
            token = _scalar(data, i)
            yield token
            if not nesting:
                return
            expecting = "comma"
            i = max(token.end, i)
            continue
        if expecting == "key":
            if c == ord('"'):
                end = _string_end(data, i + 1)
                yield Token(Tok.KEY, i, end + 1)
                expecting = "colon"
                i = end + 1
                continue
            if c == ord("}"):
                yield from _close(nesting, c, i)
                expecting = "comma"
                i += 1
                continue
            raise JsonError("expected a key")
        if expecting == "colon":
            if c != ord(":"):
                raise JsonError("expected ':'")
            yield Token(Tok.COLON, i, i + 1)
            expecting = "value"
            i += 1
            continue
        if not nesting:
            raise JsonError("trailing data")
        if c == ord(","):
            yield Token(Tok.COMMA, i, i + 1)
            expecting = "key" if nesting[-1] == ord("{") else "value"
        elif c in b"]}":
            yield from _close(nesting, c, i)
        else:
            raise JsonError("expected ',' or the end of a container")
        i += 1
        if not nesting:
            return
    raise JsonError("truncated document")


def _close(nesting: list[int], c: int, i: int) -> Iterator[Token]:
    if c != nesting[-1] + 2:  # '[' + 2 is ']', '{' + 2 is '}'
        raise JsonError("mismatched bracket")
    nesting.pop()
    yield Token(Tok.CLOSE, i, i + 1, c)


def _scalar(data: bytes, i: int) -> Token:
    for word, kind in ((b"true", Tok.TRUE), (b"false", Tok.FALSE), (b"null", Tok.NULL)):
        if data.startswith(word, i):
            return Token(kind, i, i + len(word))
    c = data[i]
    if c == ord("-") or 48 <= c <= 57:
        # A lone '-' is a zero-length number, as in mjson (the next byte then fails).
        return Token(Tok.NUMBER, i, number_end(data, i)[1])
    if c == ord('"'):
        return Token(Tok.STRING, i, _string_end(data, i + 1) + 1)
    raise JsonError("unexpected character")


class _Walk:
    """Follows one path through the token stream, as mjson's lookup callback does."""

    def __init__(self, path: bytes, data: bytes) -> None:
        self.path = path
        self.data = data
        self.pos = 1  # after '$'
        self.depth = 0  # current depth
        self.want = 0  # depth the matched part of the path reaches
        self.index = 0
        self.wanted_index = 0

    def _at(self, pos: int) -> int:
        return self.path[pos] if pos < len(self.path) else 0

    def step(self, token: Token) -> Token | bool | None:
        """The found token, False when the lookup is over without a match, None to go on."""
        kind = token.kind
        if kind is Tok.OPEN:
            if token.char == ord("[") and self.depth == self.want and self._at(self.pos) == ord("["):
                self.index = 0
                self.wanted_index = int(number_end(self.path, self.pos + 1)[0])
                if self.wanted_index == 0:
                    self.want += 1
                    self.pos += 3
            if self.pos >= len(self.path) and self.depth == self.want:
                return token
            self.depth += 1
            return None
        if kind is Tok.COMMA:
            if self.depth == self.want + 1:
                self.index += 1
                if self.index == self.wanted_index:
                    close = self.path.find(b"]", self.pos)
                    self.pos = len(self.path) if close < 0 else close + 1
                    self.want += 1
            return None
        if kind is Tok.KEY:
            if self.depth == self.want + 1 and self._at(self.pos) == ord("."):
                length = _key_length(self.path, self.pos + 1)
                if _key_matches(self.data[token.start + 1 : token.end - 1], self.path, self.pos + 1, length):
                    self.want += 1
                    self.pos += length + 1
                    return None
            return False if self.depth == self.want else None
        if kind is Tok.CLOSE:
            self.depth -= 1
            return None
        if kind is Tok.COLON:
            return None
        if self.depth == self.want and self.pos >= len(self.path):
            return token
        return None


def _key_length(path: bytes, pos: int) -> int:
    """Bytes of the path taken by the key starting at *pos* (escapes included)."""
    i = pos
    while i < len(path) and path[i] not in b".[":
        i += 2 if path[i] == 92 else 1
    return min(i, len(path)) - pos


def _key_matches(key: bytes, path: bytes, pos: int, length: int) -> bool:
    wanted = bytearray()
    i = pos
    while i < pos + length:
        if path[i] == 92 and i + 1 < len(path):
            i += 1
        wanted.append(path[i])
        i += 1
    return key == bytes(wanted)


def find(data: bytes, path: bytes) -> Token | None:
    """The token of the scalar at *path*; None when not found, invalid before it,
    or when the path leads to an object or an array (HAProxy 2.6 gives no sample for those)."""
    if not path.startswith(b"$"):
        return None
    walk = _Walk(path, data)
    try:
        for token in tokens(data):
            found = walk.step(token)
            if found is False:
                return None
            if isinstance(found, Token):
                return None if found.kind is Tok.OPEN else found
    except JsonError:
        return None
    return None


def unescape(raw: bytes) -> bytes | None:
    """A string token's body decoded as mjson does (only \\u00XX), or None when it cannot be."""
    out = bytearray()
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == 92 and i + 5 < n and raw[i + 1] == ord("u"):
            if raw[i + 2 : i + 4] != b"00":
                return None
            out.append(_hex_byte(raw[i + 4 : i + 6]))
            i += 6
        elif c == 92 and i + 1 < n:
            decoded = _UNESCAPE.get(raw[i + 1])
            if decoded is None:
                return None
            out.append(decoded)
            i += 2
        else:
            out.append(c)
            i += 1
    return bytes(out)


def _hex_byte(pair: bytes) -> int:
    value = 0
    for c in pair:
        digit = c - 48 if 48 <= c <= 57 else (c - 55 if 65 <= c <= 70 else c - 87)
        value = (value << 4) | (digit & 0xF)
    return value & 0xFF
