"""What a handshake kept when the global section asks for it (HAProxy 7.3.4): the ClientHello lists of
``tune.ssl.capture-buffer-size`` (``ssl_fc_cipherlist_*``, ``ssl_fc_extlist_bin``, ``ssl_fc_eclist_bin``,
``ssl_fc_ecformats_bin``, ``ssl_fc_protocol_hello_id``: the parts of a JA3 fingerprint) and the TLS 1.3
secrets of ``tune.ssl.keylog on`` (``ssl_fc_client_traffic_secret_0`` & co.).

Each reads what the handshake made (worker.tls.clienthello.capture, the key
log); without it (not asked for, not TLS) they give no sample, as in HAProxy.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable, Sequence
from typing import Any

from ..tls.clienthello import Capture, without_grease
from .args import ArgType, arg_spec
from .context import SampleContext
from .registry import fetch
from .types import Sample, SampleType, wrap64

T = SampleType
S = "l5"
_FILTER = arg_spec(ArgType.SINT, required=0)
_SCSV_NAMES = {0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV", 0x5600: "TLS_FALLBACK_SCSV"}


def _capture(ctx: SampleContext) -> Capture | None:
    return getattr(getattr(ctx, "client", None), "capture", None)


@functools.cache
def cipher_names() -> dict[int, str]:
    """OpenSSL's name of every cipher suite it knows, by IANA number (SSL_CIPHER_find's answers)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    return {**_SCSV_NAMES, **{c["id"] & 0xFFFF: c["name"] for c in context.get_ciphers()}}


def _list(field: Callable[[Capture], bytes]) -> Callable[[SampleContext, Sequence[Any]], Sample | None]:
    """A list of the capture, all of it or (argument 1) without GREASE values."""

    def get(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        captured = _capture(ctx)
        if captured is None:
            return None
        data = field(captured)
        return Sample(T.BIN, without_grease(data) if args and args[0] else data)

    return get


_ciphers = _list(lambda c: c.ciphers)


def _cipherlist_hex(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    found = _ciphers(ctx, args)
    return None if found is None else Sample(T.BIN, found.value.hex().upper().encode())


def _cipherlist_str(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    found = _ciphers(ctx, args)
    if found is None:
        return None
    names = cipher_names()
    data = found.value
    ids = (int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data) - 1, 2))
    return Sample(T.STR, ",".join(names.get(i) or f"UNKNOWN({i:04x})" for i in ids))


def _number(field: Callable[[Capture], int]) -> Callable[[SampleContext, Sequence[Any]], Sample | None]:
    def get(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        captured = _capture(ctx)
        return None if captured is None else Sample(T.SINT, field(captured))

    return get


def _secret(label: str) -> Callable[[SampleContext, Sequence[Any]], Sample | None]:
    def get(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        secrets = getattr(getattr(ctx, "client", None), "keylog", None)
        value = secrets.get(label) if secrets else None
        return None if not value else Sample(T.STR, value)

    return get


KEYLOG_LABELS = ("client_early_traffic_secret", "client_handshake_traffic_secret", "server_handshake_traffic_secret",
                 "client_traffic_secret_0", "server_traffic_secret_0", "exporter_secret", "early_exporter_secret")

FETCHES = (
    fetch("ssl_fc_cipherlist_bin", _ciphers, T.BIN, "The ClientHello's cipher list (1: without GREASE).",
          _FILTER, section=S),
    fetch("ssl_fc_cipherlist_hex", _cipherlist_hex, T.BIN, "The ClientHello's cipher list in hex (1: no GREASE).",
          _FILTER, section=S),
    fetch("ssl_fc_cipherlist_str", _cipherlist_str, T.STR, "The ClientHello's cipher names (1: no GREASE).",
          _FILTER, section=S),
    fetch("ssl_fc_cipherlist_xxh", _number(lambda c: wrap64(c.cipher_hash)), T.SINT,
          "XXH64 of the ClientHello's whole cipher list.", section=S),
    fetch("ssl_fc_extlist_bin", _list(lambda c: c.extensions), T.BIN,
          "The ClientHello's extension types (1: without GREASE).", _FILTER, section=S),
    fetch("ssl_fc_eclist_bin", _list(lambda c: c.curves), T.BIN,
          "The ClientHello's supported groups (1: without GREASE).", _FILTER, section=S),
    fetch("ssl_fc_ecformats_bin", _list(lambda c: c.point_formats), T.BIN,
          "The ClientHello's EC point formats.", section=S),
    fetch("ssl_fc_protocol_hello_id", _number(lambda c: c.protocol_version), T.SINT,
          "The version the ClientHello asks for (771 for TLS 1.2's 0x0303).", section=S),
    *(fetch(f"ssl_fc_{name}", _secret(name.upper()), T.STR, f"The handshake's {name.upper()} in hex "
            "('tune.ssl.keylog on').", section=S) for name in KEYLOG_LABELS),
)
