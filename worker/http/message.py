"""The one mutable HTTP message model.

The parser builds it, the config's http-request/http-response rules and the Lua
``HTTP`` class edit it, the layer-7 sample fetches read it and the writer
serialises it.  Text is ``str`` holding latin-1 code points, one per wire byte,
so any byte sequence survives a round trip through Lua unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

_NAME = itemgetter(0)
"""``lname in map(str.lower, map(_NAME, fields))`` runs in C: a lookup that misses, the usual case, costs no
Python per field."""
_BACKREF = re.compile(r"\\(\d)|\\\\")


def expand_backrefs(template: str, match: re.Match[str]) -> str:
    r"""Expand ``\0``..``\9`` in *template* as HAProxy's exp_replace does."""

    def one(ref: re.Match[str]) -> str:
        if ref.group(1) is None:
            return "\\"
        return match.group(int(ref.group(1))) or ""

    return _BACKREF.sub(one, template)


def split_values(fulls: list[str]) -> list[str]:
    """The comma-separated values of full field values, each trimmed of blanks."""
    return [part.strip(" \t") for full in fulls for part in full.split(",")]


class Headers:
    """Ordered header fields: names keep their case, lookups ignore it."""

    __slots__ = ("fields", "framed", "read_as", "text")

    def __init__(self, fields: list[tuple[str, str]] | None = None) -> None:
        self.fields: list[tuple[str, str]] = fields if fields is not None else []
        self.read_as: tuple[list[tuple[str, str]] | None, dict[str, list[str]], str | None, tuple[Any, ...]] | None
        self.read_as = None
        """A copy of the fields as a head reader checked them (None while they are not split from the head's
        text: readers.HeadFields), their framing fields, the head's own text when it is written as the writers
        write (grammar.CANONICAL_*) and its first line's three parts: while ``fields`` still equals the copy (a C
        comparison, element by element by identity first) the writer and the framing of the sending side reuse
        that work instead of checking and scanning the fields again, and a head whose first line is unchanged
        too goes out as the text it came as.  ``fields`` is only ever edited in place, never assigned anew."""
        # ``text``, unset here, is the head's text its fields are split from (readers.HeadFields).
        self.framed: tuple[Any, ...] | None = None
        """A response's framing as read (request method, status, framing.response_framing's answer): the side
        that sends the response on reuses it while the fields, status and method are the same."""

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __repr__(self) -> str:
        return f"Headers({self.fields!r})"

    def get_all(self, name: str) -> list[str]:
        """Every full value of *name*, in order (the ``fhdr`` view)."""
        lname = name.lower()
        if lname not in map(str.lower, map(_NAME, self.fields)):
            return []
        return [v for n, v in self.fields if n.lower() == lname]

    def get_values(self, name: str) -> list[str]:
        """Every comma-separated value of *name*, trimmed (the ``hdr`` view)."""
        return split_values(self.get_all(name))

    def contains(self, name: str) -> bool:
        return name.lower() in map(str.lower, map(_NAME, self.fields))

    def add(self, name: str, value: str) -> None:
        self.fields.append((name, value))

    def remove(self, name: str) -> int:
        """Remove every field called *name*; return how many went."""
        lname = name.lower()
        if lname not in map(str.lower, map(_NAME, self.fields)):
            return 0
        kept = [(n, v) for n, v in self.fields if n.lower() != lname]
        removed = len(self.fields) - len(kept)
        self.fields[:] = kept
        return removed

    def set(self, name: str, value: str) -> None:
        """Replace every field called *name* by one, appended last (HAProxy's set-header)."""
        self.remove(name)
        self.add(name, value)

    def replace_full(self, name: str, regex: re.Pattern[str], template: str) -> None:
        """replace-header: each whole value the regex matches becomes the expanded template."""
        lname = name.lower()
        for i, (n, v) in enumerate(self.fields):
            if n.lower() == lname and (m := regex.search(v)):
                self.fields[i] = (n, expand_backrefs(template, m))

    def replace_value(self, name: str, regex: re.Pattern[str], template: str) -> None:
        """replace-value: as replace_full, on each comma-separated value."""
        lname = name.lower()
        for i, (n, v) in enumerate(self.fields):
            if n.lower() != lname:
                continue
            parts = []
            for part in v.split(","):
                stripped = part.strip(" \t")
                m = regex.search(stripped)
                parts.append(expand_backrefs(template, m) if m else stripped)
            self.fields[i] = (n, ", ".join(parts))

    def copy(self) -> Headers:
        return Headers(list(self.fields))


@dataclass(slots=True)
class RequestHead:
    """Request line and headers; the body travels separately, streamed."""

    method: str
    target: str
    version: str = "HTTP/1.1"
    headers: Headers = field(default_factory=Headers)

    @property
    def path(self) -> str:
        """The path part of the target: no scheme/authority, no query."""
        target = self.target
        if "://" in target:
            rest = target.split("://", 1)[1]
            slash = rest.find("/")
            target = rest[slash:] if slash >= 0 else "/"
        return target.split("?", 1)[0]

    @property
    def query(self) -> str | None:
        """What follows the first ``?``, or None when there is no ``?``."""
        if "?" not in self.target:
            return None
        return self.target.split("?", 1)[1]

    def set_path(self, path: str) -> None:
        query = self.query
        prefix = ""
        if "://" in self.target:
            scheme, rest = self.target.split("://", 1)
            slash = rest.find("/")
            authority = rest[:slash] if slash >= 0 else rest.split("?", 1)[0]
            prefix = f"{scheme}://{authority}"
        self.target = prefix + path + (f"?{query}" if query is not None else "")

    def set_query(self, query: str) -> None:
        """Replace the query; a leading ``?`` in *query* is dropped, as HAProxy does."""
        base = self.target.split("?", 1)[0]
        if query.startswith("?"):
            query = query[1:]
        self.target = f"{base}?{query}" if query else base

    def set_uri(self, uri: str) -> None:
        self.target = uri


@dataclass(slots=True)
class ResponseHead:
    """Status line and headers of a response."""

    status: int
    reason: str = ""
    version: str = "HTTP/1.1"
    headers: Headers = field(default_factory=Headers)
