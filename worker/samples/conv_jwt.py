"""JSON Web Token converters: ``jwt_header_query``, ``jwt_payload_query`` and ``jwt_verify`` (HAProxy 2.6).

``jwt_verify(<alg>,<key>)`` checks a JWS compact token's signature and returns
HAProxy's codes: 1 valid, 0 invalid signature, -1 unknown algorithm, -2
unmanaged algorithm (PS*, none), -3 invalid token, -5 unknown certificate.
Both arguments may name a variable (``txn.alg``).  For HS* the key is the
secret; for RS* and ES* it is a PEM file (public key or certificate), read
while the configuration loads, never per request.  An ES* signature is JWS's
raw ``R||S`` (haproxy 2.6.12), or DER as haproxy 2.6.0 read it.
``cryptography`` is imported only where a PEM key is read or used: it costs a
process about 15 MB, which HS* tokens and configurations without JWT never need.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from .args import ArgType, ParseEnv, arg_spec
from .context import SampleContext
from .conv_json import _check as check_json_args
from .conv_json import _json_query
from .errors import SampleError
from .registry import converter
from .types import Sample, SampleType, to_text
from .vars import SCOPES, VarName, parse_var_name

T = SampleType
A = ArgType

_HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
_KNOWN = {"none", *(f"{family}{bits}" for family in ("HS", "RS", "ES", "PS") for bits in _HASHES)}


def _b64url(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def _part(smp: Sample, index: int) -> Sample | None:
    parts = (to_text(smp) or "").split(".")
    if index >= len(parts):  # only jwt_verify insists on exactly three parts
        return None
    data = _b64url(parts[index])
    return None if data is None else Sample(T.STR, data.decode("latin-1"))


def _header_query(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    part = _part(smp, 0)
    return None if part is None else (_json_query(ctx, part, args) if args else part)


def _payload_query(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    part = _part(smp, 1)
    return None if part is None else (_json_query(ctx, part, args) if args else part)


def _check_query(values: list[Any], env: ParseEnv) -> list[Any]:
    return check_json_args(values, env) if values else values


def _load_key(path: str) -> Any:
    """A public key from a PEM file (a public key or a certificate); None if it cannot be read."""
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError:
        return None
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_public_key(data)
    except ValueError:
        pass
    try:
        return x509.load_pem_x509_certificate(data).public_key()
    except ValueError:
        return None


def _var_or_text(text: str) -> VarName | str:
    scope = text.partition(".")[0]
    return parse_var_name(text) if scope in SCOPES and "." in text else text


def _check_verify(values: list[Any], env: ParseEnv) -> list[Any]:
    if len(values) != 2 or not values[0] or not values[1]:
        raise SampleError("jwt_verify expects an algorithm and a key")
    alg, key = (_var_or_text(v) for v in values)
    loaded = None  # the PEM key, read now (a third argument), so no request reads a file
    if isinstance(key, str) and (not isinstance(alg, str) or alg[:2] in ("RS", "ES")):
        loaded = _load_key(key)
        if loaded is None and isinstance(alg, str):
            raise SampleError(f"failed to load certificate '{key}'")
    return [alg, key, loaded]


def _arg(ctx: SampleContext, value: VarName | str) -> str | None:
    if isinstance(value, str):
        return value
    smp = ctx.vars.get(value)
    return None if smp is None else to_text(smp)


def _signature_ok(alg: str, key: Any, secret: str, signed: bytes, signature: bytes) -> bool:
    if alg.startswith("HS"):
        return hmac.compare_digest(hmac.new(secret.encode("latin-1"), signed, _HASHES[alg[2:]]).digest(), signature)
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    chosen = getattr(hashes, f"SHA{alg[2:]}")
    try:
        if alg.startswith("RS") and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), chosen())
            return True
        if alg.startswith("ES") and isinstance(key, ec.EllipticCurvePublicKey):
            size = (key.curve.key_size + 7) // 8
            if len(signature) == 2 * size:  # JWS's R||S
                half = len(signature) // 2
                der = encode_dss_signature(int.from_bytes(signature[:half], "big"),
                                           int.from_bytes(signature[half:], "big"))
                try:
                    key.verify(der, signed, ec.ECDSA(chosen()))
                    return True
                except InvalidSignature:
                    pass
            key.verify(signature, signed, ec.ECDSA(chosen()))
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


def _verify(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    alg, key_text = _arg(ctx, args[0]), _arg(ctx, args[1])
    if alg is None or alg not in _KNOWN:
        return Sample(T.SINT, -1)
    if alg == "none" or alg.startswith("PS"):
        return Sample(T.SINT, -2)
    parts = (to_text(smp) or "").split(".")
    signature = _b64url(parts[2]) if len(parts) == 3 and parts[2] else None
    if signature is None or key_text is None:
        return Sample(T.SINT, -3)
    key = None
    if not alg.startswith("HS"):
        key = args[2] if isinstance(args[1], str) else None
        if key is None:
            return Sample(T.SINT, -5)
    signed = f"{parts[0]}.{parts[1]}".encode("latin-1")
    return Sample(T.SINT, 1 if _signature_ok(alg, key, key_text, signed, signature) else 0)


CONVERTERS = (
    converter("jwt_header_query", _header_query, T.STR, T.ANY,
              "A JWT's decoded JOSE header, or one value of it by JSON path ('int': as an integer).",
              arg_spec(A.STR, A.STR, required=0, check=_check_query)),
    converter("jwt_payload_query", _payload_query, T.STR, T.ANY,
              "A JWT's decoded claims, or one value of them by JSON path ('int': as an integer).",
              arg_spec(A.STR, A.STR, required=0, check=_check_query)),
    converter("jwt_verify", _verify, T.STR, T.SINT,
              "Checks a JWT's signature with <alg> and <key> (secret or PEM file; either may be a variable): "
              "1 valid, 0 invalid, -1 unknown alg, -2 unmanaged alg, -3 invalid token, -5 unknown certificate.",
              arg_spec(A.STR, A.STR, required=2, check=_check_verify)),
)
