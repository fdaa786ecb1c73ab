"""The master's authoritative maps and ACLs: runtime changes, reload carry-over, write-back.

Workers are forked from the master, so a new or respawned worker starts with
every runtime change.  A reload builds a new library from the files; each
list whose loaded content is what the previous library loaded (its file did
not change on disk, or its inline patterns did not change in the
configuration) takes over the previous list's runtime state, pending
versions included.  A list whose file changed on disk keeps the file's
content: the file wins.  With ``map-persist on`` every change that alters
what lookups see is written back to the list's file (temporary file, fsync,
rename), so it survives a restart too.
"""

from __future__ import annotations

import os

from luaproxy.worker.samples import PatternLibrary, PatternRef, SampleError

from .control import changes
from .control.changes import PatternChange
from .control.changes import fingerprint as _fingerprint
from .control.changes import identity as _identity

_U32 = 0xFFFFFFFF
MAX_CARRIED_VERSIONS = 1024


class MapStore:
    def __init__(self, library: PatternLibrary, persist: bool = False) -> None:
        self.library = library
        self.persist = persist
        self.loaded = {_identity(ref): _fingerprint(ref.entries()) for ref in library.refs()}

    def apply(self, change: PatternChange) -> int | None:
        """Apply a change here first (raises SampleError, changing nothing, when it cannot apply)."""
        result = changes.apply(self.library, change)
        ref = self.library.find(change.target, change.kind)
        if self.persist and ref.name and change.changes_current(ref):
            self.write_back(ref)
        return result

    def carry_over(self, previous: MapStore) -> tuple[list[str], list[str]]:
        """Take over *previous*'s runtime changes list by list; returns (lists kept, files that won)."""
        kept: list[str] = []
        file_won: list[str] = []
        old_refs = {_identity(ref): ref for ref in previous.library.refs()}
        for ref in self.library.refs():
            identity = _identity(ref)
            old = old_refs.get(identity)
            if old is None:
                continue
            untouched = old.curr_ver == old.next_ver == 0 and _fingerprint(old.entries()) == previous.loaded[identity]
            if untouched:
                continue
            if previous.loaded.get(identity) != self.loaded.get(identity):
                file_won.append(ref.name or ref.description)
            elif _copy_state(old, ref):
                kept.append(ref.name or ref.description)
        return kept, file_won

    def write_back(self, ref: PatternRef) -> None:
        """Replace the list's file with its current entries, atomically."""
        path = self.path(ref.name)
        lines = (f"{e.key} {e.value}\n" if ref.is_map else f"{e.key}\n" for e in ref.entries())
        _atomic_write(path, "".join(lines))
        self.loaded[_identity(ref)] = _fingerprint(ref.entries())

    def path(self, name: str) -> str:
        base = self.library.base_dir
        return name if os.path.isabs(name) or not base else os.path.join(base, name)


def _copy_state(old: PatternRef, new: PatternRef) -> bool:
    """Give *new* the entries and versions of *old*; on a value the new config refuses, change nothing."""
    span = (old.next_ver - old.curr_ver) & _U32
    if span >= MAX_CARRIED_VERSIONS:
        span = 0
    versions = [(old.curr_ver + step) & _U32 for step in range(span + 1)]
    originals = new.entries()
    state = (new.curr_ver, new.next_ver)
    new.clear()
    new.curr_ver, new.next_ver = old.curr_ver, (old.curr_ver + span) & _U32
    try:
        for version in versions:
            for entry in old.entries(version):
                new.add(entry.key, entry.value, version)
    except SampleError:
        for version in versions:
            new.clear(version)
        new.curr_ver, new.next_ver = state
        new.load_lines((e.line, e.key, e.value) for e in originals)
        return False
    return True


def _atomic_write(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = 0o644
    with open(tmp, "w", encoding="latin-1", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
