"""Where a luaproxy worker spends its time per request, for one scenario of bench_http.py.

Run by hand: ``python benchmarks/profile_http.py "lua service" [--seconds 4] [--top 25]``.
Starts the same haproxy backend and luaproxy configuration as bench_http.py,
runs luaproxy's only worker under cProfile while wrk loads it, and prints the
cost per request grouped by source file, then the costliest functions.  The
Python calls per request are the steadier figure on a loaded machine (within a
few percent: how often a read must wait, and so arm a timeout, varies with the
load); the microseconds are wall-clock under the profiler, so compare them with
each other, not with bench_http's CPU figure.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import os
import pstats
import signal
import sys
import tempfile
import time
from pathlib import Path

import bench_http

ROOT = str(Path(__file__).resolve().parent.parent) + "/"


def profiled_master(argv: list[str], out: str) -> int:
    """luaproxy's master whose workers profile every greenlet and write their stats on SIGTERM."""
    from luaproxy.master.entry import main
    from luaproxy.worker import process

    profile = cProfile.Profile()
    init_process, handle_connection = process.Worker.init_process, process.Worker.handle_connection

    def start(self: process.Worker) -> None:
        init_process(self)
        profile.enable()

    def connection(self: process.Worker, *args: object) -> bool:
        profile.enable()  # each greenlet has its own tracing flag: turn it on in this one too
        return handle_connection(self, *args)  # type: ignore[arg-type]

    def stop(self: process.Worker) -> None:
        profile.disable()
        if not os.path.exists(out):  # the first worker stopped writes; its replacement does not
            profile.dump_stats(out + ".part")
            os.rename(out + ".part", out)
        os._exit(0)

    process.Worker.init_process, process.Worker.handle_connection = start, connection
    process.Worker.handle_term = stop
    return main(argv)


def report(path: str, top: int) -> None:
    stats = pstats.Stats(path).stats  # type: ignore[attr-defined]
    requests = max((calls for (file, _, name), (_, calls, *_) in stats.items()
                    if name == "_new_txn" or (name == "serve" and file.endswith("tcp/stream.py"))), default=1)
    by_file: collections.Counter[str] = collections.Counter()
    calls_by_file: collections.Counter[str] = collections.Counter()
    for (file, _, name), (_, calls, own, *_) in stats.items():
        key = f"builtin {name}" if file == "~" else file.replace(ROOT, "").split("site-packages/")[-1]
        by_file[key] += own
        calls_by_file[key] += calls
    print(f"{requests} requests, {sum(calls_by_file.values()) / requests:.0f} Python calls/request, "
          f"{sum(by_file.values()) / requests * 1e6:.0f} us/request under the profiler")
    print(f"{'us/req':>8} {'calls/req':>10}  file")
    for key, own in by_file.most_common(top):
        print(f"{own / requests * 1e6:8.1f} {calls_by_file[key] / requests:10.1f}  {key}")
    print(f"\n{'us/req':>8} {'calls/req':>10}  function (own time)")
    rows = sorted(stats.items(), key=lambda item: -item[1][2])[:top]
    for (file, line, name), (_, calls, own, *_) in rows:
        where = name if file == "~" else f"{file.replace(ROOT, '').split('site-packages/')[-1]}:{line} {name}"
        print(f"{own / requests * 1e6:8.1f} {calls / requests:10.1f}  {where}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=list(bench_http.SCENARIOS))
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    mode, rules, extra = bench_http.SCENARIOS[args.scenario]
    work = tempfile.mkdtemp(prefix="luaproxy-profile-")
    Path(work, "bench.lua").write_text(bench_http.LUA)
    backend_port, port = bench_http.free_port(), bench_http.free_port()
    Path(work, "backend.cfg").write_text(bench_http.backend_config(backend_port))
    Path(work, "lp.cfg").write_text(bench_http.config(mode, rules, port, backend_port, False))
    out = str(Path(work, "worker.pstats"))
    backend = bench_http.start(["haproxy", "-db", "-f", "backend.cfg"], work)
    luaproxy = bench_http.start([sys.executable, __file__, "--profiled-master", out, "-f", "lp.cfg"], work)
    try:
        bench_http.wait_port(backend_port)
        bench_http.wait_port(port)
        time.sleep(0.5)
        worker = bench_http.worker_pid(luaproxy.pid)
        result = bench_http.run_wrk(port, args.seconds, args.connections, extra, worker)
        os.kill(worker, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while not os.path.exists(out) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        bench_http.stop(luaproxy)
        bench_http.stop(backend)
    print(f"{args.scenario}: {result['rps']:.0f} req/s under the profiler {result['errors']}")
    if not os.path.exists(out):
        print(f"the worker wrote no profile within 30 s ({out}): rerun, on a less loaded machine", file=sys.stderr)
        return 1
    report(out, args.top)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--profiled-master":
        sys.exit(profiled_master(sys.argv[3:], sys.argv[2]))
    sys.exit(main())
