"""HTTP/2: luaproxy (1 worker) against haproxy 2.6 (nbthread 1), same config, same run, with h2load.

Run by hand: ``.venv/bin/python benchmarks/bench_h2.py [--requests 20000] [--clients 10] [--streams 10] [--rounds 3]``.
Needs Debian's ``nghttp2-client`` (h2load) and ``haproxy``.  Each proxy answers
``http-request return`` on a ``proto h2`` listener and on an HTTP/1 one, so the
figures compare the HTTP/2 path with the HTTP/1 path of the same proxy:

- h2: ``h2load`` with ``--clients`` connections of ``--streams`` concurrent streams,
- h1: ``h2load --h1`` with ``--clients`` keep-alive connections.

Both proxies run all along and take turns (``--rounds`` times each, the best run counts), so load from
elsewhere weighs on both alike; on a loaded machine every figure is indicative only.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_http import free_port, start, stop, wait_port  # run from benchmarks/ or as a script beside it


def config(h2: int, h1: int, haproxy: bool) -> str:
    return f"""global
   {"nbthread 1" if haproxy else "nbproc 1"}
defaults
   mode http
   timeout client 10s
frontend fe
   bind 127.0.0.1:{h2} proto h2
   bind 127.0.0.1:{h1}
   http-request return status 200 content-type text/plain string "hello world"
"""


def h2load(port: int, requests: int, clients: int, streams: int, h1: bool) -> float:
    args = ["h2load", "-n", str(requests), "-c", str(clients)]
    args += ["--h1"] if h1 else ["-m", str(streams)]
    out = subprocess.run([*args, f"http://127.0.0.1:{port}/"], capture_output=True, text=True,
                         timeout=300).stdout
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out)
    rate = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    if not done or not rate or done.group(1) != done.group(2):
        raise RuntimeError(f"h2load failed:\n{out}")
    return float(rate.group(1))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="luaproxy-bench-h2-"))
    ports = {name: (free_port(), free_port()) for name in ("luaproxy", "haproxy")}
    (work / "lp.cfg").write_text(config(*ports["luaproxy"], haproxy=False))
    (work / "hap.cfg").write_text(config(*ports["haproxy"], haproxy=True))
    procs = [start([sys.executable, "-m", "luaproxy.master", "-f", "lp.cfg"], work),
             start(["haproxy", "-db", "-f", "hap.cfg"], work)]
    best: dict[tuple[str, str], float] = {}
    try:
        for h2, h1 in ports.values():
            wait_port(h2)
            wait_port(h1)
        for _ in range(args.rounds):
            for name, (h2, h1) in ports.items():
                for proto, port in (("h2", h2), ("h1", h1)):
                    rate = h2load(port, args.requests, args.clients, args.streams, proto == "h1")
                    best[name, proto] = max(best.get((name, proto), 0.0), rate)
    finally:
        for proc in procs:
            stop(proc)
    print(f"{'':10} {'h2 req/s':>10} {'h1 req/s':>10}")
    for name in ports:
        print(f"{name:10} {best[name, 'h2']:10.0f} {best[name, 'h1']:10.0f}")
    for proto in ("h2", "h1"):
        print(f"luaproxy/haproxy {proto}: {best['luaproxy', proto] / best['haproxy', proto]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
