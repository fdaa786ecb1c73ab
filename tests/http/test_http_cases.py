"""The .http corpus: each case fed whole, per line, per byte and in seeded random chunks.

A case is ``cases/{valid,invalid}/NAME.http`` (newlines are layout, escapes are
the bytes) with ``NAME.json`` beside it: the role that parses it, the expected
events or the expected status, and a ``note`` recording what HAProxy 2.6.12
(Debian's /usr/sbin/haproxy) answered to the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from luaproxy.worker.http import RemoteProtocolError
from tests.http.httpkit import FEEDERS, Feeder, load_http, merge_data, run_case

CASES = Path(__file__).parent / "cases"


def _cases(kind: str) -> list[Path]:
    return sorted((CASES / kind).glob("*.http"))


@pytest.mark.parametrize("feeder", FEEDERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("path", _cases("valid"), ids=lambda p: p.stem)
def test_valid_case(path: Path, feeder: Feeder) -> None:
    spec = json.loads(path.with_suffix(".json").read_text())
    runner = run_case(load_http(path), spec, feeder)
    assert merge_data(runner.events) == spec["events"]


@pytest.mark.parametrize("feeder", FEEDERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("path", _cases("invalid"), ids=lambda p: p.stem)
def test_invalid_case(path: Path, feeder: Feeder) -> None:
    spec = json.loads(path.with_suffix(".json").read_text())
    with pytest.raises(RemoteProtocolError) as caught:
        run_case(load_http(path), spec, feeder)
    assert caught.value.status_hint == spec["status"]


def test_every_case_has_its_expectation() -> None:
    for path in _cases("valid") + _cases("invalid"):
        assert path.with_suffix(".json").exists(), path
