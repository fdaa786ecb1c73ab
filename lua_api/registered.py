"""What the body context registered: actions, fetches, converters, services, inits, tasks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

ACTION_KINDS = ("tcp-req", "tcp-res", "http-req", "http-res")


@dataclass(slots=True)
class RegisteredAction:
    name: str
    function: Any
    kinds: tuple[str, ...]
    nb_args: int = 0


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
    tasks: list[tuple[Any, tuple[Any, ...]]] = field(default_factory=list)
    task_starter: Callable[[Any, tuple[Any, ...]], None] | None = None

    def add_task(self, function: Any, args: tuple[Any, ...]) -> None:
        """Before the workers run, remember the task; inside a worker, start it now."""
        if self.task_starter is None:
            self.tasks.append((function, args))
        else:
            self.task_starter(function, args)
