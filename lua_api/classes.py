"""Build a Lua class from Python functions: one shared metatable, thin objects.

An object is a Lua table whose slot 0 holds the Python state and whose
metatable's ``__index`` holds the methods; each method checks ``self``, then
calls the Python function with the state (hlua's shape).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .runtime import LuaRuntime


class LuaClass:
    """One Lua class: its metatable, methods and aliases."""

    def __init__(self, runtime: LuaRuntime, name: str, functions: Mapping[str, Callable[..., Any]],
                 aliases: Mapping[str, str] | None = None, handles: bool = False) -> None:
        """*handles*: the objects hold an integer handle in slot 0, resolved to the Python state on first use."""
        self.name = name
        self._new = runtime.prelude.new
        self.metatable, self.methods = runtime.prelude["class"](name)
        self.functions = {**functions, **{alias: functions[target] for alias, target in (aliases or {}).items()
                                          if target in functions}}
        """The Python function behind each method (the reference page reads their signatures)."""
        for fname, fn in functions.items():
            self.methods[fname] = runtime.prelude.method(self.metatable, fname, fn, handles)
        for alias, target in (aliases or {}).items():
            self.methods[alias] = self.methods[target]

    def new(self, state: Any) -> Any:
        return self._new(self.metatable, state)

    def add_lua(self, name: str, function: Any) -> None:
        """A method written in Lua (e.g. done(), which must unwind the coroutine)."""
        self.methods[name] = function
