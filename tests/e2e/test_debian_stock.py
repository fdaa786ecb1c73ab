"""Debian's stock /etc/haproxy/haproxy.cfg (installed with Debian's haproxy) loads and acts, as read at test
time: -c accepts it, and run with a frontend added it drops to user haproxy inside its chroot, answers on
its stats socket and serves its own errorfile 503."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import LUAPROXY, http_exchange
from tests.supervisor.conftest import cli

STOCK = Path("/etc/haproxy/haproxy.cfg")
pytestmark = pytest.mark.skipif(not STOCK.exists(), reason="Debian's haproxy package is not installed")


def test_check_accepts_the_stock_file() -> None:
    done = subprocess.run([*LUAPROXY, "-c", "-f", str(STOCK)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "Configuration file is valid" in done.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot and user haproxy need root")
def test_the_stock_file_runs(luaproxy, tmp_path: Path, port: int) -> None:
    sock = tmp_path / "admin.sock"
    text = STOCK.read_text().replace("/run/haproxy/admin.sock", str(sock))
    (tmp_path / "stock.cfg").write_text(f"{text}\nfrontend web\n\tbind 127.0.0.1:{port}\n\tdefault_backend "
                                        "empty\nbackend empty\n")
    proc = luaproxy("-db", "-f", "stock.cfg", wait_port=port)
    worker = proc.workers()[0]
    assert os.readlink(f"/proc/{worker}/root") == "/var/lib/haproxy"
    assert os.stat(f"/proc/{worker}").st_uid == int(subprocess.check_output(["id", "-u", "haproxy"]))
    reply = http_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.0 503") and b"No server is available" in reply
    assert "Name: " in cli(str(sock), "show info\n")
