"""Maps and ACLs shared by a fleet of real luaproxy nodes through a real redis-server."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

from tests.fleet.conftest import converged
from tests.helpers import RedisServer, free_port, make_certificate, port_open, wait_until


def restart_redis(server: RedisServer, directory: object) -> None:
    """Start redis-server again on the same port (empty: no persistence)."""
    server.proc = subprocess.Popen(
        ["redis-server", "--port", str(server.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: port_open(server.port), 10)


def test_a_change_on_one_node_reaches_every_worker_of_the_others(redis_server, make_node):
    a = make_node("a", redis_server.port).start()
    b = make_node("b", redis_server.port, map_text="/a other\n").start()
    assert wait_until(lambda: converged([a, b]), 10), (a.fleet(), b.fleet())
    assert set(b.every_worker("/a").values()) == {"one"}  # B took the fleet's state, seeded by A

    assert a.cli("set map m.map /a uno") == "\n"
    assert wait_until(lambda: set(b.every_worker("/a").values()) == {"uno"}, 5)
    assert a.cli("add map m.map /c three") == "\n"
    assert b.cli("del map m.map /b") == "\n"
    assert a.cli("del map m.map /nothing") == "Key not found.\n\n"
    assert b.cli("set map m.map /nothing x") == "entry not found.\n\n"
    assert wait_until(lambda: converged([a, b]), 10)
    for node in (a, b):
        assert set(node.every_worker("/c").values()) == {"three"}
        assert set(node.every_worker("/b").values()) == {"none"}

    # prepare / add @ver / commit: the committed content becomes the fleet's
    version = a.cli("prepare map m.map").split(":")[1].strip()
    assert a.cli(f"add map @{version} m.map /x ex") == "\n"
    assert b.every_worker("/x") == {"1": "none", "2": "none"}
    assert a.cli(f"commit map @{version} m.map") == "\n"
    assert wait_until(lambda: set(b.every_worker("/x").values()) == {"ex"}, 5)
    assert set(b.every_worker("/a").values()) == {"none"}
    assert b.cli("show map m.map").split("\n")[0].endswith("/x ex")

    # Lua core.set_map and core.add_acl in one worker of B reach every worker of A
    b.get("/lua-set", "X-Key: /lua\r\nX-Value: from-lua\r\n")
    b.get("/lua-acl", "X-Key: /evil\r\n")
    assert wait_until(lambda: set(a.every_worker("/lua").values()) == {"from-lua"}, 5)
    assert wait_until(lambda: set(a.every_worker("/evil").values()) == {"blocked"}, 5)
    assert a.cli("del acl block.acl /evil") == "\n"
    assert wait_until(lambda: set(b.every_worker("/evil").values()) == {"none"}, 5)
    assert b.cli("clear map m.map") == "\n"
    assert wait_until(lambda: converged([a, b]), 10)
    assert a.cli("show map m.map") == "\n"

    facts = a.fleet()
    assert facts["Sent"] == "4" and int(facts["Received"]) >= 3 and facts["Failed"] == "1"  # the del of /nothing
    metrics = a.get("/metrics")
    assert "luaproxy_fleet_updates_sent_total" in metrics
    assert "luaproxy_fleet_updates_received_total" in metrics
    assert "luaproxy_fleet_in_sync 1.0" in metrics


def test_a_node_started_later_loads_the_fleet_state(redis_server, make_node):
    a = make_node("a", redis_server.port).start()
    assert wait_until(lambda: a.fleet().get("State") == "up", 10)
    for i in range(20):
        a.cli(f"set map m.map /k{i} v{i}") if i % 2 else a.cli(f"add map m.map /k{i} v{i}")
    assert a.cli("del map m.map /b") == "\n"
    c = make_node("c", redis_server.port, map_text="/zzz stale\n").start()
    assert wait_until(lambda: converged([a, c]), 10), c.fleet()
    assert set(c.every_worker("/k18").values()) == {"v18"}
    assert set(c.every_worker("/zzz").values()) == {"none"}
    assert (c.directory / "m.map").read_text() == "/zzz stale\n"  # files stay the boot state


def test_concurrent_changes_to_one_key_end_equal_everywhere(redis_server, make_node):
    a = make_node("a", redis_server.port).start()
    b = make_node("b", redis_server.port).start()
    assert wait_until(lambda: converged([a, b]), 10)

    def hammer(node, name):
        for i in range(50):
            node.cli(f"set map m.map /a {name}{i}")

    threads = [threading.Thread(target=hammer, args=(node, name)) for node, name in ((a, "a"), (b, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert wait_until(lambda: converged([a, b]), 10)
    values = set(a.every_worker("/a").values()) | set(b.every_worker("/a").values())
    assert len(values) == 1 and values.pop() in ("a49", "b49")


def test_redis_stopped_and_restarted_nothing_is_lost(redis_server, make_node, tmp_path):
    a = make_node("a", redis_server.port).start()
    b = make_node("b", redis_server.port).start()
    assert wait_until(lambda: converged([a, b]), 10)
    assert a.cli("set map m.map /a before") == "\n"
    assert wait_until(lambda: converged([a, b]), 10)

    redis_server.stop()
    assert wait_until(lambda: a.fleet()["State"] == "down" and b.fleet()["State"] == "down", 10)
    assert a.cli("add map m.map /from-a a") == "\n"  # taken locally while Redis is away
    assert b.cli("set map m.map /b from-b") == "\n"
    assert set(a.every_worker("/from-a").values()) == {"a"}
    assert set(b.every_worker("/from-a").values()) == {"none"}

    restart_redis(redis_server, tmp_path)
    assert wait_until(lambda: converged([a, b]), 15), (a.fleet(), b.fleet())
    for node in (a, b):
        assert set(node.every_worker("/a").values()) == {"before"}
        assert set(node.every_worker("/from-a").values()) == {"a"}
        assert set(node.every_worker("/b").values()) == {"from-b"}
    assert a.proc.stderr().count("fleet-sync: lost Redis") == 1
    assert a.fleet()["Outages"] == "1"


def test_a_node_killed_mid_stream_converges_when_restarted(redis_server, make_node):
    a = make_node("a", redis_server.port).start()
    b = make_node("b", redis_server.port).start()
    assert wait_until(lambda: converged([a, b]), 10)
    stop = threading.Event()

    def stream() -> None:
        i = 0
        while not stop.is_set():
            a.cli(f"set map m.map /a v{i}" if i % 3 else f"add map m.map /n{i} {i}")
            i += 1

    writer = threading.Thread(target=stream)
    writer.start()
    try:
        time.sleep(0.5)
        b.kill()
        time.sleep(0.5)
        b.start()
        started = time.monotonic()
        assert wait_until(lambda: b.fleet()["State"] == "up", 10)
    finally:
        stop.set()
        writer.join(30)
    assert wait_until(lambda: converged([a, b]), 10)
    assert time.monotonic() - started < 10


def test_redis_away_at_start_then_back(redis_server, make_node, tmp_path):
    redis_server.stop()
    a = make_node("a", redis_server.port).start()
    assert wait_until(lambda: a.fleet()["State"] == "down", 10)
    assert a.cli("set map m.map /a offline") == "\n"
    restart_redis(redis_server, tmp_path)
    b = make_node("b", redis_server.port).start()
    assert wait_until(lambda: converged([a, b]), 15)
    assert set(b.every_worker("/a").values()) == {"offline"}


def test_map_persist_writes_the_fleet_state_on_each_node(redis_server, make_node):
    a = make_node("a", redis_server.port, extra="map-persist on").start()
    b = make_node("b", redis_server.port, extra="map-persist on").start()
    assert wait_until(lambda: converged([a, b]), 10)
    assert a.cli("set map m.map /a persisted") == "\n"
    assert wait_until(lambda: (b.directory / "m.map").read_text() == "/a persisted\n/b two\n", 5)
    assert (a.directory / "m.map").read_text() == "/a persisted\n/b two\n"


def agent_pid(node) -> int:
    """The node's fleet agent, found by its process title."""
    for pid in node.proc.workers():
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            if b"fleet" in handle.read():
                return pid
    raise AssertionError("no fleet agent")


def test_redis_restarted_empty_keeps_what_a_lagging_seeder_missed(redis_server, make_node, tmp_path):
    """A node that was behind seeds the new Redis; the node that saw more carries the rest over."""
    a = make_node("a", redis_server.port).start()
    b = make_node("b", redis_server.port).start()
    assert wait_until(lambda: converged([a, b]), 10)
    a_agent, b_agent = agent_pid(a), agent_pid(b)
    os.kill(a_agent, signal.SIGSTOP)  # A stops following the stream
    try:
        assert b.cli("set map m.map /a fromB;add map m.map /c seen-by-b") == "\n\n"
        assert set(b.every_worker("/a").values()) == {"fromB"}
        os.kill(b_agent, signal.SIGSTOP)
        redis_server.stop()
        os.kill(a_agent, signal.SIGKILL)  # what it had read of B's changes dies with it; the master starts another
        restart_redis(redis_server, tmp_path)
        assert wait_until(lambda: a.fleet()["State"] == "up", 10)  # A seeded the new Redis with what it had
        assert set(a.every_worker("/a").values()) == {"one"}
    finally:
        os.kill(b_agent, signal.SIGCONT)
    assert wait_until(lambda: converged([a, b]), 15), (a.fleet(), b.fleet())
    for node in (a, b):
        assert set(node.every_worker("/a").values()) == {"fromB"}
        assert set(node.every_worker("/c").values()) == {"seen-by-b"}


def test_a_node_with_history_takes_over_from_a_fresh_boot_after_redis_lost_its_data(redis_server, make_node,
                                                                                    tmp_path):
    a = make_node("a", redis_server.port).start()
    b = make_node("b", redis_server.port).start()
    assert wait_until(lambda: converged([a, b]), 10)
    assert a.cli("set map m.map /a changed;add map m.map /c added") == "\n\n"
    assert wait_until(lambda: converged([a, b]), 10)
    b_agent = agent_pid(b)
    os.kill(b_agent, signal.SIGSTOP)
    try:
        redis_server.stop()
        a.kill()
        restart_redis(redis_server, tmp_path)
        a.start()  # boots from its files and seeds the empty Redis with them
        assert wait_until(lambda: a.fleet()["State"] == "up", 10)
        assert set(a.every_worker("/a").values()) == {"one"}
    finally:
        os.kill(b_agent, signal.SIGCONT)
    assert wait_until(lambda: converged([a, b]), 15), (a.fleet(), b.fleet())
    for node in (a, b):
        assert set(node.every_worker("/a").values()) == {"changed"}
        assert set(node.every_worker("/c").values()) == {"added"}


def test_a_reload_keeps_the_link_and_the_fleet_state(redis_server, make_node):
    a = make_node("a", redis_server.port).start()
    b = make_node("b", redis_server.port).start()
    assert wait_until(lambda: converged([a, b]), 10)
    assert b.cli("set map m.map /a before-reload") == "\n"
    agent = agent_pid(a)
    a.proc.signal(signal.SIGUSR2)
    assert wait_until(lambda: "Loading success" in a.proc.stderr().split("Reloading")[-1], 15)
    assert wait_until(lambda: converged([a, b]), 10)
    assert agent_pid(a) == agent
    assert set(a.every_worker("/a").values()) == {"before-reload"}
    assert a.cli("set map m.map /a after-reload") == "\n"
    assert wait_until(lambda: set(b.every_worker("/a").values()) == {"after-reload"}, 5)


def test_fleet_sync_configuration_errors(write, luaproxy):
    write("bad.cfg", """
        global
           fleet-sync http://127.0.0.1:6379
        """)
    proc = luaproxy("-c", "-f", "bad.cfg")
    assert proc.wait(30) == 1
    assert "bad.cfg:2" in proc.stderr() and "redis://" in proc.stderr()


def test_rediss_with_a_password(make_node, tmp_path):
    """TLS (rediss://, the CA given in the URL's query) and AUTH; show fleet hides the password."""
    cert, key = make_certificate(tmp_path)
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--tls-cert-file", str(cert),
         "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no",
         "--requirepass", "s3cret", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: port_open(port), 10)
        url = f"rediss://:s3cret@127.0.0.1:{port}/0?ssl_ca_certs={cert}&ssl_check_hostname=false"
        a = make_node("a", port, url=url).start()
        b = make_node("b", port, url=url).start()
        assert wait_until(lambda: converged([a, b]), 10), a.fleet()
        assert a.cli("set map m.map /a over-tls") == "\n"
        assert wait_until(lambda: set(b.every_worker("/a").values()) == {"over-tls"}, 5)
        assert a.fleet()["Redis"].startswith(f"rediss://:***@127.0.0.1:{port}/0")
        assert "s3cret" not in a.cli("show fleet")
    finally:
        server.kill()
        server.wait(5)
