"""``tune.ssl.keylog`` (the TLS 1.3 secrets) and ``tune.ssl.capture-buffer-size``: the ClientHello lists behind
JA3 (``ssl_fc_cipherlist_*``, ``ssl_fc_extlist_bin``, ``ssl_fc_eclist_bin``, ``ssl_fc_ecformats_bin``,
``ssl_fc_protocol_hello_id``), cut to the buffer's size as haproxy 2.6 cuts them."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time

import xxhash

from luaproxy.worker.samples.fetch_tls_capture import KEYLOG_LABELS
from luaproxy.worker.samples.types import wrap64
from luaproxy.worker.tls.clienthello import capture, without_grease
from tests.tls.test_e2e import SHOW, body, client_context, https, pki, start

__all__ = ["pki"]
CAPTURE_FETCHES = ("ssl_fc_cipherlist_bin", "ssl_fc_cipherlist_hex", "ssl_fc_cipherlist_str", "ssl_fc_cipherlist_xxh",
                   "ssl_fc_extlist_bin", "ssl_fc_eclist_bin", "ssl_fc_ecformats_bin", "ssl_fc_protocol_hello_id",
                   *(f"ssl_fc_{name}" for name in KEYLOG_LABELS))


def client_hello(ctx: ssl.SSLContext) -> bytes:
    """The records of the ClientHello *ctx* sends, made in memory."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="www.test")
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def tls12_client() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
    return ctx


def test_the_lists_are_cut_to_the_buffer_in_order() -> None:
    hello = client_hello(tls12_client())
    whole = capture(hello, 4096)
    assert whole is not None and whole.protocol_version == 0x0303
    assert whole.ciphers == bytes.fromhex("C02F00FF") and whole.point_formats == bytes.fromhex("000102")
    assert whole.cipher_hash == xxhash.xxh64_intdigest(whole.ciphers)
    assert whole.extensions[:2] == b"\x00\x00" and len(whole.extensions) % 2 == 0  # server_name first
    # room for two extension types (server_name, ec_point_formats) and one byte: the groups come later, unseen
    cut = capture(hello, len(whole.ciphers) + 5)
    assert cut is not None and (cut.ciphers, cut.extensions) == (whole.ciphers, whole.extensions[:4])
    assert (cut.curves, cut.point_formats) == (b"", whole.point_formats[:1])
    assert capture(hello, 2).ciphers == whole.ciphers[:2] and capture(hello, 2).cipher_hash == whole.cipher_hash
    assert capture(hello[:-1], 64) is None  # not a whole hello
    assert without_grease(bytes.fromhex("0A0A13011A1AC02F00")) == bytes.fromhex("1301C02F00")


JA3 = ("%[ssl_fc_protocol_hello_id],%[ssl_fc_cipherlist_bin(1),be2dec(-,2)],%[ssl_fc_ecformats_bin,be2dec(-,1)] "
       "%[ssl_fc_cipherlist_hex] %[ssl_fc_cipherlist_str] %[ssl_fc_cipherlist_xxh] %[ssl_fc_eclist_bin,hex] "
       "%[ssl_fc_extlist_bin,hex]")


def test_ja3_fetches(write, luaproxy, port, pki) -> None:
    start(write, luaproxy, port, f"""
        global
           tune.ssl.capture-buffer-size 128
        frontend fe
           bind 127.0.0.1:{port} ssl crt {pki['dir']}/site.pem
           {SHOW}"{JA3}"
        """)
    ctx = tls12_client()
    ctx.set_ecdh_curve("prime256v1")
    captured = capture(client_hello(ctx), 128)
    expected_hash = wrap64(xxhash.xxh64_intdigest(bytes.fromhex("C02F00FF")))
    assert body(https(port, ctx)[0]) == (
        f"771,49199-255,0-1-2 C02F00FF ECDHE-RSA-AES128-GCM-SHA256,TLS_EMPTY_RENEGOTIATION_INFO_SCSV {expected_hash} "
        + f"{captured.curves.hex().upper()} {captured.extensions.hex().upper()}")


def test_nothing_is_captured_by_default(write, luaproxy, port, pki) -> None:
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} ssl crt {pki['dir']}/site.pem
           {SHOW}"[%[ssl_fc_cipherlist_hex]][%[ssl_fc_protocol_hello_id]]"
        """)
    assert body(https(port, client_context(pki["dir"]))[0]) == "[][]"


SECRETS = ("%[ssl_fc_client_random,hex] %[ssl_fc_client_traffic_secret_0] %[ssl_fc_server_handshake_traffic_secret] "
           "%[ssl_fc_exporter_secret] [%[ssl_fc_early_exporter_secret]]")


def test_keylog_secrets_match_the_clients(write, luaproxy, port, pki, tmp_path) -> None:
    """tune.ssl.keylog on: the fetches give the secrets the client itself logs (SSLKEYLOGFILE)."""
    start(write, luaproxy, port, f"""
        global
           tune.ssl.keylog on
        frontend fe
           bind 127.0.0.1:{port} ssl crt {pki['dir']}/site.pem
           {SHOW}"{SECRETS}"
        """)
    ctx = client_context(pki["dir"])
    ctx.keylog_filename = str(tmp_path / "keys.log")
    shown = body(https(port, ctx)[0])
    logged = {}
    for line in (tmp_path / "keys.log").read_text().splitlines():
        if line and not line.startswith("#"):
            label, random, secret = line.split()
            logged[label] = (random.upper(), secret)
    labels = ("CLIENT_TRAFFIC_SECRET_0", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "EXPORTER_SECRET")
    assert shown == " ".join([logged[labels[0]][0], *(logged[label][1] for label in labels), "[]"])


def test_a_hello_sent_in_two_pieces_is_waited_for(write, luaproxy, port, pki) -> None:
    """The capture peeks the whole ClientHello, however slowly it comes (within timeout client)."""
    start(write, luaproxy, port, f"""
        global
           tune.ssl.capture-buffer-size 64
        frontend fe
           bind 127.0.0.1:{port} ssl crt {pki['dir']}/site.pem
           {SHOW}"%[ssl_fc_cipherlist_hex]"
        """)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = tls12_client().wrap_bio(incoming, outgoing, server_hostname="www.test")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with contextlib.suppress(ssl.SSLWantReadError):
            tls.do_handshake()
        hello = outgoing.read()
        raw.sendall(hello[:20])
        time.sleep(0.6)
        raw.sendall(hello[20:])
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                incoming.write(raw.recv(65536))
        tls.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        raw.sendall(outgoing.read())
        answer = b""
        while not answer.endswith(b"C02F00FF"):
            incoming.write(raw.recv(65536))
            with contextlib.suppress(ssl.SSLWantReadError):
                answer += tls.read(65536)
    assert answer.startswith(b"HTTP/1.1 200")
