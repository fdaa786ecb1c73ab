"""Small latin-1 text helpers shared by fetches, converters and patterns.

HAProxy works on bytes in the C locale, so case folding touches ASCII letters
only: ``str.lower`` would also fold latin-1 letters such as 'É'.
"""

from __future__ import annotations

_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_ASCII_UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}


def ascii_lower(text: str) -> str:
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def ascii_upper(text: str) -> str:
    return text.upper() if text.isascii() else text.translate(_ASCII_UPPER)


def split_quoted(value: str, sep: str = ",") -> list[str]:
    """Split a header value on *sep* outside double quotes and trim each part (HAProxy's hdr view)."""
    parts: list[str] = []
    start = 0
    quoted = False
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == '"':
            quoted = not quoted
        elif ch == "\\" and quoted:
            i += 1
        elif ch == sep and not quoted:
            parts.append(value[start:i].strip(" \t"))
            start = i + 1
        i += 1
    parts.append(value[start:].strip(" \t"))
    return parts


def url_decode(text: str, in_form: bool) -> str | None:
    """HAProxy's url_decode: %XX sequences, '+' as space after '?' (or everywhere in a form); None if malformed."""
    out: list[str] = []
    plus_is_space = in_form
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "?":
            plus_is_space = True
            out.append(ch)
        elif ch == "+" and plus_is_space:
            out.append(" ")
        elif ch == "%":
            hexa = text[i + 1 : i + 3]
            if len(hexa) != 2 or any(c not in "0123456789abcdefABCDEF" for c in hexa):
                return None
            out.append(chr(int(hexa, 16)))
            i += 2
        else:
            out.append(ch)
        i += 1
    return "".join(out)
