"""nbthread starts that many workers; chroot, user and group apply to the workers after the sockets are bound."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import free_port, talk


def _status(pid: int, field: str) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return line.split()[1]
    return ""


def test_nbthread_starts_that_many_workers(luaproxy, write, echo_server):
    port = free_port()
    write("p.cfg", f"""
        global
           nbthread 3
        defaults
           timeout client 5s
           timeout server 5s
           timeout connect 5s
        listen p
           bind 127.0.0.1:{port}
           server s 127.0.0.1:{echo_server.port}
        """)
    proc = luaproxy("-f", "p.cfg", wait_port=port, workers=3)
    assert len(proc.workers()) == 3
    assert talk(port, b"hi", shutdown=True) == b"hi"


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot and setuid need root")
def test_chroot_user_group_apply_to_workers(luaproxy, write, echo_server, tmp_path):
    port = free_port()
    jail = tmp_path / "jail"
    jail.mkdir()
    write("p.cfg", f"""
        global
           chroot {jail}
           uid 65534
           gid 65534
        defaults
           timeout client 5s
           timeout server 5s
           timeout connect 5s
        listen p
           bind 127.0.0.1:{port}
           server s 127.0.0.1:{echo_server.port}
        """)
    proc = luaproxy("-f", "p.cfg", wait_port=port)
    (worker,) = proc.wait_workers(1)
    assert talk(port, b"jailed", shutdown=True) == b"jailed"
    assert _status(worker, "Uid") == "65534" and _status(worker, "Gid") == "65534"
    assert os.readlink(f"/proc/{worker}/root") == str(jail)
    assert _status(proc.proc.pid, "Uid") == "0"
