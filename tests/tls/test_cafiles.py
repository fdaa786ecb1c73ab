"""CA and CRL files changed on the management socket: every worker verifies clients with the committed CAs,
a respawned worker and a reload keep them; haproxy 2.6's answers."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
from pathlib import Path

from luaproxy.worker.tls import cafiles
from tests.helpers import LUAPROXY, free_port, wait_until
from tests.helpers.pki import issue, make_ca
from tests.supervisor.conftest import cli


def accepted(port: int, client: Path) -> bool:
    """Whether a request with this client certificate gets its answer (verify required on the bind)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.load_cert_chain(str(client))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                ctx.wrap_socket(raw, server_hostname="www.test") as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nhost: www.test\r\nconnection: close\r\n\r\n")
            return tls.recv(100).startswith(b"HTTP/1.1 200")
    except (ssl.SSLError, OSError):
        return False


def test_set_commit_ca_file_reaches_workers_respawns_and_reloads(write, luaproxy, port, tmp_path: Path) -> None:
    trusted, other = make_ca("Client CA"), make_ca("Other CA")
    ca_file = other.write(tmp_path / "clients.pem", with_key=False)
    site = issue(other, "www.test", ("www.test",)).write(tmp_path / "site.pem")
    client = issue(trusted, "alice", client=True).write(tmp_path / "alice.pem")
    sock = str(tmp_path / "stats.sock")
    write("c.cfg", f"""
        global
           nbproc 2
           stats socket {sock} level admin
        defaults
           mode http
           timeout client 3s
        frontend fe
           bind 127.0.0.1:{port} ssl crt {site} ca-file {ca_file} verify required
           http-request return status 200 content-type text/plain string ok
        """)
    proc = luaproxy("-f", "c.cfg", wait_port=port, workers=2)
    assert cli(sock, "show ssl ca-file\n") == f"# filename\n{ca_file} - 1 certificate(s)\n\n"
    assert not accepted(port, client)

    assert cli(sock, f"set ssl ca-file {ca_file} <<\nnot a pem\n\n").endswith(f"Can't update {ca_file}!\n\n")
    assert cli(sock, "set ssl ca-file /nope.pem <<\n" + trusted.cert_pem().decode() + "\n") == (
        "Can't replace a CA file which is not referenced by the configuration!\n\n")
    assert cli(sock, f"set ssl ca-file {ca_file} <<\n{trusted.cert_pem().decode()}\n") == (
        f"transaction created for CA {ca_file}!\n\n")
    assert f"# transaction\n*{ca_file} - 1 certificate(s)\n" in cli(sock, "show ssl ca-file\n")
    assert "CN=Client CA" in cli(sock, f"show ssl ca-file *{ca_file}\n")
    assert not accepted(port, client)  # not committed yet
    assert cli(sock, f"commit ssl ca-file {ca_file}\n") == f"Committing {ca_file}.\nSuccess!\n\n"
    assert all(accepted(port, client) for _ in range(6))  # both workers
    shown = cli(sock, f"show ssl ca-file {ca_file}:1\n")
    assert f"Filename: {ca_file}\nStatus: Used\n" in shown and "Subject: /C=FR/O=luaproxy tests/CN=Client CA" in shown

    victim = proc.workers()[0]
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: len(proc.workers()) == 2 and victim not in proc.workers(), 15)
    assert all(accepted(port, client) for _ in range(6))

    before = set(proc.workers())
    proc.signal(signal.SIGUSR2)  # the file on disk still has the other CA: the committed content stays
    assert wait_until(lambda: len(proc.workers()) == 2 and not before & set(proc.workers()), 20)
    assert all(accepted(port, client) for _ in range(6))
    assert cli(sock, f"del ssl ca-file {ca_file}\n") == f"CA file '{ca_file}' in use, can't be deleted!\n\n"


def test_new_and_del_ca_and_crl_files(write, luaproxy, port, tmp_path: Path) -> None:
    ca = make_ca()
    site = issue(ca, "www.test", ("www.test",)).write(tmp_path / "site.pem")
    sock = str(tmp_path / "stats.sock")
    write("n.cfg", f"""
        global
           stats socket {sock} level admin
        frontend fe
           bind 127.0.0.1:{port} ssl crt {site}
           mode http
           http-request return status 200
        """)
    luaproxy("-f", "n.cfg", wait_port=port)
    assert cli(sock, "new ssl ca-file extra.pem\n") == "New CA file created 'extra.pem'!\n\n"
    assert cli(sock, "new ssl ca-file extra.pem\n") == "CA file 'extra.pem' already exists!\n\n"
    assert cli(sock, "show ssl ca-file\n") == "# filename\nextra.pem - 0 certificate(s)\n\n"
    assert cli(sock, "commit ssl ca-file extra.pem\n") == "No ongoing transaction! !\nCan't commit extra.pem!\n\n"
    cli(sock, f"set ssl ca-file extra.pem <<\n{ca.cert_pem().decode()}\n")
    assert cli(sock, "del ssl ca-file extra.pem\n") == (
        "Can't delete a CA file currently performing a transaction!\n\n")
    assert cli(sock, "abort ssl ca-file extra.pem\n") == "Transaction aborted for certificate 'extra.pem'!\n\n"
    assert cli(sock, "del ssl ca-file extra.pem\n") == "CA file 'extra.pem' deleted!\n\n"
    assert cli(sock, "show ssl ca-file\n") == "# filename\n\n"
    assert cli(sock, "new ssl crl-file none.crl\n") == "New CRL file created 'none.crl'!\n\n"
    assert cli(sock, "set ssl crl-file none.crl <<\n" + ca.cert_pem().decode() + "\n").startswith(
        "unable to load CRL file 'none.crl': no certificate revocation list in it")


def test_add_server_verifies_with_a_ca_file_made_at_runtime(write, luaproxy, port, tmp_path: Path) -> None:
    ca = make_ca("Runtime CA")
    site = issue(ca, "www.test", ("www.test",)).write(tmp_path / "site.pem")
    sock, tls_port = str(tmp_path / "stats.sock"), free_port()
    write("a.cfg", f"""
        global
           nbproc 2
           stats socket {sock} level admin
        defaults
           mode http
           timeout connect 2s
           timeout client 3s
           timeout server 3s
        frontend fe
           bind 127.0.0.1:{port}
           default_backend be
        backend be
           balance roundrobin
        frontend tls
           bind 127.0.0.1:{tls_port} ssl crt {site}
           http-request return status 200 content-type text/plain string via-tls
        """)
    luaproxy("-f", "a.cfg", wait_port=port, workers=2)
    assert cli(sock, "new ssl ca-file runtime-ca.pem\n") == "New CA file created 'runtime-ca.pem'!\n\n"
    cli(sock, f"set ssl ca-file runtime-ca.pem <<\n{ca.cert_pem().decode()}\n")
    assert cli(sock, "commit ssl ca-file runtime-ca.pem\n") == "Committing runtime-ca.pem.\nSuccess!\n\n"
    add = f"add server be/tls 127.0.0.1:{tls_port} ssl ca-file runtime-ca.pem verify required sni str(www.test)\n"
    assert cli(sock, add) == "New server registered.\n\n"
    cli(sock, "enable server be/tls\n")
    for _ in range(4):  # both workers
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"via-tls"), answer


def test_store_reads_a_changed_file_again_unless_set_at_runtime(tmp_path: Path) -> None:
    first, second, third = make_ca("First"), make_ca("Second"), make_ca("Third")
    path = str(first.write(tmp_path / "ca.pem", with_key=False))
    store = cafiles.CaStore()
    assert "CN=First" in store.load(path, "ca").describe("Used", path)
    second.write(Path(path), with_key=False)
    os.utime(path, ns=(1, 1))  # a new modification time, whatever the clock's resolution
    assert "CN=Second" in store.load(path, "ca").describe("Used", path)
    store.install(path, "ca", third.cert_pem().decode())
    first.write(Path(path), with_key=False)
    os.utime(path, ns=(2, 2))
    assert "CN=Third" in store.load(path, "ca").describe("Used", path)


def test_system_ca_names_the_systems_trusted_cas(write, tmp_path: Path) -> None:
    """``ca-file @system-ca`` (bind and server, never under ca-base): OpenSSL's default CA bundle."""
    loaded = cafiles.CaStore().load(cafiles.SYSTEM_CA, "ca")
    assert loaded.name == "@system-ca" and len(loaded.items) > 10
    write("s.cfg", f"""
        global
           ca-base {tmp_path}
        backend be
           server s 127.0.0.1:2 ssl verify required ca-file @system-ca
        """)
    result = subprocess.run([*LUAPROXY, "-c", "-f", str(tmp_path / "s.cfg")], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0 and "Warning" not in result.stderr, result.stderr
