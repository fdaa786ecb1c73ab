"""Pattern lists (map files, ACL files, inline ACL patterns), shared and updatable at runtime.

A ``PatternRef`` is HAProxy's ``pat_ref``: the ordered entries of one file (or
of one ACL line's inline patterns), each with a unique ref id and a version,
plus one index per way it is matched.  The same file named twice is one ref.
``PatternLibrary`` owns the refs, numbers them as HAProxy does (``#id``) and
resolves ``<file>`` or ``#<id>`` names for the management commands.  Every
operation checks first, then changes; errors use HAProxy's CLI wording.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from dataclasses import dataclass

from .args import Origin
from .errors import SampleError
from .patterns import Entry, Method, PatternError, PatternIndex, new_index, parse_value
from .types import Sample, SampleType, cast, to_text

_U32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class MatchReport:
    """One line of ``get map``/``get acl``: how one index of the list answered."""

    method: str
    icase: bool
    found: bool
    kind: str = ""
    key: str = ""
    value: str | None = None
    value_type: str = ""


def _newer_or_same(gen: int, ref: int) -> bool:
    return ((gen - ref) & _U32) < 0x80000000


class PatternRef:
    """One shared pattern list with its versions and indexes."""

    def __init__(self, ref_id: int, name: str, description: str, ids: itertools.count[int]) -> None:
        self.id = ref_id
        self.name = name  # the file name as written, or "" for inline ACL patterns
        self.description = description
        self.is_map = False
        self.is_acl = False
        self.curr_ver = 0
        self.next_ver = 0
        self.changes = 0
        """Counts the changes of the entries and of the current version: what a rule that keeps what it
        derived from the list (a threshold) compares to know it still holds."""
        self.users: list[str] = []
        self._entries: dict[int, Entry] = {}
        # key -> {ref id: entry} in list order (ref ids grow), so `set`/`del` by key skip the scan
        self._by_key: dict[str, dict[int, Entry]] = {}
        self._indexes: dict[tuple[Method, bool, SampleType | None], PatternIndex] = {}
        self._ids = ids

    def __repr__(self) -> str:
        return f"PatternRef(#{self.id} {self.name or self.description!r})"

    @property
    def display(self) -> str:
        """The description column of ``show map``/``show acl``."""
        if self.users:
            return f"{self.description} used by " + ", by ".join(self.users)
        return self.description

    def entries(self, version: int | None = None) -> list[Entry]:
        """Entries of one version (the current one by default), in order."""
        gen = self.curr_ver if version is None else version
        return [e for e in self._entries.values() if e.gen == gen]

    def entry_count(self) -> int:
        return len(self._entries)

    # --- indexes --------------------------------------------------------------------------------

    def index(
        self, method: Method, icase: bool = False, out: SampleType | None = None, resolve: bool = False
    ) -> PatternIndex:
        """The index matching this list by *method*; values are checked against *out* (for maps)."""
        key = (method, icase, out)
        found = self._indexes.get(key)
        if found is not None:
            return found
        index = new_index(method, icase, resolve)
        for entry in self._entries.values():
            try:
                index.check(entry.key)
                if out is not None:
                    parse_value(entry.value or "", out)
            except PatternError as err:
                raise SampleError(self._at_line(str(err), entry)) from None
        index.rebuild(self._entries.values())
        self._indexes[key] = index
        return index

    def lookup(self, index: PatternIndex, value: object) -> Entry | None:
        return index.lookup(value, self.curr_ver)

    def _at_line(self, message: str, entry: Entry) -> str:
        if entry.line:
            return f"{message} at line {entry.line} of file '{self.name}'"
        return f"{message}."

    # --- loading --------------------------------------------------------------------------------

    def load_lines(self, lines: Iterable[tuple[int, str, str | None]]) -> None:
        """Append (line number, key, value) entries read from a file, at the current version."""
        for line, key, value in lines:
            self._store(Entry(next(self._ids), key, value, self.curr_ver, line))
        for index in self._indexes.values():
            index.rebuild(self._entries.values())

    # --- runtime operations ---------------------------------------------------------------------

    def _check(self, key: str, value: str | None) -> None:
        for (_, _, out), index in self._indexes.items():
            try:
                index.check(key)
                if out is not None:
                    parse_value(value or "", out)
            except PatternError as err:
                raise SampleError(f"{err}.") from None

    def check(self, key: str, value: str | None = None) -> None:
        """Raise SampleError if ``add`` or ``set`` would refuse this key or value (changes nothing)."""
        self._check(key, value)

    def add(self, key: str, value: str | None = None, version: int | None = None) -> Entry:
        """``add map``/``add acl``: append an entry (to the current version by default)."""
        gen = self.curr_ver if version is None else version
        if ((gen - self.curr_ver) & _U32) > ((self.next_ver - self.curr_ver) & _U32):
            kind = "map" if self.is_map else "acl"
            raise SampleError(f"Version number in the future, please use 'prepare {kind}' before.")
        self._check(key, value)
        entry = Entry(next(self._ids), key, value, gen)
        self._store(entry)
        for index in self._indexes.values():
            index.add(entry)
        return entry

    def _store(self, entry: Entry) -> None:
        self.changes += 1
        self._entries[entry.ref_id] = entry
        self._by_key.setdefault(entry.key, {})[entry.ref_id] = entry

    def _forget(self, entry: Entry) -> None:
        self.changes += 1
        del self._entries[entry.ref_id]
        same = self._by_key[entry.key]
        del same[entry.ref_id]
        if not same:
            del self._by_key[entry.key]

    def _keep_only(self, keep: dict[int, Entry]) -> None:
        """Replace the entries by *keep* (a filtered copy, still in list order) and rebuild the key index."""
        self.changes += 1
        self._entries = keep
        self._by_key = {}
        for entry in keep.values():
            self._by_key.setdefault(entry.key, {})[entry.ref_id] = entry
        self._rebuild()

    def _select(self, key_or_ref: str) -> list[Entry]:
        if key_or_ref.startswith("#"):
            try:
                entry = self._entries.get(int(key_or_ref[1:], 16))
            except ValueError:
                return []
            return [entry] if entry is not None and entry.gen == self.curr_ver else []
        same = self._by_key.get(key_or_ref)
        if not same:
            return []
        return [e for e in same.values() if e.gen == self.curr_ver]

    def set(self, key_or_ref: str, value: str) -> int:
        """``set map``: change the value of every current entry with that key (or that #ref)."""
        targets = self._select(key_or_ref)
        if not targets:
            raise SampleError("entry not found.")
        for (_, _, out), _index in self._indexes.items():
            if out is not None:
                try:
                    parse_value(value, out)
                except PatternError as err:
                    raise SampleError(f"{err}.") from None
        self.changes += 1
        for entry in targets:
            entry.set_value(value)
        return len(targets)

    def delete(self, key_or_ref: str) -> int:
        """``del map``/``del acl``: remove every current entry with that key (or that #ref)."""
        targets = self._select(key_or_ref)
        if not targets:
            raise SampleError("Key not found.")
        for entry in targets:
            self._forget(entry)
            for index in self._indexes.values():
                index.remove(entry)
        return len(targets)

    def clear(self, version: int | None = None) -> None:
        """``clear map``: drop the entries of one version (the current one by default)."""
        gen = self.curr_ver if version is None else version
        self._keep_only({k: e for k, e in self._entries.items() if e.gen != gen})

    def prepare(self) -> int:
        """``prepare map``: allocate the next version number."""
        self.next_ver = (self.next_ver + 1) & _U32
        return self.next_ver

    def commit(self, version: int) -> None:
        """``commit map @ver``: make *version* current at once and drop older versions."""
        if not 0 < ((version - self.curr_ver) & _U32) <= ((self.next_ver - self.curr_ver) & _U32):
            raise SampleError("Version number out of range.")
        self.curr_ver = version
        self._keep_only({k: e for k, e in self._entries.items() if _newer_or_same(e.gen, version)})

    def _rebuild(self) -> None:
        for index in self._indexes.values():
            index.rebuild(self._entries.values())

    def get(self, text: str) -> list[MatchReport]:
        """``get map``/``get acl``: what each distinct way of matching this list finds for *text*."""
        reports: list[MatchReport] = []
        seen: set[tuple[Method, bool]] = set()
        for (method, icase, out), index in self._indexes.items():
            if (method, icase) in seen:
                continue
            seen.add((method, icase))
            smp = cast(Sample(SampleType.STR, text), method.input_type)
            entry = None if smp is None else index.lookup(smp.value, self.curr_ver)
            if entry is None:
                reports.append(MatchReport(method.value, icase, False))
                continue
            out_type = out or SampleType.STR
            shown = to_text(entry.sample(out_type)) if entry.value is not None else None
            reports.append(MatchReport(method.value, icase, True, index.kind, entry.key, shown, out_type.label))
        return reports


def read_map_file(path: str, shown: str) -> list[tuple[int, str, str | None]]:
    """Map lines: '#' in column 1 is a comment; key, blanks, value to the end (trailing blanks dropped)."""
    out: list[tuple[int, str, str | None]] = []
    for number, line in enumerate(_lines(path, shown), start=1):
        if line.startswith("#"):
            continue
        body = line.lstrip(" \t")
        if not body:
            continue
        end = next((i for i, ch in enumerate(body) if ch in " \t"), len(body))
        out.append((number, body[:end], body[end:].strip(" \t")))
    return out


def read_acl_file(path: str, shown: str) -> list[tuple[int, str, str | None]]:
    """ACL pattern lines: '#' in column 1 is a comment, leading blanks dropped, the rest is the pattern."""
    out: list[tuple[int, str, str | None]] = []
    for number, line in enumerate(_lines(path, shown), start=1):
        if line.startswith("#"):
            continue
        body = line.lstrip(" \t")
        if body:
            out.append((number, body, None))
    return out


def _lines(path: str, shown: str) -> list[str]:
    try:
        with open(path, encoding="latin-1", newline="") as handle:
            data = handle.read()
    except (OSError, ValueError):  # ValueError: a NUL in the path
        raise SampleError(f"failed to open pattern file <{shown}>") from None
    return [line.split("\r", 1)[0] for line in data.split("\n")]


class PatternLibrary:
    """Every pattern list of a configuration, shared by name; resolves ``#id`` and file names."""

    def __init__(self, base_dir: str | None = None) -> None:
        self.base_dir = base_dir
        self._refs: dict[int, PatternRef] = {}
        self._by_file: dict[str, PatternRef] = {}
        self._next_id = 0
        self._entry_ids = itertools.count(1)

    def _new_ref(self, name: str, description: str, unique_id: int | None = None) -> PatternRef:
        if unique_id is None:
            while self._next_id in self._refs:
                self._next_id += 1
            unique_id = self._next_id
            self._next_id += 1
        elif unique_id in self._refs:
            raise SampleError(f"the unique id {unique_id} is already used")
        ref = PatternRef(unique_id, name, description, self._entry_ids)
        self._refs[unique_id] = ref
        return ref

    def _path(self, name: str) -> str:
        return name if os.path.isabs(name) or not self.base_dir else os.path.join(self.base_dir, name)

    def _file_ref(self, name: str, as_map: bool, user: str | None) -> PatternRef:
        ref = self._by_file.get(name)
        if ref is None:
            read = read_map_file if as_map else read_acl_file
            lines = read(self._path(name), name)
            ref = self._new_ref(name, f"pattern loaded from file '{name}'")
            ref.load_lines(lines)
            self._by_file[name] = ref
        if user:
            ref.users.append(user)
        return ref

    def load_map(self, name: str, origin: Origin | None = None) -> PatternRef:
        """The shared list for a map file (read on first use)."""
        ref = self._file_ref(name, True, _user("map", origin))
        ref.is_map = True
        return ref

    def load_acl_file(self, name: str, origin: Origin | None = None, as_map: bool = False) -> PatternRef:
        """The shared list for an ACL ``-f`` file (``-M`` reads it as a map)."""
        ref = self._file_ref(name, as_map, _user("acl", origin))
        ref.is_acl = True
        return ref

    def new_inline(self, criterion: str, origin: Origin | None = None, unique_id: int | None = None) -> PatternRef:
        """A fresh list for one ACL line's inline patterns."""
        where = f" file '{origin[0]}' line {origin[1]}" if origin else ""
        ref = self._new_ref("", f"acl '{criterion}'{where}", unique_id)
        ref.is_acl = True
        return ref

    def refs(self, kind: str | None = None) -> list[PatternRef]:
        """Every list, by id; *kind* 'map' or 'acl' keeps those used that way."""
        refs = sorted(self._refs.values(), key=lambda r: r.id)
        if kind == "map":
            return [r for r in refs if r.is_map]
        if kind == "acl":
            return [r for r in refs if r.is_acl]
        return refs

    def find(self, name: str, kind: str = "map") -> PatternRef:
        """Resolve ``#<id>`` or ``<file>`` for a management command of *kind* ('map' or 'acl')."""
        ref: PatternRef | None
        if name.startswith("#"):
            try:
                ref = self._refs.get(int(name[1:]))
            except ValueError:
                ref = None
        else:
            ref = self._by_file.get(name)
        if ref is None or not (ref.is_map if kind == "map" else ref.is_acl):
            raise SampleError(f"Unknown {kind} identifier. Please use #<id> or <file>.")
        return ref

    def add_acl_entry(self, ref: PatternRef, pattern: str, version: int | None = None) -> Entry:
        """``add acl``: refused on a list that also serves a map (it needs values)."""
        self.check_acl_entry(ref, pattern)
        return ref.add(pattern, None, version)

    def check_acl_entry(self, ref: PatternRef, pattern: str) -> None:
        """Raise SampleError if ``add_acl_entry`` would refuse *pattern* (changes nothing)."""
        if ref.is_map:
            raise SampleError(
                "This ACL is shared with a map containing samples. You must use the command 'add map' to add values."
            )
        ref.check(pattern)


def _user(kind: str, origin: Origin | None) -> str | None:
    return f"{kind} at file '{origin[0]}' line {origin[1]}" if origin else None
