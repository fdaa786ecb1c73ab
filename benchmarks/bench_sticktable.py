"""Stick-table costs: worker CPU added per request, the table operations alone, and memory (run by hand).

    python benchmarks/bench_sticktable.py [--seconds 5] [--entries 1000000]

1. One luaproxy worker under wrk (keep-alive), answering ``http-request
   return`` with and without ``http-request track-sc0 src`` plus ``deny if {
   sc_http_req_rate(0) gt N }``: the difference in worker CPU per request
   (from /proc) is what tracking one key and checking its rate costs.
2. The same work without the network: track, read the rate, untrack.
3. A table of ``--entries`` entries (``type ip``, ``http_req_rate``,
   ``conn_cur``, ``gpc0``) filled completely: the memory its size implies
   (the mapping) and what the process's RSS grew by.
"""

from __future__ import annotations

import argparse
import socket
import tempfile
import time
from pathlib import Path

from bench_http import free_port, run_wrk, start, stop, wait_port, worker_pid

from luaproxy.worker.sticktable import SharedTable, parse_table_args

TRACKED = """   stick-table type ip size 1m expire 60s store http_req_rate(10s),conn_cur,gpc0
   http-request track-sc0 src
   http-request deny if { sc_http_req_rate(0) gt 1000000000 }
"""


def _config(port: int, tracked: bool) -> str:
    return f"""global
   nbproc 1
defaults
   mode http
   timeout connect 2s
   timeout client 10s
   timeout server 10s
frontend fe
   bind 127.0.0.1:{port}
{TRACKED if tracked else ""}   http-request return status 200 content-type text/plain string ok
"""


def worker_cpu_per_request(seconds: int, luaproxy: str) -> dict[str, float]:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for tracked in (False, True):
            port = free_port()
            Path(tmp, "b.cfg").write_text(_config(port, tracked))
            proc = start([luaproxy, "-f", "b.cfg"], tmp)
            try:
                wait_port(port)
                time.sleep(0.5)
                pid = worker_pid(proc.pid)
                run_wrk(port, 1, 10, [], pid)
                results["tracked" if tracked else "plain"] = run_wrk(port, seconds, 10, [], pid)["cpu_us"]
            finally:
                stop(proc)
    return results


def table_operations(rounds: int = 200_000) -> float:
    words = ("type", "ip", "size", "1m", "expire", "60s", "store", "http_req_rate(10s),conn_cur,gpc0")
    table = SharedTable(parse_table_args("t", words))
    key = socket.inet_aton("127.0.0.1")
    start_time = time.perf_counter()
    for _ in range(rounds):
        idx = table.track(key, ("conn", "sess", "http_req"))
        table.value(idx, "http_req_rate")
        table.untrack(idx)
    return (time.perf_counter() - start_time) / rounds * 1e6


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--luaproxy", default=str(Path(__file__).resolve().parents[1] / ".venv/bin/luaproxy"))
    args = parser.parse_args()
    cpu = worker_cpu_per_request(args.seconds, args.luaproxy)
    print(f"worker CPU per request: plain {cpu['plain']:.1f} us, tracked {cpu['tracked']:.1f} us, "
          f"added {cpu['tracked'] - cpu['plain']:.1f} us")
    print(f"track + read rate + untrack, no network: {table_operations():.2f} us")
    mem = memory(args.entries)
    print(f"{args.entries} entries: mapping {mem['mapping_mb']:.1f} MB ({mem['bytes_per_entry']:.0f} B/entry), "
          f"RSS grew {mem['rss_growth_mb']:.1f} MB, filled at {mem['fill_us_per_entry']:.1f} us/entry")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
