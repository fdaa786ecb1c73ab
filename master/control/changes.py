"""Runtime changes to maps and ACLs: one value type, one way to apply it.

The master applies a change to its own ``PatternLibrary`` (the authoritative
copy), then sends the same change to every worker, which applies it to the
copy it inherited at fork time.  Applying the same changes in the same order
keeps every copy equal.  Entry ids (``#<ref>``) differ between processes, so
a change never names one: the master turns ``#<ref>`` into the entry's key
and its rank among the current entries with that key.  No I/O here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from luaproxy.worker.samples import Entry, PatternLibrary, PatternRef, SampleError

LUA_OPS = ("set-map", "del-map", "add-acl", "del-acl")
"""core.set_map/del_map/add_acl/del_acl and http-request set-map/...: the same semantics as PatternUpdates."""


@dataclass(frozen=True, slots=True)
class PatternChange:
    kind: str  # "map" or "acl": which list of names the target is looked up in
    target: str  # a file name or "#<id>"
    op: str  # add, set, del, clear, prepare, commit, replace (from the fleet), or one of LUA_OPS
    key: str = ""
    value: str | None = None
    version: int | None = None
    nth: int | None = None  # for set/del: only the nth current entry with that key
    entries: tuple[tuple[str, str | None], ...] = ()  # for add

    def to_wire(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "op": self.op, "key": self.key, "value": self.value,
                "version": self.version, "nth": self.nth, "entries": [list(e) for e in self.entries]}

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> PatternChange:
        return cls(data["kind"], data["target"], data["op"], data.get("key", ""), data.get("value"),
                   data.get("version"), data.get("nth"), tuple((k, v) for k, v in data.get("entries", ())))

    def changes_current(self, ref: PatternRef) -> bool:
        """Whether what lookups see may change (so a persisted file must be rewritten)."""
        if self.op in ("add", "clear"):
            return self.version is None or self.version == ref.curr_ver
        return self.op != "prepare"


def lua_change(operation: str, target: str, key: str, value: str | None) -> PatternChange:
    """The change a Lua core.set_map (or an http-request set-map) made in a worker."""
    return PatternChange("map" if operation.endswith("map") else "acl", target, operation, key, value)


def locate(ref: PatternRef, key_or_ref: str) -> tuple[str, int | None] | None:
    """``<key>`` or ``#<ref>`` as (key, rank among current entries with that key); None if no such entry."""
    if not key_or_ref.startswith("#"):
        return key_or_ref, None
    try:
        wanted = int(key_or_ref[1:], 16)
    except ValueError:
        return None
    current = ref.entries()
    for entry in current:
        if entry.ref_id == wanted:
            same = [e for e in current if e.key == entry.key]
            return entry.key, next(i for i, e in enumerate(same) if e is entry)
    return None


def apply(library: PatternLibrary, change: PatternChange) -> int | None:
    """Apply *change* to *library*; raise SampleError (changing nothing) when it cannot apply.

    Returns the new version number for ``prepare``, and for ``replace`` how many entries this
    process refused (the others are kept, so a node serves what it can of the fleet's list).
    """
    ref = library.find(change.target, change.kind)
    op = change.op
    if op in LUA_OPS:
        _apply_lua(library, ref, change)
    elif op == "add":
        _add_all(library, ref, change)
    elif op == "set":
        ref.set(_selector(ref, change, "entry not found."), change.value or "")
    elif op == "del":
        ref.delete(_selector(ref, change, "Key not found."))
    elif op == "clear":
        ref.clear(change.version)
    elif op == "prepare":
        return ref.prepare()
    elif op == "commit":
        ref.commit(change.version if change.version is not None else ref.curr_ver)
    elif op == "replace":
        return _replace(library, ref, change)
    else:
        raise SampleError(f"unknown pattern operation '{op}'")
    return None


def _apply_lua(library: PatternLibrary, ref: PatternRef, change: PatternChange) -> None:
    if change.op == "set-map":
        try:
            ref.set(change.key, change.value or "")
        except SampleError:
            ref.add(change.key, change.value or "")
    elif change.op == "add-acl":
        if not any(e.key == change.key for e in ref.entries()):
            library.add_acl_entry(ref, change.key)
    else:
        try:
            ref.delete(change.key)
        except SampleError:
            return


def _add_all(library: PatternLibrary, ref: PatternRef, change: PatternChange) -> None:
    """Add every entry or none: a failure takes back what this change added."""
    pending = change.version is not None and change.version != ref.curr_ver
    before = ref.entries(change.version) if pending else []
    added: list[Entry] = []
    try:
        for key, value in change.entries:
            if change.kind == "acl":
                added.append(library.add_acl_entry(ref, key, change.version))
            else:
                added.append(ref.add(key, value, change.version))
    except SampleError:
        if pending:
            ref.clear(change.version)
            for entry in before:
                ref.add(entry.key, entry.value, change.version)
        else:
            for entry in added:
                ref.delete(f"#{entry.ref_id:x}")
        raise


def _selector(ref: PatternRef, change: PatternChange, missing: str) -> str:
    """The key, or this process's ``#<ref>`` of the nth current entry with that key."""
    if change.nth is None:
        return change.key
    same = [e for e in ref.entries() if e.key == change.key]
    if change.nth >= len(same):
        raise SampleError(missing)
    return f"#{same[change.nth].ref_id:x}"


def _replace(library: PatternLibrary, ref: PatternRef, change: PatternChange) -> int:
    """The fleet's state of a list: its current entries become *change.entries*."""
    ref.clear()
    refused = 0
    for key, value in change.entries:
        try:
            if ref.is_acl and not ref.is_map:
                library.add_acl_entry(ref, key)
            else:
                ref.add(key, value)
        except SampleError:
            refused += 1
    return refused


def identity(ref: PatternRef) -> str:
    """File lists are known by file name; inline ACL patterns by their 'acl ... file ... line' text."""
    return f"file:{ref.name}" if ref.name else f"inline:{ref.description}"


def fingerprint(entries: Iterable[Entry]) -> str:
    return fingerprint_pairs((entry.key, entry.value) for entry in entries)


def fingerprint_pairs(pairs: Iterable[tuple[str, str | None]]) -> str:
    """A hash of (key, value) pairs in order: equal lists, equal hashes."""
    digest = hashlib.sha256()
    for key, value in pairs:
        digest.update(f"{key}\0{value}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def digest(library: PatternLibrary) -> dict[str, str]:
    """Each list's current entries as 'count:hash', to compare processes and nodes."""
    return {identity(ref): f"{len(entries)}:{fingerprint(entries)[:16]}"
            for ref in library.refs() for entries in [ref.entries()]}
