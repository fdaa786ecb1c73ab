"""Certificates changed at runtime on the management socket reach every worker; a reload re-reads the files."""

from __future__ import annotations

import signal
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from tests.helpers import wait_until
from tests.helpers.pki import issue, make_ca
from tests.supervisor.conftest import cli


def served_cn(port: int, ca: Path) -> str:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="www.test") as tls:
        cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    return cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value


def test_set_commit_show_and_reload(write, luaproxy, port, tmp_path: Path) -> None:
    ca = make_ca()
    ca_file = ca.write(tmp_path / "ca.pem", with_key=False)
    site = issue(ca, "www.test", ("www.test",)).write(tmp_path / "site.pem")
    sock = str(tmp_path / "stats.sock")
    write("r.cfg", f"""
        global
           nbproc 2
           stats socket {sock} level admin
        defaults
           mode http
           timeout client 3s
        frontend fe
           bind 127.0.0.1:{port} ssl crt {site}
           http-request return status 200 content-type text/plain string ok
        """)
    proc = luaproxy("-f", "r.cfg", wait_port=port, workers=2)
    assert cli(sock, "show ssl cert\n") == f"# transaction\n# filename\n{site}\n\n"
    shown = cli(sock, f"show ssl cert {site}\n")
    assert f"Filename: {site}\nStatus: Used\n" in shown and "Subject: /C=FR/O=luaproxy tests/CN=www.test" in shown

    bad = issue(ca, "bad.test").cert_pem() + issue(ca, "other.test").key_pem()
    assert "Can't replace a certificate" in cli(sock, "set ssl cert /nope.pem <<\n" + bad.decode() + "\n")
    assert "no certificate or private key" in cli(sock, f"set ssl cert {site} <<\nnot a pem\n\n")
    assert cli(sock, f"set ssl cert {site} <<\n{bad.decode()}\n").startswith("Transaction created")
    answer = cli(sock, f"commit ssl cert {site}\n")
    assert "inconsistencies between private key and certificate" in answer and "Can't commit" in answer
    assert served_cn(port, ca_file) == "www.test"  # nothing changed
    assert cli(sock, f"abort ssl cert {site}\n").startswith("Transaction aborted")

    new = issue(ca, "renewed.test", ("www.test",))
    pem = (new.cert_pem() + new.key_pem()).decode()
    assert cli(sock, f"set ssl cert {site} <<\n{new.cert_pem().decode()}\n") == \
        f"Transaction created for certificate {site}!\n\n"
    assert cli(sock, f"set ssl cert {site}.key <<\n{new.key_pem().decode()}\n") == \
        f"Transaction updated for certificate {site}!\n\n"
    assert f"*{site}" in cli(sock, "show ssl cert\n")
    assert "Status: Uncommitted" in cli(sock, f"show ssl cert *{site}\n")
    assert served_cn(port, ca_file) == "www.test"
    assert cli(sock, f"commit ssl cert {site}\n") == f"Committing {site}\nSuccess!\n\n"
    assert all(served_cn(port, ca_file) == "renewed.test" for _ in range(8))  # both workers
    assert "CN=renewed.test" in cli(sock, f"show ssl cert {site}\n")

    assert cli(sock, f"set ssl cert {site} <<\n{pem}\n").startswith("Transaction created")
    assert cli(sock, f"abort ssl cert {site}\n") == f"Transaction aborted for certificate '{site}'!\n\n"

    issue(ca, "from-disk.test", ("www.test",)).write(site)
    proc.signal(signal.SIGUSR2)
    assert wait_until(lambda: served_cn(port, ca_file) == "from-disk.test", 15)


def test_crt_list_entries_added_and_deleted_at_runtime(write, luaproxy, port, tmp_path: Path) -> None:
    ca = make_ca()
    ca_file = ca.write(tmp_path / "ca.pem", with_key=False)
    site = issue(ca, "www.test", ("www.test",)).write(tmp_path / "site.pem")
    other = issue(ca, "other.test", ("other.test",))
    other_path = str(tmp_path / "other.pem")
    crt_list = tmp_path / "list.crt-list"
    crt_list.write_text(f"{site} [alpn http/1.1] www.test\n")
    sock = str(tmp_path / "stats.sock")
    write("r.cfg", f"""
        global
           nbproc 2
           stats socket {sock} level admin
        defaults
           mode http
           timeout client 3s
        frontend fe
           bind 127.0.0.1:{port} ssl strict-sni crt-list {crt_list}
           http-request return status 200 content-type text/plain string ok
        """)
    luaproxy("-f", "r.cfg", wait_port=port, workers=2)

    def cn(sni: str) -> str:
        ctx = ssl.create_default_context(cafile=str(ca_file))
        ctx.check_hostname = False
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname=sni) as tls:
            cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
        return cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value

    assert cli(sock, f"show ssl crt-list -n {crt_list}\n") == f"# {crt_list}\n{site}:1 [alpn http/1.1] www.test\n\n"
    assert cli(sock, f"new ssl cert {other_path}\n") == f"New empty certificate store '{other_path}'!\n\n"
    pem = (other.cert_pem() + other.key_pem()).decode()
    assert cli(sock, f"set ssl cert {other_path} <<\n{pem}\n").startswith("Transaction created")
    assert cli(sock, f"commit ssl cert {other_path}\n") == f"Committing {other_path}\nSuccess!\n\n"
    assert "Status: Unused" in cli(sock, f"show ssl cert {other_path}\n")
    refused = cli(sock, f"add ssl crt-list {crt_list} <<\n{other_path} [ca-file /x/ca.pem]\n\n")
    assert "unable to load /x/ca.pem" in refused
    answer = cli(sock, f"add ssl crt-list {crt_list}/ <<\n{other_path} [alpn h2] other.test\n\n")
    assert answer == f"Inserting certificate '{other_path}' in crt-list '{crt_list}'.\nSuccess!\n\n"
    assert all(cn("other.test") == "other.test" for _ in range(6))  # both workers
    assert f"{other_path} [alpn h2] other.test" in cli(sock, f"show ssl crt-list {crt_list}\n")
    assert cli(sock, f"del ssl crt-list {crt_list} {other_path}\n") == \
        f"Entry '{other_path}' deleted in crtlist '{crt_list}'!\n\n"
    for _ in range(4):
        with pytest.raises(ssl.SSLError):
            cn("other.test")
    assert cn("www.test") == "www.test"
    assert cli(sock, f"del ssl cert {site}\n") == f"certificate '{site}' in use, can't be deleted!\n\n"
