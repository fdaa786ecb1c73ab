"""The ssl_* fetches on a real TLS connection (client certificate, SNI, ALPN), and req.ssl_* on a real ClientHello."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from gevent import socket as gsocket

from luaproxy.worker.samples import SampleRegistry, default_registry, parse_expr, to_text
from luaproxy.worker.tls import certs
from tests.samples.streamkit import Stream
from tests.tls.kit import connect_pair, listener, make_pki, server_side
from tests.tls.test_capture import CAPTURE_FETCHES

SSL_CASES = [
    ("ssl_fc", "1"),
    ("ssl_fc_sni", "www.test"),
    ("ssl_fc_has_sni", "1"),
    ("ssl_fc_protocol", "TLSv1.3"),
    ("ssl_fc_cipher", "TLS_AES_256_GCM_SHA384"),
    ("ssl_fc_alg_keysize", "256"),
    ("ssl_fc_use_keysize", "256"),
    ("ssl_fc_alpn", "http/1.1"),
    ("ssl_fc_is_resumed", "0"),
    ("ssl_fc_has_crt", "1"),
    ("ssl_c_used", "1"),
    ("ssl_c_verify", "0"),
    ("ssl_c_err", "0"),
    ("ssl_c_ca_err", "0"),
    ("ssl_c_ca_err_depth", "0"),
    ("ssl_c_s_dn", "/C=FR/O=luaproxy tests/CN=client one"),
    ("ssl_c_s_dn(CN)", "client one"),
    ("ssl_c_s_dn(,0,rfc2253)", "CN=client one,O=luaproxy tests,C=FR"),
    ("ssl_c_i_dn", "/C=FR/O=luaproxy tests/CN=Test CA"),
    ("ssl_c_i_dn(O,1)", "luaproxy tests"),
    ("ssl_c_serial,hex", "ABCD"),
    ("ssl_c_version", "3"),
    ("ssl_c_key_alg", "rsaEncryption"),
    ("ssl_c_sig_alg", "ecdsa-with-SHA256"),
    ("ssl_f_s_dn(CN)", "www.test"),
    ("ssl_f_serial,hex", "1234"),
    ("ssl_f_i_dn(CN)", "Test CA"),
    ("ssl_f_version", "3"),
    ("ssl_f_key_alg", "rsaEncryption"),
    ("ssl_f_sig_alg", "ecdsa-with-SHA256"),
    ("ssl_bc", "1"),
    ("ssl_bc_protocol", "TLSv1.3"),
    ("ssl_bc_cipher", "TLS_AES_256_GCM_SHA384"),
    ("ssl_bc_alpn", "http/1.1"),
    ("ssl_bc_is_resumed", "0"),
    ("ssl_bc_alg_keysize", "256"),
    ("ssl_bc_use_keysize", "256"),
    ("ssl_s_s_dn(CN)", "www.test"),
    ("ssl_s_i_dn", "/C=FR/O=luaproxy tests/CN=Test CA"),
    ("ssl_s_serial,hex", "1234"),
    ("ssl_s_version", "3"),
    ("ssl_s_key_alg", "rsaEncryption"),
    ("ssl_s_sig_alg", "ecdsa-with-SHA256"),
]
COMPUTED = ("ssl_c_der", "ssl_c_sha1", "ssl_c_notbefore", "ssl_c_notafter", "ssl_f_der", "ssl_f_sha1",
            "ssl_f_notbefore", "ssl_f_notafter", "ssl_s_der", "ssl_s_sha1", "ssl_s_notbefore", "ssl_s_notafter",
            "ssl_fc_session_id", "ssl_bc_session_id", "ssl_c_chain_der", "ssl_s_chain_der", "ssl_fc_unique_id",
            "ssl_bc_unique_id", "ssl_fc_client_random", "ssl_bc_client_random", "ssl_fc_server_random",
            "ssl_bc_server_random", "ssl_fc_session_key", "ssl_bc_session_key")
HELLO_CASES = [
    ("req.ssl_sni", "hello.test"),
    ("req_ssl_sni", "hello.test"),
    ("req.ssl_alpn", "h2"),
    ("req.ssl_hello_type", "1"),
    ("req_ssl_hello_type", "1"),
    ("req.ssl_ver", "196611"),
    ("req_ssl_ver", "196611"),
    ("req.ssl_st_ext", "1"),  # an empty session ticket extension
    ("req.ssl_ec_ext", "1"),
]
CATALOGUE_TEXTS = [t for t, _ in SSL_CASES + HELLO_CASES] + list(COMPUTED) + list(CAPTURE_FETCHES)


@pytest.fixture(scope="module")
def registry() -> SampleRegistry:
    return default_registry()


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory):
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    front = listener(pki, f"ssl alpn http/1.1 verify required ca-file {pki.ca_file}")
    back = server_side(pki, "alpn http/1.1")
    server, client = connect_pair(front, back)
    ctx = Stream()
    ctx.client, ctx.server_conn = server, client
    yield ctx, pki
    server.close()
    client.close()


@pytest.mark.parametrize(("text", "expected"), SSL_CASES, ids=[t for t, _ in SSL_CASES])
def test_ssl_fetch(text: str, expected: str, stream, registry: SampleRegistry) -> None:
    ctx, _ = stream
    assert to_text(parse_expr(text, registry).evaluate(ctx)) == expected


def test_certificate_bytes_and_dates(stream, registry: SampleRegistry) -> None:
    ctx, pki = stream
    client = x509.load_pem_x509_certificate(Path(pki.client).read_bytes())
    site = x509.load_pem_x509_certificate(Path(pki.site).read_bytes())
    for prefix, cert in (("ssl_c", client), ("ssl_f", site), ("ssl_s", site)):
        der = certs.der(cert)
        assert parse_expr(f"{prefix}_der", registry).evaluate(ctx).value == der
        assert parse_expr(f"{prefix}_sha1", registry).evaluate(ctx).value == hashlib.sha1(der).digest()
        assert to_text(parse_expr(f"{prefix}_notbefore", registry).evaluate(ctx)) == \
            cert.not_valid_before_utc.strftime("%y%m%d%H%M%SZ")
        assert to_text(parse_expr(f"{prefix}_notafter", registry).evaluate(ctx)).endswith("Z")
    # OpenSSL completes the chain from the listener's ca-file
    assert parse_expr("ssl_s_chain_der", registry).evaluate(ctx).value == certs.der(site) + certs.der(pki.ca.cert)
    assert parse_expr("ssl_c_chain_der", registry).evaluate(ctx) is None  # the client sent no chain
    front, back = (parse_expr(name, registry).evaluate(ctx).value for name in ("ssl_fc_unique_id", "ssl_bc_unique_id"))
    assert front == back and len(front) == 48  # the first Finished message, the same on both ends
    for name in ("ssl_fc_session_id", "ssl_bc_session_id"):
        assert parse_expr(name, registry).evaluate(ctx) is not None
    for name in ("client_random", "server_random"):
        front, back = (parse_expr(f"ssl_{side}_{name}", registry).evaluate(ctx).value for side in ("fc", "bc"))
        assert front == back and len(front) == 32, name  # both ends of one connection agree
    # TLS 1.3: the client's session gets its key with the server's ticket, which nothing has read yet
    assert len(parse_expr("ssl_fc_session_key", registry).evaluate(ctx).value) == 48


def test_plain_connection_gives_no_sample(registry: SampleRegistry) -> None:
    ctx = Stream()
    assert to_text(parse_expr("ssl_fc", registry).evaluate(ctx)) == "0"
    assert to_text(parse_expr("ssl_c_used", registry).evaluate(ctx)) == "0"
    for name in ("ssl_fc_sni", "ssl_fc_protocol", "ssl_c_s_dn", "ssl_bc_cipher", "ssl_s_der", "req.ssl_sni"):
        assert parse_expr(name, registry).evaluate(ctx) is None, name


def _client_hello() -> bytes:
    """The bytes Python's ssl client sends first, captured from a real socket."""
    server = gsocket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def speak() -> None:
        ctx = ssl.create_default_context()
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        raw = socket.create_connection(server.getsockname(), timeout=5)
        with ctx.wrap_socket(raw, server_hostname="hello.test", do_handshake_on_connect=False) as tls, \
                contextlib.suppress(OSError):
            tls.do_handshake()

    thread = threading.Thread(target=speak, daemon=True)
    thread.start()
    conn, _ = server.accept()
    conn.settimeout(5)
    data = b""
    while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
        data += conn.recv(65536)
    conn.close()
    server.close()
    thread.join(5)
    return data


@pytest.fixture(scope="module")
def hello() -> bytes:
    return _client_hello()


@pytest.mark.parametrize(("text", "expected"), HELLO_CASES, ids=[t for t, _ in HELLO_CASES])
def test_client_hello_fetch(text: str, expected: str, registry: SampleRegistry, hello: bytes) -> None:
    ctx = Stream(data=hello)
    assert to_text(parse_expr(text, registry).evaluate(ctx)) == expected
    ctx.data = hello[:40]
    assert parse_expr(text, registry).evaluate(ctx) is None
