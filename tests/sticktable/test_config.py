"""Stick-table configuration errors name file:line and say why (``luaproxy -c``)."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.helpers import LUAPROXY


def check(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "c.cfg"
    path.write_text(textwrap.dedent(body))
    return subprocess.run([*LUAPROXY, "-c", "-f", str(path)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("lines", "message"), [
    ("stick-table type ip size 10 store conn_rate", "c.cfg:4] : stick-table: data type 'conn_rate' expects a period"),
    ("stick-table type ip", "c.cfg:4] : stick-table: missing or null 'size'."),
    ("stick-table type ip size 1 store gpc0\n    stick-table type ip size 1", "c.cfg:5] : only one stick-table"),
    ("stick-table type ip size 1 store gpc0\n    http-request deny if { src_get_gpc0(fee) gt 0 }",
     "c.cfg:5] : 'src_get_gpc0': unable to find table 'fee'. Did you mean 'fe' maybe ?"),
    ("http-request track-sc0 src", "c.cfg:4] : 'http-request': no table was declared in this proxy"),
    ("stick-table type ip size 1 store gpc0\n    http-request track-sc3 src",
     "stick counter 3 is out of range"),
    ("stick-table type ip size 1 store gpc0\n    http-request track-sc0 src table nope",
     "c.cfg:5] : 'http-request': unable to find table 'nope'."),
    ("stick-table type ip size 1 store gpc(2)\n    http-request sc-inc-gpc(100,0)",
     "c.cfg:5] : 'http-request': 'sc-inc-gpc(100,0)': invalid index 100, the arrays hold at most 100 elements."),
    ("stick-table type ip size 1 store gpt(2)\n    http-request sc-set-gpt(1) 5",
     "c.cfg:5] : 'http-request': 'sc-set-gpt(1)': expected 'sc-set-gpt(<idx>,<sc>)'"),
    ("stick-table type ip size 1 store gpt(2),gpt0", "c.cfg:4] : stick-table: simultaneous usage of 'gpt'"),
])
def test_errors(tmp_path: Path, lines: str, message: str) -> None:
    result = check(tmp_path, f"""
        frontend fe
            mode http
            {lines}
    """.replace("\n    ", "\n", 1))
    assert result.returncode == 1
    assert message in result.stderr, result.stderr


def test_a_valid_configuration(tmp_path: Path) -> None:
    result = check(tmp_path, """
        frontend fe
            mode http
            bind 127.0.0.1:1
            stick-table type string len 64 size 1m expire 30s nopurge store gpc0,gpc0_rate(1m),http_req_rate(10s)
            tcp-request connection track-sc1 src table be
            tcp-request content track-sc2 src
            http-request track-sc0 req.hdr(x-user)
            http-request sc-inc-gpc0(0)
            http-request sc-set-gpt0(1) 7
            http-request sc-inc-gpc(1,0)
            http-request sc-set-gpt(0,2) 5
            http-request tarpit if { sc_http_req_rate(0) gt 100 }
            default_backend be
        backend be
            mode http
            stick-table type ip size 100 srvkey addr store conn_cur,gpt(2),gpc(2),gpc_rate(2,10s)
            stick on src
            server s 127.0.0.1:1 id 7
    """)
    assert result.returncode == 0, result.stderr
