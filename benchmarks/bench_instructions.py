"""Machine instructions per request of luaproxy's worker, counted by callgrind: the figure load does not move.

Run by hand: ``python3 benchmarks/bench_instructions.py [SCENARIO ...] [--requests 1000]``.
Starts luaproxy on bench_http.py's configuration of each scenario under
``valgrind --tool=callgrind``, warms its worker up, zeroes its counts, dumps them after
*requests* requests sent one after another on one
keep-alive connection (a new connection each for the TCP scenario), and prints
the worker's instructions per request, kernel excluded.  On a 2-core machine
shared with other work, req/s and CPU µs vary by a third from run to run;
this figure varies by about 1%, so it is the one to compare before and after a
change of the request path.  ``--floor`` also counts lua_floor.py (httptools + one
lupa coroutine per request) on the Lua scenarios.  Needs valgrind and Debian's haproxy (the backend).
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_http import (
    LUA,
    LUA_FLOOR,
    SCENARIOS,
    backend_config,
    config,
    free_port,
    lua_floor_mode,
    start,
    stop,
    wait_port,
    worker_pid,
)

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
CLOSE_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
WARM_UP = 300


def read_response(sock: socket.socket, pending: bytes) -> bytes:
    """Read one response framed by Content-Length; return the bytes that followed it."""
    while b"\r\n\r\n" not in pending:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the connection closed before a response")
        pending += data
    head, _, rest = pending.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
    while len(rest) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the connection closed within a body")
        rest += data
    return rest[length:]


def send_requests(port: int, count: int, new_connection: bool) -> None:
    """*count* requests one after another: on one keep-alive connection, or each on its own."""
    if new_connection:
        for _ in range(count):
            with socket.create_connection(("127.0.0.1", port), 30) as sock:
                sock.sendall(CLOSE_REQUEST)
                read_response(sock, b"")
        return
    with socket.create_connection(("127.0.0.1", port), 30) as sock:
        pending = b""
        for _ in range(count):
            sock.sendall(REQUEST)
            pending = read_response(sock, pending)


def collected(out_pattern: str) -> int:
    """The instructions of the dump callgrind wrote last among the worker's files."""
    totals = []
    for path in glob.glob(out_pattern):
        text = Path(path).read_text(errors="replace")
        found = re.findall(r"^(?:summary|totals): (\d+)", text, re.M)
        if found:
            totals.append((Path(path).stat().st_mtime, int(found[-1])))
    if not totals:
        raise RuntimeError("callgrind wrote no dump")
    return max(totals)[1]


def measure(scenario: str, requests: int, work: Path, backend_port: int, floor: bool = False) -> float:
    """Instructions per request of luaproxy's worker on *scenario*, or of lua_floor.py's process."""
    mode, rules, _ = SCENARIOS[scenario]
    port = free_port()
    cfg = work / f"{scenario.replace(' ', '_').replace(',', '')}.cfg"
    cfg.write_text(config(mode, rules, port, backend_port, False))
    out = work / f"cg-{port}"
    out.mkdir()
    program = ([str(LUA_FLOOR), str(port), str(lua_floor_mode(rules)), str(backend_port)] if floor
               else ["-m", "luaproxy.master", "-f", str(cfg)])
    proc = start(["valgrind", "--tool=callgrind", "--trace-children=yes",
                  f"--callgrind-out-file={out}/cg.%p", sys.executable, *program], work)
    try:
        wait_port(port, 120)
        time.sleep(1)
        worker = worker_pid(proc.pid)
        new_connection = mode == "tcp"
        send_requests(port, WARM_UP, new_connection)
        subprocess.run(["callgrind_control", "-z", str(worker)], capture_output=True, check=True, timeout=60)
        send_requests(port, requests, new_connection)
        subprocess.run(["callgrind_control", "-d", str(worker)], capture_output=True, check=True, timeout=60)
        return collected(f"{out}/cg.{worker}*") / requests
    finally:
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="default: all of bench_http.py's")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--floor", action="store_true", help="also count lua_floor.py on the Lua scenarios")
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario {', '.join(sorted(unknown))} (choose from {', '.join(SCENARIOS)})")
    os.environ["PYTHONHASHSEED"] = "0"  # the same dict and set layouts in every run: about 3% less spread
    work = Path(tempfile.mkdtemp(prefix="luaproxy-bench-instructions-"))
    (work / "bench.lua").write_text(LUA)
    backend_port = free_port()
    (work / "backend.cfg").write_text(backend_config(backend_port))
    backend = start(["haproxy", "-db", "-f", "backend.cfg"], work)
    try:
        wait_port(backend_port)
        for scenario in args.scenarios or list(SCENARIOS):
            per_request = measure(scenario, args.requests, work, backend_port)
            line = f"{scenario:24} {per_request / 1000:8.1f}k instructions per request"
            if args.floor and lua_floor_mode(SCENARIOS[scenario][1]):
                line += f", the Lua floor {measure(scenario, args.requests, work, backend_port, True) / 1000:.1f}k"
            print(line, flush=True)
    finally:
        stop(backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
