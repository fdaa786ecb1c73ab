"""The session cache the workers share (nbproc > 1): a session made by one worker resumes on another, also under
no-tls-tickets (Debian's stock settings) and in TLS 1.3, never on another listener."""

from __future__ import annotations

import collections
import ssl
import subprocess

from luaproxy.worker.tls.sessioncache import SLOT_SIZE, SharedSessionCache
from tests.helpers import LUAPROXY, free_port
from tests.tls.test_e2e import SHOW, body, client_context, https, pki, start

__all__ = ["pki"]


def test_slots_store_find_and_miss() -> None:
    cache = SharedSessionCache(4)
    assert cache.store(b"ns" + b"id1", b"session one") and cache.find(b"nsid1") == b"session one"
    assert cache.find(b"nsid2") is None and cache.find(b"xxid1") is None
    assert not cache.store(b"nsid3", b"x" * SLOT_SIZE)  # too large for a slot: kept by its worker only
    offset = cache._offset(b"nsid1")
    cache.memory[offset + 20] ^= 0xFF  # a slot being written by another worker reads as a miss
    assert cache.find(b"nsid1") is None
    cache.store(b"nsid1", b"again")
    cache.remove(b"nsid1")
    assert cache.find(b"nsid1") is None


def test_sessions_resume_on_every_worker(write, luaproxy, port, pki) -> None:
    other = free_port()
    start(write, luaproxy, port, f"""
        global
           nbproc 2
        frontend fe
           bind 127.0.0.1:{port} ssl crt {pki['dir']}/site.pem no-tls-tickets
           bind 127.0.0.1:{other} ssl crt {pki['dir']}/site.pem no-tls-tickets
           {SHOW}"%[ssl_fc_is_resumed] %[proc]"
        """)
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_context(pki["dir"])
        ctx.maximum_version = version
        _, session = https(port, ctx)
        seen = collections.Counter(body(https(port, ctx, session=session)[0]) for _ in range(16))
        assert {text.split()[0] for text in seen} == {"1"}, (version, seen)
        assert len(seen) == 2, seen  # both workers resumed it
        assert body(https(other, ctx, session=session)[0]).startswith("0 ")  # another listener: a full handshake


GLOBAL_LINES = ["tune.ssl.force-private-cache", "ssl-mode-async", "ssl-skip-self-issued-ca", "ssl-provider default",
                "ssl-provider-path /usr/lib", "ssl-propquery provider=default"]


def test_global_tls_keywords_as_haproxy_reads_them(write, tmp_path, pki) -> None:
    """Flags without a value and the provider lines are accepted; a DH file without DH parameters is refused."""
    lines = "\n".join(f"           {line}" for line in GLOBAL_LINES)
    write("p.cfg", f"""
        global
           nbproc 2
{lines}
        """)
    result = subprocess.run([*LUAPROXY, "-c", "-f", str(tmp_path / "p.cfg")], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr
    write("dh.cfg", f"""
        global
           ssl-dh-param-file {pki['dir']}/site.pem
        """)
    result = subprocess.run([*LUAPROXY, "-c", "-f", str(tmp_path / "dh.cfg")], capture_output=True, text=True,
                            timeout=30)
    assert "dh.cfg:2" in result.stderr and "unable to load DH parameters from file" in result.stderr, result.stderr
