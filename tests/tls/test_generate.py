"""DH parameters for DHE (in the crt file, ssl-dh-param-file, tune.ssl.default-dh-param) and certificates made
during the handshake (generate-certificates + ca-sign-file)."""

from __future__ import annotations

import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from tests.helpers import LUAPROXY, free_port
from tests.tls.test_e2e import SHOW, https, pki, start

__all__ = ["pki"]
DHE = "DHE-RSA-AES256-GCM-SHA384"


def dhe_client(tmp_path: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    ctx.check_hostname = False
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(DHE)
    return ctx


def dh_params(path: Path) -> Path:
    """RFC 7919's 2048-bit group, as OpenSSL writes DH parameters (made in an instant, unlike a new group)."""
    pem = subprocess.run(["openssl", "genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048"],
                         check=True, capture_output=True).stdout
    path.write_bytes(pem)
    return path


def test_dhe_needs_dh_parameters(write, luaproxy, port, pki, tmp_path: Path) -> None:
    d = pki["dir"]
    dh_params(tmp_path / "dh.pem")
    (tmp_path / "site-dh.pem").write_bytes((d / "site.pem").read_bytes() + (tmp_path / "dh.pem").read_bytes())
    own, from_global = port, free_port()
    start(write, luaproxy, port, f"""
        global
           ssl-dh-param-file {tmp_path}/dh.pem
        frontend own
           bind 127.0.0.1:{own} ssl crt {tmp_path}/site-dh.pem ciphers {DHE}
           {SHOW}"%[ssl_fc_cipher]"
        frontend from_global
           bind 127.0.0.1:{from_global} ssl crt {d}/site.pem ciphers {DHE}
           {SHOW}"%[ssl_fc_cipher]"
        """)
    for listener in (own, from_global):
        data, _ = https(listener, dhe_client(d))
        assert data.endswith(DHE.encode()), data


def test_no_dhe_without_dh_parameters_unless_default_dh_param(write, luaproxy, port, pki) -> None:
    d = pki["dir"]
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{port} ssl crt {d}/site.pem ciphers {DHE}:ECDHE-RSA-AES256-GCM-SHA384
           {SHOW}"%[ssl_fc_cipher]"
        """)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        https(port, dhe_client(d))


def server_dh_bits(port: int) -> str:
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2", "-cipher", DHE],
                         input=b"Q\n", capture_output=True, timeout=10).stdout.decode()
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if "Server Temp Key" in line), out)


def test_default_dh_param_turns_dhe_on_capped_by_its_size(write, luaproxy, port, pki, tmp_path: Path) -> None:
    """As haproxy 2.6 on OpenSSL 3: the group follows the RSA key's size, up to tune.ssl.default-dh-param;
    1024 bits is refused by OpenSSL's security level (a warning, no DHE)."""
    d = pki["dir"]
    big = free_port()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:4096", "-nodes", "-keyout", str(tmp_path / "big.pem"),
                    "-out", str(tmp_path / "big.pem.crt"), "-subj", "/CN=big.test", "-days", "2"], check=True,
                   capture_output=True, timeout=60)
    (tmp_path / "big.pem").write_bytes((tmp_path / "big.pem.crt").read_bytes() + (tmp_path / "big.pem").read_bytes())
    start(write, luaproxy, port, f"""
        global
           tune.ssl.default-dh-param 2048
        frontend fe
           bind 127.0.0.1:{port} ssl crt {d}/site.pem ciphers {DHE}
           bind 127.0.0.1:{big} ssl crt {tmp_path}/big.pem ciphers {DHE}
           {SHOW}"%[ssl_fc_cipher]"
        """)
    data, _ = https(port, dhe_client(d))
    assert data.endswith(DHE.encode()), data
    assert server_dh_bits(big) == "DH, 2048 bits"
    write("small.cfg", f"""
        global
           tune.ssl.default-dh-param 1024
        frontend fe
           bind 127.0.0.1:1 ssl crt {d}/site.pem
        """)
    result = subprocess.run([*LUAPROXY, "-c", "-f", str(tmp_path / "small.cfg")], capture_output=True, text=True,
                            timeout=30)
    assert "unable to load default 1024 bits DH parameter for certificate" in result.stderr, result.stderr


def served_cert(port: int, ctx: ssl.SSLContext, sni: str | None) -> x509.Certificate:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=sni) as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def test_generate_certificates_signs_one_per_name(write, luaproxy, port, pki) -> None:
    d = pki["dir"]
    ca = pki["ca"]
    ca.write(d / "signer.pem")
    start(write, luaproxy, port, f"""
        global
           tune.ssl.ssl-ctx-cache-size 10
        frontend fe
           bind 127.0.0.1:{port} ssl crt {d}/site.pem generate-certificates ca-sign-file {d}/signer.pem
           {SHOW}"%[ssl_f_s_dn(CN,2)] %[ssl_f_i_dn(CN)]"
        """)
    strict = ssl.create_default_context(cafile=str(d / "ca.pem"))  # verifies the chain and the name
    made = served_cert(port, strict, "new.example")
    assert made.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.DNSName) == ["new.example"]
    assert served_cert(port, strict, "new.example") == made  # from the cache
    assert served_cert(port, strict, "www.test").subject != made.subject  # a loaded certificate wins
    loose = ssl.create_default_context(cafile=str(d / "ca.pem"))
    loose.check_hostname = False
    data, _ = https(port, loose, sni="other.example")
    assert data.endswith(b"other.example Test CA"), data


def test_generate_certificates_needs_a_ca(write, pki, tmp_path: Path) -> None:
    d = pki["dir"]
    write("bad.cfg", f"""
        frontend fe
           bind 127.0.0.1:1 ssl crt {d}/site.pem generate-certificates
        """)
    result = subprocess.run([*LUAPROXY, "-c", "-f", str(tmp_path / "bad.cfg")], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode != 0
    assert "bad.cfg:2" in result.stderr and "'generate-certificates' needs 'ca-sign-file'" in result.stderr, \
        result.stderr


def test_generated_certificates_as_haproxy_makes_them(write, luaproxy, port, pki) -> None:
    """haproxy 2.6's extensions, the CA sent after the certificate, no certificate made without SNI (the default
    one is served), and one LRU of tune.ssl.ssl-ctx-cache-size contexts for all the listeners."""
    d = pki["dir"]
    pki["ca"].write(d / "signer.pem")
    other = free_port()
    start(write, luaproxy, port, f"""
        global
           tune.ssl.ssl-ctx-cache-size 1
        frontend fe
           bind 127.0.0.1:{port} ssl crt {d}/site.pem generate-certificates ca-sign-file {d}/signer.pem
           bind 127.0.0.1:{other} ssl crt {d}/site.pem generate-certificates ca-sign-file {d}/signer.pem
           {SHOW}"%[ssl_fc_sni]"
        """)
    loose = ssl.create_default_context(cafile=str(d / "ca.pem"))
    loose.check_hostname = False
    assert served_cert(port, loose, None).subject.rfc4514_string().startswith("CN=www.test,")
    made = served_cert(port, loose, "a.example")
    assert [e.oid.dotted_string for e in made.extensions] == [
        "2.5.29.19", "2.16.840.1.113730.1.13", "2.5.29.14", "2.5.29.35", "2.5.29.15", "2.5.29.17"]
    shown = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "a.example",
                            "-showcerts"], input=b"Q\n", capture_output=True, timeout=10).stdout.decode()
    assert shown.count("-----BEGIN CERTIFICATE-----") == 2 and "1 s:C = FR, O = luaproxy tests, CN = Test CA" in shown
    assert served_cert(port, loose, "a.example") == made  # cached
    served_cert(other, loose, "b.example")  # the one context the cache keeps is now b's, of the other listener
    again = served_cert(port, loose, "a.example")
    assert again.subject == made.subject and again.serial_number > made.serial_number
