"""How a head delimits its body, and the checks that stop request smuggling.

One function per message kind reads the fields it needs in one pass and turns
them into a :class:`Framing` and the Connection options.  Both the receiving
and the sending side call it, so a message a rule has made ambiguous
(Content-Length next to Transfer-Encoding, say) is refused before it leaves.
Statuses and repairs follow HAProxy 2.6: a chunked Transfer-Encoding wins over
a Content-Length, which is checked then dropped (RFC 9112 6.1), and the
connection that carried such a message closes after it (see the Connection).
"""

from __future__ import annotations

import re
from collections.abc import Set
from enum import Enum
from functools import partial
from typing import NamedTuple

from .errors import LocalProtocolError
from .grammar import DECIMAL, MAX_CONTENT_LENGTH
from .message import Headers, RequestHead, ResponseHead, split_values

MAX_CONTENT_LENGTH_DIGITS = len(str(MAX_CONTENT_LENGTH))
_SAFE_DIGITS = MAX_CONTENT_LENGTH_DIGITS - 1
"""A length with fewer digits than the limit is below it whatever they are."""

_DEFAULT_PORTS = {"http": {"80"}, "https": {"443"}}
_CONNECT_PORTS = {"80", "443"}
READ_FIELDS = frozenset({"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade",
                          "sec-websocket-key", "te"})
"""The fields framing reads (read_fields): a head's others may change without its framing being read again."""
WEBSOCKET_KEY_SIZE = 24
"""A WebSocket key is 16 bytes in base64: HAProxy refuses (400) any other length, or none."""
_NO_TOKENS: frozenset[str] = frozenset()

Tokens = Set[str]
"""A Connection field's options, lowercased."""

Found = dict[str, list[str]]
"""The full values of the fields framing reads, by lowercase name (:func:`read_fields`)."""


class BodyKind(Enum):
    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    UNTIL_CLOSE = "until-close"


NONE, LENGTH, CHUNKED, UNTIL_CLOSE = BodyKind.NONE, BodyKind.LENGTH, BodyKind.CHUNKED, BodyKind.UNTIL_CLOSE
"""Module-level aliases: reading an Enum member off its class costs a Python-level descriptor call."""


class Framing(NamedTuple):
    """The body's delimitation: ``length`` only matters for ``LENGTH``.

    A named tuple rather than a frozen dataclass: one is built per message with a length, and a tuple builds cheaper.
    """

    kind: BodyKind
    length: int = 0


_length_framing = partial(tuple.__new__, Framing)
"""``Framing(LENGTH, n)`` built in C: a named tuple's own constructor is a Python function."""
NO_BODY = Framing(NONE)
CHUNKED_BODY = Framing(CHUNKED)
UNTIL_CLOSE_BODY = Framing(UNTIL_CLOSE)


def request_framing(head: RequestHead, found: Found | None = None) -> tuple[Framing, Tokens, bool, bool]:
    """Check a request's Host, Content-Length and Transfer-Encoding in one pass over its fields.

    Returns how its body ends, its Connection options, whether it proposes a
    protocol switch (a CONNECT, or an Upgrade listed in Connection) and whether
    it says ``Expect: 100-continue`` (which the caller honours on HTTP/1.1 only).
    *found* is :func:`read_fields` of its fields when the caller has it already.
    """
    if found is None:
        found = _framing_fields(head.headers)
    if not found:
        return _PLAIN_CONNECT if head.method == "CONNECT" else PLAIN_REQUEST
    if len(found) == 1 and len(found.get("host", ())) == 1 and head.target.startswith("/") and head.method != "CONNECT":
        return PLAIN_REQUEST  # one Host and no authority in the target for it to contradict
    if "host" in found:
        _check_host(head, found["host"])
    chunked = "transfer-encoding" in found and _is_chunked(found["transfer-encoding"])
    length = _content_length(head.headers, found["content-length"]) if "content-length" in found else None
    if chunked:
        if length is not None:
            head.headers.remove("content-length")
        framing = CHUNKED_BODY
    else:
        framing = _length_framing((LENGTH, length)) if length else NO_BODY
    tokens = _tokens(found["connection"]) if "connection" in found else _NO_TOKENS
    switch = head.method == "CONNECT" or ("upgrade" in tokens and "upgrade" in found)
    if switch and "upgrade" in found and "websocket" in _tokens(found["upgrade"]):
        keys = found.get("sec-websocket-key", [])
        if not keys or any(len(key) != WEBSOCKET_KEY_SIZE for key in keys):
            raise LocalProtocolError("WebSocket upgrade without a valid Sec-WebSocket-Key")
    expect = "expect" in found and "100-continue" in [value.lower() for value in split_values(found["expect"])]
    return framing, tokens, switch, expect


PLAIN_REQUEST = (NO_BODY, _NO_TOKENS, False, False)
"""request_framing's answer for a request with nothing to check: the same object each time."""
_PLAIN_CONNECT = (NO_BODY, _NO_TOKENS, True, False)


def response_framing(
    head: ResponseHead, request_method: str | None, found: Found | None = None
) -> tuple[Framing, Tokens]:
    """Say how a response body ends, from one pass over its fields, and return its Connection options.

    HEAD, 1xx, 204, 304 and a CONNECT's 2xx have no body.  *found* is
    :func:`read_fields` of its fields when the caller has it already.  A response relayed unchanged is
    framed once: the reader's answer is kept on its headers for the side that sends it on.
    """
    headers = head.headers
    read_as, framed = headers.read_as, headers.framed
    if read_as is None:
        return _response_framing(head, request_method, read_fields(headers.fields) if found is None else found)
    unchanged = (seen := read_as[0]) is None or seen == headers.fields
    if framed is not None and framed[0] == request_method and framed[1] == head.status and unchanged:
        return framed[2]
    if found is None:
        if not unchanged:
            return _response_framing(head, request_method, read_fields(headers.fields))
        found = read_as[1]
    framing = _response_framing(head, request_method, found)
    if found is read_as[1]:
        headers.framed = (request_method, head.status, framing)
    return framing


def _response_framing(head: ResponseHead, request_method: str | None, found: Found) -> tuple[Framing, Tokens]:
    chunked = "transfer-encoding" in found and _is_chunked(found["transfer-encoding"])
    length = _content_length(head.headers, found["content-length"]) if "content-length" in found else None
    if chunked and length is not None:
        head.headers.remove("content-length")
    tokens = _tokens(found["connection"]) if "connection" in found else _NO_TOKENS
    status = head.status
    if (
        request_method == "HEAD"
        or status < 200
        or status in (204, 304)
        or (request_method == "CONNECT" and status < 300)
    ):
        return NO_BODY, tokens
    if chunked:
        return CHUNKED_BODY, tokens
    if length is not None:
        return (_length_framing((LENGTH, length)) if length else NO_BODY), tokens
    return UNTIL_CLOSE_BODY, tokens


def keep_alive(http11: bool, tokens: Tokens) -> bool:
    """HTTP/1.0 closes unless it asks for keep-alive; HTTP/1.1 stays open unless it asks to close."""
    if "close" in tokens:
        return False
    return http11 or "keep-alive" in tokens


def read_fields(fields: list[tuple[str, str]]) -> Found:
    """The full values of the fields framing reads, by lowercase name, from one pass; others are skipped."""
    found: Found = {}
    for name, value in fields:
        lname = name.lower()
        if lname in READ_FIELDS:
            if lname in found:
                found[lname].append(value)
            else:
                found[lname] = [value]
    return found


_READ_LINE = re.compile(r"\n(c(?:ontent-length|onnection)|host|t(?:ransfer-encoding|e)|expect|upgrade|"
                        r"sec-websocket-key): ([^\r]*)", re.IGNORECASE | re.ASCII)
"""The lines of the fields framing reads (READ_FIELDS) in a head whose lines are all ``Name: value`` and CRLF."""


def plain_head_fields(text: str) -> Found:
    """:func:`read_fields` of a whole head whose field lines are ``Name: value`` and CRLF (grammar.PLAIN_*_HEAD),
    from its text: only the lines of the fields framing reads are split out of it, not those of the others (most
    of a head)."""
    return read_fields(_READ_LINE.findall(text))


def keep_trailers_only(headers: Headers, fulls: list[str]) -> None:
    """Reduce a request's TE fields to one ``TE: trailers``, or none, as HAProxy 2.6 does.

    Only the bare, exact ``trailers`` element says something to the next hop
    (the chunked coding is implied, and HTTP/1 forwards no other coding), so
    every other element, or one with parameters, goes.
    """
    if len(fulls) == 1 and fulls[0] == "trailers":
        return
    if "trailers" in split_values(fulls):
        _keep_one(headers, "te", "trailers")
    else:
        headers.remove("te")


def _framing_fields(headers: Headers) -> Found:
    """The framing fields of a head about to be sent: the reader's, when its fields are unchanged since."""
    read_as = headers.read_as
    if read_as is not None and ((seen := read_as[0]) is None or seen == headers.fields):
        return read_as[1]
    return read_fields(headers.fields)


def _tokens(fulls: list[str]) -> set[str]:
    return {value.lower() for value in split_values(fulls)}


def _content_length(headers: Headers, fulls: list[str]) -> int:
    """The one Content-Length value; identical repeats are merged into one field, as HAProxy does."""
    if len(fulls) == 1 and (digits := fulls[0]).isascii() and digits.isdigit():
        return int(digits) if len(digits) <= _SAFE_DIGITS else _decimal_length(digits)
    elements = split_values(fulls)
    if any(not DECIMAL.fullmatch(element) for element in elements):
        raise LocalProtocolError("Content-Length is not a decimal number")
    values = {_decimal_length(element) for element in elements}
    if len(values) > 1:
        raise LocalProtocolError("conflicting Content-Length values")
    length = values.pop()
    if len(elements) > 1:
        _keep_one(headers, "content-length", str(length))
    return length


def _decimal_length(digits: str) -> int:
    """A Content-Length value; too many digits is "too large" before int() (which refuses past 4300)."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > MAX_CONTENT_LENGTH_DIGITS or int(significant) >= MAX_CONTENT_LENGTH:
        raise LocalProtocolError("Content-Length too large")
    return int(significant)


def _is_chunked(fulls: list[str]) -> bool:
    """Accept only a Transfer-Encoding whose codings end in one ``chunked``.

    HAProxy 2.6 answers 422 to a request with codings before ``chunked`` and
    400 to any other defect; a server sending anything but ``chunked`` gets 502.
    """
    if len(fulls) == 1 and fulls[0].lower() == "chunked":
        return True
    codings = [coding.lower() for coding in split_values(fulls)]
    if codings == ["chunked"]:
        return True
    if codings.count("chunked") != 1 or codings[-1] != "chunked":
        raise LocalProtocolError("Transfer-Encoding does not end in one chunked")
    raise LocalProtocolError("unsupported transfer-coding before chunked", 422)


def _check_host(head: RequestHead, hosts: list[str]) -> None:
    """Refuse differing Host fields, or a Host that contradicts the target's authority.

    An origin-form target (``/path``), the usual one, has no authority to compare.
    """
    if len(hosts) > 1:
        if any(host.lower() != hosts[0].lower() for host in hosts):
            raise LocalProtocolError("conflicting Host fields")
        _keep_one(head.headers, "host", hosts[0])
    if head.target.startswith("/") and head.method != "CONNECT":
        return
    authority, default_ports = _authority(head)
    if authority is not None and not _same_authority(authority, hosts[0], default_ports):
        raise LocalProtocolError("Host does not match the request target")


def _authority(head: RequestHead) -> tuple[str | None, set[str]]:
    """The target's authority without userinfo, and the ports that may be left out of Host."""
    if head.method == "CONNECT":
        return head.target, _CONNECT_PORTS
    scheme, sep, rest = head.target.partition("://")
    if not sep or scheme.startswith("/"):
        return None, set()
    authority = rest.split("/", 1)[0].rpartition("@")[2]
    return authority, _DEFAULT_PORTS.get(scheme.lower(), set())


def _same_authority(authority: str, host: str, default_ports: set[str]) -> bool:
    """Equal, or the same host where only one side names a port and it is a default one."""
    if authority.lower() == host.lower():
        return True
    name_a, port_a = _split_port(authority.lower())
    name_h, port_h = _split_port(host.lower())
    if name_a != name_h:
        return False
    if port_a and port_h:
        return port_a == port_h
    return (port_a or port_h) in default_ports | {""}


def _split_port(authority: str) -> tuple[str, str]:
    if authority.startswith("["):
        end = authority.find("]") + 1
        return authority[:end], authority[end + 1 :]
    name, _, port = authority.partition(":")
    return name, port


def _keep_one(headers: Headers, name: str, value: str) -> None:
    """Replace every field called *name* by one with *value*, where the first one was."""
    lname = name.lower()
    first = next(i for i, (n, _) in enumerate(headers.fields) if n.lower() == lname)
    original = headers.fields[first][0]
    headers.remove(name)
    headers.fields.insert(first, (original, value))
