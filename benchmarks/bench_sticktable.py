"""Stick-table costs: worker CPU added per request, the table operations alone, and memory (run by hand).

    python benchmarks/bench_sticktable.py [--seconds 5] [--entries 1000000] [--only-cpu] [--instructions]
    python benchmarks/bench_sticktable.py --live-instructions [--rounds 6] [--keep-dumps DIR]

1. One luaproxy worker under wrk (keep-alive), answering ``http-request
   return`` with and without ``http-request track-sc0 src`` plus ``deny if {
   sc_http_req_rate(0) gt N }``: the difference in worker CPU per request
   (from /proc) is what tracking one key and checking its rate costs.  The
   same request's stick work without sockets, in CPU time and in Python
   bytecodes; with ``--instructions``, in machine instructions counted by
   valgrind (callgrind): the figures a loaded machine does not move.  A
   worker runs its requests at roughly a third of a hot loop's instructions
   per microsecond, so the live figure is about the instructions over that rate.
   With ``--live-instructions``, the live worker's own instructions per
   request under callgrind, both variants served by one worker in alternating
   rounds (the least of each): what the rules add on the real path.
2. The same work without the network: track, read the rate, untrack; and one
   track with warm caches and after evicting them (a loaded machine's case).
3. A table of ``--entries`` entries (``type ip``, ``http_req_rate``,
   ``conn_cur``, ``gpc0``) filled completely: the memory its size implies
   (the mapping) and what the process's RSS grew by.
4. The column give-back on that table: a forked process tracks some entries
   and dies holding them; ``reclaim(pid)`` (what the master runs when a worker
   dies) reads the dead process's column, then gives back what it held, a
   batch per lock hold.  Its total time and the longest lock hold (how long a
   worker may wait meanwhile).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_http import free_port, run_wrk, start, stop, wait_port, worker_pid

from luaproxy.master import reload
from luaproxy.worker.rules.evaluate import run_rules
from luaproxy.worker.samples import Vars
from luaproxy.worker.sticktable import SharedTable, parse_table_args
from luaproxy.worker.sticktable.tracking import Trackers
from luaproxy.worker.txn import Transaction

TRACKED = """   stick-table type ip size 1m expire 60s store http_req_rate(10s),conn_cur,gpc0
   http-request track-sc0 src
   http-request deny if { sc_http_req_rate(0) gt 1000000000 }
"""


def _config(port: int, tracked: bool) -> str:
    return f"""{_GLOBAL}{_frontend("fe", port, tracked)}"""


_GLOBAL = """global
   nbproc 1
defaults
   mode http
   timeout connect 2s
   timeout client 10s
   timeout server 10s
"""


def _frontend(name: str, port: int, tracked: bool) -> str:
    return f"""frontend {name}
   bind 127.0.0.1:{port}
{TRACKED if tracked else ""}   http-request return status 200 content-type text/plain string ok
"""


def cpu_ns(pid: int) -> int:
    """A process's CPU time in nanoseconds, every thread summed (/proc's schedstat: the scheduler's own
    clock, where /proc/PID/stat counts 10 ms ticks)."""
    return sum(int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
               for task in os.listdir(f"/proc/{pid}/task"))


def sequential_cpu(port: int, pid: int, requests: int) -> float:
    """Worker CPU per request for *requests* sent one after the other on one keep-alive connection
    (every request pays the same wake-ups, so the difference between variants is their own work)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        cpu = cpu_ns(pid)
        _requests_on(sock, requests)
        return (cpu_ns(pid) - cpu) / requests / 1e3


def _requests_on(sock: socket.socket, requests: int) -> None:
    """*requests* requests one after the other on the keep-alive connection *sock*, each answer read whole."""
    reader = sock.makefile("rb")
    for _ in range(requests):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: b\r\n\r\n")
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        reader.read(length)


def worker_cpu_per_request(seconds: int, luaproxy: str, connections: int, rounds: int = 6) -> dict[str, list[float]]:
    """Both variants run side by side; short runs alternate between them (which goes first alternates
    too), so that a busy machine weighs on both alike: ``added`` holds each round's difference, whose
    median is the steadier figure.  With one connection the requests go one after the other (no
    wrk), else wrk drives *connections* keep-alive connections."""
    samples: dict[str, list[float]] = {"plain": [], "tracked": [], "added": []}
    procs, targets = [], {}
    labels = ("plain", "tracked")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for label in labels:
                port = free_port()
                Path(tmp, f"{label}.cfg").write_text(_config(port, label == "tracked"))
                procs.append(start([luaproxy, "-f", f"{label}.cfg"], tmp))
                wait_port(port)
                targets[label] = port
            time.sleep(0.5)
            pids = {label: worker_pid(proc.pid) for label, proc in zip(labels, procs, strict=True)}
            for label in labels:
                run_wrk(targets[label], 1, 10, [], pids[label])
            for n in range(rounds):
                for label in labels if n % 2 else labels[::-1]:
                    if connections == 1:
                        samples[label].append(sequential_cpu(targets[label], pids[label], 2000 * seconds))
                    else:
                        samples[label].append(
                            run_wrk(targets[label], seconds, connections, [], pids[label])["cpu_us"])
                samples["added"].append(samples["tracked"][-1] - samples["plain"][-1])
        finally:
            for proc in procs:
                stop(proc)
    return samples


def table_operations(rounds: int = 100_000, repeat: int = 5) -> float:
    words = ("type", "ip", "size", "1m", "expire", "60s", "store", "http_req_rate(10s),conn_cur,gpc0")
    table = SharedTable(parse_table_args("t", words))
    key = socket.inet_aton("127.0.0.1")
    best = float("inf")
    for _ in range(repeat):
        start_time = time.process_time()
        for _ in range(rounds):
            idx = table.track(key, ("conn", "sess", "http_req"))
            table.value(idx, "http_req_rate")
            table.untrack(idx)
        best = min(best, (time.process_time() - start_time) / rounds * 1e6)
    return best


def cold_track(rounds: int = 2000, evict_mb: int = 16) -> tuple[float, float]:
    """(median µs of one ``track`` with warm caches, the same after *evict_mb* MB were written
    between calls): a worker between two requests of a loaded machine runs with cold caches, which is
    most of what tracking costs on the real request path there."""
    words = ("type", "ip", "size", "1m", "expire", "60s", "store", "http_req_rate(10s),conn_cur,gpc0")
    table = SharedTable(parse_table_args("t", words))
    key = socket.inet_aton("127.0.0.1")
    junk = bytearray(evict_mb << 20)
    ones = b"\1" * (len(junk) // 64)
    medians = []
    for evict in (False, True):
        times = []
        for _ in range(rounds):
            if evict:
                junk[::64] = ones  # one write per cache line
            began = time.perf_counter_ns()
            idx = table.track(key, ("conn", "sess", "http_req"))
            times.append(time.perf_counter_ns() - began)
            table.untrack(idx)
        medians.append(statistics.median(times) / 1e3)
    return medians[0], medians[1]


def _requests() -> dict[str, Callable[[], None]]:
    """One request's stick work without sockets, as the HTTP stream runs it for ``http-request return``
    (plain: the same without the rules): the next stream begins, the rules run, the reply counts the
    stream's end and keeps the counters for the log, the log's end finds it counted."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "r.cfg")
        path.write_text(_config(free_port(), True))
        frontend = reload.load([str(path)], logging.getLogger("bench")).proxies[0]
    trackers = Trackers()

    def request(rule_list: list) -> Callable[[], None]:
        def one() -> None:
            txn = Transaction(None, frontend, None, None, None, 0, {}, (1, 1), Vars({}, {}),  # type: ignore[arg-type]
                              (("127.0.0.1", 5000), ("127.0.0.1", 80)))
            txn.http_mode = True
            txn.stkctr = trackers
            if trackers.ended:
                trackers.begin_stream()
            run_rules(rule_list, txn)
            if rule_list:
                trackers.end_stream(200, 100, 100, False, True)
                trackers.end_stream(200, 100, 100, False)

        return one

    return {"plain": request([]), "tracked": request(frontend.ruleset("http-request")[:-1])}


def rules_cost(rounds: int = 20_000, repeat: int = 7) -> float:
    """CPU added per request by the compiled ``track-sc0 src`` + ``deny if { sc_http_req_rate(0) gt N }``
    rules, the end of the stream included, without sockets: the least of several runs (process time)."""
    costs = {}
    for label, one in _requests().items():
        best = float("inf")
        for _ in range(repeat):
            start_time = time.process_time()
            for _ in range(rounds):
                one()
            best = min(best, (time.process_time() - start_time) / rounds * 1e6)
        costs[label] = best
    return costs["tracked"] - costs["plain"]


def rules_bytecodes(rounds: int = 20) -> float:
    """Python bytecodes added per request by the same rules: a count that does not depend on the load."""
    counts = {}
    for label, one in _requests().items():
        one()
        executed = 0

        def tracer(frame: Any, event: str, arg: Any) -> Any:
            nonlocal executed
            frame.f_trace_opcodes = True
            if event == "opcode":
                executed += 1
            return tracer

        sys.settrace(tracer)
        try:
            for _ in range(rounds):
                one()
        finally:
            sys.settrace(None)
        counts[label] = executed / rounds
    return counts["tracked"] - counts["plain"]


def instructions(python: str = sys.executable) -> float:
    """Machine instructions added per request by the rules without sockets, counted by callgrind:
    the difference between two runs of different lengths, for each variant, cancels the start."""
    counts: dict[str, float] = {}
    for label in ("plain", "tracked"):
        totals = []
        for rounds in (1000, 6000):
            out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", python,
                                  __file__, "--loop", label, str(rounds)], capture_output=True, text=True,
                                 timeout=600).stderr
            totals.append(int(re.search(r"refs:\s+([\d,]+)", out).group(1).replace(",", "")))
        counts[label] = (totals[1] - totals[0]) / 5000
    return counts["tracked"] - counts["plain"]


def _keep_alive_requests(port: int, requests: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        _requests_on(sock, requests)


def live_instructions(luaproxy: str, requests: int = 1000, rounds: int = 3, keep: str = "") -> dict[str, list[float]]:
    """Machine instructions per request of the live worker, counted by callgrind: one worker serves
    both variants (two frontends), so both run in the same process, its start paid once; its
    counters are zeroed after some warm-up requests, then each round dumps *requests* requests of
    each variant, one at a time on a keep-alive connection (which goes first alternates).  A
    round's figure also holds what the worker does by the clock meanwhile and whether the next
    request was already there when it read (the machine's load decides): the least of the rounds
    is the steadier figure.  *keep*: a directory to keep the dumps in, for ``callgrind_annotate``.
    The hash seed is fixed: with random ones the same code's count varied by a few thousand
    instructions per request."""
    os.environ["PYTHONHASHSEED"] = "0"
    counts: dict[str, list[float]] = {"plain": [], "tracked": [], "added": []}
    ports = {"plain": free_port(), "tracked": free_port()}
    with tempfile.TemporaryDirectory() as tmp:
        out = keep or tmp
        Path(tmp, "live.cfg").write_text(_GLOBAL + "".join(_frontend(label, port, label == "tracked")
                                                           for label, port in ports.items()))
        proc = start(["valgrind", "--tool=callgrind", "--trace-children=yes",
                      f"--callgrind-out-file={out}/live.%p", luaproxy, "-f", "live.cfg"], tmp)
        try:
            for port in ports.values():
                wait_port(port, 900)
            deadline = time.monotonic() + 900
            while worker_pid(proc.pid) == proc.pid and time.monotonic() < deadline:
                time.sleep(0.5)
            worker = str(worker_pid(proc.pid))
            for port in ports.values():
                _keep_alive_requests(port, 200)
            dumps = 0
            for n in range(rounds):
                for label in ("plain", "tracked") if n % 2 == 0 else ("tracked", "plain"):
                    subprocess.run(["callgrind_control", "--zero", worker], capture_output=True, timeout=120,
                                   check=True)
                    _keep_alive_requests(ports[label], requests)
                    subprocess.run(["callgrind_control", "--dump", worker], capture_output=True, timeout=120,
                                   check=True)
                    dumps += 1
                    dump = Path(out, f"live.{worker}.{dumps}").read_text()
                    total = int(re.search(r"^(?:summary|totals):\s+(\d+)", dump, re.M).group(1))
                    counts[label].append(total / requests)
                counts["added"].append(counts["tracked"][-1] - counts["plain"][-1])
        finally:
            stop(proc)
    return counts


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def memory(entries: int) -> dict[str, float]:
    before = _rss_kb()
    table = SharedTable(parse_table_args("t", ("type", "ip", "size", str(entries), "store",
                                               "http_req_rate(10s),conn_cur,gpc0")))
    start_time = time.perf_counter()
    for n in range(entries):
        table.untrack(table.track(n.to_bytes(4, "big"), ("http_req",)))
    filled = time.perf_counter() - start_time
    grown = (_rss_kb() - before) * 1024
    assert table.used() == entries
    return {"mapping_mb": table.memory_bytes / 1e6, "rss_growth_mb": grown / 1e6,
            "bytes_per_entry": table.memory_bytes / entries, "fill_us_per_entry": filled / entries * 1e6}


def reclaim_cost(entries: int, held: int) -> dict[str, float]:
    """Time ``reclaim`` after a process that tracked *held* of *entries* entries died holding them."""
    from luaproxy.worker.sticktable import table as table_module

    table = SharedTable(parse_table_args("t", ("type", "ip", "size", str(entries), "store",
                                               "http_req_rate(10s),conn_cur,gpc0"), ), columns=4)
    for n in range(entries):
        table.untrack(table.track(n.to_bytes(4, "big"), ("http_req",)))
    pid = os.fork()
    if pid == 0:
        for n in range(0, entries, max(entries // held, 1)):
            table.track(n.to_bytes(4, "big"), ("http_req",))
        os._exit(0)
    os.waitpid(pid, 0)
    batches: list[float] = []
    original = table._reclaim_entries

    def timed(col: int, indexes: list[int]) -> int:
        began = time.perf_counter()
        try:
            return original(col, indexes)
        finally:
            batches.append(time.perf_counter() - began)

    table._reclaim_entries = timed  # type: ignore[method-assign]
    started = time.perf_counter()
    released = table.reclaim(pid)
    total = time.perf_counter() - started
    assert released == len(range(0, entries, max(entries // held, 1))), released
    assert all(table.refs(i) == 0 for i in range(0, entries, max(entries // 1000, 1)))
    return {"total_ms": total * 1e3, "batches": len(batches), "max_batch_ms": max(batches, default=0) * 1e3,
            "mean_batch_ms": sum(batches) / max(len(batches), 1) * 1e3,
            "batch_size": table_module._RECLAIM_BATCH, "released": released}


def print_reclaim(entries: int) -> None:
    for held in (1000, entries):
        cost = reclaim_cost(entries, held)
        print(f"give-back of a dead worker's column, {entries} entries, {cost['released']} held: "
              f"{cost['total_ms']:.0f} ms in {cost['batches']} lock holds of at most {cost['batch_size']} "
              f"entries, {cost['mean_batch_ms']:.1f} ms on average, the longest {cost['max_batch_ms']:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--connections", type=int, default=10, help="1: one request at a time, no wrk")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--only-reclaim", action="store_true", help="run part 4 alone")
    parser.add_argument("--only-cpu", action="store_true", help="run part 1 (and the no-sockets cost) alone")
    parser.add_argument("--instructions", action="store_true",
                        help="also count the machine instructions per request (valgrind, about 2 minutes)")
    parser.add_argument("--live-instructions", action="store_true",
                        help="count the live worker's machine instructions per request instead (valgrind, ~3 min)")
    parser.add_argument("--keep-dumps", default="", help="with --live-instructions: keep the callgrind dumps here")
    parser.add_argument("--loop", nargs=2, metavar=("VARIANT", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--luaproxy", default=str(Path(__file__).resolve().parents[1] / ".venv/bin/luaproxy"))
    args = parser.parse_args()
    if args.loop:  # what --instructions runs under valgrind
        one = _requests()[args.loop[0]]
        for _ in range(int(args.loop[1])):
            one()
        return 0
    if args.live_instructions:
        live = live_instructions(args.luaproxy, rounds=args.rounds, keep=args.keep_dumps)
        print(f"live worker, one keep-alive connection, instructions per request (callgrind, least of "
              f"{args.rounds} alternating rounds): plain {min(live['plain']):.0f}, tracked {min(live['tracked']):.0f}, "
              f"added {min(live['tracked']) - min(live['plain']):.0f} (each round's: "
              f"{', '.join(f'{p:.0f}/{t:.0f}' for p, t in zip(live['plain'], live['tracked'], strict=True))})")
        return 0
    if args.only_reclaim:
        print_reclaim(args.entries)
        return 0
    cpu = worker_cpu_per_request(args.seconds, args.luaproxy, args.connections, args.rounds)
    how = "one connection, one request at a time" if args.connections == 1 else f"wrk, {args.connections} connections"
    print(f"worker CPU per request ({how}, medians of {args.rounds} alternating rounds): plain "
          f"{statistics.median(cpu['plain']):.1f} us, tracked {statistics.median(cpu['tracked']):.1f} us, "
          f"added {statistics.median(cpu['added']):.1f} us (each round's difference: "
          f"{', '.join(f'{x:.0f}' for x in cpu['added'])})")
    print("track-sc0 src + deny if { sc_http_req_rate(0) gt N } + stream end, no sockets: "
          f"added {rules_cost():.2f} us, {rules_bytecodes():.0f} Python bytecodes")
    if args.instructions:
        print(f"the same, counted by valgrind: {instructions():.0f} machine instructions added per request")
    if args.only_cpu:
        return 0
    print(f"track + read rate + untrack, table alone: {table_operations():.2f} us")
    warm, cold = cold_track()
    print(f"one track, table alone: {warm:.2f} us with warm caches, {cold:.2f} us after 16 MB were written")
    mem = memory(args.entries)
    print(f"{args.entries} entries: mapping {mem['mapping_mb']:.1f} MB ({mem['bytes_per_entry']:.0f} B/entry), "
          f"RSS grew {mem['rss_growth_mb']:.1f} MB, filled at {mem['fill_us_per_entry']:.1f} us/entry")
    print_reclaim(args.entries)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
