"""Encoding, hashing and digest converters: base64, hex, be2dec/be2hex, djb2..xxh3, sha1/sha2, hmac, secure_memcmp."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac as hmac_lib
from collections.abc import Callable, Sequence
from typing import Any

import xxhash

from . import hashing
from .args import ArgType, ParseEnv, arg_spec
from .context import SampleContext
from .errors import SampleError
from .registry import converter
from .types import Sample, SampleType, cast, wrap64
from .vars import VarName, parse_var_name

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
    return values


def _b64_key(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("latin-1"), validate=True)
    except (binascii.Error, ValueError):
        return None


def _check_hmac(values: list[Any], env: ParseEnv) -> list[Any]:
    """The key is a variable (decoded at run time) or a base64 constant (decoded now)."""
    values = _check_digest(values, env)
    try:
        values[1] = parse_var_name(values[1])
    except SampleError:
        key = _b64_key(values[1])
        if key is None:
            raise SampleError(
                "failed to parse key : argument needs to be base64 encoded, and can either be a string or a variable."
            ) from None
        values[1] = key
    return values


def _digest(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    return Sample(T.BIN, hashlib.new(args[0].lower(), smp.value).digest())


def _hmac(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    key = args[1]
    if isinstance(key, VarName):
        stored = ctx.vars.get(key)
        text = None if stored is None else cast(stored, T.STR)
        key = None if text is None else _b64_key(text.value)
        if key is None:
            return None
    return Sample(T.BIN, hmac_lib.new(key, smp.value, args[0].lower()).digest())


def _check_memcmp(values: list[Any], env: ParseEnv) -> list[Any]:
    try:
        return [parse_var_name(values[0])]
    except SampleError:
        raise SampleError(f"failed to register variable name '{values[0]}'.") from None


def _secure_memcmp(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    """Constant-time comparison with a variable's bytes (HAProxy casts the variable to binary)."""
    stored = ctx.vars.get(args[0])
    other = None if stored is None else cast(stored, T.BIN)
    if other is None:
        return None
    return Sample(T.BOOL, hmac_lib.compare_digest(smp.value, other.value))


def _xxh(fn: Callable[[bytes, int], int], signed: bool) -> Any:
    """An xxHash converter: the argument is the seed; 64-bit results are signed as in HAProxy."""

    def run(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
        seed = args[0] if args else 0
        value = fn(smp.value, seed & (0xFFFFFFFFFFFFFFFF if signed else 0xFFFFFFFF))
        return Sample(T.SINT, wrap64(value) if signed else value)

    return run


_AVALANCHE = arg_spec(A.SINT, required=0)
_HASH_DOC = " Optional 1: full avalanche."
_SEED = arg_spec(A.SINT, required=0)

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
        "HMAC with a digest name and a base64 key (a constant or a variable).",
        arg_spec(A.STR, A.STR, check=_check_hmac),
    ),
    converter(
        "secure_memcmp",
        _secure_memcmp,
        T.BIN,
        T.BOOL,
        "Constant-time comparison with a variable's bytes: true when equal.",
        arg_spec(A.VAR, check=_check_memcmp),
    ),
    converter(
        "xxh3",
        _xxh(xxhash.xxh3_64_intdigest, True),
        T.BIN,
        T.SINT,
        "XXH3 64-bit hash, signed; optional seed.",
        _SEED,
    ),
    converter("xxh32", _xxh(xxhash.xxh32_intdigest, False), T.BIN, T.SINT, "XXH32 hash; optional seed.", _SEED),
    converter(
        "xxh64", _xxh(xxhash.xxh64_intdigest, True), T.BIN, T.SINT, "XXH64 hash, signed; optional seed.", _SEED
    ),
)
