"""The master's fleet state machine, driven with the agent's messages (no sockets: it does no I/O)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from luaproxy.master.control.changes import PatternChange
from luaproxy.master.fleet import sync
from luaproxy.master.fleet.sync import Counters, FleetSync
from luaproxy.master.management.pending import Pending
from luaproxy.master.map_store import MapStore
from luaproxy.worker.custom_metrics import MetricSet
from luaproxy.worker.samples import PatternLibrary


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __getattr__(self, level: str) -> Any:
        return lambda message: self.lines.append(f"{level}: {message}")


@pytest.fixture
def fleet(tmp_path: Path) -> FleetSync:
    (tmp_path / "m.map").write_text("/a one\n")
    library = PatternLibrary(str(tmp_path))
    library.load_map("m.map")
    store = MapStore(library)
    sent: list[dict[str, Any]] = []

    def apply_many(batch: list[tuple[PatternChange, str]]) -> list[Pending]:
        return [Pending.resolved((store.apply(change), "")) for change, _ in batch]

    fleet = FleetSync("redis://127.0.0.1:1", "t", store, sent.append, apply_many, Log(), Counters.define(MetricSet()))
    fleet.sent = sent  # type: ignore[attr-defined]
    return fleet


def up(fleet: FleetSync, g: int = 0) -> None:
    fleet.on_agent({"t": "link", "state": "connected"})
    fleet.on_agent({"t": "snapshot", "hid": fleet.hid, "g": g, "id": f"{g}-0", "epoch": "e1",
                    "lists": {"file:m.map": {"v": 0, "entries": [["/a", "one"]]}}})
    assert fleet.state == sync.UP


def event(g: int, change: dict[str, Any], node: str = "other", seq: int = 0, n: int = 1) -> dict[str, Any]:
    return {"g": g, "id": f"{g}-0", "list": "file:m.map", "v": g, "n": n, "node": node, "seq": seq,
            "change": {"kind": "map", **change}}


def value(fleet: FleetSync, key: str) -> str | None:
    return next((e.value for e in fleet.store.library.find("m.map").entries() if e.key == key), None)


def test_changes_apply_once_in_the_fleets_order_and_a_gap_syncs_again(fleet):
    up(fleet)
    fleet.on_agent({"t": "events", "events": [event(1, {"op": "set", "key": "/a", "value": "x"}),
                                              event(1, {"op": "set", "key": "/a", "value": "again"}),
                                              event(2, {"op": "set", "key": "/a", "value": "y"})]})
    assert value(fleet, "/a") == "y" and fleet.last_g == 2
    fleet.on_agent({"t": "events", "events": [event(5, {"op": "set", "key": "/a", "value": "z"})]})
    assert value(fleet, "/a") == "y" and fleet.state == sync.SYNCING
    assert fleet.sent[-1]["t"] == "handshake" and fleet.sent[-1]["last_g"] == 2


def test_a_change_made_here_waits_for_the_fleet(fleet):
    up(fleet)
    pending = fleet.submit(PatternChange("map", "m.map", "set", "/a", "mine"), "cli")
    assert fleet.sent[-1]["t"] == "publish" and not pending.done and value(fleet, "/a") == "one"
    seq = fleet.sent[-1]["seq"]
    # another node's change to the same key came first in Redis: both apply, in Redis's order
    fleet.on_agent({"t": "events", "events": [event(1, {"op": "set", "key": "/a", "value": "theirs"}),
                                              event(2, {"op": "set", "key": "/a", "value": "mine"},
                                                    node=fleet.node, seq=seq)]})
    assert pending.done and value(fleet, "/a") == "mine"


def test_while_redis_is_away_changes_apply_here_and_are_replayed(fleet, monkeypatch):
    up(fleet, 7)
    fleet.on_agent({"t": "link", "state": "down", "error": "gone"})
    fleet.on_agent({"t": "link", "state": "down", "error": "gone"})
    assert sum("lost Redis" in line for line in fleet.logger.lines) == 1  # once per outage
    pending = fleet.submit(PatternChange("map", "m.map", "set", "/a", "offline"), "cli")
    assert pending.done and value(fleet, "/a") == "offline"
    fleet.on_agent({"t": "link", "state": "connected"})
    handshake = fleet.sent[-1]
    assert [r["change"]["value"] for r in handshake["replay"]] == ["offline"]
    assert handshake["epoch"] == "e1" and handshake["last_g"] == 7


def test_too_many_changes_while_away_send_the_list_whole(fleet, monkeypatch):
    monkeypatch.setattr(sync, "MAX_QUEUED", 5)
    up(fleet)
    fleet.on_agent({"t": "link", "state": "down", "error": "gone"})
    for i in range(12):
        fleet.submit(PatternChange("map", "m.map", "add", entries=((f"/k{i}", str(i)),)), "lua")
    assert len(fleet.queue) < 5
    fleet.on_agent({"t": "link", "state": "connected"})
    replay = fleet.sent[-1]["replay"]
    assert replay[-1]["change"]["op"] == "replace" and len(replay[-1]["change"]["entries"]) == 13
