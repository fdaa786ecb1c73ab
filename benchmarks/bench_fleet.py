"""Fleet sync figures: 3 luaproxy nodes x 2 workers and one redis-server on 127.0.0.1 (run by hand).

    python benchmarks/bench_fleet.py [--seconds 60] [--rate 1000]

1. ``set map`` on node A, one at a time: how long the command takes (p50/p99), and how long
   until every worker of B and C serves the new value (p99), each worker polled over its own
   keep-alive connection.
2. ``--rate`` changes per second for ``--seconds``, from all three nodes (each key written by
   one writer, so its last value is known): then every worker of every node must serve the
   last value of every key, every process's digest must be equal, and each node's change
   counter must equal Redis's (no change lost, repeated or reordered).
3. Node C killed with SIGKILL while changes flow, then started again: time from its start
   (and from its port listening) until it holds the fleet's state.
4. Redis stopped for 10 s while the nodes keep taking changes, then started again: time
   until all converge, then the same checks as 2.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fleet.conftest import Node, converged
from tests.helpers import RedisServer, port_listening, port_open, wait_until

WRITERS_PER_NODE = 4
BATCH = 10
KEYS_PER_WRITER = 100


class WorkerProbe:
    """One keep-alive connection per worker of a node: ask each worker for a path's value."""

    def __init__(self, node: Node) -> None:
        self.conns: dict[str, socket.socket] = {}
        deadline = time.monotonic() + 20
        spare = []
        while len(self.conns) < node.workers and time.monotonic() < deadline:
            sock = socket.create_connection(("127.0.0.1", node.port), timeout=5)
            proc, _ = self._ask(sock, "/")
            if proc in self.conns:
                spare.append(sock)
            else:
                self.conns[proc] = sock
        for sock in spare:
            sock.close()
        assert len(self.conns) == node.workers, "could not reach every worker"

    @staticmethod
    def _ask(sock: socket.socket, path: str) -> tuple[str, str]:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        while len(body) < length:
            body += sock.recv(65536)
        proc, _, value = body.decode().partition(" ")
        return proc, value

    def values(self, path: str) -> dict[str, str]:
        return {proc: self._ask(sock, path)[1] for proc, sock in self.conns.items()}

    def close(self) -> None:
        for sock in self.conns.values():
            sock.close()


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def latency(a: Node, others: list[Node], rounds: int) -> None:
    probes = [WorkerProbe(node) for node in others]
    answer, visible = [], []
    assert a.cli("add map m.map /lat start") == "\n"
    for i in range(rounds):
        value = f"lat{i}"
        start = time.perf_counter()
        assert a.cli(f"set map m.map /lat {value}") == "\n"
        answer.append(time.perf_counter() - start)
        pending = [(probe, proc) for probe in probes for proc in probe.conns]
        while pending:
            pending = [(probe, proc) for probe, proc in pending
                       if probe._ask(probe.conns[proc], "/lat")[1] != value]
            if time.perf_counter() - start > 10:
                raise AssertionError("a change never reached every worker")
        visible.append(time.perf_counter() - start)
    for probe in probes:
        probe.close()
    print(f"1. set map on A ({rounds} changes, one at a time): answered p50 {statistics.median(answer) * 1e3:.1f} ms, "
          f"p99 {percentile(answer, 0.99) * 1e3:.1f} ms; visible in every worker of B and C: "
          f"p50 {statistics.median(visible) * 1e3:.1f} ms, p99 {percentile(visible, 0.99) * 1e3:.1f} ms")


class Writers:
    """WRITERS_PER_NODE threads per node, each with its own keys, paced to *rate* changes/s in total."""

    def __init__(self, nodes: list[Node], rate: float, phase: str) -> None:
        self.nodes = nodes
        self.count = len(nodes) * WRITERS_PER_NODE
        self.interval = BATCH / (rate / self.count)
        self.last: dict[str, str] = {}
        self.sent = 0
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(node, f"{phase}{name}{w}"), daemon=True)
                        for node, name in zip(nodes, "ABC", strict=False) for w in range(WRITERS_PER_NODE)]

    def start(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def _run(self, node: Node, name: str) -> None:
        n = 0
        next_time = time.monotonic()
        while not self.stop.is_set():
            batch = []
            for _ in range(BATCH):
                key = f"/{name}-{n % KEYS_PER_WRITER}"
                batch.append((key, f"{name}.{n}"))
                n += 1
            verb = "add" if n <= KEYS_PER_WRITER else "set"  # each key is added once, then set
            command = ";".join(f"{verb} map m.map {k} {v}" for k, v in batch)
            try:
                answer = node.cli(command, timeout=30)
            except OSError as exc:
                answer = f"node unreachable: {exc}"
            lines = answer.split("\n")
            with self.lock:
                if any(line for line in lines):
                    self.errors.append(f"{name}: {answer[:200]!r}")
                for key, value in batch:
                    self.last[key] = value
                self.sent += len(batch)
            next_time += self.interval
            time.sleep(max(0.0, next_time - time.monotonic()))

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def check(nodes: list[Node], writers: Writers, redis_port: int, label: str) -> None:
    """Every worker of every node serves each key's last value; every digest and change counter agree."""
    start = time.monotonic()
    ok = wait_until(lambda: converged(nodes), 60, interval=0.2)
    took = time.monotonic() - start
    probes = [WorkerProbe(node) for node in nodes]
    wrong = 0
    for key, value in writers.last.items():
        for probe in probes:
            wrong += sum(1 for v in probe.values(key).values() if v != value)
    for probe in probes:
        probe.close()
    counters = {node.fleet()["Change"] for node in nodes}
    redis_seq = subprocess.run(["redis-cli", "-p", str(redis_port), "get", "lp:{test}:seq"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
    print(f"   {label}: converged={ok} in {took:.2f} s after the last change; {len(writers.last)} keys x "
          f"{sum(n.workers for n in nodes)} workers, wrong values: {wrong}; command errors: {len(writers.errors)}; "
          f"change counters: nodes {sorted(counters)}, redis {redis_seq}")
    for error in writers.errors[:3]:
        print(f"     {error}")


def sustained(nodes: list[Node], redis_port: int, rate: float, seconds: float) -> None:
    writers = Writers(nodes, rate, "s").start()
    start = time.monotonic()
    time.sleep(seconds)
    writers.finish()
    elapsed = time.monotonic() - start
    print(f"2. {writers.sent} changes in {elapsed:.1f} s ({writers.sent / elapsed:.0f}/s asked {rate:.0f}/s) "
          "from 3 nodes")
    check(nodes, writers, redis_port, "after the run")


def kill_restart(nodes: list[Node], redis_port: int, rate: float) -> None:
    c = nodes[2]
    writers = Writers(nodes[:2], rate / 3, "k").start()
    time.sleep(1)
    c.kill()
    time.sleep(1)
    start = time.monotonic()
    assert c.proc is not None
    c.start()
    listening = time.monotonic()
    wait_until(lambda: c.fleet().get("State") == "up", 30, interval=0.01)
    up = time.monotonic()
    time.sleep(1)
    writers.finish()
    print(f"3. C killed (SIGKILL) with changes flowing, started again: port listening after "
          f"{listening - start:.2f} s, fleet state loaded {up - listening:.3f} s later "
          f"({up - start:.2f} s from its start)")
    check(nodes, writers, redis_port, "after the restart")


def redis_outage(nodes: list[Node], redis: RedisServer, directory: str, rate: float) -> None:
    writers = Writers(nodes, rate / 3, "o").start()
    time.sleep(1)
    redis.stop()
    time.sleep(10)
    redis.proc = subprocess.Popen(
        ["redis-server", "--port", str(redis.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", directory], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: port_open(redis.port), 10)
    back = time.monotonic()
    ok = wait_until(lambda: all(node.fleet().get("State") == "up" for node in nodes), 30, interval=0.02)
    print(f"4. Redis stopped 10 s with changes flowing on every node, started again (empty): every node "
          f"back in sync={ok} {time.monotonic() - back:.2f} s after it came back")
    time.sleep(1)
    writers.finish()
    check(nodes, writers, redis.port, "after the outage")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        redis = RedisServer(Path(tmp))
        nodes = [Node(Path(tmp) / name, redis.port) for name in "abc"]
        try:
            for node in nodes:
                node.start()
            assert wait_until(lambda: converged(nodes), 30), "the fleet did not converge at start"
            print(f"3 nodes x 2 workers, redis-server {redis.port}; {time.strftime('%Y-%m-%d %H:%M:%S')}")
            latency(nodes[0], nodes[1:], args.rounds)
            sustained(nodes, redis.port, args.rate, args.seconds)
            kill_restart(nodes, redis.port, args.rate)
            redis_outage(nodes, redis, tmp, args.rate)
        finally:
            for node in nodes:
                node.stop()
            redis.stop()
        assert not any(port_listening(node.port) for node in nodes)


if __name__ == "__main__":
    main()
