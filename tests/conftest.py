"""Fixtures shared by the whole suite: real processes, real sockets, all cleaned up."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import EchoServer, Process, free_port, port_listening, wait_until


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a dedented file into the test's directory."""

    def writer(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return writer


@pytest.fixture
def luaproxy(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start luaproxy for real; every process it made is killed by PID at teardown."""
    started: list[Process] = []

    def start(*args: str, wait_port: int | None = None, workers: int = 1,
              env: dict[str, str] | None = None) -> Process:
        proc = Process(list(args), tmp_path, env)
        started.append(proc)
        if wait_port is not None:
            ok = wait_until(lambda: port_listening(wait_port) or proc.proc.poll() is not None, 15)
            assert ok and proc.proc.poll() is None, f"luaproxy did not start:\n{proc.stderr()}"
            proc.wait_workers(workers)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture
def port() -> int:
    return free_port()
