"""What the body context registered: actions, fetches, converters, services, inits, tasks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ACTION_KINDS = ("tcp-req", "tcp-res", "http-req", "http-res")


@dataclass(slots=True)
class RegisteredAction:
    """One action name; each kind keeps the function (and argument count) last registered for it,
    so registering a name for {"http-req"} and again for {"http-res"} keeps both, as HAProxy does."""

    name: str
    by_kind: dict[str, tuple[Any, int]] = field(default_factory=dict)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.by_kind)

    @property
    def nb_args(self) -> int:
        return max((count for _, count in self.by_kind.values()), default=0)

    def for_kind(self, kind: str) -> tuple[Any, int] | None:
        return self.by_kind.get(kind)


@dataclass(slots=True)
class RegisteredService:
    name: str
    mode: str
    function: Any


@dataclass(slots=True)
class Registry:
    """Filled by core.register_* in the body context, read when rules are compiled."""

    actions: dict[str, RegisteredAction] = field(default_factory=dict)
    fetches: dict[str, Any] = field(default_factory=dict)
    converters: dict[str, Any] = field(default_factory=dict)
    services: dict[str, RegisteredService] = field(default_factory=dict)
    inits: list[Any] = field(default_factory=list)
    filters: dict[str, Any] = field(default_factory=dict)
    """core.register_filter: name -> lua_api.filters.RegisteredFilter."""
    cli: list[Any] = field(default_factory=list)
    """core.register_cli commands (lua_api.cli.RegisteredCli), in registration order."""
    tasks: list[tuple[Any, tuple[Any, ...]]] = field(default_factory=list)
    task_starter: Callable[[Any, tuple[Any, ...]], None] | None = None

    def add_action(self, name: str, function: Any, kinds: tuple[str, ...], nb_args: int) -> None:
        action = self.actions.setdefault(name, RegisteredAction(name))
        for kind in kinds:
            action.by_kind[kind] = (function, nb_args)

    def add_task(self, function: Any, args: tuple[Any, ...]) -> None:
        """Before the workers run, remember the task; inside a worker, start it now."""
        if self.task_starter is None:
            self.tasks.append((function, args))
        else:
            self.task_starter(function, args)
