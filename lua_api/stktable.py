"""The StickTable class: ``info()``, ``lookup(key)`` and ``dump([filter])`` as in HAProxy 2.6.

Objects wrap a worker's view of a shared stick table (``SharedTable``).  The
Proxy class reaches them through ``LuaEngine.stick_table_object(table)``
(``core.backends[NAME].stktable``, ``core.frontends[NAME].stktable``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lupa.lua54 as lupa

from luaproxy.worker.sticktable import SharedTable

from . import checks
from .errors import LuaApiError
from .runtime import LuaRuntime

OPERATORS: dict[str, Callable[[int, int], bool]] = {
    "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "le": lambda a, b: a <= b,
    "lt": lambda a, b: a < b, "ge": lambda a, b: a >= b, "gt": lambda a, b: a > b,
}
MAX_FILTERS = 4


def functions(runtime: LuaRuntime) -> dict[str, Callable[..., Any]]:
    def info(table: SharedTable) -> Any:
        spec = table.spec
        data = runtime.table_from({name: (period if period else -1) for name, period in spec.data})
        return runtime.table_from({"type": spec.type_label, "length": spec.key_len, "size": spec.size,
                                   "used": table.used(), "nopurge": spec.nopurge, "expire": spec.expire_ms,
                                   "data": data})

    def lookup(table: SharedTable, key: Any) -> Any:
        text = checks.string(key, "lookup", 2)
        try:
            raw = table.spec.key_from_text(text)
        except (ValueError, OSError):
            return None
        idx = table.lookup(raw)
        if idx < 0:
            return None
        return runtime.table_from({"use": table.refs(idx), "expire": table.expires_in(idx), **table.data(idx)})

    def dump(table: SharedTable, filters: Any = None) -> Any:
        tests = _filters(table, filters)
        out = runtime.table()
        for idx in table.indexes():
            values = table.data(idx)
            if all(op(values[name] if isinstance(values[name], int) else 0, value) for name, op, value in tests):
                out[table.spec.key_text(table.key(idx))] = runtime.table_from(values)
        return out

    return {"info": info, "lookup": lookup, "dump": dump}


def _filters(table: SharedTable, filters: Any) -> list[tuple[str, Callable[[int, int], bool], int]]:
    """``{{"gpc0", "gt", 30}, ...}``: at most four (data type, operator, value) comparisons."""
    if filters is None:
        return []
    if lupa.lua_type(filters) != "table":
        raise LuaApiError(f"bad argument #2 to 'dump' (table expected, got {checks.lua_type(filters)})")
    tests = []
    for _, item in sorted(filters.items(), key=lambda kv: kv[0]):
        if len(tests) == MAX_FILTERS:
            raise LuaApiError("Filter table too large (len > 4)")
        if lupa.lua_type(item) != "table":
            raise LuaApiError("Filter table entry must be a table")
        name, op, value = item[1], item[2], item[3]
        if not isinstance(name, str) or name not in table.offsets:
            raise LuaApiError("Unknown filter data name")
        if op not in OPERATORS:
            raise LuaApiError("Unknown filter operator")
        tests.append((name, OPERATORS[op], checks.integer(value, "dump", 2)))
    return tests
