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


def _error(ctx: SampleContext) -> Any:
    return getattr(getattr(ctx, "client", None), "handshake_error", None)


def _fc_err(ctx: SampleContext, args: Sequence[Any]) -> Sample:
    error = _error(ctx)
    return Sample(T.SINT, error.code if error is not None else 0)


def _fc_err_str(ctx: SampleContext, args: Sequence[Any]) -> Sample:
    error = _error(ctx)
    return Sample(T.STR, error.text if error is not None else CONN_ERRORS[0])


def _ssl_fc_err(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    client = getattr(ctx, "client", None)
    if not hasattr(client, "handshake_error"):
        return None  # not a TLS connection
    error = client.handshake_error
    return Sample(T.SINT, error.ssl_code or 0 if error is not None else 0)


def _ssl_fc_err_str(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    error = _error(ctx)
    return Sample(T.STR, error.ssl_text) if error is not None and error.ssl_text else None


def _server_error(ctx: SampleContext) -> Any:
    return getattr(ctx, "server_error", None)


def _server_tls(ctx: SampleContext) -> bool:
    server = getattr(ctx, "server", None)
    return getattr(server, "tls", None) is not None


def _bc_err(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    error = _server_error(ctx)
    if error is None and getattr(ctx, "server", None) is None:
        return None  # no server connection was tried
    return Sample(T.SINT, error.code if error is not None else 0)


def _bc_err_str(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    code = _bc_err(ctx, args)
    return None if code is None else Sample(T.STR, CONN_ERRORS.get(code.value, "SSL handshake failure"))


def _ssl_bc_err(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    if not _server_tls(ctx):
        return None
    error = _server_error(ctx)
    return Sample(T.SINT, error.ssl_code or 0 if error is not None else 0)


def _ssl_bc_err_str(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    error = _server_error(ctx)
    return Sample(T.STR, error.ssl_text) if error is not None and error.ssl_text else None


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
