"""HTTP and TCP throughput: luaproxy (1 worker) against haproxy 2.6 (nbthread 1), same config, same run.

Run by hand: ``python3 benchmarks/bench_http.py [--seconds 10] [--connections 50] [--floor]``.
Needs Debian's ``wrk`` and ``haproxy``.  A second haproxy answers as the backend
(``http-request return``), so the backend is never the bottleneck.  Each
program is warmed up under the same load for a second, then measured.  Prints
req/s, p50 and p99 for each scenario and the ratios luaproxy/haproxy, and the
worker's CPU time per request.  ``--floor`` adds what a bare gevent server that
only reads and writes (gevent_floor.py) reaches on the same load: the ceiling
of a single gevent worker before luaproxy does any work; and, for the Lua
scenarios, what gevent + httptools + one lupa coroutine per request reaches
(lua_floor.py): the ceiling of the design card's stack with every layer of
luaproxy's own taken away.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LUA = """
core.register_action("tag", {"http-req"}, function(txn)
   local src = txn.sf:src()
   txn:set_var("txn.tag", src)
   txn.http:req_set_header("x-tag", src)
end)
core.register_service("hello", "http", function(applet)
   local body = "hello world\\n"
   applet:set_status(200)
   applet:add_header("content-length", string.len(body))
   applet:add_header("content-type", "text/plain")
   applet:start_response()
   applet:send(body)
end)
core.register_action("tcp_hello", {"tcp-req"}, function(txn)
   txn.res:send("HTTP/1.1 200 OK\\r\\nContent-Length: 12\\r\\nConnection: close\\r\\n\\r\\nhello world\\n")
   txn:done()
end)
"""

SCENARIOS = {
    "forward": ("http", "   default_backend be\n", []),
    "lua action + forward": ("http", "   http-request lua.tag\n   default_backend be\n", []),
    "lua action + return": ("http", "   http-request lua.tag\n   http-request return status 200 content-type "
                            "text/plain string \"hello world\"\n", []),
    "lua service": ("http", "   http-request use-service lua.hello\n", []),
    "tcp hello, new conn": ("tcp", "   tcp-request content lua.tcp_hello\n", ["-H", "Connection: close"]),
}
FLOOR = Path(__file__).with_name("gevent_floor.py")
WARM_UP_SECONDS = 1
"""Each program serves this long before it is measured: the first requests of a fresh process pay for
lazy imports, first compilations and allocator growth, a one-off cost that is not a request's."""
LUA_FLOOR = Path(__file__).with_name("lua_floor.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def config(mode: str, rules: str, port: int, backend_port: int, threads: bool) -> str:
    return f"""global
   {"nbthread 1" if threads else "nbproc 1"}
   lua-load bench.lua
defaults
   mode {mode}
   timeout connect 2s
   timeout client 10s
   timeout server 10s
frontend fe
   bind 127.0.0.1:{port}
{rules}backend be
   mode {mode}
   server s1 127.0.0.1:{backend_port}
"""


def backend_config(port: int) -> str:
    """The backend every scenario forwards to: a haproxy answering by itself, never the bottleneck."""
    return f"""global
   nbthread 1
defaults
   mode http
   timeout client 10s
frontend be
   bind 127.0.0.1:{port}
   http-request return status 200 content-type text/plain string "hello world"
"""


def floor_mode(mode: str, rules: str) -> str:
    if mode == "tcp":
        return "close"
    return "forward" if "default_backend" in rules else "keep-alive"


def lua_floor_mode(rules: str) -> str | None:
    """lua_floor.py's mode for a scenario that runs Lua in HTTP mode, else None."""
    if "use-service lua." in rules:
        return "service"
    if "http-request lua." not in rules:
        return None
    return "action-forward" if "default_backend" in rules else "action-return"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pid(master: int) -> int:
    """luaproxy's (only) worker: the master's child."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0]) if children else master


def run_wrk(port: int, seconds: int, connections: int, extra: list[str], pid: int) -> dict[str, float]:
    cpu = cpu_seconds(pid)
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", *extra,
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=seconds + 60).stdout
    cpu = cpu_seconds(pid) - cpu
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    return {"rps": rps, "p50": _ms(latency.get("50", "0ms")), "p99": _ms(latency.get("99", "0ms")),
            "cpu_us": cpu / max(requests, 1) * 1e6, "errors": errors.group(0) if errors else ""}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def start(command: list[str], cwd: str | Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--floor", action="store_true", help="also run the bare gevent floor (gevent_floor.py)")
    parser.add_argument("--only", action="append", choices=list(SCENARIOS), metavar="SCENARIO",
                        help="run only this scenario (repeatable); one of: " + ", ".join(SCENARIOS))
    parser.add_argument("--luaproxy-only", action="store_true",
                        help="skip haproxy (ratios then read 0): to iterate on luaproxy's CPU us/req")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="luaproxy-bench-")
    Path(work, "bench.lua").write_text(LUA)
    backend_port = free_port()
    Path(work, "backend.cfg").write_text(backend_config(backend_port))
    backend = start(["haproxy", "-db", "-f", "backend.cfg"], work)
    rows = []
    try:
        wait_port(backend_port)
        for name, (mode, rules, extra) in SCENARIOS.items():
            if args.only and name not in args.only:
                continue
            results = {}
            programs = ["luaproxy"] if args.luaproxy_only else ["haproxy", "luaproxy"]
            if args.floor:
                programs.append("floor")
                if lua_floor_mode(rules):
                    programs.append("lua floor")
            for program in programs:
                port = free_port()
                cfg = Path(work, f"{program.replace(' ', '_')}.cfg")
                cfg.write_text(config(mode, rules, port, backend_port, program == "haproxy"))
                command = {"haproxy": ["haproxy", "-db", "-f", str(cfg)],
                           "luaproxy": [sys.executable, "-m", "luaproxy.master", "-f", str(cfg)],
                           "floor": [sys.executable, str(FLOOR), str(port), floor_mode(mode, rules),
                                     str(backend_port)],
                           "lua floor": [sys.executable, str(LUA_FLOOR), str(port), str(lua_floor_mode(rules)),
                                         str(backend_port)]}
                proc = start(command[program], work)
                try:
                    wait_port(port)
                    time.sleep(0.5)
                    run_wrk(port, WARM_UP_SECONDS, args.connections, extra, proc.pid)
                    pid = worker_pid(proc.pid) if program == "luaproxy" else proc.pid
                    results[program] = run_wrk(port, args.seconds, args.connections, extra, pid)
                finally:
                    stop(proc)
            rows.append((name, results))
    finally:
        stop(backend)
    print(f"{'scenario':24} {'haproxy req/s':>14} {'luaproxy req/s':>15} {'ratio':>6} "
          f"{'hap p50/p99 ms':>16} {'lp p50/p99 ms':>16} {'p99 x':>6} {'lp CPU us/req':>14}"
          + (f" {'floor req/s':>12} {'floor ratio':>12} {'lua floor':>10} {'lua floor ratio':>16}"
             f" {'lua floor CPU us/req':>21}"
             if args.floor else ""))
    for name, results in rows:
        lp = results["luaproxy"]
        hap = results.get("haproxy", {"rps": float("inf"), "p50": 0.0, "p99": float("inf")})
        line = (f"{name:24} {hap['rps']:14.0f} {lp['rps']:15.0f} {lp['rps'] / hap['rps']:6.2f} "
                f"{hap['p50']:7.2f}/{hap['p99']:<8.2f} {lp['p50']:7.2f}/{lp['p99']:<8.2f} "
                f"{lp['p99'] / max(hap['p99'], 0.001):6.1f} {lp['cpu_us']:14.1f}")
        if "floor" in results:
            line += f" {results['floor']['rps']:12.0f} {results['floor']['rps'] / hap['rps']:12.2f}"
            lua_floor = results.get("lua floor")
            line += (f" {lua_floor['rps']:10.0f} {lua_floor['rps'] / hap['rps']:16.2f} {lua_floor['cpu_us']:21.1f}"
                     if lua_floor else f" {'-':>10} {'-':>16} {'-':>21}")
        print(f"{line}  {lp['errors']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
