"""The connection-level keywords' mistakes, all reported by one ``-c`` run with file:line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import LUAPROXY


def test_check_reports_every_mistake(write, tmp_path: Path) -> None:
    write("bad.cfg", """
        defaults
           mode http
        backend b
           cookie SRV insert rewrite
           server s 127.0.0.1:80 send-proxy-v2 proxy-v2-options bogus
           server t 127.0.0.1:80 ws h3
           stats foo
        program p
           user nobody
        frontend f
           bind 127.0.0.1:1 accept-proxy
           stats admin if { nosuchfetch }
        """)
    done = subprocess.run([*LUAPROXY, "-c", "-f", "bad.cfg"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    for expected in ("bad.cfg:4] : 'cookie' : 'insert' and 'rewrite' are incompatible",
                     "bad.cfg:5] : server 's': 'proxy-v2-options' : unknown option 'bogus'",
                     "bad.cfg:6] : server 't': 'ws' expects 'auto', 'h1' or 'h2', got 'h3'",
                     "bad.cfg:7] : unknown stats parameter 'foo'",
                     "bad.cfg:8] : program 'p' has no 'command'",
                     "'stats admin': unknown fetch method 'nosuchfetch'"):
        assert expected in done.stderr, done.stderr
