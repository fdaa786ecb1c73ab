"""``show stat`` on the stats socket, luaproxy against haproxy 2.6: listener rows (``option socket-stats``)
and the status cells of a paused frontend."""

from __future__ import annotations

import re

import pytest

from tests.compat.harness import HAPROXY, Case, run_case
from tests.supervisor.conftest import cli

CONFIG = """
    global
       stats socket ipv4@127.0.0.1:{port} level admin
    defaults
       mode http
       timeout connect 2s
       timeout client 5s
       timeout server 5s
    frontend fe
       option socket-stats
       bind 127.0.0.1:{port2}
       bind unix@fe.sock name local
    frontend other
       bind unix@other.sock
"""


def paused_stats(port: int) -> bytes:
    """Every listener field and each frontend's status, before and after ``disable frontend fe``."""
    def wanted() -> list[str]:
        lines = cli(port, "show stat typed\n").splitlines()
        return [line for line in lines if line.startswith("L.") or (line.startswith("F.") and ".status." in line)]

    before = wanted()
    assert cli(port, "disable frontend fe\n") == "\n"
    text = "\n".join(["before:", *before, "after:", *wanted()])
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text).encode()  # each program got its own port


@pytest.mark.parametrize("case", [Case("paused_frontend_and_listeners", CONFIG, paused_stats)], ids=lambda c: c.name)
def test_same_as_haproxy(case, tmp_path, echo_server):
    ours = run_case(case, "luaproxy", tmp_path, echo_server)
    assert b"F.2.0.17.status.1:SGP:str:PAUSED" in ours and b"L.2.2.73.addr.1:CGS:str:unix" in ours
    if HAPROXY is None:
        pytest.skip("Debian's haproxy is not installed: only luaproxy ran")
    assert ours == run_case(case, "haproxy", tmp_path, echo_server)
