"""Why a handshake failed, as the logs tell it: bc_err/ssl_bc_err towards servers, error-log-format with the
rejected client certificate and %sslv/%sslc, and option httpslog's fields."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

from tests.helpers import free_port, parse_responses, read_all, wait_until
from tests.helpers.pki import issue, make_ca
from tests.tls.test_e2e import SHOW, client_context, https, pki, start

__all__ = ["pki"]


def get(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        ((status, _, _),) = parse_responses(read_all(raw))
    return status


def test_bc_err_names_why_the_server_handshake_failed(write, luaproxy, port, pki, tmp_path: Path) -> None:
    d = pki["dir"]
    make_ca("Other CA").write(tmp_path / "other-ca.pem", with_key=False)
    back = free_port()
    proc = start(write, luaproxy, port, f"""
        frontend tlsback
           bind 127.0.0.1:{back} ssl crt {d}/site.pem
           {SHOW}"ok"
        frontend fe
           bind 127.0.0.1:{port}
           log-format "bc:%[bc_err]:%[bc_err_str] ssl:%[ssl_bc_err]:%[ssl_bc_err_str]"
           use_backend unknown_ca if {{ req.hdr(x-be) unknown_ca }}
           use_backend wrong_host if {{ req.hdr(x-be) wrong_host }}
           default_backend good
        backend good
           server s1 127.0.0.1:{back} ssl verify required ca-file {d}/ca.pem verifyhost www.test
        backend unknown_ca
           retries 0
           server s1 127.0.0.1:{back} ssl verify required ca-file {tmp_path}/other-ca.pem
        backend wrong_host
           retries 0
           server s1 127.0.0.1:{back} ssl verify required ca-file {d}/ca.pem verifyhost elsewhere.test
        """)
    assert get(port) == 200
    for backend in ("unknown_ca", "wrong_host"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(f"GET / HTTP/1.1\r\nHost: x\r\nx-be: {backend}\r\nConnection: close\r\n\r\n".encode())
            ((status, _, _),) = parse_responses(read_all(raw))
        assert status == 503
    assert wait_until(lambda: proc.stdout().count("bc:") >= 3), proc.stdout()
    lines = [line for line in proc.stdout().splitlines() if line.startswith("bc:")]
    assert lines[0] == "bc:0:Success ssl:0:-"
    assert lines[1] == ("bc:34:SSL handshake failure "
                        "ssl:134:error:0A000086:SSL routines::certificate verify failed")
    assert lines[2] == ("bc:33:Server presented an SSL certificate different from the expected one "
                        "ssl:134:error:0A000086:SSL routines::certificate verify failed")


def test_error_log_format_shows_the_rejected_certificate(write, luaproxy, port, pki, tmp_path: Path) -> None:
    d = pki["dir"]
    stranger_ca = make_ca("Stranger CA")
    issue(stranger_ca, "stranger", client=True).write(tmp_path / "stranger.pem")
    proc = start(write, luaproxy, port, f"""
        frontend fe
           option httpslog
           error-log-format "ERR %[fc_err] %[ssl_fc_err] %[ssl_c_s_dn(CN)] %[ssl_c_i_dn(CN)] %sslv/%sslc"
           bind 127.0.0.1:{port} ssl crt {d}/site.pem ca-file {d}/ca.pem verify required ssl-max-ver TLSv1.2
           {SHOW}"ok"
        """)
    data, _ = https(port, client_context(d, cert=True))
    assert data.startswith(b"HTTP/1.1 200")
    ctx = client_context(d)
    ctx.load_cert_chain(str(tmp_path / "stranger.pem"))
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        https(port, ctx)
    assert wait_until(lambda: "ERR " in proc.stdout()), proc.stdout()
    out = proc.stdout()
    assert "ERR 31 134 stranger Stranger CA TLSv1.2/(NONE)" in out, out
    # option httpslog: the HTTP format, then fc_err/ssl_fc_err,hex/ssl_c_err/ssl_c_ca_err/resumed sni/sslv/sslc
    assert " 0/0000000000000000/0/0/0 www.test/TLSv1.2/ECDHE-RSA-AES256-GCM-SHA384" in out, out


def test_a_tls_hello_to_an_http_listener_gets_400_at_once(write, luaproxy, port) -> None:
    """As haproxy: the first byte of a ClientHello can start no method, so the answer does not wait for a line."""
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port}
           {SHOW}"ok"
        """)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03")
        ((status, _, _),) = parse_responses(read_all(raw, 1.5))  # well before 'timeout client' (3 s)
    assert status == 400
