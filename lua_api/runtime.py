"""The one Lua state of a process, sandboxed.

lupa's Lua 5.4 module is pinned (a bare ``import lupa`` may pick a newer Lua),
Python's builtins and eval are not registered, the ``python`` helper table is
removed and every attribute access on a Python object is refused, so Lua code
can reach nothing but the API tables built here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from importlib import resources
from typing import Any

from .coroutines import CoroutinePool
from .errors import LuaApiError
from .lua54 import default_paths, lupa

LuaError = lupa.LuaError
LuaSyntaxError = lupa.LuaSyntaxError
LUA_VERSION = "Lua {}.{}".format(*lupa.LUA_VERSION)
RECLAIM_GROWTH = 32 * 1024 * 1024
"""Lua memory grown by this much since the last full collection makes ``reclaim_if_grown`` collect."""


def _malloc_trim() -> None:
    """Give the heap's free pages back to the system (glibc keeps them otherwise)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        return


def _refuse_attributes(obj: object, name: object, setting: bool) -> object:
    raise AttributeError("Python attributes are not reachable from Lua")


class LuaRuntime:
    """A sandboxed lupa runtime plus the prelude's helpers."""

    def __init__(self, max_memory: int | None = None) -> None:
        self.lua = lupa.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            attribute_filter=_refuse_attributes,
            unpack_returned_tuples=True,
            encoding="latin-1",
            max_memory=max_memory,
        )
        self.globals = self.lua.globals()
        self.globals.python = None
        for kind, value in default_paths().items():
            self.globals.package[kind] = value
        source = resources.files(__package__).joinpath("prelude.lua").read_text()
        self.prelude = self.globals.load(source, "=luaproxy")()
        self.coroutines = CoroutinePool(self.prelude.pooled)
        """Where actions, tasks and services run: coroutines reused from run to run."""
        self.launch = self.prelude.launch
        """The prelude's launcher of plain runs, looked up once: a run hands it to a pooled coroutine."""
        bounded = resources.files(__package__).joinpath("bounded.lua").read_text()
        self.bounded = self.globals.load(bounded, "=luaproxy")()
        """Wrappers of the standard C functions whose running time a script controls (bounded.lua)."""
        self.call_on_main = self.prelude.call
        self._collected_at = self.memory_used()

    def memory_used(self) -> int:
        """Bytes the Lua state holds (0 when no limit is set: lupa counts only then)."""
        return self.lua.get_memory_used() or 0

    def reclaim(self) -> None:
        """After a memory bomb: collect Lua's garbage and give the freed heap back to the system."""
        self.lua.globals().collectgarbage("collect")
        _malloc_trim()
        self._collected_at = self.memory_used()

    def reclaim_if_grown(self) -> None:
        """Called now and then (a worker's heartbeat): collect once Lua memory grew past RECLAIM_GROWTH."""
        if self.memory_used() - self._collected_at > RECLAIM_GROWTH:
            self.reclaim()

    def table(self, *items: Any, **fields: Any) -> Any:
        return self.lua.table(*items, **fields)

    def table_from(self, mapping: dict[Any, Any]) -> Any:
        return self.lua.table_from(mapping)

    def func(self, fn: Any) -> Any:
        """Wrap a Python function so its errors reach Lua as strings at the caller's line."""
        return self.prelude.func(fn)

    def prepend_path(self, pattern: str, kind: str = "path") -> None:
        package = self.globals.package
        package[kind] = f"{pattern};{package[kind]}"

    def load_file(self, path: str, name: str | None = None) -> Any:
        """Compile a file; errors name it as *name* (the path the config gave), with the line."""
        try:
            with open(path, "rb") as f:
                code = f.read()
        except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
            raise LuaApiError(f"cannot read Lua file '{path}': {getattr(exc, 'strerror', None) or exc}") from None
        loader = self.globals.load
        result = loader(code, "@" + (name or path))
        if isinstance(result, tuple):
            raise LuaSyntaxError(result[1])
        return result
