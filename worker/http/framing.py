"""How a head delimits its body, and the checks that stop request smuggling.

One function per message kind turns a head into a :class:`Framing`.  Both the
receiving and the sending side call it, so a message a rule has made ambiguous
(Content-Length next to Transfer-Encoding, say) is refused before it leaves.
Statuses follow HAProxy 2.6, except that we refuse Content-Length together with
Transfer-Encoding where HAProxy drops the Content-Length.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .errors import LocalProtocolError
from .grammar import DECIMAL, MAX_CONTENT_LENGTH, at_least_http11
from .message import Headers, RequestHead, ResponseHead

_DEFAULT_PORTS = {"http": {"80"}, "https": {"443"}}
_CONNECT_PORTS = {"80", "443"}


class BodyKind(Enum):
    NONE = "none"
    LENGTH = "length"
    CHUNKED = "chunked"
    UNTIL_CLOSE = "until-close"


@dataclass(frozen=True, slots=True)
class Framing:
    """The body's delimitation: ``length`` only matters for ``LENGTH``."""

    kind: BodyKind
    length: int = 0


NO_BODY = Framing(BodyKind.NONE)


def request_framing(head: RequestHead) -> Framing:
    """Check a request's Host, Content-Length and Transfer-Encoding; say how its body ends."""
    _check_host(head)
    chunked = _is_chunked(head.headers)
    length = _content_length(head.headers)
    if chunked:
        if length is not None:
            raise LocalProtocolError("both Content-Length and Transfer-Encoding")
        return Framing(BodyKind.CHUNKED)
    if length:
        return Framing(BodyKind.LENGTH, length)
    return NO_BODY


def response_framing(head: ResponseHead, request_method: str | None) -> Framing:
    """Say how a response body ends; HEAD, 1xx, 204, 304 and a CONNECT's 2xx have none."""
    chunked = _is_chunked(head.headers)
    length = _content_length(head.headers)
    if chunked and length is not None:
        raise LocalProtocolError("both Content-Length and Transfer-Encoding")
    status = head.status
    if (
        request_method == "HEAD"
        or status < 200
        or status in (204, 304)
        or (request_method == "CONNECT" and status < 300)
    ):
        return NO_BODY
    if chunked:
        return Framing(BodyKind.CHUNKED)
    if length is not None:
        return Framing(BodyKind.LENGTH, length) if length else NO_BODY
    return Framing(BodyKind.UNTIL_CLOSE)


def keep_alive(version: str, headers: Headers) -> bool:
    """HTTP/1.0 closes unless it asks for keep-alive; HTTP/1.1 stays open unless it asks to close."""
    tokens = {value.lower() for value in headers.get_values("connection")}
    if "close" in tokens:
        return False
    return at_least_http11(version) or "keep-alive" in tokens


def proposes_switch(head: RequestHead) -> bool:
    """A CONNECT, or an Upgrade listed in Connection, may turn the connection into a tunnel."""
    if head.method == "CONNECT":
        return True
    tokens = {value.lower() for value in head.headers.get_values("connection")}
    return "upgrade" in tokens and head.headers.contains("upgrade")


def expects_continue(head: RequestHead) -> bool:
    """``Expect: 100-continue`` counts on HTTP/1.1 only, as in HAProxy."""
    expect = [value.lower() for value in head.headers.get_values("expect")]
    return at_least_http11(head.version) and "100-continue" in expect


def _content_length(headers: Headers) -> int | None:
    """The one Content-Length value; identical repeats are merged into one field, as HAProxy does."""
    elements = [part.strip(" \t") for full in headers.get_all("content-length") for part in full.split(",")]
    if not elements:
        return None
    if any(not DECIMAL.fullmatch(element) for element in elements):
        raise LocalProtocolError("Content-Length is not a decimal number")
    values = {int(element) for element in elements}
    if len(values) > 1:
        raise LocalProtocolError("conflicting Content-Length values")
    length = values.pop()
    if length >= MAX_CONTENT_LENGTH:
        raise LocalProtocolError("Content-Length too large")
    if len(elements) > 1:
        _keep_one(headers, "content-length", str(length))
    return length


def _is_chunked(headers: Headers) -> bool:
    """Accept only a Transfer-Encoding whose codings end in one ``chunked``.

    HAProxy 2.6 answers 422 to a request with codings before ``chunked`` and
    400 to any other defect; a server sending anything but ``chunked`` gets 502.
    """
    codings = [coding.lower() for coding in headers.get_values("transfer-encoding")]
    if not codings:
        return False
    if codings == ["chunked"]:
        return True
    if codings.count("chunked") != 1 or codings[-1] != "chunked":
        raise LocalProtocolError("Transfer-Encoding does not end in one chunked")
    raise LocalProtocolError("unsupported transfer-coding before chunked", 422)


def _check_host(head: RequestHead) -> None:
    """Refuse differing Host fields, or a Host that contradicts the target's authority."""
    hosts = head.headers.get_all("host")
    if not hosts:
        return
    if len(hosts) > 1:
        if any(host.lower() != hosts[0].lower() for host in hosts):
            raise LocalProtocolError("conflicting Host fields")
        _keep_one(head.headers, "host", hosts[0])
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
