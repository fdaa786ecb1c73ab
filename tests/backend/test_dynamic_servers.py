"""``add server`` / ``del server`` end to end: two workers, a worker killed and respawned, a reload, and
haproxy 2.6's answers; plus the store's replay of dynamic servers as values."""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from luaproxy.master.dynamic_servers import ServerFactory, add_server, del_server
from luaproxy.master.runtime_store import RuntimeStore
from luaproxy.worker.backend import make_balancer
from luaproxy.worker.backend.checks import TCP_CHECK
from luaproxy.worker.backend.state import QuietLogger, ServerChange, ServerChangeError, change_server
from luaproxy.worker.proxy import Proxy
from tests.backend.kit import farm, proxy
from tests.helpers import HttpBackend, http_exchange, parse_responses, wait_until
from tests.supervisor.conftest import cli


@pytest.fixture
def servers() -> Iterator[tuple[HttpBackend, HttpBackend]]:
    made = (HttpBackend("a"), HttpBackend("b"))
    yield made
    for backend in made:
        backend.close()


def config(tmp_path, port: int, a: int) -> str:
    return f"""
        global
           nbproc 2
           stats socket {tmp_path}/admin.sock level admin
        defaults
           mode http
           timeout connect 1s
           timeout client 5s
           timeout server 5s
        frontend fe
           bind 127.0.0.1:{port}
           default_backend be
        backend be
           http-response set-header x-srv %[srv_name]
           server a 127.0.0.1:{a}
        backend fixed
           balance static-rr
           server f 127.0.0.1:{a}
        """


def served_by(port: int, count: int = 8) -> set[str]:
    """Which servers answered *count* requests, each on a new connection (so both workers take some)."""
    names = set()
    for _ in range(count):
        raw = http_exchange(port, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        ((_, headers, _),) = parse_responses(raw)
        names.add(headers.get("x-srv", "-"))
    return names


def test_add_enable_respawn_reload_delete(write, luaproxy, port, tmp_path, servers):
    a, b = servers
    write("d.cfg", config(tmp_path, port, a.port))
    proc = luaproxy("-f", "d.cfg", wait_port=port, workers=2)
    sock = str(tmp_path / "admin.sock")
    assert cli(sock, f"add server nope/b 127.0.0.1:{b.port}\n") == "No such backend.\n\n"
    assert cli(sock, f"add server fixed/b 127.0.0.1:{b.port}\n") == (
        "Backend must use a dynamic load balancing to support dynamic servers.\n\n")
    assert cli(sock, "add server be/b\n") == "'server' expects <name> and <addr>[:<port>] as arguments.\n\n"
    assert cli(sock, f"add server be/b 127.0.0.1:{b.port}\n") == "New server registered.\n\n"
    assert cli(sock, f"add server be/b 127.0.0.1:{b.port}\n") == (
        "Already exists a server with the same name in backend.\n\n")
    assert served_by(port) == {"a"}  # a new server starts in maintenance
    cli(sock, "enable server be/b\n")
    assert served_by(port) == {"a", "b"}
    assert " b 127.0.0.1 " in cli(sock, "show servers state be\n")

    victim = proc.workers()[0]
    os.kill(victim, signal.SIGKILL)
    assert wait_until(lambda: len(proc.workers()) == 2 and victim not in proc.workers(), 15)
    assert served_by(port) == {"a", "b"}  # the respawned worker has it too

    proc.signal(signal.SIGUSR2)  # reload: the dynamic server and its state are replayed
    assert wait_until(lambda: "kept the runtime state of: be/b" in proc.stderr(), 15), proc.stderr()
    assert wait_until(lambda: len(proc.workers()) == 2, 15)
    assert served_by(port) == {"a", "b"}

    assert cli(sock, "del server be/b\n") == "Only servers in maintenance mode can be deleted.\n\n"
    cli(sock, "set server be/a weight 0\n")
    before = b.requests
    slow = threading.Thread(target=http_exchange, args=(port, b"GET /slow/1.5 HTTP/1.1\r\nhost: x\r\n"
                                                             b"connection: close\r\n\r\n"))
    slow.start()
    assert wait_until(lambda: b.requests > before, 5)  # in flight on b
    cli(sock, "disable server be/b\n")
    assert cli(sock, "del server be/b\n") == "Server still has connections attached to it, cannot remove it.\n\n"
    slow.join(10)
    cli(sock, "set server be/a weight 1\n")
    assert wait_until(lambda: cli(sock, "del server be/b\n") == "Server deleted.\n\n", 5)
    assert cli(sock, "del server be/b\n") == "No such server.\n\n"
    assert served_by(port) == {"a"}
    assert " b 127.0.0.1 " not in cli(sock, "show servers state be\n")


def test_store_replays_an_added_server_and_forgets_a_deleted_one():
    store = RuntimeStore([dynamic_backend()])
    store.apply(ServerChange("be", "new", "add", words=("127.0.0.1:9", "weight", "5")))
    store.apply(ServerChange("be", "new", "state", "ready"))
    store.apply(ServerChange("be", "gone", "add", words=("127.0.0.1:9",)))
    store.apply(ServerChange("be", "gone", "del"))
    with pytest.raises(ServerChangeError, match="No such server"):
        store.apply(ServerChange("be", "gone", "del"))
    after = RuntimeStore([dynamic_backend()])
    kept, _ = after.carry_over(store)
    assert kept == ["be/new"]
    (new,) = [s for s in after.proxies[0].servers if s.name == "new"]
    assert (new.weight, new.admin_state, new.dynamic) == (5, "READY", True)


def dynamic_backend() -> Proxy:
    be = proxy(farm(1, 1))
    be.balancer = make_balancer(("roundrobin",), be.servers, {})
    be.server_factory = ServerFactory(TCP_CHECK)
    return be


@pytest.mark.parametrize(("words", "answer"), [
    (("1.2.3.4:80", "foo"), "unknown server option 'foo'."),
    (("1.2.3.4:80", "id", "1"), "this server ID is already used by another server in backend 'be'."),
    (("1.2.3.4:80", "track", "s1"), "unable to use be/s1 for tracking as it does not have any check nor agent"),
    (("1.2.3.4:80", "track", "zz"), "unable to find required server 'zz' for tracking."),
])
def test_add_server_refusals_change_nothing(words, answer):
    be = dynamic_backend()
    with pytest.raises(ServerChangeError, match=re.escape(answer)):
        add_server([be], ServerChange("be", "new", "add", words=words))
    assert [s.name for s in be.servers] == ["s1", "s2"]


def test_a_tracker_follows_maintenance_and_health():
    be = dynamic_backend()
    be.servers[0].check = True
    add_server([be], ServerChange("be", "t", "add", words=("1.2.3.4:80", "track", "s1")))
    tracker = be.servers[-1]
    change_server(be, tracker, ServerChange("be", "t", "state", "ready"), QuietLogger())
    change_server(be, be.servers[0], ServerChange("be", "s1", "state", "maint"), QuietLogger())
    assert (tracker.admin_state, tracker.inherited_maint) == ("MAINT", True)
    with pytest.raises(ServerChangeError, match="other configuration elements"):
        del_server([be], ServerChange("be", "s1", "del"))
    change_server(be, be.servers[0], ServerChange("be", "s1", "state", "ready"), QuietLogger())
    assert tracker.admin_state == "READY"
    change_server(be, be.servers[0], ServerChange("be", "s1", "health", "down"), QuietLogger())
    assert tracker.op_state == "DOWN"
    change_server(be, tracker, ServerChange("be", "t", "state", "maint"), QuietLogger())
    assert del_server([be], ServerChange("be", "t", "del")) == "Server deleted."
    assert be.servers[0].trackers == []


def test_an_added_servers_agent_waits_for_enable_agent(write, luaproxy, port, tmp_path, servers):
    """haproxy 2.6: the agent of a server added at run time is asked only once 'enable agent' says so."""
    a, b = servers
    agent = socket.create_server(("127.0.0.1", 0))
    asked: list[bytes] = []

    def answer() -> None:
        while True:
            try:
                conn, _ = agent.accept()
            except OSError:
                return
            with conn:
                asked.append(b"x")
                conn.sendall(b"down\n")

    threading.Thread(target=answer, daemon=True).start()
    try:
        write("d.cfg", config(tmp_path, port, a.port))
        luaproxy("-f", "d.cfg", wait_port=port, workers=2)
        sock = str(tmp_path / "admin.sock")
        words = f"127.0.0.1:{b.port} agent-check agent-port {agent.getsockname()[1]} agent-inter 100ms"
        assert cli(sock, f"add server be/b {words}\n") == "New server registered.\n\n"
        cli(sock, "enable server be/b\n")
        assert served_by(port) == {"a", "b"}
        time.sleep(0.5)
        assert not asked  # not before 'enable agent'
        cli(sock, "enable agent be/b\n")
        assert wait_until(lambda: served_by(port, 4) == {"a"}, 5)  # the agent said down
    finally:
        agent.close()


def test_an_added_server_is_checked_with_the_backends_compiled_http_check(write, luaproxy, port, tmp_path,
                                                                          servers):
    """The log-formats and variables of 'http-check' rules work for a server added at run time too."""
    a, b = servers
    text = config(tmp_path, port, a.port).replace(
        "           server a 127.0.0.1:",
        "           option httpchk\n"
        "           http-check set-var(check.code) str(200)\n"
        "           http-check send meth GET uri-lf /status/%[var(check.code)]\n"
        "           server a 127.0.0.1:", 1)
    write("d.cfg", text)
    proc = luaproxy("-f", "d.cfg", wait_port=port, workers=2)
    sock = str(tmp_path / "admin.sock")
    assert cli(sock, f"add server be/b 127.0.0.1:{b.port} check inter 100ms fall 1\n") == "New server registered.\n\n"
    cli(sock, "enable server be/b\n")
    cli(sock, "enable health be/b\n")
    before = b.requests
    assert wait_until(lambda: b.requests >= before + 4, 5)  # checked by both workers
    time.sleep(0.3)
    assert served_by(port) == {"a", "b"}
    assert "health check of be/b failed" not in proc.stderr()
