"""Fetches about the connection (HAProxy 7.3.3) and the channels' buffers (7.3.5)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..conn.inbound import connection_addresses
from ..txn import addresses_of
from . import proto_tls
from .args import ArgType, arg_spec, parse_sint
from .context import SampleContext
from .errors import SampleError
from .registry import alias, fetch
from .types import Sample, SampleType, ip_sample

T = SampleType
A = ArgType


def _src(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    return ip_sample(ctx.src)


def _dst(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    return ip_sample(ctx.dst)


def _connection(ctx: SampleContext) -> Any:
    """The client connection's own addresses: as ``tcp-request connection`` rules set them, else as it
    was accepted (a PROXY header's), whatever later rules did to ``src``/``dst``."""
    client = getattr(ctx, "client", None)
    if client is None:
        return (ctx.src, ctx.src_port), (ctx.dst, ctx.dst_port)
    return connection_addresses(client) or addresses_of(client)


def _port(value: int | None) -> Sample | None:
    return None if value is None else Sample(T.SINT, value)


def _name_of(view: Any) -> Sample | None:
    return None if view is None else Sample(T.STR, view.name)


def _id_of(view: Any) -> Sample | None:
    return None if view is None else Sample(T.SINT, view.id)


Buffer = Callable[[SampleContext], bytes]


def _request_buffer(ctx: SampleContext) -> bytes:
    return ctx.req_data()


def _response_buffer(ctx: SampleContext) -> bytes:
    return ctx.res_data()


HTX_START_LINE = 20
"""Bytes HAProxy's internal HTTP message (HTX) spends on a start line besides its three parts."""


def _htx_size(parts: Sequence[str], headers: Any, body: bytes | None) -> int:
    """req.len/res.len in HTTP mode: the size of the message in HAProxy's HTX buffer (start line,
    header names and values, one byte ending the headers, the body received)."""
    size = HTX_START_LINE + sum(len(p) for p in parts) + 1 + len(body or b"")
    return size + sum(len(name) + len(value) for name, value in headers)


def _request_length(ctx: SampleContext, args: Sequence[Any]) -> Sample:
    req = ctx.request
    if req is None:
        return Sample(T.SINT, len(ctx.req_data()))
    return Sample(T.SINT, _htx_size((req.method, req.target, req.version), req.headers, ctx.req_body))


def _response_length(ctx: SampleContext, args: Sequence[Any]) -> Sample:
    res = ctx.response
    if res is None:
        return Sample(T.SINT, len(ctx.res_data()))
    return Sample(T.SINT, _htx_size((res.version, str(res.status), res.reason), res.headers, None))


def _payload(buffer: Buffer) -> Any:
    """<length> bytes at <offset>; length 0 means up to the end. No sample until the bytes are there."""

    def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        data = buffer(ctx)
        offset, length = args[0], args[1]
        if offset + length > len(data):
            ctx.incomplete = True  # the bytes may still come
            return None
        return Sample(T.BIN, data[offset : offset + length] if length else data[offset:])

    return run


def _check_payload_lv(values: list[Any], env: Any) -> list[Any]:
    """Keep <offset2> as (value, relative) since '+N'/'-N' count from the end of the length field."""
    if len(values) > 2:
        text = values[2]
        relative = text[:1] in "+-"
        value = parse_sint(text)
        if value is None:
            raise SampleError(f"failed to parse '{text}' as type 'integer' at position 3")
        values[2] = (value, relative)
    return values


def _payload_lv(buffer: Buffer) -> Any:
    """A block whose big-endian length sits at <offset1> on <length> bytes."""

    def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        data = buffer(ctx)
        off1, size = args[0], args[1]
        if size <= 0 or off1 + size > len(data):
            return None
        block = int.from_bytes(data[off1 : off1 + size], "big")
        start = off1 + size
        if len(args) > 2:
            value, relative = args[2]
            start = start + value if relative else value
        if start < 0 or start + block > len(data):
            return None
        return Sample(T.BIN, data[start : start + block])

    return run


def _tls(read: Callable[[bytes], Any], out: SampleType, buffer: Buffer = _request_buffer) -> Any:
    """A fetch reading the TLS hello at the start of a buffer; a record still arriving marks the
    evaluation incomplete (a TCP content rule then waits for it within its inspect-delay)."""

    def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        value = read(buffer(ctx))
        if value is proto_tls.Status.NEED_MORE:
            ctx.incomplete = True
            return None
        if isinstance(value, proto_tls.Status) or value is None:
            return None
        if isinstance(value, bytes):
            return Sample(out, value.decode("latin-1"))
        return Sample(out, value)

    return run


def _alpn_all(ctx: SampleContext, args: Sequence[Any]) -> list[Sample]:
    names = proto_tls.alpn_protocols(ctx.req_data())
    if names is proto_tls.Status.NEED_MORE:
        ctx.incomplete = True
    return [] if isinstance(names, proto_tls.Status) else [Sample(T.STR, n.decode("latin-1")) for n in names]


def _first(names: list[bytes] | proto_tls.Status) -> bytes | proto_tls.Status:
    return names if isinstance(names, proto_tls.Status) else names[0]


def _so_name(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    names = ctx.frontend.bind_names
    name = names[ctx.so_id - 1] if 0 < ctx.so_id <= len(names) else ""
    return Sample(T.STR, name) if name else None


S = "l4"
_PAYLOAD = fetch(
    "req.payload",
    _payload(_request_buffer),
    T.BIN,
    "Request buffer bytes: <length> at <offset> (0: to the end).",
    arg_spec(A.SINT, A.SINT),
    section="l6",
)
_LV_ARGS = arg_spec(A.SINT, A.SINT, A.STR, required=2, check=_check_payload_lv)
_PAYLOAD_LV = fetch(
    "req.payload_lv",
    _payload_lv(_request_buffer),
    T.BIN,
    "A length-prefixed block from the request buffer.",
    _LV_ARGS,
    section="l6",
)
_REQ_LEN = fetch("req.len", _request_length, T.SINT, "Bytes in the request buffer.", section="l6")

_HELLO_TYPE = fetch(
    "req.ssl_hello_type",
    _tls(proto_tls.hello_type, T.SINT),
    T.SINT,
    "Handshake type of the TLS record in the request buffer (1: ClientHello).",
    section="l6",
)
_RES_HELLO_TYPE = fetch(
    "res.ssl_hello_type",
    _tls(proto_tls.hello_type, T.SINT, _response_buffer),
    T.SINT,
    "Handshake type of the TLS record in the response buffer (2: ServerHello).",
    section="l6",
)
_SNI = fetch(
    "req.ssl_sni",
    _tls(proto_tls.server_name, T.STR),
    T.STR,
    "Server name (SNI) of the TLS ClientHello in the request buffer.",
    section="l6",
)
_SSL_VER = fetch(
    "req.ssl_ver",
    _tls(lambda data: proto_tls.hello_version(data, 16384), T.SINT),
    T.SINT,
    "Version of the ClientHello in the request buffer (major << 16 | minor).",
    section="l6",
)
_TLS_FETCHES = (
    _HELLO_TYPE,
    alias(_HELLO_TYPE, "req_ssl_hello_type", "Deprecated alias of req.ssl_hello_type."),
    _RES_HELLO_TYPE,
    alias(_RES_HELLO_TYPE, "rep_ssl_hello_type", "Deprecated alias of res.ssl_hello_type."),
    _SNI,
    alias(_SNI, "req_ssl_sni", "Deprecated alias of req.ssl_sni."),
    _SSL_VER,
    alias(_SSL_VER, "req_ssl_ver", "Deprecated alias of req.ssl_ver."),
    fetch(
        "req.ssl_alpn",
        _tls(lambda data: _first(proto_tls.alpn_protocols(data)), T.STR),
        T.STR,
        "First ALPN protocol of the ClientHello in the request buffer (an ACL tries each).",
        section="l6",
        multi=_alpn_all,
    ),
    fetch(
        "req.ssl_ec_ext",
        _tls(lambda data: proto_tls.has_extension(data, proto_tls.EC_POINT_CURVES) or None, T.BOOL),
        T.BOOL,
        "True if the ClientHello offers elliptic curves (no sample otherwise).",
        section="l6",
    ),
    fetch(
        "req.ssl_st_ext",
        _tls(proto_tls.session_ticket, T.SINT),
        T.SINT,
        "SessionTicket extension of the ClientHello: 0 absent, 1 empty, 2 with a ticket.",
        section="l6",
    ),
)

FETCHES = (
    fetch("be_id", lambda ctx, args: _id_of(ctx.backend), T.SINT, "Current backend's id.", section=S),
    fetch("be_name", lambda ctx, args: _name_of(ctx.backend), T.STR, "Current backend's name.", section=S),
    fetch("dst", _dst, T.ADDR, "Address the client connected to.", section=S),
    fetch("fc_dst", lambda ctx, args: ip_sample(_connection(ctx)[1][0]), T.ADDR,
          "Address the client connected to, on the client connection.", section=S),
    fetch(
        "fc_dst_port",
        lambda ctx, args: _port(_connection(ctx)[1][1]),
        T.SINT,
        "Port the client connected to, on the client connection.",
        section=S,
    ),
    fetch("fc_src", lambda ctx, args: ip_sample(_connection(ctx)[0][0]), T.ADDR,
          "Client's address on the client connection.", section=S),
    fetch(
        "fc_src_port",
        lambda ctx, args: _port(_connection(ctx)[0][1]),
        T.SINT,
        "Client's port on the client connection.",
        section=S,
    ),
    fetch("dst_port", lambda ctx, args: _port(ctx.dst_port), T.SINT, "Port the client connected to.", section=S),
    fetch("fe_id", lambda ctx, args: _id_of(ctx.frontend), T.SINT, "Current frontend's id.", section=S),
    fetch("fe_name", lambda ctx, args: _name_of(ctx.frontend), T.STR, "Current frontend's name.", section=S),
    fetch("so_id", lambda ctx, args: Sample(T.SINT, ctx.so_id), T.SINT, "Listening socket's id.", section=S),
    fetch("so_name", _so_name, T.STR, "Listening socket's name (bind ... name).", section=S),
    fetch("src", _src, T.ADDR, "Client's address.", section=S),
    fetch("src_port", lambda ctx, args: _port(ctx.src_port), T.SINT, "Client's port.", section=S),
    fetch("srv_id", lambda ctx, args: _id_of(ctx.server), T.SINT, "Chosen server's id.", section=S),
    fetch("srv_name", lambda ctx, args: _name_of(ctx.server), T.STR, "Chosen server's name.", section=S),
    _REQ_LEN,
    alias(_REQ_LEN, "req_len", "Deprecated alias of req.len."),
    _PAYLOAD,
    alias(_PAYLOAD, "payload", "Deprecated alias of req.payload."),
    _PAYLOAD_LV,
    alias(_PAYLOAD_LV, "payload_lv", "Deprecated alias of req.payload_lv."),
    fetch("res.len", _response_length, T.SINT, "Bytes in the response buffer.", section="l6"),
    fetch(
        "res.payload",
        _payload(_response_buffer),
        T.BIN,
        "Response buffer bytes: <length> at <offset> (0: to the end).",
        arg_spec(A.SINT, A.SINT),
        section="l6",
    ),
    fetch(
        "res.payload_lv",
        _payload_lv(_response_buffer),
        T.BIN,
        "A length-prefixed block from the response buffer.",
        _LV_ARGS,
        section="l6",
    ),
    *_TLS_FETCHES,
    fetch(
        "wait_end",
        lambda ctx, args: Sample(T.BOOL, True),
        T.BOOL,
        "True: content inspection never waits here.",
        section="l6",
    ),
)
