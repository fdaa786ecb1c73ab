"""SIGKILL and SIGSTOP of workers and of the master while a probe keeps asking.

Each worker has its own SO_REUSEPORT socket, so the kernel keeps queueing
connections on a stopped worker's socket.  The master's watchdog kills a
worker whose heartbeat stops; the new worker inherits the same socket from
the master, queue included, so the queued clients are served late, not lost.
"""

from __future__ import annotations

import os
import signal
import threading
import time

from tests.helpers import alive, wait_until

from .kit import Probe, probe_once

SPIN = """
core.register_fetches("spin", function(txn)
   while true do end
end)
"""


def start(write, luaproxy, port: int, extra: str = "", workers: int = 2) -> object:
    write("spin.lua", SPIN)
    write("kill.cfg", f"""
        global
           nbproc {workers}
           lua-load spin.lua
           tune.lua.session-timeout 30s
           {extra}
        defaults
           mode http
           timeout connect 1s
           timeout client 10s
           timeout server 10s
        frontend fe
           bind 127.0.0.1:{port}
           http-request return status 200 content-type text/plain lf-string %[lua.spin] if {{ path /spin }}
           http-request return status 200 content-type text/plain string ok
        """)
    return luaproxy("-f", "kill.cfg", wait_port=port, workers=workers)


def burst(port: int, count: int, timeout: float) -> list[float | None]:
    results: list[float | None] = [None] * count

    def one(i: int) -> None:
        results[i] = probe_once(port, timeout)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 2)
    return results


def test_a_stopped_worker_is_killed_by_the_watchdog_and_its_queue_served(write, luaproxy, port):
    """Before: nothing noticed a SIGSTOPped worker and 12 of 20 new requests timed out."""
    proc = start(write, luaproxy, port, "watchdog 2s")
    stopped = proc.workers()[0]
    os.kill(stopped, signal.SIGSTOP)
    try:
        results = burst(port, 20, timeout=8)
        assert wait_until(lambda: not alive(stopped), 6)
    finally:
        if alive(stopped):
            os.kill(stopped, signal.SIGCONT)
    assert all(r is not None for r in results), results
    assert wait_until(lambda: not alive(stopped), 6)
    assert "Watchdog: worker" in proc.stderr()
    proc.wait_workers(2)


def test_a_stopped_workers_queue_is_served_by_the_others_before_the_watchdog(write, luaproxy, port):
    """The watchdog set far away: the master passes what queues on the stopped worker's socket to the live one
    within about a second (before: those clients waited for the watchdog, 12 of 20 timed out without it)."""
    proc = start(write, luaproxy, port, "watchdog 60s")
    stopped = proc.workers()[0]
    time.sleep(0.6)  # a heartbeat from each worker: the master knows both answer
    os.kill(stopped, signal.SIGSTOP)
    try:
        results = burst(port, 20, timeout=4)
    finally:
        os.kill(stopped, signal.SIGCONT)
    assert all(r is not None for r in results), results
    assert max(r for r in results if r is not None) < 3.0, results
    assert alive(stopped), "the watchdog (60 s) must not have fired"
    assert "passes the connections queued on its sockets to the other workers" in proc.stderr()
    assert wait_until(lambda: "Stopped passing the connections of worker pid" in proc.stderr(), 5)
    assert all(probe_once(port, 2) is not None for _ in range(10))


def test_a_worker_stuck_in_lua_is_killed_and_replaced(write, luaproxy, port):
    proc = start(write, luaproxy, port, "watchdog 2s", workers=1)
    stuck = proc.workers()[0]
    threading.Thread(target=probe_once, args=(port, 10, b"GET /spin HTTP/1.1\r\nHost: t\r\n\r\n"),
                     daemon=True).start()
    assert wait_until(lambda: not alive(stuck), 8)
    assert wait_until(lambda: probe_once(port, 2) is not None, 8)


def test_sigkill_of_workers_under_load(write, luaproxy, port):
    proc = start(write, luaproxy, port)
    with Probe(port, interval=0.02) as probe:
        for _ in range(3):
            time.sleep(0.5)
            os.kill(proc.workers()[0], signal.SIGKILL)
        time.sleep(1)
    report = probe.report()
    # A request a killed worker held is lost; the others are served at once by the survivor.
    assert report.success >= 0.9 and report.p99 < 1.0, report
    proc.wait_workers(2)


def test_a_stopped_master_does_not_stop_traffic(write, luaproxy, port):
    """Stopped longer than the watchdog, the master must not take its own silence for the workers'."""
    proc = start(write, luaproxy, port, "watchdog 2s")
    workers = sorted(proc.workers())
    with Probe(port, interval=0.02) as probe:
        proc.signal(signal.SIGSTOP)
        time.sleep(3)
        proc.signal(signal.SIGCONT)
        time.sleep(1)
    report = probe.report()
    assert report.success == 1.0 and report.p99 < 1.0, report
    assert sorted(proc.workers()) == workers
    assert "Watchdog" not in proc.stderr()


def test_workers_of_a_killed_master_exit_within_a_second_even_when_busy(write, luaproxy, port):
    """Before: a worker busy in Lua noticed its master's death only when its loop next ran."""
    proc = start(write, luaproxy, port, "watchdog 0", workers=1)
    worker = proc.workers()[0]
    threading.Thread(target=probe_once, args=(port, 10, b"GET /spin HTTP/1.1\r\nHost: t\r\n\r\n"),
                     daemon=True).start()
    time.sleep(0.5)
    proc.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    assert wait_until(lambda: not alive(worker), 3, interval=0.02)
    assert time.monotonic() - killed_at < 1.0
