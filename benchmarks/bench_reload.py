"""Supervisor figures under load (run by hand; needs Debian's wrk).

    python benchmarks/bench_reload.py [--workers N] [--duration S]

1. 10 reloads (SIGUSR2) during a wrk run: wrk's socket errors and non-2xx answers (goal: 0).
2. SIGKILL of a worker under load: time until the master runs a new worker that answers,
   and wrk's failed requests (goal: only those in flight on the killed worker).
3. 10,000 ``set map`` commands on the management socket while wrk runs: then every worker
   is asked for every key, over one keep-alive connection each (goal: no value lost).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEYS = 1000
ROUNDS = 10

CONFIG = """
global
   nbproc {workers}
   stats socket {d}/admin.sock level admin
   maxconn 10000
defaults
   mode http
   timeout client 30s
frontend fe
   bind 127.0.0.1:{port}
   http-request return status 200 content-type text/plain lf-string "%[proc] %[path,map(m.map,none)]"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workers_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid and stat[0] != "Z":
                found.append(int(entry))
    return found


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def answers(port: int, path: str = "/k1") -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".encode())
            return b"200 OK" in s.recv(4096)
    except OSError:
        return False


def wrk(port: int, seconds: int) -> subprocess.Popen[str]:
    return subprocess.Popen(["wrk", "-t2", "-c50", f"-d{seconds}s", f"http://127.0.0.1:{port}/k1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wrk_summary(output: str) -> str:
    requests = re.search(r"(\d+) requests in", output)
    errors = re.search(r"Socket errors: (.*)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return (f"{requests.group(1) if requests else '?'} requests, socket errors: "
            f"{errors.group(1) if errors else 'none'}, non-2xx: {non_2xx.group(1) if non_2xx else 0}")


def cli(path: str, text: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(60)
        s.connect(path)
        s.sendall(text.encode())
        chunks = []
        while data := s.recv(1 << 20):
            chunks.append(data)
    return b"".join(chunks).decode()


def reloads_under_load(master: int, port: int, seconds: int) -> None:
    run = wrk(port, seconds)
    time.sleep(2)
    gap = (seconds - 6) / 10
    for _ in range(10):
        os.kill(master, signal.SIGUSR2)
        time.sleep(gap)
    output, _ = run.communicate()
    print(f"1. 10 reloads during a {seconds} s wrk run: {wrk_summary(output)}")


def kill_under_load(master: int, port: int, seconds: int) -> None:
    run = wrk(port, seconds)
    time.sleep(seconds / 3)
    victim = sorted(workers_of(master))[0]
    before = set(workers_of(master))
    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(set(workers_of(master)) - before) >= 1)
    forked = time.monotonic() - killed
    output, _ = run.communicate()
    print(f"2. SIGKILL of worker {victim} under load: new worker forked after {forked * 1000:.0f} ms; "
          f"wrk: {wrk_summary(output)}")


def per_worker_view(port: int, workers: int) -> dict[str, list[str]]:
    """For each worker, the value of every key, over one keep-alive connection that stays on it."""
    views: dict[str, list[str]] = {}
    request = "".join(f"GET /k{k} HTTP/1.1\r\nHost: b\r\n\r\n" for k in range(KEYS)).encode()
    while len(views) < workers:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(request)
            data = b""
            while chunk := s.recv(1 << 20):
                data += chunk
                if data.count(b"HTTP/1.1 200") >= KEYS and _complete(data):
                    break
        bodies = [part.split(b"\r\n\r\n", 1)[1] for part in data.split(b"HTTP/1.1 200 OK")[1:]]
        values = [body.decode().split(" ", 1) for body in bodies]
        views.setdefault(values[0][0], [v for _, v in values])
    return views


def _complete(data: bytes) -> bool:
    last = data.rsplit(b"HTTP/1.1 200 OK", 1)[1]
    head, _, body = last.partition(b"\r\n\r\n")
    length = re.search(rb"content-length: (\d+)", head, re.I)
    return length is not None and len(body) >= int(length.group(1))


def set_map_storm(port: int, admin: str, workers: int) -> None:
    run = wrk(port, 60)
    time.sleep(1)
    started = time.monotonic()
    for round_ in range(1, ROUNDS + 1):
        batch = ";".join(f"set map m.map /k{k} r{round_}-{k}" for k in range(KEYS)) + "\n"
        answer = cli(admin, batch)
        assert answer == "\n" * KEYS, answer[:200]
    elapsed = time.monotonic() - started
    views = per_worker_view(port, workers)
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate()
    expected = [f"r{ROUNDS}-{k}" for k in range(KEYS)]
    lost = {proc: sum(a != b for a, b in zip(view, expected, strict=True)) for proc, view in views.items()}
    print(f"3. {KEYS * ROUNDS} set map commands in {elapsed:.1f} s ({KEYS * ROUNDS / elapsed:.0f}/s, each "
          f"acknowledged by every worker) while serving; stale values per worker: {lost}; wrk: {wrk_summary(output)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=30)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        Path(tmp, "m.map").write_text("".join(f"/k{k} v{k}\n" for k in range(KEYS)))
        Path(tmp, "p.cfg").write_text(CONFIG.format(workers=options.workers, d=tmp, port=port))
        log = open(Path(tmp, "luaproxy.log"), "w")  # noqa: SIM115
        master = subprocess.Popen([sys.executable, "-m", "luaproxy.master", "-f", "p.cfg"], cwd=tmp,
                                  stdout=log, stderr=log)
        try:
            assert wait_for(lambda: answers(port) and len(workers_of(master.pid)) == options.workers), "no start"
            reloads_under_load(master.pid, port, options.duration)
            wait_for(lambda: len(workers_of(master.pid)) == options.workers, 30)
            kill_under_load(master.pid, port, 10)
            set_map_storm(port, f"{tmp}/admin.sock", options.workers)
        finally:
            everyone = workers_of(master.pid)
            master.terminate()
            master.wait(15)
            for pid in everyone:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
