"""The README's set-up commands, run as written: what a new user types is what CI checks."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.helpers import Process, port_listening, release_port, reserve_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


def setup_commands() -> list[str]:
    """The one-line ``sh`` blocks of the README's Set-up section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_readme_lists_install_check_and_suite():
    install, check, suite = setup_commands()
    assert install.startswith("python3 -m venv .venv && .venv/bin/pip install . && ")
    assert "nc " not in check and "curl" not in check
    assert suite == "bash tests/run.sh"


def test_readme_example_answers_as_written(tmp_path):
    """The luaproxy part of the first command, then the check command, both verbatim from the repository root."""
    install, check, _ = setup_commands()
    start = install.rsplit(" && ", 1)[1]
    program = shlex.split(start)
    if not (ROOT / program[0]).exists():
        pytest.skip(f"{program[0]} is not installed (tests/run.sh installs it)")
    port = int(re.search(r"bind 127\.0\.0\.1:(\d+)", (ROOT / program[-1]).read_text()).group(1))
    assert reserve_port(port), f"port {port} stays busy"
    proc = Process(program[1:], ROOT, program=[str(ROOT / program[0])], logs=tmp_path)
    try:
        assert wait_until(lambda: port_listening(port) or proc.proc.poll() is not None, 15), proc.stderr()
        assert proc.proc.poll() is None, proc.stderr()
        proc.wait_workers(1)
        answer = subprocess.run(["bash", "-c", check], cwd=ROOT, capture_output=True, timeout=10)
        assert answer.stdout == b"hello world\n", answer.stderr
    finally:
        proc.stop()
        release_port(port)
