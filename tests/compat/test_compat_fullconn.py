"""A backend's ``slim`` in ``show stat`` is its ``fullconn``; without one, luaproxy computes haproxy 2.6's
default (a tenth of the maxconn of the frontends routing to it, once per frontend, at least 1):
compared with haproxy 2.6 on the same configuration."""

from __future__ import annotations

import pytest

from tests.compat.harness import HAPROXY, Case, run_case
from tests.supervisor.conftest import cli

CONFIG = """
    global
       maxconn 1000
       stats socket ipv4@127.0.0.1:{port} level admin
    defaults
       mode http
       timeout connect 2s
       timeout client 5s
       timeout server 5s
    frontend f1
       bind unix@f1.sock
       maxconn 300
       use_backend b2 if {{ path /x }}
       use_backend b2 if {{ path /y }}
       default_backend b1
    frontend f2
       bind unix@f2.sock
       default_backend b1
    listen l1
       bind unix@l1.sock
       maxconn 500
       server s 127.0.0.1:{echo}
    backend b1
       server s 127.0.0.1:{echo}
    backend b2
       server s 127.0.0.1:{echo}
    backend b3
       server s 127.0.0.1:{echo}
    backend b4
       fullconn 77
       server s 127.0.0.1:{echo}
"""


def limits(port: int) -> bytes:
    """pxname,svname,slim of every row of ``show stat``."""
    lines = cli(port, "show stat\n").splitlines()
    return "\n".join(",".join(line.split(",")[i] for i in (0, 1, 6)) for line in lines if line).encode()


@pytest.mark.parametrize("case", [Case("fullconn", CONFIG, limits)], ids=lambda c: c.name)
def test_same_as_haproxy(case, tmp_path, echo_server):
    ours = run_case(case, "luaproxy", tmp_path, echo_server)
    assert b"b1,BACKEND,130" in ours and b"b2,BACKEND,30" in ours and b"b4,BACKEND,77" in ours, ours
    if HAPROXY is None:
        pytest.skip("Debian's haproxy is not installed: only luaproxy ran")
    assert ours == run_case(case, "haproxy", tmp_path, echo_server)
