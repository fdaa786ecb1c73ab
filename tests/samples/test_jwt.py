"""jwt_header_query, jwt_payload_query and jwt_verify on tokens signed here (HS, RS, ES as JWS R||S)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from luaproxy.worker.samples import SampleError, SampleRegistry, parse_expr, to_text
from tests.samples.streamkit import Stream

CATALOGUE_TEXTS = ["str(a.b.c),jwt_header_query", "str(a.b.c),jwt_payload_query", 'str(a.b.c),jwt_verify("HS256",k)']
"""What the catalogue test counts as covered here."""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(alg: str, sign) -> str:
    header = b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    signed = f"{header}.{b64(json.dumps({'sub': '42', 'n': 7}).encode())}"
    return f"{signed}.{b64(sign(signed.encode()))}"


def pem(tmp_path: Path, key) -> str:
    path = tmp_path / "key.pem"
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    return str(path)


def verify(registry: SampleRegistry, jwt: str, alg: str, key: str) -> int | None:
    stream = Stream()
    expr = parse_expr(f'str({jwt}),jwt_verify("{alg}","{key}")', registry)
    smp = expr.evaluate(stream)
    return None if smp is None else smp.value


def test_queries(registry: SampleRegistry) -> None:
    jwt = token("HS256", lambda data: hmac.new(b"k", data, hashlib.sha256).digest())
    assert to_text(parse_expr(f"str({jwt}),jwt_header_query('$.alg')", registry).evaluate(Stream())) == "HS256"
    assert parse_expr(f"str({jwt}),jwt_payload_query('$.n','int')", registry).evaluate(Stream()).value == 7


def test_hmac(registry: SampleRegistry) -> None:
    jwt = token("HS384", lambda data: hmac.new(b"secret", data, hashlib.sha384).digest())
    assert verify(registry, jwt, "HS384", "secret") == 1
    assert verify(registry, jwt, "HS384", "other") == 0
    assert verify(registry, jwt + "a", "HS384", "secret") == -3  # not base64url any more
    assert verify(registry, jwt.rsplit(".", 1)[0], "HS384", "secret") == -3
    assert verify(registry, jwt, "PS256", "secret") == -2
    assert verify(registry, jwt, "XX256", "secret") == -1


def test_rsa_and_ecdsa(registry: SampleRegistry, tmp_path: Path) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwt = token("RS256", lambda data: rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    assert verify(registry, jwt, "RS256", pem(tmp_path, rsa_key)) == 1
    ec_key = ec.generate_private_key(ec.SECP256R1())

    def raw(data: bytes) -> bytes:
        r, s = decode_dss_signature(ec_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    jwt = token("ES256", raw)
    assert verify(registry, jwt, "ES256", pem(tmp_path, ec_key)) == 1
    assert verify(registry, jwt.replace(".", ".x", 1)[:-4] + "AAAA", "ES256", str(tmp_path / "key.pem")) == 0


def test_unknown_certificate(registry: SampleRegistry) -> None:
    with pytest.raises(SampleError, match="failed to load certificate"):
        parse_expr('str(a.b.c),jwt_verify("ES256","/nonexistent.pem")', registry)
