"""A worker's memory: idle, then holding N idle keep-alive client connections (the issue's RSS targets).

Run by hand: ``python benchmarks/bench_memory.py [--connections 10000]``.
Starts luaproxy (1 worker, the "lua service" configuration of bench_http.py or ``--scenario``,
``maxconn`` raised to fit), reads the worker's RSS, opens the connections
(each sends one request and reads its answer, so every stream waits in its
keep-alive state), and reads the RSS again.  The client side must be allowed
about N+100 open files (``ulimit -n``).
"""

from __future__ import annotations

import argparse
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

import bench_http

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_idle(port: int, count: int, batch: int = 200) -> list[socket.socket]:
    """*count* connections that each had one request answered and now sit idle (opened in batches, so
    that the listener's backlog never overflows)."""
    conns: list[socket.socket] = []
    while len(conns) < count:
        opened = [socket.create_connection(("127.0.0.1", port), 10) for _ in range(min(batch, count - len(conns)))]
        for sock in opened:
            sock.sendall(REQUEST)
        for sock in opened:
            data = b""
            while b"hello world" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    raise RuntimeError("luaproxy closed a connection")
                data += chunk
        conns += opened
    return conns


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--scenario", default="lua service", choices=["lua service", "lua action + return"])
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.connections + 200)), hard))
    work = tempfile.mkdtemp(prefix="luaproxy-memory-")
    Path(work, "bench.lua").write_text(bench_http.LUA)
    port = bench_http.free_port()
    _, rules, _ = bench_http.SCENARIOS[args.scenario]
    cfg = bench_http.config("http", rules, port, bench_http.free_port(), False)
    cfg = cfg.replace("global\n", f"global\n   maxconn {args.connections + 100}\n", 1)
    cfg = cfg.replace("timeout client 10s", "timeout client 300s")
    Path(work, "lp.cfg").write_text(cfg)
    luaproxy = bench_http.start([sys.executable, "-m", "luaproxy.master", "-f", "lp.cfg"], work)
    conns: list[socket.socket] = []
    try:
        bench_http.wait_port(port)
        time.sleep(1.0)
        worker = bench_http.worker_pid(luaproxy.pid)
        open_idle(port, 50)  # warm: the first requests load what every later one shares
        time.sleep(0.5)
        idle = rss_mb(worker)
        conns = open_idle(port, args.connections)
        time.sleep(1.0)
        loaded = rss_mb(worker)
    finally:
        for sock in conns:
            sock.close()
        bench_http.stop(luaproxy)
    print(f"worker RSS idle {idle:.1f} MB; with {args.connections} idle keep-alive connections {loaded:.1f} MB "
          f"(+{loaded - idle:.1f} MB, {(loaded - idle) * 1024 / max(args.connections, 1):.1f} KB each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
