"""OCSP responses: ``crt.pem.ocsp`` loaded and stapled (openssl s_client -status), ``show ssl ocsp-response``,
``set ssl ocsp-response`` taking effect at once in every worker, ``set ssl cert x.pem.ocsp`` + commit."""

from __future__ import annotations

import base64
import datetime
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from tests.helpers import LUAPROXY, wait_until
from tests.helpers.pki import Issued, issue, make_ca
from tests.supervisor.conftest import cli


def response(ca: Issued, cert: x509.Certificate, revoked: bool = False, next_update: bool = True) -> bytes:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    status = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
    builder = (ocsp.OCSPResponseBuilder()
               .add_response(cert=cert, issuer=ca.cert, algorithm=hashes.SHA1(), cert_status=status,
                             this_update=now, next_update=now + datetime.timedelta(days=7) if next_update else None,
                             revocation_time=now if revoked else None, revocation_reason=None)
               .responder_id(ocsp.OCSPResponderEncoding.NAME, ca.cert))
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def s_client(port: int, *args: str) -> str:
    return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-status", *args], input=b"Q\n",
                          capture_output=True, timeout=10).stdout.decode()


def stapled_status(port: int, *args: str) -> str:
    out = s_client(port, *args)
    return next((line.split(":", 1)[1].strip() for line in out.splitlines() if "Cert Status:" in line),
                "no response" if "no response sent" in out else out)


def test_ocsp_responses_stapled_shown_and_updated(write, luaproxy, port, tmp_path: Path) -> None:
    ca = make_ca()
    site = issue(ca, "www.test", ("www.test",))
    pem = site.write(tmp_path / "site.pem")
    ca.write(tmp_path / "site.pem.issuer", with_key=False)
    (tmp_path / "site.pem.ocsp").write_bytes(response(ca, site.cert))
    plain = issue(ca, "plain.test", ("plain.test",)).write(tmp_path / "plain.pem")
    sock = str(tmp_path / "stats.sock")
    write("o.cfg", f"""
        global
           nbproc 2
           stats socket {sock} level admin
        defaults
           mode http
           timeout client 3s
        frontend fe
           bind 127.0.0.1:{port} ssl crt {pem} crt {plain}
           http-request return status 200
        """)
    luaproxy("-f", "o.cfg", wait_port=port, workers=2)
    assert stapled_status(port) == "good"
    listing = cli(sock, "show ssl ocsp-response\n")
    key = listing.split("Certificate ID key : ")[1].split()[0]
    assert f"{site.cert.serial_number:X}\n" in listing.split("Serial Number: ")[1]
    assert "Cert Status: good" in cli(sock, f"show ssl ocsp-response {key}\n")
    assert f"OCSP Response Key: {key}" in cli(sock, f"show ssl cert {pem}\n")
    assert "Certificate ID does not match" in cli(sock, "show ssl ocsp-response 3000\n")

    revoked = base64.b64encode(response(ca, site.cert, revoked=True)).decode()
    assert cli(sock, f"set ssl ocsp-response {revoked}\n") == "OCSP Response updated!\n\n"
    assert "Cert Status: revoked" in cli(sock, f"show ssl cert {pem}.ocsp\n")
    assert wait_until(lambda: all(stapled_status(port) == "revoked" for _ in range(4)))  # both workers
    stranger = base64.b64encode(response(ca, issue(ca, "x.test").cert)).decode()
    assert "does not match any certificate" in cli(sock, f"set ssl ocsp-response {stranger}\n")

    good = base64.b64encode(response(ca, site.cert)).decode()
    assert cli(sock, f"set ssl cert {pem}.ocsp <<\n{good}\n\n").startswith("Transaction created")
    assert "Cert Status: good" in cli(sock, f"show ssl cert *{pem}.ocsp\n")
    assert "Success!" in cli(sock, f"commit ssl cert {pem}\n")
    assert "Cert Status: good" in cli(sock, f"show ssl ocsp-response {key}\n")
    assert wait_until(lambda: all(stapled_status(port) == "good" for _ in range(4)))


def test_an_ocsp_response_needs_its_issuer_and_one_for_another_certificate_is_ignored(write, tmp_path: Path) -> None:
    """As haproxy 2.6: the certificate ID is computed with the issuer (from the chain, else crt.issuer), an error
    without it; a response for another certificate, or without a next update, is left out with a warning."""
    ca = make_ca()
    site = issue(ca, "www.test", ("www.test",))
    pem = site.write(tmp_path / "site.pem")
    (tmp_path / "site.pem.ocsp").write_bytes(response(ca, site.cert))
    write("bad.cfg", f"""
        frontend fe
           bind 127.0.0.1:1 ssl crt {pem}
        """)

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run([*LUAPROXY, "-c", "-f", str(tmp_path / "bad.cfg")], capture_output=True, text=True,
                              timeout=30)

    missing = check()
    assert missing.returncode != 0 and "bad.cfg:2" in missing.stderr, missing.stderr
    assert "impossible to compute the OCSP certificate ID (maybe the issuer could not be found)" in missing.stderr
    ca.write(tmp_path / "site.pem.issuer", with_key=False)
    for der, reason in ((response(ca, issue(ca, "other.test").cert), "Certificate ID does not match certificate and "
                         "issuer"), (response(ca, site.cert, next_update=False), "missing nextupdate")):
        (tmp_path / "site.pem.ocsp").write_bytes(der)
        ignored = check()
        assert ignored.returncode == 0, ignored.stderr
        assert f"OCSP single response: {reason}. Content will be ignored." in ignored.stderr, ignored.stderr


def test_rsa_and_ecdsa_bundle_each_staples_its_own_response(write, luaproxy, port, tmp_path: Path) -> None:
    """As haproxy 2.6: ECDSA when the client has an ECDSA signature algorithm and a TLS 1.2 ECDSA suite, else RSA;
    no SNI gets the default, the bundle's first (.ecdsa); each certificate staples its own response."""
    ca = make_ca()
    for kind, revoked in (("rsa", False), ("ecdsa", True)):
        cert = issue(ca, f"{kind}.test", ("both.test",), kind=kind)
        cert.write(tmp_path / f"both.pem.{kind}", chain=(ca,))
        (tmp_path / f"both.pem.{kind}.ocsp").write_bytes(response(ca, cert.cert, revoked=revoked))
    write("b.cfg", f"""
        defaults
           mode http
           timeout client 3s
        frontend fe
           bind 127.0.0.1:{port} ssl crt {tmp_path}/both.pem
           http-request return status 200
        """)
    luaproxy("-f", "b.cfg", wait_port=port)
    sni = ("-servername", "both.test")
    for args, cn, status in ((("-tls1_2", "-sigalgs", "RSA+SHA256:ECDSA+SHA256", *sni), "ecdsa", "revoked"),
                             (("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", *sni), "rsa", "good"),
                             (("-tls1_3", *sni), "rsa", "good"),
                             (("-tls1_3", "-noservername"), "ecdsa", "revoked")):
        out = s_client(port, *args)
        assert f"CN = {cn}.test" in out and f"Cert Status: {status}" in out, (args, out)
