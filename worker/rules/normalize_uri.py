"""The URI normalizers of ``http-request normalize-uri`` (HAProxy 2.6), as pure string functions.

Each normalizer takes an origin-form URI (``/path?query#fragment``) and
returns the new one; a ``strict`` normalizer raises ``InvalidUri`` on a bad
percent sequence, which the action answers with a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .errors import RuleError

Normalizer = Callable[[str], str]

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset("0123456789abcdefABCDEF")


class InvalidUri(ValueError):
    """A strict normalizer met a percent sign not followed by two hex digits."""


def _split(uri: str) -> tuple[str, str]:
    """The path, and the rest (``?query`` and/or ``#fragment``, with its separator)."""
    end = len(uri)
    for mark in "?#":
        at = uri.find(mark)
        if 0 <= at < end:
            end = at
    return uri[:end], uri[end:]


def merge_slashes(uri: str) -> str:
    path, rest = _split(uri)
    return re.sub("/{2,}", "/", path) + rest


def strip_dot(uri: str) -> str:
    path, rest = _split(uri)
    segments = path.split("/")
    kept = [s for s in segments[1:-1] if s != "."]
    last = segments[-1] if len(segments) > 1 else None
    if last is not None:
        kept.append("" if last == "." else last)
    return "/" + "/".join(kept) + rest if path.startswith("/") else uri


def strip_dotdot(uri: str, full: bool = False) -> str:
    """``..`` removes the segment before it (an empty one too); at the top it stays unless *full*."""
    path, rest = _split(uri)
    if not path.startswith("/"):
        return uri
    segments = path[1:].split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        is_last = index == len(segments) - 1
        if segment == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not full:
                out.append("..")
            if is_last:
                out.append("")
        else:
            out.append(segment)
    return "/" + "/".join(out) + rest


def sort_query(uri: str) -> str:
    """Query parameters in the order of their names (stable: equal names keep their order)."""
    path, rest = _split(uri)
    if not rest.startswith("?"):
        return uri
    query, hash_mark, fragment = rest[1:].partition("#")
    if not query:
        return uri
    params = sorted(query.split("&"), key=lambda p: p.partition("=")[0])
    return f"{path}?{'&'.join(params)}{hash_mark}{fragment}"


def _percent(uri: str, strict: bool, change: Callable[[str], str | None]) -> str:
    """Rewrite each ``%XX`` with *change* (None keeps it); a bad sequence stays, or raises when *strict*."""
    out: list[str] = []
    index = 0
    while index < len(uri):
        char = uri[index]
        if char != "%":
            out.append(char)
            index += 1
            continue
        code = uri[index + 1:index + 3]
        if len(code) == 2 and code[0] in _HEX and code[1] in _HEX:
            new = change(code)
            out.append(f"%{code}" if new is None else new)
            index += 3
        elif strict:
            raise InvalidUri(uri)
        else:
            out.append(char)
            index += 1
    return "".join(out)


def decode_unreserved(uri: str, strict: bool = False) -> str:
    return _percent(uri, strict, lambda code: char if (char := chr(int(code, 16))) in _UNRESERVED else None)


def to_uppercase(uri: str, strict: bool = False) -> str:
    return _percent(uri, strict, lambda code: f"%{code.upper()}")


def fragment_strip(uri: str) -> str:
    return uri.partition("#")[0]


def fragment_encode(uri: str) -> str:
    return uri.replace("#", "%23")


NORMALIZERS: dict[str, tuple[str, ...]] = {
    "fragment-encode": (),
    "fragment-strip": (),
    "path-merge-slashes": (),
    "path-strip-dot": (),
    "path-strip-dotdot": ("full",),
    "percent-decode-unreserved": ("strict",),
    "percent-to-uppercase": ("strict",),
    "query-sort-by-name": (),
}
"""Each normalizer and the one option it may take."""


def parse_normalizer(name: str, options: tuple[str, ...]) -> Normalizer:
    allowed = NORMALIZERS[name]
    if len(options) > 1 or (options and options[0] not in allowed):
        raise RuleError(f"'normalize-uri {name}': unexpected '{' '.join(options)}'.",
                        f"It takes {'an optional ' + repr(allowed[0]) if allowed else 'no option'}.")
    flag = bool(options)
    table: dict[str, Normalizer] = {
        "fragment-encode": fragment_encode,
        "fragment-strip": fragment_strip,
        "path-merge-slashes": merge_slashes,
        "path-strip-dot": strip_dot,
        "path-strip-dotdot": lambda uri: strip_dotdot(uri, flag),
        "percent-decode-unreserved": lambda uri: decode_unreserved(uri, flag),
        "percent-to-uppercase": lambda uri: to_uppercase(uri, flag),
        "query-sort-by-name": sort_query,
    }
    return table[name]
