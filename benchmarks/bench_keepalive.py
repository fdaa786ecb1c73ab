"""Machine instructions per keep-alive request served in process, counted by callgrind: a figure that does not move.

Run by hand: ``python3 benchmarks/bench_keepalive.py ["lua service"] [--requests 2000]``.
bench_instructions.py counts a live worker whose client is another process: when
that client is late, the worker's read waits, and each wait adds a few thousand
instructions, so its figure moves by about 1.5k with the machine's load.  Here
one process loads bench_http.py's configuration of an HTTP scenario and serves
one loopback keep-alive connection whose client sends its next request as soon
as the previous response went out: every read finds its request, nothing waits.
A scenario that forwards gets its backend's server in the same process, a plain
socket that answers each request as soon as it went out (RESPONSE, what
bench_http.py's haproxy backend answers), so the server's reads never wait
either; that server's own reads and writes are counted with the worker's.  The process runs under ``valgrind
--tool=callgrind`` twice, with 500 requests and with 500 + *requests*; the
difference per request is the figure (start-up and warm-up cancel out): the
same from run to run within about 0.2k (where Lua's collector runs), so a change
of a few hundred instructions shows.  Needs valgrind.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench_http import SCENARIOS

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\ncontent-type: text/plain\r\n\r\nhello world"
BASE = 500
HTTP = tuple(name for name, (mode, _, _) in SCENARIOS.items() if mode == "http")
ANSWERED = tuple(name for name in HTTP if "default_backend" not in SCENARIOS[name][1])
"""The scenarios whose requests the worker answers itself (the default ones): nothing to forward to."""


def serve(scenario: str, count: int) -> None:
    """Serve *count* requests on one keep-alive connection, the client's next request sent from the stream's
    own send of each response (it is then there when the stream reads)."""
    import gevent
    from bench_lua_run import scenario_worker
    from gevent import socket as gsocket

    from luaproxy.worker.http import stream

    backend = socket.create_server(("127.0.0.1", 0))
    worker, frontend = scenario_worker(scenario, "luaproxy-bench-keepalive-", backend.getsockname()[1])
    listening = gsocket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(1)
    client = socket.create_connection(listening.getsockname())
    accepted, _ = listening.accept()
    send_all = stream.send_all
    answered = 0
    server: socket.socket | None = None

    def send_then_ask_again(sock: socket.socket, data: bytes, raw: Any = None) -> None:
        nonlocal answered, server
        send_all(sock, data, raw)
        if sock is not accepted:  # a request to the server: its whole head read, the response sent
            if server is None:
                server, _ = backend.accept()
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                head += server.recv(65536)
            server.sendall(RESPONSE)
            return
        got = 0
        while got < len(data):
            got += len(client.recv(65536))
        answered += 1
        if answered < count:
            client.sendall(REQUEST)
        else:
            client.shutdown(socket.SHUT_WR)

    stream.send_all = send_then_ask_again  # type: ignore[assignment]
    gc.freeze()  # as a worker does once started
    client.sendall(REQUEST)
    gevent.spawn(worker.handle_connection, frontend, accepted, 0).join()
    if answered != count:
        raise RuntimeError(f"{answered} responses to {count} requests")


def counted(scenario: str, count: int, work: Path) -> int:
    """The instructions of a whole process serving *count* requests."""
    out = work / f"cg.{count}"
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
                    "--serve", str(count), scenario], check=True, capture_output=True, timeout=1800,
                   env={**os.environ, "PYTHONHASHSEED": "0"})
    return int(re.findall(r"^(?:summary|totals): (\d+)", out.read_text(errors="replace"), re.M)[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help=f"one of: {', '.join(HTTP)}; default: {', '.join(ANSWERED)}")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.scenarios[0], args.serve)
        return 0
    unknown = set(args.scenarios) - set(HTTP)
    if unknown:
        parser.error(f"unknown scenario {', '.join(sorted(unknown))} (choose from {', '.join(HTTP)})")
    work = Path(tempfile.mkdtemp(prefix="luaproxy-bench-keepalive-"))
    for scenario in args.scenarios or ANSWERED:
        added = counted(scenario, BASE + args.requests, work) - counted(scenario, BASE, work)
        print(f"{scenario:24} {added / args.requests / 1000:8.2f}k instructions per request", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
