"""The Map class and core.set_map/del_map/add_acl/del_acl, over the shared pattern library.

``Map.new(file, method)`` loads (or shares, as HAProxy does) the map file;
lookups go through the same indexes as the config's map converters.  The
method constants exist under the spec's names (``Map.str``) and HAProxy's
later ones (``Map._str``), with HAProxy's numbering.
"""

from __future__ import annotations

from typing import Any

from luaproxy.worker.samples import Method, PatternLibrary, Sample, SampleError, SampleType, cast
from luaproxy.worker.samples.conv_string import expand_template

from . import checks
from .errors import LuaApiError

METHODS = (Method.FOUND, Method.BOOL, Method.INT, Method.IP, Method.BIN, Method.LEN, Method.STR, Method.BEG,
           Method.SUB, Method.DIR, Method.DOM, Method.END, Method.REG)


REGM = len(METHODS)
"""Map._regm: a regex map whose value may use the match's groups (\\1), as map_regm does."""


def constants() -> dict[str, int]:
    table: dict[str, int] = {"regm": REGM, "_regm": REGM}
    for number, method in enumerate(METHODS):
        table[method.value] = number
        table[f"_{method.value}"] = number
    return table


class MapState:
    __slots__ = ("index", "method", "ref", "substitute")

    def __init__(self, ref: Any, method: Method, substitute: bool = False) -> None:
        self.ref = ref
        self.method = method
        self.substitute = substitute
        self.index = ref.index(method, False, SampleType.STR)

    def __repr__(self) -> str:
        return f"{self.ref.display}"


def new(library: PatternLibrary, file: Any, method: Any) -> MapState:
    path = checks.string(file, "new", 1)
    number = checks.integer(method, "new", 2)
    if not 0 <= number <= REGM:
        raise LuaApiError(f"bad argument #2 to 'new' (unknown match method {number})")
    try:
        if number == REGM:
            return MapState(library.load_map(path), Method.REG, substitute=True)
        return MapState(library.load_map(path), METHODS[number])
    except SampleError as exc:
        raise LuaApiError(f"Map.new: {exc}") from None


def _lookup(state: MapState, key: Any, name: str) -> str | None:
    smp = cast(Sample(SampleType.STR, checks.string(key, name, 2)), state.method.input_type)
    if smp is None:
        return None
    if state.substitute:
        found = state.index.search(smp.value, state.ref.curr_ver)
        return None if found is None else expand_template(found[0].value or "", found[1])
    entry = state.ref.lookup(state.index, smp.value)
    return None if entry is None else (entry.value or "")


def lookup(state: MapState, key: Any) -> str | None:
    return _lookup(state, key, "lookup")


def slookup(state: MapState, key: Any) -> str:
    return _lookup(state, key, "slookup") or ""


FUNCTIONS = {"lookup": lookup, "slookup": slookup}


def _try(operation: Any, *args: Any) -> bool:
    """Run a set/delete that raises when the key is absent; False when it was."""
    try:
        operation(*args)
    except SampleError:
        return False
    return True


class PatternUpdates:
    """core.set_map / del_map / add_acl / del_acl; ``publish`` (set by a worker's control agent) sends
    the change to the master, which spreads it to every worker."""

    def __init__(self, library: PatternLibrary) -> None:
        self.library = library
        self.publish: Any = None

    def apply(self, operation: str, file: str, key: str, value: str | None = None) -> None:
        kind = "map" if operation.endswith("map") else "acl"
        try:
            ref = self.library.find(file, kind)
        except SampleError as exc:
            raise LuaApiError(f"core.{operation.replace('-', '_')}: {exc}") from None
        if operation == "set-map":
            if not _try(ref.set, key, value or ""):
                ref.add(key, value or "")
        elif operation == "add-acl":
            if not any(e.key == key for e in ref.entries()):
                self.library.add_acl_entry(ref, key)
        else:
            _try(ref.delete, key)
        if self.publish is not None:
            self.publish(operation, file, key, value)

    def functions(self) -> dict[str, Any]:
        def set_map(file: Any, key: Any, value: Any) -> None:
            self.apply("set-map", checks.string(file, "set_map", 1), checks.string(key, "set_map", 2),
                       checks.string(value, "set_map", 3))

        def del_map(file: Any, key: Any) -> None:
            self.apply("del-map", checks.string(file, "del_map", 1), checks.string(key, "del_map", 2))

        def add_acl(file: Any, key: Any) -> None:
            self.apply("add-acl", checks.string(file, "add_acl", 1), checks.string(key, "add_acl", 2))

        def del_acl(file: Any, key: Any) -> None:
            self.apply("del-acl", checks.string(file, "del_acl", 1), checks.string(key, "del_acl", 2))

        return {"set_map": set_map, "del_map": del_map, "add_acl": add_acl, "del_acl": del_acl}
