"""TLS end to end: real luaproxy processes, real clients (Python ssl, curl, openssl s_client), certificates made now."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509

from tests.helpers import LUAPROXY, Process, free_port, parse_responses, read_all, wait_until
from tests.helpers.pki import Issued, issue, make_ca


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, object]:
    ca = make_ca()
    ca.write(tmp_path / "ca.pem", with_key=False)
    issue(ca, "www.test", ("www.test", "*.wild.test")).write(tmp_path / "site.pem")
    issue(ca, "other.test", ("other.test",), kind="ecdsa").write(tmp_path / "other.pem")
    issue(ca, "client one", client=True).write(tmp_path / "client.pem")
    return {"ca": ca, "dir": tmp_path}


def client_context(tmp_path: Path, cert: bool = False, alpn: tuple[str, ...] = ()) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(str(tmp_path / "client.pem"))
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def https(port: int, ctx: ssl.SSLContext, sni: str | None = "www.test", path: str = "/",
          session: ssl.SSLSession | None = None) -> tuple[bytes, ssl.SSLSession | None]:
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    tls = ctx.wrap_socket(raw, server_hostname=sni, session=session)
    tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {sni or 'x'}\r\nConnection: close\r\n\r\n".encode())
    data = read_all(tls)
    kept = tls.session
    tls.close()
    return data, kept


def body(data: bytes) -> str:
    ((status, _, content),) = parse_responses(data)
    assert status == 200, data
    return content.decode()


def peer_cn(port: int, tmp_path: Path, sni: str | None) -> str:
    ctx = client_context(tmp_path)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=sni) as tls:
        cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    return cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value


def start(write, luaproxy, port: int, text: str) -> Process:
    write("t.cfg", """
        global
           log stdout format raw local0
        defaults
           mode http
           log global
           timeout connect 2s
           timeout client 3s
           timeout server 3s
        """ + text)
    return luaproxy("-f", "t.cfg", wait_port=port)


CIPHERS = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"
SHOW = "http-request return status 200 content-type text/plain lf-string "


def test_sni_selects_the_certificate_and_alpn(write, luaproxy, port, pki) -> None:
    d = pki["dir"]
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} ssl crt {d}/site.pem crt {d}/other.pem alpn h2,http/1.1
           {SHOW}"%[ssl_fc]|%[ssl_fc_sni]|%[ssl_fc_protocol]|%[ssl_fc_alpn]|%[ssl_f_s_dn(CN)]"
        """)
    assert peer_cn(port, d, "www.test") == "www.test"
    assert peer_cn(port, d, "other.test") == "other.test"
    assert peer_cn(port, d, "a.wild.test") == "www.test"
    assert peer_cn(port, d, "unknown.test") == "www.test"  # the first certificate is the default
    assert peer_cn(port, d, None) == "www.test"
    data, _ = https(port, client_context(d, alpn=("http/1.1",)), "other.test")
    assert body(data) == "1|other.test|TLSv1.3|http/1.1|other.test"


def test_alpn_h2_is_offered_in_http_and_tcp_mode(write, luaproxy, port, pki) -> None:
    d = pki["dir"]
    tcp = free_port()
    proc = start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} ssl crt {d}/site.pem alpn h2,http/1.1
           {SHOW}"%[ssl_fc_alpn]"
        listen relay
           mode tcp
           bind 127.0.0.1:{tcp} ssl crt {d}/site.pem alpn h2,http/1.1
           server s1 127.0.0.1:{port}
        """)
    assert "not offered" not in proc.stderr()
    for listener in (port, tcp):
        with socket.create_connection(("127.0.0.1", listener), timeout=5) as raw, \
                client_context(d, alpn=("h2", "http/1.1")).wrap_socket(raw, server_hostname="www.test") as tls:
            assert tls.selected_alpn_protocol() == "h2"


def test_directory_strict_sni_and_versions(write, luaproxy, port, pki, tmp_path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    shutil.copy(tmp_path / "site.pem", certs / "a.pem")
    shutil.copy(tmp_path / "other.pem", certs / "b.pem")
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} ssl crt {certs} strict-sni ssl-max-ver TLSv1.2 ciphers {CIPHERS}
           {SHOW}"%[ssl_fc_protocol] %[ssl_fc_cipher]"
        """)
    assert peer_cn(port, tmp_path, "other.test") == "other.test"
    data, _ = https(port, client_context(tmp_path), "www.test")
    assert body(data) == "TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384"
    with pytest.raises(ssl.SSLError):
        peer_cn(port, tmp_path, "unknown.test")


def test_client_certificates_and_failed_handshakes_are_logged(write, luaproxy, port, pki) -> None:
    d = pki["dir"]
    proc = start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} name secure ssl crt {d}/site.pem ca-file {d}/ca.pem verify required
           {SHOW}"%[ssl_c_used] %[ssl_c_verify] %[ssl_c_s_dn(CN)] %[ssl_c_i_dn(CN)]"
        """)
    data, _ = https(port, client_context(d, cert=True))
    assert body(data) == "1 0 client one Test CA"
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        https(port, client_context(d))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.0\r\n\r\n")
        read_all(raw, 2)
    assert wait_until(lambda: proc.stdout().count("fe/secure: SSL handshake failure") >= 2), proc.stdout()


def test_redirect_to_https_and_forwarded_proto(write, luaproxy, port, pki) -> None:
    d = pki["dir"]
    plain = free_port()
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{plain}
           bind 127.0.0.1:{port} ssl crt {d}/site.pem
           http-request redirect scheme https unless {{ ssl_fc }}
           http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}
           {SHOW}"%[req.hdr(x-forwarded-proto)]"
        """)
    with socket.create_connection(("127.0.0.1", plain), timeout=5) as raw:
        raw.sendall(b"GET /p?q=1 HTTP/1.1\r\nHost: www.test\r\nConnection: close\r\n\r\n")
        ((status, headers, _),) = parse_responses(read_all(raw))
    assert status == 302
    assert headers["location"] == "https://www.test/p?q=1"
    data, _ = https(port, client_context(d))
    assert body(data) == "https"


def test_curl_and_session_resumption(write, luaproxy, port, pki) -> None:
    d = pki["dir"]
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} ssl crt {d}/site.pem
           {SHOW}"resumed=%[ssl_fc_is_resumed]"
        """)
    out = subprocess.run(["curl", "-s", "--cacert", str(d / "ca.pem"), "--resolve", f"www.test:{port}:127.0.0.1",
                          f"https://www.test:{port}/"], capture_output=True, timeout=20, text=True)
    assert out.stdout == "resumed=0"
    ctx = client_context(d)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    data, session = https(port, ctx)
    assert body(data) == "resumed=0"
    data, _ = https(port, ctx, session=session)
    assert body(data) == "resumed=1"
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    data, session = https(port, ctx)
    data, _ = https(port, ctx, session=session)
    assert body(data) == "resumed=1"


def test_openssl_s_client_sees_the_chain(write, luaproxy, port, pki, tmp_path) -> None:
    ca = pki["ca"]
    assert isinstance(ca, Issued)
    inter = make_ca("Intermediate")
    leaf = issue(inter, "chain.test", ("chain.test",))
    leaf.write(tmp_path / "chain.pem", chain=(inter,))
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} ssl crt {tmp_path}/chain.pem
           {SHOW}"ok"
        """)
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "chain.test",
                          "-showcerts"], input="", capture_output=True, timeout=20, text=True)
    assert "CN = chain.test" in out.stdout and "CN = Intermediate" in out.stdout


def test_tls_to_servers_pooled_with_sni_and_verify(write, luaproxy, port, pki) -> None:
    d = pki["dir"]
    back = free_port()
    start(write, luaproxy, port, f"""
        frontend tlsback
           bind 127.0.0.1:{back} ssl crt {d}/site.pem crt {d}/other.pem ca-file {d}/ca.pem verify optional
           {SHOW}"%[ssl_fc_sni] %[src_port] %[ssl_c_s_dn(CN)]"
        frontend fe
           bind 127.0.0.1:{port}
           default_backend be
           http-response set-header X-Backend-Tls "%[ssl_bc] %[ssl_bc_protocol] %[ssl_s_s_dn(CN)]"
        backend be
           server s1 127.0.0.1:{back} ssl verify required ca-file {d}/ca.pem sni str(other.test) crt {d}/client.pem
        """)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.5)
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        responses = parse_responses(read_all(raw))
    bodies = [r[2].decode().split() for r in responses]
    assert [b[0] for b in bodies] == ["other.test", "other.test"]
    assert bodies[0][1] == bodies[1][1]  # one pooled TLS connection served both
    assert bodies[0][2:] == ["client", "one"]
    assert responses[0][1]["x-backend-tls"] == "1 TLSv1.3 other.test"


def test_tls_server_refused_when_unverified(write, luaproxy, port, pki, tmp_path) -> None:
    d = pki["dir"]
    other_ca = make_ca("Other CA")
    other_ca.write(tmp_path / "other-ca.pem", with_key=False)
    back = free_port()
    start(write, luaproxy, port, f"""
        frontend tlsback
           bind 127.0.0.1:{back} ssl crt {d}/site.pem
           {SHOW}"ok"
        frontend fe
           bind 127.0.0.1:{port}
           default_backend be
        backend be
           retries 0
           server s1 127.0.0.1:{back} ssl verify required ca-file {tmp_path}/other-ca.pem
        """)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ((status, _, _),) = parse_responses(read_all(raw))
    assert status == 503


def test_tcp_passthrough_routed_by_sni(write, luaproxy, port, pki) -> None:
    d = pki["dir"]
    a, b = free_port(), free_port()
    start(write, luaproxy, port, f"""
        frontend a
           bind 127.0.0.1:{a} ssl crt {d}/site.pem
           {SHOW}"a %[ssl_fc_sni]"
        frontend b
           bind 127.0.0.1:{b} ssl crt {d}/other.pem
           {SHOW}"b %[ssl_fc_sni]"
        frontend sni
           mode tcp
           bind 127.0.0.1:{port}
           tcp-request inspect-delay 5s
           tcp-request content accept if {{ req.ssl_hello_type 1 }}
           use_backend be_b if {{ req.ssl_sni -i other.test }}
           use_backend be_a if {{ req_ssl_sni -m end .wild.test }} {{ req.ssl_ver ge 196609 }}
           default_backend be_a
        backend be_a
           mode tcp
           server s 127.0.0.1:{a}
        backend be_b
           mode tcp
           server s 127.0.0.1:{b}
        """)
    assert body(https(port, client_context(d), "other.test")[0]) == "b other.test"
    assert body(https(port, client_context(d), "x.wild.test")[0]) == "a x.wild.test"
    assert body(https(port, client_context(d), "www.test")[0]) == "a www.test"


@pytest.mark.parametrize(("setup", "expected"), [
    ("missing", "unable to load SSL certificate from file"),
    ("mismatch", "inconsistencies between private key and certificate"),
    ("expired-ca", "every certificate in it has expired"),
    ("no-ca", "verify is enabled by default but no CA file specified"),
    ("bind-no-ca", "verify is enabled but no CA file specified"),
])
def test_certificate_errors_name_the_line(write, luaproxy, pki, tmp_path, setup, expected) -> None:
    d = pki["dir"]
    ca = pki["ca"]
    assert isinstance(ca, Issued)
    one, two = issue(ca, "one.test"), issue(ca, "two.test")
    (tmp_path / "mismatch.pem").write_bytes(one.cert_pem() + two.key_pem())
    make_ca("Old CA", expired=True).write(tmp_path / "expired.pem", with_key=False)
    bind = {"missing": f"ssl crt {d}/nope.pem", "mismatch": f"ssl crt {d}/mismatch.pem",
            "expired-ca": f"ssl crt {d}/site.pem ca-file {d}/expired.pem verify required",
            "bind-no-ca": f"ssl crt {d}/site.pem verify optional"}.get(setup, "")
    server = "server s 127.0.0.1:1 ssl" if setup == "no-ca" else "server s 127.0.0.1:1"
    cfg = write("bad.cfg", f"""
        frontend fe
           mode http
           bind 127.0.0.1:{free_port()} {bind}
           default_backend be
        backend be
           mode http
           {server}
        """)
    out = subprocess.run([*LUAPROXY, "-c", "-f", str(cfg)],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode != 0
    line = 3 if setup != "no-ca" else 7
    assert f"bad.cfg:{line}" in out.stderr and expected in out.stderr, out.stderr


def test_ssl_health_checks(write, luaproxy, port, pki, echo_server) -> None:
    d = pki["dir"]
    back = free_port()
    proc = start(write, luaproxy, port, f"""
        frontend tlsback
           bind 127.0.0.1:{back} ssl crt {d}/site.pem
           {SHOW}"ok"
        frontend fe
           bind 127.0.0.1:{port}
           default_backend be
        backend be
           option httpchk GET /
           server good 127.0.0.1:{back} ssl verify none check inter 200 check-sni www.test
           server bad 127.0.0.1:{echo_server.port} check inter 200 fall 2 check-ssl verify none
        """)
    assert wait_until(lambda: "Server be/bad is DOWN, reason: Layer6 invalid response" in proc.stderr()
                      + proc.stdout(), 10), proc.stderr()
    assert "be/good is DOWN" not in proc.stderr() + proc.stdout()


def test_rsa_and_ecdsa_for_one_name_by_what_the_client_supports(write, luaproxy, port, pki, tmp_path) -> None:
    ca = pki["ca"]
    assert isinstance(ca, Issued)
    issue(ca, "rsa.test", ("both.test",)).write(tmp_path / "both.pem.rsa")
    issue(ca, "ecdsa.test", ("both.test",), kind="ecdsa").write(tmp_path / "both.pem.ecdsa")
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} ssl crt {tmp_path}/both.pem
           {SHOW}"%[ssl_fc_cipher]"
        """)
    for ciphers, cn in (("ECDHE-RSA-AES128-GCM-SHA256", "rsa.test"), ("ECDHE-ECDSA-AES128-GCM-SHA256", "ecdsa.test"),
                        ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256", "ecdsa.test")):
        ctx = client_context(tmp_path)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname="both.test") as tls:
            cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
        assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == cn


def test_default_server_ssl_settings(write, luaproxy, port, pki) -> None:
    d = pki["dir"]
    back = free_port()
    start(write, luaproxy, port, f"""
        frontend tlsback
           bind 127.0.0.1:{back} ssl crt {d}/site.pem ca-file {d}/ca.pem verify required
           {SHOW}"%[ssl_c_s_dn(CN)]"
        frontend fe
           bind 127.0.0.1:{port}
           default_backend be
        backend be
           default-server ssl verify required ca-file {d}/ca.pem crt {d}/client.pem
           server s1 127.0.0.1:{back}
        """)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ((status, _, content),) = parse_responses(read_all(raw))
    assert (status, content) == (200, b"client one")


def test_tls_over_unix_sockets(write, luaproxy, port, pki, tmp_path) -> None:
    d = pki["dir"]
    path = tmp_path / "ssl.sock"
    start(write, luaproxy, port, f"""
        frontend tlsback
           bind {path} ssl crt {d}/site.pem
           {SHOW}"%[ssl_fc_sni]"
        frontend fe
           bind 127.0.0.1:{port}
           default_backend be
        backend be
           server s1 {path} ssl verify required ca-file {d}/ca.pem sni str(www.test)
        """)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ((status, _, content),) = parse_responses(read_all(raw))
    assert (status, content) == (200, b"www.test")


def test_lua_reads_the_tls_fetches(write, luaproxy, port, pki) -> None:
    d = pki["dir"]
    write("tls.lua", """
        core.register_fetches("tlsinfo", function(txn)
           return txn.f:ssl_fc_protocol() .. " " .. txn.f:ssl_fc_sni() .. " " .. tostring(txn.f:ssl_fc())
        end)
        """)
    write("t.cfg", f"""
        global
           lua-load tls.lua
        defaults
           mode http
           timeout client 3s
        frontend fe
           bind 127.0.0.1:{port} ssl crt {d}/site.pem
           {SHOW}"%[lua.tlsinfo]"
        """)
    luaproxy("-f", "t.cfg", wait_port=port)
    assert body(https(port, client_context(d), "a.wild.test")[0]) == "TLSv1.3 a.wild.test true"


def test_ciphersuites_and_curves(write, luaproxy, port, pki) -> None:
    d = pki["dir"]
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} ssl crt {d}/site.pem ciphersuites TLS_CHACHA20_POLY1305_SHA256 curves P-384:X25519
           {SHOW}"%[ssl_fc_cipher]"
        """)
    assert body(https(port, client_context(d))[0]) == "TLS_CHACHA20_POLY1305_SHA256"
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-groups", "P-256"],
                         input="", capture_output=True, timeout=20, text=True)
    assert "handshake failure" in out.stderr or "alert" in out.stderr, out.stderr
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-groups", "X25519"],
                         input="", capture_output=True, timeout=20, text=True)
    assert "TLS_CHACHA20_POLY1305_SHA256" in out.stdout


def test_bad_ciphersuites_is_a_config_error(write, port, pki, tmp_path) -> None:
    cfg = write("bad.cfg", f"""
        frontend fe
           mode http
           bind 127.0.0.1:{port} ssl crt {pki["dir"]}/site.pem ciphersuites NOPE
        """)
    out = subprocess.run([*LUAPROXY, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=60,
                         cwd=tmp_path)
    assert out.returncode != 0 and "bad.cfg:3" in out.stderr and "ciphersuites" in out.stderr, out.stderr


def test_session_lifetime(write, luaproxy, port, pki) -> None:
    d = pki["dir"]
    write("t.cfg", f"""
        global
           tune.ssl.lifetime 1
           tune.ssl.cachesize 100
        defaults
           mode http
           timeout client 3s
        frontend fe
           bind 127.0.0.1:{port} ssl crt {d}/site.pem no-tls-tickets
           {SHOW}"resumed=%[ssl_fc_is_resumed]"
        """)
    luaproxy("-f", "t.cfg", wait_port=port)
    ctx = client_context(d)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    _, session = https(port, ctx)
    assert body(https(port, ctx, session=session)[0]) == "resumed=1"
    time.sleep(2.2)
    assert body(https(port, ctx, session=session)[0]) == "resumed=0"


def test_crt_ignore_err_reports_the_verify_error(write, luaproxy, port, pki, tmp_path) -> None:
    d = pki["dir"]
    ca = pki["ca"]
    assert isinstance(ca, Issued)
    issue(ca, "late", client=True, expired=True).write(tmp_path / "expired.pem")
    strict = free_port()
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} ssl crt {d}/site.pem ca-file {d}/ca.pem verify required crt-ignore-err all
           bind 127.0.0.1:{strict} ssl crt {d}/site.pem ca-file {d}/ca.pem verify required
           {SHOW}"%[ssl_c_verify] %[ssl_c_err] %[ssl_c_ca_err] %[ssl_c_s_dn(CN)]"
        """)
    ctx = client_context(d)
    ctx.load_cert_chain(str(tmp_path / "expired.pem"))
    assert body(https(port, ctx)[0]) == "10 10 0 late"  # X509_V_ERR_CERT_HAS_EXPIRED, ignored
    assert body(https(port, client_context(d, cert=True))[0]) == "0 0 0 client one"
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        https(strict, ctx)


def test_crt_list_line_options_apply_to_the_name(write, luaproxy, port, pki, tmp_path) -> None:
    """A crt-list line's ssl-min-ver refuses an older client for that name only (alert protocol_version, as
    haproxy); its verify and ca-file ask that name's clients for a certificate."""
    d = pki["dir"]
    (tmp_path / "list.txt").write_text(f"{d}/site.pem\n{d}/other.pem [ssl-min-ver TLSv1.3 verify optional "
                                       f"ca-file {d}/ca.pem] other.test\n")
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} ssl crt-list {tmp_path}/list.txt
           {SHOW}"%[ssl_fc_protocol] %[ssl_c_used] %[ssl_c_s_dn(CN)]"
        """)
    old = client_context(tmp_path, cert=True)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    assert body(https(port, old, sni="www.test")[0]) == "TLSv1.2 0 "
    with pytest.raises(ssl.SSLError, match="PROTOCOL_VERSION"):
        https(port, old, sni="other.test")
    assert body(https(port, client_context(tmp_path, cert=True), sni="other.test")[0]) == "TLSv1.3 1 client one"
