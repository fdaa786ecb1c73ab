"""The master's side of fleet sync: which changes go through Redis, and in what order they apply.

While the link is up, a change made on this node (management socket or Lua)
is not applied here at once: it goes to Redis, which numbers it in the
fleet's order, and it is applied here when it comes back on the stream, as on
every other node.  So every node applies the same changes in the same order,
each once: changes carry the fleet's counter ``g`` and a node applies
``g == last + 1`` only (a smaller one is a repeat, a larger one a gap, which
loads the fleet's state again).  When two nodes change one key at once, the
one Redis ran last wins, everywhere.

While the link is down, a change is applied here at once and kept; on
reconnection the handshake replays the kept changes (Redis drops any it
already had, by this node's change number), then loads every list, which
replaces what differs here.  A list Redis does not have yet takes this node's
content.  If Redis lost the fleet's data (restarted without persistence),
the first node back seeds every list, and each node carries over the
changes it had applied since (the last ``HISTORY``), each once, so no change
any node saw is lost.  No I/O here: ``send`` reaches the agent, ``apply_many`` spreads changes
to the master's store and every worker.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from luaproxy.worker.samples import PatternRef, SampleError

from ..control import changes
from ..control.changes import LUA_OPS, PatternChange
from ..management.pending import Pending
from ..map_store import MapStore

CONNECTING, DOWN, SYNCING, UP = "connecting", "down", "syncing", "up"
_U32 = 0xFFFFFFFF
HISTORY = 20000
MAX_QUEUED = 50000


@dataclass(frozen=True, slots=True)
class Counters:
    """The Prometheus counters of the fleet link (metric definitions of the master's MetricSet)."""

    sent: Any
    received: Any
    failed: Any
    in_sync: Any

    @classmethod
    def define(cls, metrics: Any) -> Counters:
        return cls(metrics.define("luaproxy_fleet_updates_sent_total", "counter",
                                  "Map and ACL changes this node sent to the fleet through Redis."),
                   metrics.define("luaproxy_fleet_updates_received_total", "counter",
                                  "Map and ACL changes other nodes made, applied here."),
                   metrics.define("luaproxy_fleet_updates_failed_total", "counter",
                                  "Map and ACL changes the fleet refused."),
                   metrics.define("luaproxy_fleet_in_sync", "gauge",
                                  "1 while this node follows the fleet through Redis, else 0."))


@dataclass(slots=True, eq=False)
class Queued:
    """A change made here that the fleet has not given back yet."""

    seq: int
    change: PatternChange  # as made here: a commit stays a commit
    identity: str
    op: dict[str, Any]  # what Redis applies (a commit becomes a replace)
    source: str
    applied: bool = False  # applied here already (made while Redis was away)
    in_redis: bool = False  # Redis took it: the next snapshot holds it
    waiter: Pending | None = None


class FleetSync:
    def __init__(self, url: str, fleet: str, store: MapStore, send: Callable[[dict[str, Any]], None],
                 apply_many: Callable[[list[tuple[PatternChange, str]]], list[Pending]], logger: Any,
                 counters: Counters) -> None:
        self.url = url
        self.fleet = fleet
        self.store = store
        self.send = send
        self.apply_many = apply_many
        self.logger = logger
        self.counters: Counters = counters
        self.node = f"{os.uname().nodename}-{os.getpid()}-{secrets.token_hex(3)}"
        self.state = CONNECTING
        self.since = time.time()
        self.error = ""
        self.outages = 0
        self.seq = 0
        self.hid = 0
        self.last_g = 0
        self.stream_id = "0-0"
        self.queue: dict[int, Queued] = {}
        self.epoch = ""  # Redis's word for the fleet data it holds; a new one means it lost the old
        self.history: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=HISTORY)  # changes since the snapshot
        self.diverged: set[str] = set()
        self.overflowed: set[str] = set()  # lists changed here past MAX_QUEUED while Redis was away

    @property
    def shown_url(self) -> str:
        """The URL without its password."""
        parts = urllib.parse.urlsplit(self.url)
        if parts.password is None:
            return self.url
        netloc = parts.netloc.rsplit("@", 1)[1]
        user = f"{parts.username}:***@" if parts.username else ":***@"
        return urllib.parse.urlunsplit(parts._replace(netloc=user + netloc))

    # Changes made here.

    def submit(self, change: PatternChange, source: str) -> Pending | None:
        """Send a change through the fleet; None when it is this node's alone (prepare, a pending version)."""
        try:
            prepared = self._prepare(change)
        except SampleError as exc:
            if source != "cli":  # nobody waits for a Lua change's answer: say it here
                self.logger.warning(f"{source}: {change.op} {change.target}: {exc}")
            return Pending.resolved(f"{exc}\n")
        if prepared is None:
            return None
        self.seq += 1
        item = Queued(self.seq, change, prepared[0], prepared[1], source)
        if self.state in (CONNECTING, DOWN):
            if item.identity not in self.overflowed:
                self.queue[item.seq] = item
                if len(self.queue) >= MAX_QUEUED:
                    self._collapse()
            return self._apply_here(item)
        self.queue[item.seq] = item
        item.waiter = Pending()
        self.send({"t": "publish", "seq": item.seq, "list": item.identity, "change": item.op})
        return item.waiter

    def _prepare(self, change: PatternChange) -> tuple[str, dict[str, Any]] | None:
        """What Redis must apply for *change*, checked here first (raises SampleError, as the command would)."""
        library = self.store.library
        ref = library.find(change.target, change.kind)
        current = change.version is None or change.version == ref.curr_ver
        op = change.op
        if op in LUA_OPS:
            if op == "set-map":
                ref.check(change.key, change.value or "")
            elif op == "add-acl" and not any(e.key == change.key for e in ref.entries()):
                library.check_acl_entry(ref, change.key)
            body: dict[str, Any] = {"op": op, "key": change.key, "value": change.value}
        elif op == "add" and current:
            for key, value in change.entries:
                if change.kind == "acl":
                    library.check_acl_entry(ref, key)
                else:
                    ref.check(key, value)
            body = {"op": "add", "entries": [[key, value] for key, value in change.entries]}
        elif op == "set":
            ref.check(change.key, change.value or "")
            body = {"op": "set", "key": change.key, "value": change.value or "", "nth": change.nth}
        elif op == "del":
            body = {"op": "del", "key": change.key, "nth": change.nth}
        elif op == "clear" and current:
            body = {"op": "clear"}
        elif op == "commit":
            if not _can_commit(ref, change.version):
                raise SampleError("Version number out of range.")
            body = {"op": "replace", "entries": [[e.key, e.value] for e in ref.entries(change.version)]}
        else:
            return None
        body = {key: value for key, value in body.items() if value is not None}
        return changes.identity(ref), {"kind": change.kind, **body}

    def _apply_here(self, item: Queued) -> Pending:
        item.applied = True
        pending = self._apply(item.change, item.source)
        if item.waiter is not None:
            pending.on_done(item.waiter.resolve)
        return pending

    # The agent's messages.

    def on_agent(self, message: dict[str, Any]) -> None:
        kind = message.get("t")
        if kind == "link":
            if message.get("state") == "connected":
                self.handshake()
            else:
                self.lost(message.get("error") or "unknown error")
        elif kind == "published":
            self._published(message)
        elif kind == "snapshot":
            self._snapshot(message)
        elif kind == "events" and self.state == UP:
            self._events(message["events"])

    def lost(self, error: str) -> None:
        """The link is down (or the agent died): serve with what we have, apply the changes in flight here."""
        if self.state != DOWN:
            self.outages += 1
            self.since = time.time()
            self.logger.alert(f"fleet-sync: lost Redis at {self.shown_url} ({error}); "
                              "serving and taking changes locally until it is back")
        self._enter(DOWN)
        self.error = error
        for item in list(self.queue.values()):
            if not item.applied:
                self._apply_here(item)

    def _collapse(self) -> None:
        """Too many changes kept while Redis is away: keep none, send those lists whole on reconnection."""
        for item in [item for item in self.queue.values() if item.applied]:
            self.overflowed.add(item.identity)
            del self.queue[item.seq]
        self.logger.warning(f"fleet-sync: over {MAX_QUEUED} changes made while Redis is away; "
                            f"{len(self.overflowed)} list(s) will be sent whole when it is back")

    def handshake(self) -> None:
        """Ask the agent to seed, replay and load every list (on connection, after a gap, after a reload)."""
        self._enter(SYNCING)
        self.hid += 1
        for ref in self.store.library.refs():
            if changes.identity(ref) in self.overflowed:
                self.seq += 1
                entries = tuple((e.key, e.value) for e in ref.entries())
                change = PatternChange(_kind(ref), _target(ref), "replace", entries=entries)
                op = {"kind": change.kind, "op": "replace", "entries": [list(e) for e in entries]}
                self.queue[self.seq] = Queued(self.seq, change, changes.identity(ref), op, "cli", applied=True)
        self.overflowed.clear()
        lists = [{"id": changes.identity(ref), "kind": "map" if ref.is_map else "acl",
                  "entries": [[e.key, e.value] for e in ref.entries()]} for ref in self.store.library.refs()]
        replay = [{"seq": item.seq, "list": item.identity, "change": item.op}
                  for item in self.queue.values() if item.applied]
        self.send({"t": "handshake", "hid": self.hid, "lists": lists, "replay": replay, "epoch": self.epoch,
                   "last_g": self.last_g, "history": list(self.history)})

    def _published(self, message: dict[str, Any]) -> None:
        status = message["status"]
        if status != "dup":
            (self.counters.sent if status == "ok" else self.counters.failed).add(1)
        item = self.queue.get(message["seq"])
        if item is None:  # its event came back first
            return
        if status in ("ok", "dup"):
            item.in_redis = True
            return
        del self.queue[item.seq]
        error = message.get("error", "refused")
        if item.applied:
            self.logger.warning(f"fleet-sync: a change to {item.change.target} made while Redis was away was "
                                f"refused by the fleet: {error}")
        elif item.waiter is not None:
            item.waiter.resolve(f"{error}\n")

    def _snapshot(self, message: dict[str, Any]) -> None:
        if message["hid"] != self.hid:
            return
        refs = self._refs()
        last: Pending | None = None
        replaced = 0
        for identity, data in message["lists"].items():
            ref = refs.get(identity)
            pairs = [(key, value) for key, value in data["entries"]]
            if ref is None or changes.fingerprint(ref.entries()) == changes.fingerprint_pairs(pairs):
                continue
            last = self._apply(PatternChange(_kind(ref), _target(ref), "replace", entries=tuple(pairs)), "fleet")
            replaced += 1
            if len(ref.entries()) == len(pairs):
                self.diverged.discard(identity)
        self.logger.notice(f"fleet-sync: in sync with fleet '{self.fleet}' at {self.shown_url}, change "
                           f"{message['g']} ({len(message['lists'])} lists, {replaced} replaced here, "
                           f"{len(message.get('seeded', []))} seeded from here)")
        self.last_g, self.stream_id, self.error = message["g"], message["id"], ""
        self._enter(UP)
        self.epoch = message["epoch"]
        self.history.clear()
        self.since = time.time()
        for item in [item for item in self.queue.values() if item.in_redis]:
            del self.queue[item.seq]
            if item.waiter is not None and not item.applied:
                waiter = item.waiter
                if last is None:
                    waiter.resolve((None, ""))
                else:
                    last.on_done(lambda _, waiter=waiter: waiter.resolve((None, "")))

    def _events(self, events: list[dict[str, Any]]) -> None:
        """Apply a batch from the stream in order, as one message to each worker; a gap or a list whose
        size here differs from the fleet's loads the fleet's state again."""
        batch: list[tuple[PatternChange, str]] = []
        waiters: list[tuple[int, Pending]] = []
        sizes: dict[str, tuple[PatternRef, int]] = {}
        refs = self._refs()
        for event in events:
            g = event["g"]
            if g <= self.last_g:
                continue
            if g != self.last_g + 1:
                self.logger.warning(f"fleet-sync: changes {self.last_g + 1}..{g - 1} are gone from the stream; "
                                    "loading the fleet's state again")
                break
            self.last_g, self.stream_id = g, event["id"]
            self.history.append((g, event["list"], event["change"]))
            item = self.queue.pop(event["seq"], None) if event["node"] == self.node else None
            ref = refs.get(event["list"])
            if ref is None or (item is not None and item.applied):
                continue
            if item is None:
                self.counters.received.add(1)
                batch.append((_from_op(ref, event["change"]), "fleet"))
            else:
                change = item.change
                if change.op == "commit" and not _can_commit(ref, change.version):
                    change = _from_op(ref, event["change"])  # its version went away here: take the content
                batch.append((change, item.source))
                if item.waiter is not None:
                    waiters.append((len(batch) - 1, item.waiter))
            sizes[event["list"]] = (ref, event["n"])
        else:
            event = None
        pendings = self.apply_many(batch) if batch else []
        for position, waiter in waiters:
            pendings[position].on_done(waiter.resolve)
        if event is not None:
            self.handshake()
            return
        for identity, (ref, size) in sizes.items():
            if len(ref.entries()) != size and identity not in self.diverged:
                self.diverged.add(identity)
                self.logger.warning(f"fleet-sync: {ref.name or ref.description} has {len(ref.entries())} entries "
                                    f"here, {size} in the fleet; loading the fleet's state again")
                self.handshake()
                return

    def _enter(self, state: str) -> None:
        self.state = state
        self.counters.in_sync.set(1 if state == UP else 0)

    def _apply(self, change: PatternChange, source: str) -> Pending:
        return self.apply_many([(change, source)])[0]

    def _refs(self) -> dict[str, PatternRef]:
        return {changes.identity(ref): ref for ref in self.store.library.refs()}

    # What ``show fleet`` prints.

    def facts(self) -> list[tuple[str, Any]]:
        return [("Fleet", self.fleet), ("Redis", self.shown_url), ("Node", self.node), ("State", self.state),
                ("Since", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.since))),
                ("Last_error", self.error), ("Outages", self.outages), ("Change", self.last_g),
                ("Stream_id", self.stream_id), ("Queued", len(self.queue)),
                ("Sent", int(self.counters.sent.values.get((), 0))),
                ("Received", int(self.counters.received.values.get((), 0))),
                ("Failed", int(self.counters.failed.values.get((), 0)))]


def status_text(facts: list[tuple[str, Any]], digests: dict[str, dict[str, str]], problems: str) -> str:
    """``show fleet``: the link, then one digest of every list per process (equal digests, equal lists)."""
    lines = [f"{name}: {value}" for name, value in facts]
    lines += [f"Digest {label}: {_digest_line(digest)}" for label, digest in digests.items()]
    return "\n".join(lines) + "\n" + problems


def _digest_line(digests: dict[str, str]) -> str:
    text = "".join(f"{identity}\0{value}\n" for identity, value in sorted(digests.items()))
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def _kind(ref: PatternRef) -> str:
    return "map" if ref.is_map else "acl"


def _target(ref: PatternRef) -> str:
    return ref.name or f"#{ref.id}"


def _can_commit(ref: PatternRef, version: int | None) -> bool:
    """What PatternRef.commit accepts."""
    version = ref.curr_ver if version is None else version
    return 0 < ((version - ref.curr_ver) & _U32) <= ((ref.next_ver - ref.curr_ver) & _U32)


def _from_op(ref: PatternRef, op: dict[str, Any]) -> PatternChange:
    entries = tuple((key, value) for key, value in op.get("entries", ()))
    return PatternChange(op.get("kind", _kind(ref)), _target(ref), op["op"], op.get("key", ""), op.get("value"),
                         None, op.get("nth"), entries)
