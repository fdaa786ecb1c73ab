"""Fixtures for the supervisor tests: management-socket clients, per-worker reads, sd_notify."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import read_all, wait_until


def cli(address: str | int, text: str, timeout: float = 5.0) -> str:
    """One-shot: send *text*, read until the server closes."""
    if isinstance(address, int):
        sock = socket.create_connection(("127.0.0.1", address), timeout=timeout)
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(timeout)
        sock.connect(address)
    with sock:
        sock.sendall(text.encode("latin-1"))
        return read_all(sock, timeout).decode("latin-1")


class Prompt:
    """An interactive (``prompt``) session."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(5)
        self.sock.connect(path)
        self.buffer = b""

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode())

    def until_prompt(self, count: int = 1, timeout: float = 10.0) -> str:
        """Read until *count* more prompts arrived; returns what came before the last one."""
        deadline = time.monotonic() + timeout
        while self.buffer.count(b"\n> ") < count and time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            data = self.sock.recv(65536)
            if not data:
                break
            self.buffer += data
        parts = self.buffer.split(b"\n> ")
        self.buffer = b"\n> ".join(parts[count:])
        return "\n> ".join(p.decode() for p in parts[:count]) + "\n"

    def close(self) -> None:
        self.sock.close()


def http_get(port: int, path: str, timeout: float = 5.0) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        data = read_all(sock, timeout)
    return data.partition(b"\r\n\r\n")[2].decode()


def by_worker(port: int, path: str, workers: int, timeout: float = 10.0) -> dict[str, str]:
    """What each worker answers: the body is '<proc> <value>'; new connections until every worker answered."""
    seen: dict[str, str] = {}

    def all_seen() -> bool:
        proc, _, value = http_get(port, path).partition(" ")
        if proc:
            seen[proc] = value
        return len(seen) >= workers

    assert wait_until(all_seen, timeout, interval=0), f"only workers {sorted(seen)} answered"
    return seen


def until_all(port: int, path: str, workers: int, expected: str, timeout: float = 10.0) -> dict[str, str]:
    """Poll until every worker answers *expected* (bounded); returns the last answers."""
    last: dict[str, str] = {}

    def done() -> bool:
        last.update(by_worker(port, path, workers))
        return all(v == expected for v in last.values())

    wait_until(done, timeout, interval=0.05)
    return last


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[str] = []

    def read(self, timeout: float = 0.2) -> list[str]:
        self.sock.settimeout(timeout)
        while True:
            try:
                self.messages.append(self.sock.recv(65536).decode())
            except TimeoutError:
                return self.messages

    def wait_for(self, needle: str, timeout: float = 10.0) -> list[str]:
        assert wait_until(lambda: any(needle in m for m in self.read()), timeout), self.messages
        return self.messages

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()
