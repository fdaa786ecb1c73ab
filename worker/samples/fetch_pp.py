"""Fetches about the PROXY protocol header a client connection started with (``bind … accept-proxy``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..conn.inbound import received
from ..conn.proxy_protocol import TLV_AUTHORITY, TLV_UNIQUE_ID
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


FETCHES = (
    fetch("fc_pp_authority", _tlv(TLV_AUTHORITY), T.STR, "Authority TLV of the client's PROXY header.", section="l4"),
    fetch("fc_pp_unique_id", _tlv(TLV_UNIQUE_ID), T.STR, "Unique-id TLV of the client's PROXY header.",
          section="l4"),
    fetch("fc_rcvd_proxy", _rcvd_proxy, T.BOOL, "True when the client connection began with a PROXY header.",
          section="l4"),
)
