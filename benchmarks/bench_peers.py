"""How fast a tracked entry reaches the other peers: luaproxy → luaproxy, luaproxy → haproxy 2.6 and back.

Starts one luaproxy node A and, in the same peers section, a second node B
(luaproxy, or haproxy 2.6 with ``--haproxy``), all on 127.0.0.1.  Each round
sends one request with a new path to one node (``track-sc0 path``) and polls
the other node's ``show table`` every millisecond until the key shows up;
prints p50/p99/max per direction.  Run: ``.venv/bin/python benchmarks/bench_peers.py [--haproxy]``.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_http import free_port, start, stop, wait_port

CONFIG = """global
    stats socket {d}/{name}.sock level admin
defaults
    timeout client 5s
    timeout server 5s
    timeout connect 5s
peers mesh
    peer a 127.0.0.1:{pa}
    peer b 127.0.0.1:{pb}
backend st
    stick-table type string len 32 size 10k expire 60s store gpc0,http_req_rate(10s) peers mesh
frontend web
    mode http
    bind 127.0.0.1:{http}
    http-request track-sc0 path table st
    http-request sc-inc-gpc0(0)
    http-request return status 200 content-type text/plain string ok
"""


def request(port: int, path: str) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".encode())
        while sock.recv(65536):
            pass


def shows(sock_path: str, key: str) -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(sock_path)
        sock.sendall(b"show table st data.gpc0 gt 0\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return f"key={key} ".encode() in data


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--haproxy", action="store_true", help="node B is haproxy 2.6")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-peers-")
    pa, pb, ha, hb = (free_port() for _ in range(4))
    procs = []
    try:
        for name, http, program in (("a", ha, [sys.executable, "-m", "luaproxy.master"]),
                                    ("b", hb, ["/usr/sbin/haproxy", "-db"] if args.haproxy
                                     else [sys.executable, "-m", "luaproxy.master"])):
            Path(tmp, f"{name}.cfg").write_text(CONFIG.format(d=tmp, name=name, pa=pa, pb=pb, http=http))
            procs.append(start([*program, "-f", f"{name}.cfg", "-L", name], tmp))
        for port in (ha, hb, pa, pb):
            wait_port(port)
        time.sleep(1.0)
        nodes = {"a": (ha, f"{tmp}/a.sock"), "b": (hb, f"{tmp}/b.sock")}
        for src, dst in (("a", "b"), ("b", "a")):
            delays = []
            for n in range(args.rounds):
                key = f"/{src}{n}"
                start_at = time.perf_counter()
                request(nodes[src][0], key)
                deadline = start_at + 5
                while not shows(nodes[dst][1], key) and time.perf_counter() < deadline:
                    time.sleep(0.001)
                delays.append((time.perf_counter() - start_at) * 1000)
            delays.sort()
            label = f"{src}->{dst}" + (" (b is haproxy)" if args.haproxy else "")
            print(f"{label}: p50 {statistics.median(delays):.1f} ms, p99 {delays[int(len(delays) * 0.99) - 1]:.1f} ms,"
                  f" max {delays[-1]:.1f} ms over {len(delays)} tracks")
    finally:
        for proc in procs:
            stop(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
