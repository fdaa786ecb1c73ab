"""Fleet fixtures: a real redis-server, real luaproxy nodes on 127.0.0.1, each in its own directory."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import Process, RedisServer, free_port, port_listening, read_all, wait_until

LUA = """
core.register_action("lua_set", {"http-req"}, function(txn)
  core.set_map("m.map", txn.sf:req_hdr("x-key"), txn.sf:req_hdr("x-value"))
end)
core.register_action("lua_acl", {"http-req"}, function(txn)
  core.add_acl("block.acl", txn.sf:req_hdr("x-key"))
end)
"""


class Node:
    """One luaproxy node: its directory, HTTP port, admin socket and process."""

    def __init__(self, directory: Path, redis_port: int, workers: int = 2, map_text: str = "/a one\n/b two\n",
                 extra: str = "", url: str = "") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.workers = workers
        self.admin = str(directory / "admin.sock")
        (directory / "set.lua").write_text(LUA)
        (directory / "m.map").write_text(map_text)
        (directory / "block.acl").write_text("/blocked\n")
        (directory / "n.cfg").write_text(textwrap.dedent(f"""
            global
               nbproc {workers}
               lua-load set.lua
               stats socket {self.admin} level admin
               fleet-sync {url or f"redis://127.0.0.1:{redis_port}"} name test
               {extra}
            defaults
               mode http
               timeout client 5s
            frontend fe
               bind 127.0.0.1:{self.port}
               http-request use-service prometheus-exporter if {{ path /metrics }}
               http-request lua.lua_set if {{ path /lua-set }}
               http-request lua.lua_acl if {{ path /lua-acl }}
               http-request return status 403 content-type text/plain lf-string "%[proc] blocked" \
if {{ path -f block.acl }}
               http-request return status 200 content-type text/plain lf-string "%[proc] %[path,map(m.map,none)]"
            """))
        self.proc: Process | None = None

    def start(self) -> Node:
        self.proc = Process(["-f", "n.cfg"], self.directory)
        ok = wait_until(lambda: port_listening(self.port) or self.proc.proc.poll() is not None, 15)
        assert ok and self.proc.proc.poll() is None, f"node did not start:\n{self.proc.stderr()}"
        self.proc.wait_workers(self.workers + 1)
        assert wait_until(lambda: os.path.exists(self.admin), 10)
        return self

    def cli(self, command: str, timeout: float = 5.0) -> str:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(timeout)
        sock.connect(self.admin)
        with sock:
            sock.sendall(f"{command}\n".encode("latin-1"))
            return read_all(sock, timeout).decode("latin-1")

    def fleet(self) -> dict[str, str]:
        """``show fleet`` as a dict."""
        out = {}
        for line in self.cli("show fleet").splitlines():
            name, _, value = line.partition(": ")
            out[name] = value
        return out

    def digests(self) -> set[str]:
        """Every process's digest (the master's and each worker's)."""
        facts = self.fleet()
        found = {v for k, v in facts.items() if k.startswith("Digest ")}
        workers = [k for k in facts if k.startswith("Digest worker")]
        return found if len(workers) == self.workers else {"missing worker"}

    def get(self, path: str, headers: str = "") -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n{headers}Connection: close\r\n\r\n".encode())
            data = read_all(sock, 5)
        return data.partition(b"\r\n\r\n")[2].decode()

    def every_worker(self, path: str, timeout: float = 10.0) -> dict[str, str]:
        """What each worker answers for *path* ('<proc> <value>' bodies), new connections until all answered."""
        seen: dict[str, str] = {}

        def all_seen() -> bool:
            proc, _, value = self.get(path).partition(" ")
            if proc:
                seen[proc] = value
            return len(seen) >= self.workers

        assert wait_until(all_seen, timeout, interval=0), f"only workers {sorted(seen)} answered"
        return seen

    def kill(self) -> None:
        """SIGKILL the master and every child, as a crash would."""
        assert self.proc is not None
        for pid in [self.proc.pid, *self.proc.workers()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(5)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


def converged(nodes: list[Node]) -> bool:
    """Every process of every node holds the same lists, and every link is up."""
    try:
        facts = [node.fleet() for node in nodes]
        digests = set().union(*(node.digests() for node in nodes))
    except OSError:
        return False
    return all(f.get("State") == "up" for f in facts) and len(digests) == 1


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    made: list[Node] = []

    def make(name: str, redis_port: int, **options: object) -> Node:
        node = Node(tmp_path / name, redis_port, **options)  # type: ignore[arg-type]
        made.append(node)
        return node

    yield make
    for node in made:
        node.stop()
