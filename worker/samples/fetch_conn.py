"""Fetches about the client connection itself: the PROXY protocol header it started with (``bind …
accept-proxy``) and why a TLS handshake failed, with the client (``fc_err``, ``ssl_fc_err``; error-log-format)
or with the server (``bc_err``, ``ssl_bc_err``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..conn.inbound import received
from ..conn.proxy_protocol import TLV_AUTHORITY, TLV_UNIQUE_ID
from ..tls.errors import CONN_ERRORS
from .context import SampleContext
from .registry import fetch
from .types import Sample, SampleType

T = SampleType


def _tlv(kind: int) -> Any:
    def get(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        header = received(getattr(ctx, "client", None))
        value = header.tlv(kind) if header is not None else None
        return None if value is None else Sample(T.STR, value.decode("latin-1"))

    return get


def _rcvd_proxy(ctx: SampleContext, args: Sequence[Any]) -> Sample:
    return Sample(T.BOOL, received(getattr(ctx, "client", None)) is not None)


def _code(error: Any) -> Sample:
    return Sample(T.SINT, error.code if error is not None else 0)


def _text(error: Any) -> Sample:
    return Sample(T.STR, error.text if error is not None else CONN_ERRORS[0])


def _ssl_code(error: Any) -> Sample:
    return Sample(T.SINT, error.ssl_code or 0 if error is not None else 0)


def _ssl_text(error: Any) -> Sample | None:
    return Sample(T.STR, error.ssl_text) if error is not None and error.ssl_text else None


def _error(ctx: SampleContext) -> Any:
    return getattr(getattr(ctx, "client", None), "handshake_error", None)


def _fc_err(ctx: SampleContext, args: Sequence[Any]) -> Sample:
    return _code(_error(ctx))


def _fc_err_str(ctx: SampleContext, args: Sequence[Any]) -> Sample:
    return _text(_error(ctx))


def _ssl_fc_err(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    if not hasattr(getattr(ctx, "client", None), "handshake_error"):
        return None  # not a TLS connection
    return _ssl_code(_error(ctx))


def _ssl_fc_err_str(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    return _ssl_text(_error(ctx))


def _server_error(ctx: SampleContext) -> Any:
    return getattr(ctx, "server_error", None)


def _server_tried(ctx: SampleContext) -> bool:
    """A server connection was tried (it may have failed before any server was kept)."""
    return getattr(ctx, "server", None) is not None or _server_error(ctx) is not None


def _bc_err(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    return _code(_server_error(ctx)) if _server_tried(ctx) else None


def _bc_err_str(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    return _text(_server_error(ctx)) if _server_tried(ctx) else None


def _ssl_bc_err(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    server = getattr(ctx, "server", None)
    return _ssl_code(_server_error(ctx)) if getattr(server, "tls", None) is not None else None


def _ssl_bc_err_str(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    return _ssl_text(_server_error(ctx))


FETCHES = (
    fetch("bc_err", _bc_err, T.SINT, "Error code of the server connection (haproxy's CO_ER_* numbers).",
          section="l4"),
    fetch("bc_err_str", _bc_err_str, T.STR, "Error message of the server connection.", section="l4"),
    fetch("ssl_bc_err", _ssl_bc_err, T.SINT, "OpenSSL reason code of the backend handshake's error.",
          section="l5"),
    fetch("ssl_bc_err_str", _ssl_bc_err_str, T.STR, "OpenSSL's string of the backend handshake's error.",
          section="l5"),
    fetch("fc_err", _fc_err, T.SINT, "Error code of the client connection (haproxy's CO_ER_* numbers).",
          section="l4"),
    fetch("fc_err_str", _fc_err_str, T.STR, "Error message of the client connection.", section="l4"),
    fetch("ssl_fc_err", _ssl_fc_err, T.SINT, "OpenSSL reason code of the frontend handshake's error.",
          section="l5"),
    fetch("ssl_fc_err_str", _ssl_fc_err_str, T.STR, "OpenSSL's string of the frontend handshake's error.",
          section="l5"),
    fetch("fc_pp_authority", _tlv(TLV_AUTHORITY), T.STR, "Authority TLV of the client's PROXY header.", section="l4"),
    fetch("fc_pp_unique_id", _tlv(TLV_UNIQUE_ID), T.STR, "Unique-id TLV of the client's PROXY header.",
          section="l4"),
    fetch("fc_rcvd_proxy", _rcvd_proxy, T.BOOL, "True when the client connection began with a PROXY header.",
          section="l4"),
)
