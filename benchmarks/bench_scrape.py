"""One Prometheus scrape with 8 workers and 100 proxies: how long it takes and how big it is.

Run by hand: ``python3 benchmarks/bench_scrape.py [--workers 8] [--proxies 100] [--scrapes 20]``.
The scrape asks the master, which asks every worker for its counters over the
control sockets and sums them; haproxy (one process) serves the same config
for comparison.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(port: int, proxies: int, workers: int, haproxy: bool) -> str:
    lines = ["global", "   nbthread 1" if haproxy else f"   nbproc {workers}", "defaults", "   mode http",
             "   timeout connect 1s", "   timeout client 5s", "   timeout server 5s",
             "frontend metrics", f"   bind 127.0.0.1:{port}", "   http-request use-service prometheus-exporter"]
    for i in range(proxies // 2):
        lines += [f"frontend fe{i}", f"   bind 127.0.0.1:{free_port()}", f"   default_backend be{i}",
                  f"backend be{i}", "   server s1 127.0.0.1:9", "   server s2 127.0.0.1:9"]
    return "\n".join(lines) + "\n"


def scrape(port: int) -> tuple[float, int]:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        size = 0
        while data := s.recv(1 << 16):
            size += len(data)
    return time.perf_counter() - started, size


def measure(command: list[str], cwd: str, port: int, scrapes: int) -> tuple[float, float, int]:
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                scrape(port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        time.sleep(1)
        results = [scrape(port) for _ in range(scrapes)]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    times = sorted(t for t, _ in results)
    return statistics.median(times), times[int(len(times) * 0.9)], results[-1][1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--proxies", type=int, default=100)
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="luaproxy-scrape-")
    print(f"{'program':10} {'median ms':>10} {'p90 ms':>8} {'bytes':>9}")
    for program in ("haproxy", "luaproxy"):
        port = free_port()
        cfg = Path(work, f"{program}.cfg")
        cfg.write_text(config(port, args.proxies, args.workers, program == "haproxy"))
        command = ["haproxy", "-db", "-f", str(cfg)] if program == "haproxy" else \
            [sys.executable, "-m", "luaproxy.master", "-f", str(cfg)]
        median, p90, size = measure(command, work, port, args.scrapes)
        print(f"{program:10} {median * 1000:10.1f} {p90 * 1000:8.1f} {size:9d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
