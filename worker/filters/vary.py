"""Vary support of the HTTP cache (``process-vary on``), as HAProxy 2.6 does it.

Only three request fields may vary a cached response: ``Accept-Encoding``,
``Referer`` and ``Origin``; a response varying on anything else (or ``*``) is
not stored.  Accept-Encoding is normalised to a set of encodings (case, order
and duplicates do not matter; ``identity`` is implied unless refused; a missing
field accepts anything), and an entry matches when its own Content-Encoding is
in the request's set.  Referer and Origin must match exactly (absent differs
from empty).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..http.message import Headers

VARYING = ("accept-encoding", "referer", "origin")
MAX_ENCODINGS = 16
"""A request listing more encodings than this is neither looked up nor stored with Vary, as in HAProxy."""
ANY = frozenset({"*"})


@dataclass(frozen=True, slots=True)
class VaryKey:
    """What one stored entry varies on: the field names and, for each, what the request had."""

    names: tuple[str, ...]
    encoding: str  # the entry's Content-Encoding ("identity" when none)
    referer: str | None
    origin: str | None


def vary_names(headers: Headers) -> tuple[str, ...] | None:
    """The fields a response varies on (lower case, sorted), or None when one is not supported."""
    names = {value.lower() for value in headers.get_values("vary") if value}
    if not names <= set(VARYING):
        return None
    return tuple(sorted(names))


def accepted_encodings(headers: Headers) -> frozenset[str] | None:
    """The encodings a request accepts (``*``: any), or None when it lists too many."""
    fields = headers.get_all("accept-encoding")
    if not fields:
        return ANY
    accepted: set[str] = set()
    refused: set[str] = set()
    values = [value for value in (part.strip(" \t") for full in fields for part in full.split(",")) if value]
    if len(values) > MAX_ENCODINGS:
        return None
    for value in values:
        name, _, params = value.partition(";")
        name = name.strip().lower()
        weight = params.strip().lower()
        if weight.startswith("q=") and _zero(weight[2:]):
            refused.add(name)
        else:
            accepted.add(name)
    if "identity" not in refused and not ("*" in refused and "identity" not in accepted):
        accepted.add("identity")
    return frozenset(accepted)


def _zero(text: str) -> bool:
    try:
        return float(text) == 0
    except ValueError:
        return False


def response_encoding(headers: Headers) -> str:
    values = [v.lower() for v in headers.get_values("content-encoding") if v]
    return ",".join(values) if values else "identity"


def entry_key(names: tuple[str, ...], request: Headers, response: Headers) -> VaryKey | None:
    """The key a response is stored under, or None when it must not be stored (a request with
    too many encodings, or a Content-Encoding the request does not accept)."""
    encoding = response_encoding(response)
    if "accept-encoding" in names:
        accepted = accepted_encodings(request)
        if accepted is None or not _accepts(accepted, encoding):
            return None
    return VaryKey(names, encoding if "accept-encoding" in names else "",
                   _field(request, "referer") if "referer" in names else None,
                   _field(request, "origin") if "origin" in names else None)


def matches(key: VaryKey, request: Headers, accepted: frozenset[str] | None) -> bool:
    """Whether a stored entry suits a request (*accepted*: its accepted_encodings)."""
    names = key.names
    if "accept-encoding" in names and (accepted is None or not _accepts(accepted, key.encoding)):
        return False
    if "referer" in names and _field(request, "referer") != key.referer:
        return False
    return "origin" not in names or _field(request, "origin") == key.origin


def _accepts(accepted: frozenset[str], encoding: str) -> bool:
    return "*" in accepted or all(part in accepted for part in encoding.split(","))


def _field(headers: Headers, name: str) -> str | None:
    values = headers.get_all(name)
    return ",".join(values) if values else None
