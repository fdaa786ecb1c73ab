"""error-log-format: a failed TLS handshake logged with fc_err and ssl_fc_err_str, against a real client."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.helpers.pki import issue, make_ca


def test_failed_handshake_is_logged_with_the_error_log_format(write, luaproxy, port, tmp_path: Path) -> None:
    issue(make_ca(), "www.test", ("www.test",)).write(tmp_path / "site.pem")
    write("e.cfg", f"""
        global
           log stdout format raw local0
        defaults
           mode http
           log global
           timeout client 3s
        frontend fe
           bind 127.0.0.1:{port} ssl crt {tmp_path}/site.pem ciphers ECDHE-RSA-AES128-GCM-SHA256 ssl-max-ver TLSv1.2
           error-log-format "ERROR %[fc_err]:%[fc_err_str] %{{+Q}}[ssl_fc_err_str] %[ssl_fc_err]"
           http-request return status 200
        """)
    proc = luaproxy("-f", "e.cfg", wait_port=port)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("AES256-SHA")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, pytest.raises(ssl.SSLError):
        ctx.wrap_socket(raw, server_hostname="www.test")
    expected = 'ERROR 34:SSL handshake failure "error:0A0000C1:SSL routines::no shared cipher" 193'
    assert wait_until(lambda: expected in proc.stdout()), proc.stdout()
