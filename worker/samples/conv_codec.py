"""Encoding, hashing and digest converters: base64, hex, be2dec/be2hex, djb2..crc32c, sha1/sha2, hmac."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac as hmac_lib
from collections.abc import Callable, Sequence
from typing import Any

from . import hashing
from .args import ArgType, ParseEnv, arg_spec
from .context import SampleContext
from .errors import SampleError
from .registry import converter
from .types import Sample, SampleType, wrap64

T = SampleType
A = ArgType


def _base64(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    return Sample(T.STR, base64.b64encode(smp.value).decode("ascii"))


def _ub64enc(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    return Sample(T.STR, base64.urlsafe_b64encode(smp.value).decode("ascii").rstrip("="))


def _b64dec(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    text: str = smp.value
    if len(text) % 4:
        return None
    try:
        return Sample(T.BIN, base64.b64decode(text.encode("latin-1"), validate=True))
    except (binascii.Error, ValueError):
        return None


def _ub64dec(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    text: str = smp.value
    if len(text) % 4 == 1:
        return None
    try:
        padded = text + "=" * (-len(text) % 4)
        return Sample(T.BIN, base64.b64decode(padded.encode("latin-1"), altchars=b"-_", validate=True))
    except (binascii.Error, ValueError):
        return None


def _hex(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    return Sample(T.STR, smp.value.hex().upper())


def _hex2i(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    value = 0
    for ch in smp.value:
        digit = "0123456789abcdef".find(ch.lower())
        if digit < 0:
            return None
        value = wrap64((value << 4) + digit)
    return Sample(T.SINT, value)


def _chunks(data: bytes, size: int, truncate: bool) -> list[bytes]:
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    if truncate and parts and len(parts[-1]) < size:
        parts.pop()
    return parts


def _check_be2dec(values: list[Any], env: ParseEnv) -> list[Any]:
    if not 1 <= values[1] <= 8:
        raise SampleError(f"Chunk size must be in range 1..8, got '{values[1]}'")
    return values


def _be2dec(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    sep, size = args[0], args[1]
    truncate = len(args) > 2 and bool(args[2])
    parts = _chunks(smp.value, size, truncate)
    return Sample(T.STR, sep.join(str(int.from_bytes(p, "big")) for p in parts))


def _be2hex(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    sep = args[0] if args else ""
    size = args[1] if len(args) > 1 and args[1] > 0 else 0
    truncate = len(args) > 2 and bool(args[2])
    if not size:
        return Sample(T.STR, smp.value.hex().upper())
    parts = _chunks(smp.value, size, truncate)
    return Sample(T.STR, sep.join(p.hex().upper() for p in parts))


def _htonl(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    return Sample(T.BIN, (smp.value & 0xFFFFFFFF).to_bytes(4, "big"))


def _hash(fn: Callable[[bytes], int]) -> Any:
    def run(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
        value = fn(smp.value)
        if args and args[0]:
            value = hashing.full_hash(value)
        return Sample(T.SINT, value)

    return run


def _check_sha2(values: list[Any], env: ParseEnv) -> list[Any]:
    if values and values[0] not in (224, 256, 384, 512):
        raise SampleError(f"Unsupported number of bits: '{values[0]}'.")
    return values


def _sha2(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    bits = args[0] if args else 256
    return Sample(T.BIN, hashlib.new(f"sha{bits}", smp.value).digest())


def _check_digest(values: list[Any], env: ParseEnv) -> list[Any]:
    if values[0].lower() not in hashlib.algorithms_available:
        raise SampleError(f"algorithm must be a valid OpenSSL message digest name, got '{values[0]}'.")
    if len(values) > 1:
        try:
            values[1] = base64.b64decode(values[1].encode("latin-1"), validate=True)
        except (binascii.Error, ValueError):
            raise SampleError(f"failed to base64 decode key '{values[1]}'.") from None
    return values


def _digest(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    return Sample(T.BIN, hashlib.new(args[0].lower(), smp.value).digest())


def _hmac(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    return Sample(T.BIN, hmac_lib.new(args[1], smp.value, args[0].lower()).digest())


_AVALANCHE = arg_spec(A.SINT, required=0)
_HASH_DOC = " Optional 1: full avalanche."

CONVERTERS = (
    converter("base64", _base64, T.BIN, T.STR, "Base64-encodes."),
    converter("b64dec", _b64dec, T.STR, T.BIN, "Base64-decodes (no sample if invalid)."),
    converter("ub64enc", _ub64enc, T.BIN, T.STR, "Base64url-encodes, without padding."),
    converter("ub64dec", _ub64dec, T.STR, T.BIN, "Base64url-decodes, padding optional."),
    converter("hex", _hex, T.BIN, T.STR, "Upper-case hex dump."),
    converter("hex2i", _hex2i, T.STR, T.SINT, "A hex string as a signed 64-bit integer."),
    converter(
        "be2dec",
        _be2dec,
        T.BIN,
        T.STR,
        "Big-endian chunks as decimal numbers joined by a separator.",
        arg_spec(A.STR, A.SINT, A.SINT, required=2, check=_check_be2dec),
    ),
    converter(
        "be2hex",
        _be2hex,
        T.BIN,
        T.STR,
        "Hex dump with a separator every <chunk_size> bytes.",
        arg_spec(A.STR, A.SINT, A.SINT, required=0),
    ),
    converter("htonl", _htonl, T.SINT, T.BIN, "The low 32 bits in network byte order."),
    converter("djb2", _hash(hashing.djb2), T.BIN, T.SINT, "DJB2 32-bit hash." + _HASH_DOC, _AVALANCHE),
    converter("sdbm", _hash(hashing.sdbm), T.BIN, T.SINT, "SDBM 32-bit hash." + _HASH_DOC, _AVALANCHE),
    converter("wt6", _hash(hashing.wt6), T.BIN, T.SINT, "WT6 32-bit hash." + _HASH_DOC, _AVALANCHE),
    converter("crc32", _hash(hashing.crc32), T.BIN, T.SINT, "CRC32 (Ethernet, gzip)." + _HASH_DOC, _AVALANCHE),
    converter("crc32c", _hash(hashing.crc32c), T.BIN, T.SINT, "CRC32C (RFC 4960)." + _HASH_DOC, _AVALANCHE),
    converter(
        "sha1", lambda ctx, smp, args: Sample(T.BIN, hashlib.sha1(smp.value).digest()), T.BIN, T.BIN, "SHA-1 digest."
    ),
    converter(
        "sha2",
        _sha2,
        T.BIN,
        T.BIN,
        "SHA-2 digest of 224, 256 (default), 384 or 512 bits.",
        arg_spec(A.SINT, required=0, check=_check_sha2),
    ),
    converter(
        "digest",
        _digest,
        T.BIN,
        T.BIN,
        "Message digest by OpenSSL name, e.g. sha256.",
        arg_spec(A.STR, check=_check_digest),
    ),
    converter(
        "hmac",
        _hmac,
        T.BIN,
        T.BIN,
        "HMAC with a digest name and a base64 key.",
        arg_spec(A.STR, A.STR, check=_check_digest),
    ),
)
