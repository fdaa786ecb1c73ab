"""Run one configuration and Lua script on luaproxy and on haproxy 2.6, as a client sees them.

A case is a config template (``{port}``, ``{echo}`` for a real echo server), an
optional Lua file and a client function that talks raw bytes to ``{port}`` and
returns what it saw.  Both programs start from the same directory with the
same files; the harness kills each by PID.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import LUAPROXY, EchoServer, alive, children, free_port, port_listening, wait_until

HAPROXY = shutil.which("haproxy")


@dataclass(frozen=True)
class Case:
    name: str
    config: str
    client: Callable[[int], bytes]
    lua: str = ""
    deviation: str = ""
    """Why luaproxy deliberately differs from haproxy 2.6 here (empty: it must not)."""


def _command(program: str, config: Path) -> list[str]:
    if program == "haproxy":
        assert HAPROXY is not None
        return [HAPROXY, "-db", "-f", str(config)]
    return [*LUAPROXY, "-f", str(config)]


def run_case(case: Case, program: str, directory: Path, echo: EchoServer) -> bytes:
    """What the client sees when *program* runs the case."""
    work = directory / program
    work.mkdir()
    port = free_port()
    if case.lua:
        (work / "case.lua").write_text(textwrap.dedent(case.lua).lstrip())
    config = work / "case.cfg"
    config.write_text(textwrap.dedent(case.config).lstrip().format(port=port, port2=free_port(), echo=echo.port))
    with open(work / "stderr.log", "wb") as stderr:
        proc = subprocess.Popen(_command(program, config), cwd=work, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        started = wait_until(lambda: port_listening(port) or proc.poll() is not None, 15)
        assert started and proc.poll() is None, (work / "stderr.log").read_text()
        return case.client(port)
    finally:
        pids = [proc.pid, *children(proc.pid)]
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        for pid in pids:
            if alive(pid):
                subprocess.run(["kill", "-9", str(pid)], check=False)
