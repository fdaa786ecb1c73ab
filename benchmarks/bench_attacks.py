"""The attack suite against luaproxy and haproxy 2.6, same attacks, same run, one table.

Run by hand from the repository root: ``python3 benchmarks/bench_attacks.py
[--only NAME,...]``.  Needs Debian's ``haproxy``.  luaproxy runs ``nbproc 2``,
haproxy ``nbthread 2`` in master-worker mode (``-W``), both with the same
frontend.  Each attack runs while a probe client (tests/attacks/kit.py) sends
one request every 50 ms; a cell gives what the probe saw (success rate and
p99) and, where it says more, what the attack itself got.  Figures are
indicative: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.attacks.kit import ConnectEcho, Probe, RecordingBackend, Report, probe_once, rss_kib  # noqa: E402
from tests.helpers import children, free_port, port_listening, read_all, wait_until  # noqa: E402
from tests.http.test_http_smuggling import CORPUS  # noqa: E402

LUA = """
core.register_service("spin", "http", function(applet) while true do end end)
core.register_service("bomb", "http", function(applet)
   local t, chunk = {}, string.rep("x", 1024 * 1024)
   for i = 1, 600 do t[i] = chunk .. i end
   applet:set_status(200)
   applet:start_response()
end)
"""


class Target:
    """One proxy under attack: its config, process and worker pids."""

    def __init__(self, name: str, work: Path, backend_port: int) -> None:
        self.name = name
        self.work = work
        self.backend_port = backend_port
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        workers = "nbproc 2" if self.name == "luaproxy" else "nbthread 2"
        return f"""global
   {workers}
   lua-load attack.lua
   tune.lua.session-timeout 1s
   tune.lua.service-timeout 1s
   stats socket {self.work}/{self.name}.sock level user
defaults
   mode http
   timeout connect 1s
   timeout client 5s
   timeout server 5s
   timeout http-request 2s
   timeout tunnel 5s
frontend fe
   bind 127.0.0.1:{self.port}
   http-request return status 200 content-type text/plain string ok if {{ path /probe }}
   http-request use-service lua.spin if {{ path /spin }}
   http-request use-service lua.bomb if {{ path /bomb }}
   default_backend be
backend be
   server s1 127.0.0.1:{self.backend_port}
"""

    def start(self) -> None:
        cfg = self.work / f"{self.name}.cfg"
        cfg.write_text(self.config())
        command = ([sys.executable, "-m", "luaproxy.master", "-f", str(cfg)] if self.name == "luaproxy"
                   else ["haproxy", "-W", "-db", "-f", str(cfg)])
        self.proc = subprocess.Popen(command, cwd=self.work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(lambda: port_listening(self.port), 15) or not wait_until(lambda: self.workers(), 10):
            raise RuntimeError(f"{self.name} did not start")
        time.sleep(0.5)

    def workers(self) -> list[int]:
        return children(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        if self.proc is None:
            return
        pids = [self.proc.pid, *self.workers()]
        for pid in pids:
            with _suppress():
                os.kill(pid, signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        for pid in pids:
            with _suppress():
                os.kill(pid, signal.SIGKILL)
        self.proc = None


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return exc[0] is not None and issubclass(exc[0], OSError)  # type: ignore[arg-type]


def probe_during(target: Target, attack: Callable[[], str]) -> str:
    with Probe(target.port, interval=0.05, timeout=3) as probe:
        extra = attack()
    return cell(probe.report(), extra)


def cell(report: Report, extra: str = "") -> str:
    p99 = "-" if report.p99 == float("inf") else f"{report.p99 * 1000:.0f}ms"
    return f"{report.success:.0%} p99 {p99}" + (f"; {extra}" if extra else "")


def many(port: int, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            break
    return socks


def slowloris(target: Target) -> str:
    def attack() -> str:
        socks = many(target.port, 300)
        for sock in socks:
            sock.sendall(b"GET / HTTP/1.1\r\n")
        for _ in range(8):
            for sock in socks:
                with _suppress():
                    sock.send(b"X")
            time.sleep(0.5)
        got = sum(read_all(s, 1).startswith(b"HTTP/1.1 408") for s in socks)
        for sock in socks:
            sock.close()
        return f"{got}/{len(socks)} got 408"
    return probe_during(target, attack)


def connection_flood(target: Target) -> str:
    def attack() -> str:
        stop = threading.Event()

        def storm() -> None:
            while not stop.is_set():
                with _suppress():
                    socket.create_connection(("127.0.0.1", target.port), timeout=2).close()

        idle = many(target.port, 1500)
        threads = [threading.Thread(target=storm, daemon=True) for _ in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        stop.set()
        for thread in threads:
            thread.join(5)
        for sock in idle:
            sock.close()
        return f"{len(idle)} idle + storm"
    return probe_during(target, attack)


def oversized(target: Target) -> str:
    cases = [b"GET /" + b"a" * 1_000_000 + b" HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 20000 + b"\r\n",
             b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n"]

    def attack() -> str:
        refused = 0
        for _ in range(10):
            for data in cases:
                with socket.create_connection(("127.0.0.1", target.port), timeout=5) as sock:
                    with _suppress():
                        sock.sendall(data)
                    reply = read_all(sock, 3)
                refused += reply == b"" or reply[9:10] == b"4"
        return f"{refused}/{10 * len(cases)} refused"
    return probe_during(target, attack)


def smuggling(target: Target, backend: RecordingBackend) -> str:
    desyncs = 0
    for raw, _ in CORPUS.values():
        before = len(backend.requests)
        with socket.create_connection(("127.0.0.1", target.port), timeout=5) as sock:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            reply = read_all(sock, 3)
        answers = reply.count(b"HTTP/1.1 200")
        time.sleep(0.05)
        desyncs += len(backend.requests) - before > answers
    return f"{len(CORPUS)} cases, {desyncs} desync"


def tunnels(target: Target, echo_port: int) -> str:
    def attack() -> str:
        socks = many(target.port, 100)
        for sock in socks:
            sock.sendall(b"CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n")
        ok = sum(sock.recv(64).startswith(b"HTTP/1.1 200") for sock in socks)
        time.sleep(2)
        for sock in socks:
            sock.close()
        return f"{ok}/100 tunnels"
    return probe_during(target, attack)


def management_flood(target: Target) -> str:
    master = target.proc.pid if target.name == "luaproxy" else target.workers()[0]
    before = rss_kib(master)

    def attack() -> str:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(1)
        sock.connect(str(target.work / f"{target.name}.sock"))
        payload = memoryview(b"prompt\n" + b"show stat\n" * 60000)
        deadline = time.monotonic() + 4
        while payload and time.monotonic() < deadline:
            try:
                payload = payload[sock.send(payload[:65536]):]
            except OSError:
                time.sleep(0.05)
        time.sleep(max(deadline - time.monotonic(), 0))
        grown = rss_kib(master) - before
        sock.close()
        return f"RSS +{grown // 1024} MB"
    return probe_during(target, attack)


def lua_spin(target: Target) -> str:
    def attack() -> str:
        threads = [threading.Thread(target=probe_once, args=(target.port, 10, b"GET /spin HTTP/1.1\r\nHost: t\r\n\r\n"),
                                    daemon=True) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(12)
        return "4 endless loops"
    return probe_during(target, attack)


def lua_bomb(target: Target) -> str:
    def attack() -> str:
        probe_once(target.port, 20, b"GET /bomb HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(2)
        return f"RSS after {max(rss_kib(p) for p in target.workers()) // 1024} MB"
    return probe_during(target, attack)


def sigstop_worker(target: Target) -> str:
    def attack() -> str:
        worker = target.workers()[0]
        os.kill(worker, signal.SIGSTOP)
        time.sleep(8)
        with _suppress():
            os.kill(worker, signal.SIGCONT)
        return "a worker stopped 8 s"
    return probe_during(target, attack)


def sigkill_worker(target: Target) -> str:
    def attack() -> str:
        for _ in range(3):
            time.sleep(1)
            workers = target.workers()
            if workers:
                os.kill(workers[0], signal.SIGKILL)
        time.sleep(1)
        return f"{len(target.workers())} worker(s) after"
    return probe_during(target, attack)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma-separated attack names")
    args = parser.parse_args()
    backend = RecordingBackend()
    echo = ConnectEcho()
    attacks: dict[str, Callable[[Target], str]] = {
        "slowloris (300 conns)": slowloris,
        "connection flood": connection_flood,
        "oversized inputs": oversized,
        "smuggling corpus": lambda t: smuggling(t, backend),
        "CONNECT tunnels (100)": lambda t: tunnels(t, echo.port),
        "stats socket flood (user)": management_flood,
        "Lua endless loops": lua_spin,
        "Lua memory bomb": lua_bomb,
        "SIGSTOP a worker": sigstop_worker,
        "SIGKILL a worker x3": sigkill_worker,
    }
    wanted = [name for name in attacks if not args.only or any(w in name for w in args.only.split(","))]
    table: dict[str, dict[str, str]] = {name: {} for name in wanted}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "attack.lua").write_text(LUA)
        for name in wanted:
            for program in ("luaproxy", "haproxy"):
                port = echo.port if name.startswith("CONNECT") else backend.port
                target = Target(program, work, port)
                try:
                    target.start()
                    table[name][program] = attacks[name](target)
                except Exception as exc:  # a bench row must not stop the others
                    table[name][program] = f"error: {exc}"
                finally:
                    target.stop()
                print(f"{name:28} {program:9} {table[name][program]}", file=sys.stderr)
    width = max(len(v) for row in table.values() for v in row.values())
    print(f"\n| {'attack':28} | {'luaproxy':{width}} | {'haproxy 2.6':{width}} |")
    print(f"|{'-' * 30}|{'-' * (width + 2)}|{'-' * (width + 2)}|")
    for name, row in table.items():
        print(f"| {name:28} | {row.get('luaproxy', ''):{width}} | {row.get('haproxy', ''):{width}} |")
    backend.close()
    echo.sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
