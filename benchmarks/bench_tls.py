"""TLS termination: luaproxy (1 worker) against haproxy 2.6 (nbthread 1), same config, same run.

Run by hand: ``python3 benchmarks/bench_tls.py [--seconds 5] [--rounds 3] [--connections 50] [--rsa]``.
Needs Debian's ``openssl``, ``wrk`` and ``haproxy``.  Both proxies terminate TLS
with the same certificate (ECDSA P-256, or RSA 2048 with ``--rsa``) and answer
with ``http-request return``, so only TLS and HTTP parsing are measured:

- full handshakes/s: ``openssl s_time -new`` (one GET per new connection),
- resumed handshakes/s: ``openssl s_time -reuse`` (session resumption),
- keep-alive HTTPS req/s: ``wrk`` over TLS connections kept open.

Both proxies run all along and take turns (``--rounds`` times each, the best run
counts), so load from elsewhere weighs on both alike.  ``s_time`` is a single
client process, so the handshake figures are also bounded by the client; on a
loaded machine every figure is indicative only.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_http import free_port, start, stop, wait_port  # run from benchmarks/ or as a script beside it


def make_certificate(work: Path, rsa: bool) -> Path:
    key = ["-newkey", "rsa:2048"] if rsa else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    subprocess.run(["openssl", "req", "-x509", *key, "-nodes", "-days", "2", "-subj", "/CN=bench.test",
                    "-keyout", str(work / "key.pem"), "-out", str(work / "cert.pem")],
                   check=True, capture_output=True, timeout=60)
    site = work / "site.pem"
    site.write_bytes((work / "cert.pem").read_bytes() + (work / "key.pem").read_bytes())
    return site


def config(port: int, site: Path, haproxy: bool) -> str:
    return f"""global
   {"nbthread 1" if haproxy else "nbproc 1"}
defaults
   mode http
   timeout client 10s
frontend fe
   bind 127.0.0.1:{port} ssl crt {site}
   http-request return status 200 content-type text/plain string "hello world"
"""


def s_time(port: int, seconds: int, reuse: bool) -> float:
    """Handshakes (each with one GET) per second, by openssl s_time."""
    out = subprocess.run(["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-www", "/", "-time", str(seconds),
                          "-reuse" if reuse else "-new"], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    found = re.findall(r"(\d+) connections in (\d+) real seconds", out)
    if not found:
        raise RuntimeError(f"openssl s_time printed no figure:\n{out}")
    count, real = found[-1]
    return int(count) / max(int(real), 1)


def keep_alive(port: int, seconds: int, connections: int) -> float:
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s",
                          f"https://127.0.0.1:{port}/"], capture_output=True, text=True,
                         timeout=seconds + 60).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"wrk printed no figure:\n{out}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per scenario; the best counts")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rsa", action="store_true", help="RSA 2048 instead of ECDSA P-256")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="luaproxy-bench-tls-"))
    site = make_certificate(work, args.rsa)
    ports, procs = {}, []
    scenarios = {
        "full handshakes/s": lambda port: s_time(port, args.seconds, reuse=False),
        "resumed handshakes/s": lambda port: s_time(port, args.seconds, reuse=True),
        "keep-alive HTTPS req/s": lambda port: keep_alive(port, args.seconds, args.connections),
    }
    results: dict[str, dict[str, float]] = {name: {"haproxy": 0.0, "luaproxy": 0.0} for name in scenarios}
    try:
        for program in ("haproxy", "luaproxy"):
            ports[program] = free_port()
            cfg = work / f"{program}.cfg"
            cfg.write_text(config(ports[program], site, program == "haproxy"))
            command = (["haproxy", "-db", "-f", str(cfg)] if program == "haproxy"
                       else [sys.executable, "-m", "luaproxy.master", "-f", str(cfg)])
            procs.append(start(command, work))
            wait_port(ports[program])
        time.sleep(0.5)
        # Both run all along and take turns, so the machine's other load weighs on both alike.
        for name, measure in scenarios.items():
            for _ in range(args.rounds):
                for program in ("haproxy", "luaproxy"):
                    results[name][program] = max(results[name][program], measure(ports[program]))
    finally:
        for proc in procs:
            stop(proc)
    print(f"{'scenario':24} {'haproxy':>10} {'luaproxy':>10} {'ratio':>6}")
    for name, row in results.items():
        ratio = row["luaproxy"] / max(row["haproxy"], 1e-9)
        print(f"{name:24} {row['haproxy']:10.0f} {row['luaproxy']:10.0f} {ratio:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
