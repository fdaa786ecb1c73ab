"""The cost of one Lua run, in process: no sockets, no HTTP parsing, just luaproxy's Lua layers.

Run by hand: ``python3 benchmarks/bench_lua_run.py [action|service|tcp ...] [--runs N]``.
Loads bench_http.py's configuration and Lua file the way the master does, then
runs each scenario's Lua entry point N times on a fresh transaction made as a
worker makes one for each request (an HTTP request's without channels: the stream
makes them on first use): ``action`` is the ``tag`` http-req action (fetch,
``txn:set_var``, ``txn.http:req_set_header``), ``service`` the ``hello``
AppletHTTP service (writing into a buffer), ``tcp`` the ``tcp_hello``
tcp-request action (``txn.res:send`` + ``txn:done()``).  Prints the CPU time
per run, the least of many short rounds, so that a loaded machine still gives
comparable figures.  ``--instructions`` counts the machine instructions of a run instead, with
valgrind's callgrind collecting only inside the measured loop (``--toggle-collect=map_next``: the
loop runs under ``map``), the figure a loaded machine does not move (with a fixed hash seed; about
2k of spread from one process to the next otherwise); a full collection of the Lua garbage opens and closes
that loop, so the figure counts the collection of every run's garbage (``counted_loop``).  ``--long-runs`` shows
how single runs' CPU times spread instead: the few long runs a collector slice makes, which a mean hides.
"""

from __future__ import annotations

import argparse
import collections
import gc
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_http import LUA, SCENARIOS, config

from luaproxy.master import lua_boot, reload
from luaproxy.worker import process
from luaproxy.worker.channel import Channel
from luaproxy.worker.context import WorkerContext
from luaproxy.worker.http.message import Headers, RequestHead
from luaproxy.worker.log import Logger
from luaproxy.worker.samples import Vars
from luaproxy.worker.txn import Transaction

KINDS = {"action": "lua action + return", "service": "lua service", "tcp": "tcp hello, new conn"}
ADDRESSES = (("127.0.0.1", 40000), ("127.0.0.1", 80))


class BufferIO:
    """What an HTTP Lua service writes to: the stream's ServiceIO, minus the socket."""

    head_sent = False
    output_full = False
    request = RequestHead("GET", "/", "HTTP/1.1", Headers([("host", "bench")]))

    def whole(self, *output: object) -> bool:
        """Not taken whole: the output goes through send_head and send, as the figure has always counted it."""
        return False

    def send_head(self, head: object) -> None:
        self.head_sent = True

    def send(self, data: bytes) -> None:
        return None

    def flush(self) -> None:
        return None


def load_scenario(scenario: str, prefix: str, backend_port: int = 2) -> tuple[Any, Logger]:
    """bench_http.py's *scenario* loaded as the master loads a configuration, its Lua inits run, in a new
    directory (named with *prefix*) made the current one: the generation and its quiet logger.  Its backend's
    server listens on *backend_port* (nothing does on the default's: most runs never forward)."""
    mode, rules, _ = SCENARIOS[scenario]
    work = Path(tempfile.mkdtemp(prefix=prefix))
    (work / "bench.lua").write_text(LUA)
    (work / "lp.cfg").write_text(config(mode, rules, 1, backend_port, False))
    os.chdir(work)  # lua-load paths are relative to the configuration
    logger = Logger(quiet=True)
    generation = reload.load([str(work / "lp.cfg")], logger)
    lua_boot.run_inits(generation.engine)
    return generation, logger


def scenario_worker(scenario: str, prefix: str, backend_port: int = 2) -> tuple[Any, Any]:
    """bench_http.py's *scenario* loaded (load_scenario) and a worker made for it as a worker process makes its
    own, for benchmarks that serve connections in process: the worker and its frontend "fe"."""
    generation, logger = load_scenario(scenario, prefix, backend_port)
    settings, proxies = generation.settings, generation.proxies
    context = WorkerContext(logger, {p.name: p for p in proxies if p.has_backend}, 1, 1, settings.bufsize,
                            proxies, generation.engine.metrics, settings.maxconn)
    worker = process.Worker(process.WorkerSpec(1, context, []))
    return worker, next(p for p in proxies if p.name == "fe")


def one_run(kind: str) -> Callable[[], None]:
    """Load the scenario's configuration; return a function doing one transaction's Lua run (its
    ``collect_lua`` attribute: a full collection of the Lua state's garbage)."""
    generation, logger = load_scenario(KINDS[kind], "luaproxy-bench-lua-")
    frontend = next(p for p in generation.proxies if p.name == "fe")
    rule = frontend.ruleset("tcp-request content" if kind == "tcp" else "http-request")[0]
    client, _peer = socket.socketpair()
    gc.freeze()  # as a worker does once started: the configuration and Lua state stay out of GC passes

    proxies = {p.name: p for p in generation.proxies}
    proc_vars: dict[str, Any] = {}
    session = Vars(proc_vars, {})

    def run() -> None:
        if kind == "tcp":  # as a TCP stream makes them: both channels, the variables of a new session
            req, res = Channel("req", 16384), Channel("res", 16384)
            res.connect(lambda data: None)
            txn = Transaction(client, frontend, req, res, logger, 1, proxies, (1, 1), Vars(proc_vars, {}), ADDRESSES)
        else:  # as an HTTP stream makes a request's: channels on first use only, the session's variables
            txn = Transaction(client, frontend, None, None, logger, 1, proxies, (1, 1), session.new_transaction(),
                              ADDRESSES)
            txn.request = RequestHead("GET", "/", "HTTP/1.1", Headers([("host", "bench")]))
            txn.http_mode = True
        rule.action(txn)
        if txn.service is not None:
            service, txn.service = txn.service, None
            service(txn, BufferIO())
        txn.release()

    run.collect_lua = lambda: generation.engine.runtime.globals.collectgarbage("collect")  # type: ignore[attr-defined]
    return run


def counted_loop(run: Callable[[], None], runs: int) -> None:
    """*runs* runs under ``map`` (what callgrind counts), the last one followed by a full collection of the Lua
    garbage, as the first is preceded by one: every run's garbage is then collected in the window, whatever the
    phase of Lua's incremental collector (its cycles are thousands of runs apart, and a window that held one
    cycle more or less read 2-4k instructions per run apart)."""
    collect = run.collect_lua  # type: ignore[attr-defined]
    last = runs - 1

    def counted(index: int) -> None:
        run()
        if index == last:
            collect()

    collect()
    collections.deque(map(counted, range(runs)), maxlen=0)


def per_run(run: Callable[[], None], runs: int, rounds: int = 40) -> float:
    """CPU seconds per run: the least over *rounds* rounds (the ones no other process disturbed)."""
    for _ in range(200):
        run()
    size = max(runs // rounds, 1)
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(size):
            run()
        best = min(best, (time.process_time() - started) / size)
    return best


LONG_RUN = 200e-6
"""A run whose CPU time passes this holds up every other connection of its worker for as long (--long-runs)."""


def long_runs(run: Callable[[], None], runs: int) -> str:
    """How the CPU time of single runs spreads: a collector slice paid by one run in a few hundred shows here, as
    the runs over LONG_RUN and the 99.9th percentile, where a mean hides it.  Thread CPU time: another process
    taking the CPU does not count."""
    for _ in range(2000):
        run()
    clock = time.thread_time
    times = []
    for _ in range(runs):
        started = clock()
        run()
        times.append(clock() - started)
    times.sort()
    long = [t for t in times if t > LONG_RUN]
    return (f"mean {sum(times) / runs * 1e6:5.1f} us, 99.9th percentile {times[int(runs * 0.999)] * 1e6:5.0f} us, "
            f"{len(long)} runs over {LONG_RUN * 1e6:.0f} us taking {sum(long) * 1e3:.1f} ms, "
            f"longest {times[-1] * 1e6:.0f} us")


def instructions(kind: str, runs: int) -> float:
    """Machine instructions per run of *kind*, counted by callgrind inside the loop only."""
    out = subprocess.run(["valgrind", "--tool=callgrind", "--toggle-collect=map_next", "--callgrind-out-file=/dev/null",
                          sys.executable, __file__, kind, "--loop", str(runs)],
                         capture_output=True, text=True, check=True, cwd=Path(__file__).parent,
                         env={**os.environ, "PYTHONHASHSEED": "0"}).stderr
    return int(re.findall(r"Collected : (\d+)", out)[-1]) / runs


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kinds", nargs="*", metavar="|".join(KINDS), help="default: all three")
    parser.add_argument("--runs", type=int, default=20000)
    parser.add_argument("--instructions", action="store_true",
                        help="count machine instructions per run with valgrind instead (give --runs 3000)")
    parser.add_argument("--long-runs", action="store_true",
                        help="the spread of single runs' CPU times instead: the long runs a collector slice makes "
                             "(give --runs 80000)")
    parser.add_argument("--loop", type=int, help=argparse.SUPPRESS)  # what --instructions runs under valgrind
    args = parser.parse_args()
    unknown = set(args.kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown scenario {', '.join(sorted(unknown))} (choose from {', '.join(KINDS)})")
    if args.loop:
        run = one_run(args.kinds[0])
        for _ in range(300):
            run()
        counted_loop(run, args.loop)
        return 0
    for kind in args.kinds or list(KINDS):
        if args.instructions:
            print(f"{kind:8} {instructions(kind, args.runs) / 1000:7.1f}k instructions per Lua run", flush=True)
            continue
        if args.long_runs:
            print(f"{kind:8} {long_runs(one_run(kind), args.runs)}", flush=True)
            continue
        print(f"{kind:8} {per_run(one_run(kind), args.runs) * 1e6:7.1f} us per Lua run", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
