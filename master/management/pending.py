"""A reply that is not ready yet: a command waiting for every worker's answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Pending:
    """Resolved once with a value; callbacks added before or after run exactly once."""

    __slots__ = ("_callbacks", "done", "value")

    def __init__(self) -> None:
        self.done = False
        self.value: Any = None
        self._callbacks: list[Callable[[Any], None]] = []

    @classmethod
    def resolved(cls, value: Any) -> Pending:
        pending = cls()
        pending.resolve(value)
        return pending

    def resolve(self, value: Any) -> None:
        if self.done:
            return
        self.done, self.value = True, value
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(value)

    def then(self, function: Callable[[Any], Any]) -> Pending:
        """A new Pending resolved with function(value) once this one is."""
        chained = Pending()
        self.on_done(lambda value: chained.resolve(function(value)))
        return chained

    def on_done(self, callback: Callable[[Any], None]) -> None:
        if self.done:
            callback(self.value)
        else:
            self._callbacks.append(callback)
