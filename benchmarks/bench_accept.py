"""The cost of one new TCP connection in process: bench_http.py's "tcp hello, new conn" minus wrk and the listener.

Run by hand: ``python3 benchmarks/bench_accept.py [--connections N] [--profile]``.
Loads bench_http.py's configuration the way the master does, then for each
connection: a loopback client connects, sends its request and half-closes,
and ``Worker.handle_connection`` serves the accepted socket as a worker does
(session table, rules, the ``tcp_hello`` Lua action, the graceful close).
Prints the CPU time per connection, the least of ten rounds (it includes the
client's own socket calls), or with ``--profile`` the Python calls per
connection and the costliest functions: the steady figure on a loaded machine.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench_lua_run import scenario_worker
from gevent import socket as gsocket

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
ROOT = str(Path(__file__).resolve().parent.parent) + "/"


def connection_runner() -> Callable[[], None]:
    """Load the scenario's configuration; return a function serving one new connection."""
    worker, frontend = scenario_worker("tcp hello, new conn", "luaproxy-bench-accept-")
    listening = gsocket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(1024)
    address = listening.getsockname()

    def serve_one() -> None:
        with socket.socket() as client:
            client.setblocking(False)
            client.connect_ex(address)  # non-blocking: EINPROGRESS, completed by the accept below
            accepted, _ = listening.accept()
            client.send(REQUEST)
            client.shutdown(socket.SHUT_WR)
            worker.handle_connection(frontend, accepted, 0)

    return serve_one


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=5000)
    parser.add_argument("--profile", action="store_true", help="Python calls per connection, by function")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    serve_one = connection_runner()
    for _ in range(300):
        serve_one()
    gc.freeze()  # as a worker does once started
    count = args.connections
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(count):
            serve_one()
        profile.disable()
        stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
        print(f"{sum(row[1] for row in stats.values()) / count:.1f} Python calls per connection "
              "(the client's socket calls included)")
        for (file, line, name), (_, calls, own, *_) in sorted(stats.items(), key=lambda kv: -kv[1][2])[:args.top]:
            where = name if file == "~" else f"{file.replace(ROOT, '').split('site-packages/')[-1]}:{line} {name}"
            print(f"{own / count * 1e6:8.1f} us {calls / count:5.1f} calls  {where}")
        return 0
    best = float("inf")
    size = max(count // 10, 1)
    for _ in range(10):
        started = time.process_time()
        for _ in range(size):
            serve_one()
        best = min(best, (time.process_time() - started) / size)
    print(f"{best * 1e6:.1f} us CPU per connection (least of 10 rounds, the client's side included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
