"""Map lookup speed on 100k-entry maps, per match method (run by hand).

    python benchmarks/bench_maps.py [entries]

Prints microseconds per lookup for the raw index and for a whole
``map_*`` converter evaluation (fetch + cast + lookup).
"""

from __future__ import annotations

import random
import socket
import sys
import tempfile
import time
from pathlib import Path

from luaproxy.worker.samples import PatternLibrary, SampleExpr, default_registry, parse_expr
from luaproxy.worker.samples.patterns import Method, PatternIndex
from luaproxy.worker.samples.types import SampleType


class _Stream:
    """The least an expression made of constants and maps needs."""

    vars = None


def _ips(rng: random.Random, count: int) -> list[str]:
    """A realistic mix: mostly /32 hosts and /24 networks, some /16, /8 and IPv6 prefixes."""
    keys = []
    for _ in range(count):
        a, b, c, d = (rng.randrange(1, 255) for _ in range(4))
        roll = rng.random()
        if roll < 0.45:
            keys.append(f"{a}.{b}.{c}.{d}")
        elif roll < 0.85:
            keys.append(f"{a}.{b}.{c}.0/24")
        elif roll < 0.93:
            keys.append(f"{a}.{b}.0.0/16")
        elif roll < 0.95:
            keys.append(f"{a}.0.0.0/8")
        else:
            keys.append(f"2001:db8:{a:x}:{b:x}::/64")
    return keys


def _per_lookup(index: PatternIndex, gen: int, probes: list[object], rounds: int) -> float:
    """Microseconds per raw index lookup."""
    start = time.perf_counter()
    for _ in range(rounds):
        for probe in probes:
            index.lookup(probe, gen)
    return (time.perf_counter() - start) / rounds / len(probes) * 1e6


def _per_evaluation(exprs: list[SampleExpr], rounds: int) -> float:
    """Microseconds per whole expression evaluation."""
    ctx = _Stream()
    start = time.perf_counter()
    for _ in range(rounds):
        for expr in exprs:
            expr.evaluate(ctx)  # type: ignore[arg-type]
    return (time.perf_counter() - start) / rounds / len(exprs) * 1e6


def main(count: int = 100_000) -> None:
    rng = random.Random(42)
    strings = [f"/path/{rng.getrandbits(48):012x}/{i}" for i in range(count)]
    ips = _ips(rng, count)
    cases = {
        "str": (Method.STR, strings, [rng.choice(strings) for _ in range(1000)] + ["/miss"] * 100),
        "beg": (Method.BEG, strings, [rng.choice(strings) + "/tail" for _ in range(1000)]),
        "ip": (
            Method.IP,
            ips,
            [socket.inet_pton(socket.AF_INET, k.split("/")[0]) for k in rng.sample(ips, 1000) if ":" not in k]
            + [bytes([10, 255, 255, 1])] * 100,
        ),
        "int": (Method.INT, [str(i * 3) for i in range(count)], [rng.randrange(0, count * 3) for _ in range(50)]),
        "sub": (Method.SUB, strings, [rng.choice(strings) for _ in range(20)]),
    }
    registry = default_registry()
    with tempfile.TemporaryDirectory() as tmp:
        lib = PatternLibrary(tmp)
        print(f"{'method':<6} {'entries':>8} {'load s':>7} {'index us':>9} {'converter us':>13}")
        for name, (method, keys, probes) in cases.items():
            Path(tmp, f"{name}.map").write_text("".join(f"{k} v{i}\n" for i, k in enumerate(keys)))
            started = time.perf_counter()
            ref = lib.load_map(f"{name}.map")
            index = ref.index(method, False, SampleType.STR)
            load = time.perf_counter() - started
            rounds = max(1, 20000 // len(probes)) if method in (Method.STR, Method.BEG, Method.IP) else 1
            per_index = _per_lookup(index, ref.curr_ver, probes, rounds)
            texts = [socket.inet_ntop(socket.AF_INET, p) if method is Method.IP else str(p) for p in probes]
            conv = "map_int" if method is Method.INT else f"map_{name}"
            exprs = [parse_expr(f"str({t.replace(',', '')}),{conv}({name}.map)", registry, lib) for t in texts[:200]]
            per_conv = _per_evaluation(exprs, max(1, rounds // 5))
            print(f"{name:<6} {len(keys):>8} {load:>7.2f} {per_index:>9.2f} {per_conv:>13.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
