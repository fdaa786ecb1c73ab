"""HTTP fetches (HAProxy 7.3.6): headers, cookies, request line, URL parameters, status.

Every fetch gives no sample when the message is absent (TCP mode, or no
response yet).  ``hdr``-style fetches split values on commas outside quotes,
``fhdr``-style ones do not; an occurrence counts from the first (1, 2, ...) or
from the last (-1, -2, ...), and defaults to the last one.  In an ACL, the
``multi`` form yields every occurrence so that any of them may match.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator, Sequence
from typing import Any

from ..http.buffer import ReceiveBuffer
from ..http.errors import LocalProtocolError
from ..http.message import Headers, RequestHead, ResponseHead
from ..http.readers import Limits, RequestHeadReader
from .args import ArgType, arg_spec
from .context import SampleContext
from .hashing import full_hash, sdbm
from .registry import FetchDef, alias, fetch
from .text import ascii_lower, split_quoted
from .types import Sample, SampleType, ip_sample, leading_int, parse_ipv4, parse_ipv6

T = SampleType
A = ArgType
S = "l7"

Message = RequestHead | ResponseHead


def _msg(ctx: SampleContext, side: str) -> Message | None:
    return ctx.request if side == "req" else ctx.response


def _values(headers: Headers, name: str | None, full: bool) -> list[str]:
    fields = headers.get_all(name) if name else [v for _, v in headers.fields]
    if full:
        return [value.strip(" \t") for value in fields]  # HAProxy trims the blanks around a value
    out: list[str] = []
    for value in fields:
        out.extend(split_quoted(value))
    return out


def _pick(values: list[str], occ: int) -> str | None:
    if not values:
        return None
    if occ == 0:
        return values[-1]
    if occ > 0:
        return values[occ - 1] if occ <= len(values) else None
    return values[occ] if -occ <= len(values) else None


def _header_fetchers(side: str, full: bool, parse: Any) -> tuple[Any, Any]:
    """The single-value and ACL-iterating functions for a header fetch; *parse* maps text to a Sample."""

    def single(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        msg = _msg(ctx, side)
        if msg is None or not args or not args[0]:
            return None
        value = _pick(_values(msg.headers, args[0], full), args[1] if len(args) > 1 else 0)
        return None if value is None else parse(value)

    def every(ctx: SampleContext, args: Sequence[Any]) -> Iterator[Sample]:
        msg = _msg(ctx, side)
        if msg is None:
            return
        if len(args) > 1 and args[1]:
            smp = single(ctx, args)
            if smp is not None:
                yield smp
            return
        for value in _values(msg.headers, args[0] if args else None, full):
            smp = parse(value)
            if smp is not None:
                yield smp

    return single, every


def _as_str(value: str) -> Sample:
    return Sample(T.STR, value)


def _as_int(value: str) -> Sample:
    return Sample(T.SINT, leading_int(value))


def _as_ip(value: str) -> Sample | None:
    """RFC 7239 forms: an IPv4 address optionally followed by ':port', or an IPv6 address."""
    host, colon, port = value.partition(":")
    v4 = parse_ipv4(host) if len(host) >= 7 else None
    if v4 is not None and host.count(".") == 3 and all(p.isdigit() for p in host.split(".")):
        if not colon or (port.isdigit() and int(port) <= 65535):
            return Sample(T.IPV4, v4)
        return None
    v6 = parse_ipv6(value)
    return Sample(T.IPV6, v6) if v6 is not None else None


def _count(side: str, full: bool) -> Any:
    def count(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        msg = _msg(ctx, side)
        if msg is None:
            return None
        return Sample(T.SINT, len(_values(msg.headers, args[0] if args else None, full)))

    return count


def _hdrs(side: str) -> Any:
    def hdrs(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        msg = _msg(ctx, side)
        if msg is None:
            return None
        text = "".join(f"{ascii_lower(n)}: {v}\r\n" for n, v in msg.headers.fields)
        return Sample(T.STR, text + "\r\n")

    return hdrs


def _hdr_names(side: str) -> Any:
    def names(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        msg = _msg(ctx, side)
        if msg is None:
            return None
        delim = args[0][:1] if args and args[0] else ","
        return Sample(T.STR, delim.join(ascii_lower(n) for n, _ in msg.headers.fields))

    return names


def _cookie_pairs(ctx: SampleContext, side: str) -> list[tuple[str, str]]:
    msg = _msg(ctx, side)
    if msg is None:
        return []
    pairs: list[tuple[str, str]] = []
    if side == "req":
        for line in msg.headers.get_all("cookie"):
            for part in line.split(";"):
                name, eq, value = part.partition("=")
                if eq:
                    pairs.append((name.strip(" \t"), value.strip(" \t")))
    else:
        for line in msg.headers.get_all("set-cookie"):
            name, eq, value = line.split(";", 1)[0].partition("=")
            if eq:
                pairs.append((name.strip(" \t"), value.strip(" \t")))
    return pairs


def _cookie_fetchers(side: str, parse: Any) -> tuple[Any, Any]:
    def single(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        pairs = _cookie_pairs(ctx, side)
        if not pairs:
            return None
        if not args or not args[0]:
            return parse(pairs[0][1])
        for name, value in reversed(pairs):
            if name == args[0]:
                return parse(value)
        return None

    def every(ctx: SampleContext, args: Sequence[Any]) -> Iterator[Sample]:
        wanted = args[0] if args else ""
        for name, value in _cookie_pairs(ctx, side):
            if not wanted or name == wanted:
                yield parse(value)

    return single, every


def _cookie_count(side: str) -> Any:
    def count(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        if _msg(ctx, side) is None:
            return None
        wanted = args[0] if args else ""
        return Sample(T.SINT, sum(1 for n, _ in _cookie_pairs(ctx, side) if not wanted or n == wanted))

    return count


def _path_span(target: str) -> tuple[int, int] | None:
    """Where the path sits in a request target: after any scheme://authority, before '?'."""
    if target.startswith("/"):
        start = 0
    elif "://" in target:
        authority = target.index("://") + 3
        start = target.find("/", authority)
        if start < 0:
            return None
    else:
        return None
    end = target.find("?", start)
    return start, end if end >= 0 else len(target)


def _tcp_request(ctx: SampleContext) -> RequestHead | None:
    """In TCP mode, the request head parsed from the buffered bytes, as HAProxy's HTTP prefetch does
    (incomplete: no sample yet, and the fetch may change; not HTTP: no sample)."""
    buf = ReceiveBuffer()
    buf += ctx.req_data()
    try:
        found = RequestHeadReader(Limits())(buf)
    except LocalProtocolError:
        return None
    if found is None:
        ctx.incomplete = True
        return None
    return found.head


def _proto_http(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    if ctx.request is not None:
        return Sample(T.BOOL, True)
    was_incomplete, ctx.incomplete = ctx.incomplete, False
    head = _tcp_request(ctx)
    if ctx.incomplete:
        return None
    ctx.incomplete = was_incomplete
    return Sample(T.BOOL, head is not None)


def _request_str(compute: Any) -> Any:
    def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        req = ctx.request or _tcp_request(ctx)
        if req is None:
            return None
        value = compute(req)
        return None if value is None else Sample(T.STR, value)

    return run


def _path(req: RequestHead) -> str | None:
    span = _path_span(req.target)
    return None if span is None else req.target[span[0] : span[1]]


def _captured(side: str) -> Any:
    def get(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        slots = getattr(ctx, "captures", {}).get(side)
        value = slots[args[0]] if slots and 0 <= args[0] < len(slots) else None
        return None if value is None else Sample(T.STR, value)

    return get


def _pathq(req: RequestHead) -> str | None:
    span = _path_span(req.target)
    return None if span is None else req.target[span[0] :]


def _query(req: RequestHead) -> str | None:
    qmark = req.target.find("?")
    return None if qmark < 0 else req.target[qmark + 1 :]


def _host(req: RequestHead) -> str | None:
    hosts = req.headers.get_all("host")
    return hosts[0] if hosts else None


def _base(req: RequestHead) -> str | None:
    path = _path(req)
    if path is None:
        return None
    return (_host(req) or "") + path


def _baseq(req: RequestHead) -> str | None:
    pathq = _pathq(req)
    if pathq is None:
        return None
    return (_host(req) or "") + pathq


def _hash32(compute: Any) -> Any:
    def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        req = ctx.request
        text = None if req is None else compute(req)
        if text is None:
            return None
        return Sample(T.SINT, full_hash(sdbm(text.encode("latin-1"))))

    return run


def _url_params(url: str, delim: str) -> list[tuple[str, str]]:
    start = url.find(delim or "?")
    return [] if start < 0 else split_params(url[start + 1 :], delim)


def split_params(text: str, delim: str = "") -> list[tuple[str, str]]:
    """name=value pairs separated by '&', ';' (or *delim*); one without '=' is skipped, while
    a nameless one ('=v') only answers a lookup without a name."""
    seps = "&;" + delim
    params: list[tuple[str, str]] = []
    current: list[str] = []
    for ch in text + "&":
        if ch in seps:
            name, equal, value = "".join(current).partition("=")
            if equal:
                params.append((name, value))
            current = []
        else:
            current.append(ch)
    return params


def _body(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    """What arrived of the request body with its head (all of it, up to a buffer, with
    option http-buffer-request)."""
    body = ctx.req_body
    return None if body is None else Sample(T.BIN, body)


def _body_len(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    body = ctx.req_body
    return None if body is None else Sample(T.SINT, len(body))


def _body_size(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    """The announced Content-Length, else the length of the body waited for."""
    body, req = ctx.req_body, ctx.request
    if body is None or req is None:
        return None
    lengths = req.headers.get_all("content-length")
    return Sample(T.SINT, int(lengths[0]) if lengths and lengths[0].isdigit() else len(body))


def _url_params_of(ctx: SampleContext, args: Sequence[Any]) -> list[tuple[str, str]]:
    req = ctx.request
    return [] if req is None else _url_params(req.target, args[1][:1] if len(args) > 1 else "")


def _body_params_of(ctx: SampleContext, args: Sequence[Any]) -> list[tuple[str, str]]:
    body = ctx.req_body
    return [] if body is None else split_params(body.decode("latin-1"))


def _urlp_fetchers(parse: Any, params_of: Any = _url_params_of) -> tuple[Any, Any]:
    """url_param-like fetches over the (name, value) pairs *params_of* finds."""

    def matching(ctx: SampleContext, args: Sequence[Any]) -> list[str]:
        name = args[0] if args else ""
        return [v for n, v in params_of(ctx, args) if not name or n == name]

    def single(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        values = matching(ctx, args)
        return parse(values[0]) if values else None

    def every(ctx: SampleContext, args: Sequence[Any]) -> Iterator[Sample]:
        for value in matching(ctx, args):
            yield parse(value)

    return single, every


def _authority(req: RequestHead) -> tuple[str, int] | None:
    target = req.target
    if "://" not in target:
        return None
    rest = target.split("://", 1)[1]
    authority = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    if authority.startswith("["):
        host, _, tail = authority[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
    else:
        host, _, port = authority.partition(":")
    return host, int(port) if port.isdigit() else 80


def _url_ip(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    found = None if ctx.request is None else _authority(ctx.request)
    return None if found is None else ip_sample(found[0])


def _url_port(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    found = None if ctx.request is None else _authority(ctx.request)
    return None if found is None else Sample(T.SINT, found[1])


def _version(side: str) -> Any:
    def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        msg = _msg(ctx, side)
        if msg is None:
            return None
        version = msg.version
        return Sample(T.STR, version[5:] if version.startswith("HTTP/") else version)

    return run


def _full_version(side: str) -> Any:
    def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        msg = _msg(ctx, side)
        return None if msg is None else Sample(T.STR, msg.version)

    return run


_SCHEMES = {"basic": "Basic", "digest": "Digest", "bearer": "Bearer"}


def _authorization(ctx: SampleContext, header: str = "authorization") -> tuple[str, str] | None:
    req = ctx.request
    if req is None:
        return None
    values = req.headers.get_all(header)
    if not values:
        return None
    scheme, _, rest = values[0].strip(" \t").partition(" ")
    return scheme, rest.strip(" \t")


def _basic_credentials(ctx: SampleContext) -> tuple[str, str] | None:
    auth = _authorization(ctx)
    if auth is None or auth[0].lower() != "basic":
        return None
    try:
        decoded = binascii.a2b_base64(auth[1].encode("latin-1")).decode("latin-1")
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def _auth_type(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    auth = _authorization(ctx)
    scheme = None if auth is None else _SCHEMES.get(auth[0].lower())
    return None if scheme is None else Sample(T.STR, scheme)


def _auth_part(index: int) -> Any:
    def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        creds = _basic_credentials(ctx)
        return None if creds is None else Sample(T.STR, creds[index])

    return run


def _auth_bearer(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    auth = _authorization(ctx, args[0] if args and args[0] else "authorization")
    if auth is None or auth[0].lower() != "bearer":
        return None
    return Sample(T.STR, auth[1])


def _method(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    return None if ctx.request is None else Sample(T.METH, ctx.request.method)


def _status(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    return None if ctx.response is None else Sample(T.SINT, ctx.response.status)


def _header_family(side: str) -> list[FetchDef]:
    """hdr, fhdr, hdr_cnt, fhdr_cnt, hdr_ip, hdr_val, hdrs, hdr_names for one direction."""
    opt_name_occ = arg_spec(A.STR, A.SINT, required=0)
    words = "request" if side == "req" else "response"
    hdr, hdr_all = _header_fetchers(side, False, _as_str)
    fhdr, fhdr_all = _header_fetchers(side, True, _as_str)
    hdr_ip, hdr_ip_all = _header_fetchers(side, False, _as_ip)
    hdr_val, hdr_val_all = _header_fetchers(side, False, _as_int)
    p = side + "."
    return [
        fetch(
            p + "hdr",
            hdr,
            T.STR,
            f"A comma-separated value of a {words} header (default: the last).",
            opt_name_occ,
            section=S,
            multi=hdr_all,
        ),
        fetch(
            p + "fhdr",
            fhdr,
            T.STR,
            f"A full {words} header line value, commas included (default: the last).",
            opt_name_occ,
            section=S,
            multi=fhdr_all,
        ),
        fetch(
            p + "hdr_cnt",
            _count(side, False),
            T.SINT,
            f"Number of comma-separated values of a {words} header (or of all).",
            arg_spec(A.STR, required=0),
            section=S,
        ),
        fetch(
            p + "fhdr_cnt",
            _count(side, True),
            T.SINT,
            f"Number of {words} header lines with that name (or of all).",
            arg_spec(A.STR, required=0),
            section=S,
        ),
        fetch(
            p + "hdr_ip",
            hdr_ip,
            T.ADDR,
            f"A {words} header value as an IP address (IPv4 may carry ':port').",
            opt_name_occ,
            section=S,
            multi=hdr_ip_all,
        ),
        fetch(
            p + "hdr_val",
            hdr_val,
            T.SINT,
            f"A {words} header value as an integer.",
            opt_name_occ,
            section=S,
            multi=hdr_val_all,
        ),
        fetch(p + "hdrs", _hdrs(side), T.STR, f"All {words} headers as text, ending with the empty line.", section=S),
        fetch(
            p + "hdr_names",
            _hdr_names(side),
            T.STR,
            f"All {words} header names joined by a delimiter (default ',').",
            arg_spec(A.STR, required=0),
            section=S,
        ),
    ]


def _cookie_family(side: str) -> list[FetchDef]:
    words = "Cookie" if side == "req" else "Set-Cookie"
    cook, cook_all = _cookie_fetchers(side, _as_str)
    cook_val, cook_val_all = _cookie_fetchers(side, _as_int)
    opt_name = arg_spec(A.STR, required=0)
    p = side + "."
    return [
        fetch(
            p + "cook",
            cook,
            T.STR,
            f"Last value of a cookie from {words} (no name: the first cookie).",
            opt_name,
            section=S,
            multi=cook_all,
        ),
        fetch(
            p + "cook_cnt",
            _cookie_count(side),
            T.SINT,
            f"Occurrences of a cookie (or of all) in {words}.",
            opt_name,
            section=S,
        ),
        fetch(
            p + "cook_val",
            cook_val,
            T.SINT,
            f"A cookie from {words} as an integer.",
            opt_name,
            section=S,
            multi=cook_val_all,
        ),
    ]


def _catalogue() -> tuple[FetchDef, ...]:
    req_h = {d.name: d for d in _header_family("req")}
    res_h = {d.name: d for d in _header_family("res")}
    req_c = {d.name: d for d in _cookie_family("req")}
    res_c = {d.name: d for d in _cookie_family("res")}
    urlp, urlp_all = _urlp_fetchers(_as_str)
    urlp_val, urlp_val_all = _urlp_fetchers(_as_int)
    urlp_args = arg_spec(A.STR, A.STR, required=0)
    url_param = fetch(
        "url_param",
        urlp,
        T.STR,
        "First value of a query parameter (no name: the first one).",
        urlp_args,
        section=S,
        multi=urlp_all,
    )
    body_param, body_param_all = _urlp_fetchers(_as_str, _body_params_of)
    req_ver = fetch("req.ver", _version("req"), T.STR, "Request HTTP version, e.g. '1.1'.", section=S)
    res_ver = fetch("res.ver", _version("res"), T.STR, "Response HTTP version, e.g. '1.1'.", section=S)
    hdr = req_h["req.hdr"]
    return (
        *req_h.values(),
        *res_h.values(),
        *req_c.values(),
        *res_c.values(),
        FetchDef(
            "hdr",
            hdr.fn,
            hdr.args,
            hdr.out,
            "req.hdr in request rules, res.hdr in response rules.",
            S,
            hdr.multi,
            "res.hdr",
        ),
        alias(req_h["req.fhdr"], "fhdr", "req.fhdr under the name the Lua spec's geo example uses."),
        alias(req_h["req.hdr_cnt"], "hdr_cnt", "Deprecated alias of req.hdr_cnt."),
        alias(req_h["req.hdr_ip"], "hdr_ip", "Deprecated alias of req.hdr_ip."),
        alias(req_h["req.hdr_val"], "hdr_val", "Deprecated alias of req.hdr_val."),
        alias(res_h["res.hdr"], "shdr", "Deprecated alias of res.hdr."),
        alias(res_h["res.hdr_cnt"], "shdr_cnt", "Deprecated alias of res.hdr_cnt."),
        alias(res_h["res.hdr_ip"], "shdr_ip", "Deprecated alias of res.hdr_ip."),
        alias(res_h["res.hdr_val"], "shdr_val", "Deprecated alias of res.hdr_val."),
        alias(req_c["req.cook"], "cook", "Deprecated alias of req.cook."),
        alias(req_c["req.cook_cnt"], "cook_cnt", "Deprecated alias of req.cook_cnt."),
        alias(req_c["req.cook_val"], "cook_val", "Deprecated alias of req.cook_val."),
        alias(res_c["res.cook"], "scook", "Deprecated alias of res.cook."),
        alias(res_c["res.cook_cnt"], "scook_cnt", "Deprecated alias of res.cook_cnt."),
        alias(res_c["res.cook_val"], "scook_val", "Deprecated alias of res.cook_val."),
        FetchDef(
            "cookie",
            req_c["req.cook"].fn,
            req_c["req.cook"].args,
            T.STR,
            "Deprecated: req.cook in request rules, res.cook in response rules.",
            S,
            req_c["req.cook"].multi,
            "res.cook",
        ),
        fetch("base", _request_str(_base), T.STR, "First Host header followed by the path.", section=S),
        fetch(
            "baseq", _request_str(_baseq), T.STR, "First Host header followed by the path and query string.", section=S
        ),
        fetch("base32", _hash32(_base), T.SINT, "32-bit hash of base (sdbm with avalanche).", section=S),
        fetch(
            "url32",
            _hash32(lambda req: (_host(req) or "") + req.target),
            T.SINT,
            "32-bit hash of the first Host header and the whole URL.",
            section=S,
        ),
        fetch("method", _method, T.METH, "The request method.", section=S),
        fetch("path", _request_str(_path), T.STR, "The request path: from the first slash to before '?'.", section=S),
        fetch("pathq", _request_str(_pathq), T.STR, "The request path with its query string.", section=S),
        fetch(
            "query",
            _request_str(_query),
            T.STR,
            "The query string after the first '?' (no sample without '?').",
            section=S,
        ),
        fetch("url", _request_str(lambda req: req.target), T.STR, "The request target as received.", section=S),
        url_param,
        alias(url_param, "urlp", "Alias of url_param."),
        fetch(
            "urlp_val", urlp_val, T.SINT, "A query parameter as an integer.", urlp_args, section=S, multi=urlp_val_all
        ),
        fetch("url_ip", _url_ip, T.ADDR, "The IP address in an absolute request URL.", section=S),
        fetch("url_port", _url_port, T.SINT, "The port of an absolute request URL (80 by default).", section=S),
        req_ver,
        alias(req_ver, "req_ver", "Deprecated alias of req.ver."),
        res_ver,
        alias(res_ver, "resp_ver", "Deprecated alias of res.ver."),
        fetch("status", _status, T.SINT, "The response status code.", section=S),
        fetch("http_auth_type", _auth_type, T.STR, "Authorization scheme: Basic, Digest or Bearer.", section=S),
        fetch("http_auth_user", _auth_part(0), T.STR, "User name from Basic authorization.", section=S),
        fetch("http_auth_pass", _auth_part(1), T.STR, "Password from Basic authorization.", section=S),
        fetch(
            "http_auth_bearer",
            _auth_bearer,
            T.STR,
            "Bearer token from Authorization (or the named header).",
            arg_spec(A.STR, required=0),
            section=S,
        ),
        fetch(
            "req.proto_http",
            _proto_http,
            T.BOOL,
            "True when the request parsed as HTTP (in TCP mode: the buffered bytes, once a whole head).",
            section=S,
        ),
        fetch(
            "http_first_req",
            lambda ctx, args: None if ctx.request is None else Sample(T.BOOL, ctx.first_request),
            T.BOOL,
            "True for the first request of a connection.",
            section=S,
        ),
        fetch("req.body", _body, T.BIN, "The request body waited for (option http-buffer-request).", section=S),
        fetch("req.body_len", _body_len, T.SINT, "Bytes of the request body waited for.", section=S),
        fetch(
            "req.body_size",
            _body_size,
            T.SINT,
            "The request body's announced length (Content-Length), else the bytes waited for.",
            section=S,
        ),
        fetch(
            "req.body_param",
            body_param,
            T.STR,
            "First value of a form parameter of the body (no name: the first one).",
            arg_spec(A.STR, required=0),
            section=S,
            multi=body_param_all,
        ),
        fetch(
            "capture.req.method",
            _request_str(lambda req: req.method),
            T.STR,
            "The request method, as a string.",
            section=S,
        ),
        fetch("capture.req.hdr", _captured("request"), T.STR, "A captured request value, by slot.",
              arg_spec(A.SINT), section=S),
        fetch("capture.res.hdr", _captured("response"), T.STR, "A captured response value, by slot.",
              arg_spec(A.SINT), section=S),
        fetch("capture.req.uri", _request_str(lambda req: req.target), T.STR, "The request URI.", section=S),
        fetch("capture.req.ver", _full_version("req"), T.STR, "The request version, e.g. 'HTTP/1.1'.", section=S),
        fetch("capture.res.ver", _full_version("res"), T.STR, "The response version, e.g. 'HTTP/1.1'.", section=S),
    )


FETCHES = _catalogue()
