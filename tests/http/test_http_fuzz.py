"""Mutated corpus bytes: whatever arrives, the parser answers with events or RemoteProtocolError, nothing else."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from luaproxy.worker.http import RemoteProtocolError
from tests.http.httpkit import load_http, random_chunks, run_case

CASES = sorted((Path(__file__).parent / "cases").glob("*/*.http"))
ALPHABET = b"\r\n\t :;,0123456789abcdefABCDEF-\x00\x7f\xff"


def mutate(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        pos = rng.randint(0, len(data))
        choice = rng.random()
        if choice < 0.4 and data:
            data[min(pos, len(data) - 1)] = rng.choice(ALPHABET)
        elif choice < 0.7:
            data[pos:pos] = bytes([rng.choice(ALPHABET)])
        else:
            del data[pos : pos + rng.randint(1, 3)]
    return bytes(data)


@pytest.mark.parametrize("seed", range(4))
def test_mutations_never_crash(seed: int) -> None:
    rng = random.Random(seed)
    for path in CASES:
        spec = json.loads(path.with_suffix(".json").read_text())
        spec = {"role": spec["role"], "methods": spec.get("methods", ["GET"]) * 2, "eof": True}
        raw = load_http(path)
        for _ in range(12):
            try:
                run_case(mutate(raw, rng), spec, random_chunks(rng.randint(0, 1000)))
            except RemoteProtocolError as exc:
                assert exc.status_hint in (400, 422, 502)
