"""Actions of ``tcp-request content`` and ``tcp-response content`` rules.

Each keyword is declared once with its parser; Lua actions come from the
environment as plain callables, so this module never imports Lua.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from . import actions_resolve, actions_stick
from .actions_http import set_address
from .errors import RuleError, unknown_action
from .verdict import ACCEPT, DONE, REJECT, Verdict

Action = Callable[[Any], Verdict]


class ActionEnv(Protocol):
    """What action parsers need from the configuration being compiled."""

    def lua_action(self, kind: str, name: str, args: tuple[str, ...]) -> Action: ...

    def lua_function_action(self, name: str, args: tuple[str, ...]) -> Action: ...

    def set_var(self, name: str, expression: str, fmt: bool = False) -> Action: ...

    def unset_var(self, name: str) -> Action: ...

    def tcp_service(self, name: str) -> Callable[[Any], None]: ...


def _accept(txn: Any) -> Verdict:
    return ACCEPT


def _reject(txn: Any) -> Verdict:
    return REJECT


def _no_args(action: Action) -> Callable[[str, tuple[str, ...], ActionEnv], Action]:
    def parse(kind: str, args: tuple[str, ...], env: ActionEnv) -> Action:
        if args:
            raise RuleError(f"'{action.__name__.strip('_')}' takes no argument, got '{' '.join(args)}'.")
        return action

    return parse


def _lua_function(kind: str, args: tuple[str, ...], env: ActionEnv) -> Action:
    if not args:
        raise RuleError("'lua' expects the name of a global Lua function.", "Write 'lua <function>'.")
    return env.lua_function_action(args[0], args[1:])


def _use_service(kind: str, args: tuple[str, ...], env: ActionEnv) -> Action:
    if len(args) != 1:
        raise RuleError("'use-service' expects a service name.", "Write 'use-service lua.<name>'.")
    service = env.tcp_service(args[0])
    applet = f"<{args[0]}>"

    def use_service(txn: Any) -> Verdict:
        txn.service = service
        txn.applet = applet  # served locally: logs count no queue, connect or response time
        return DONE

    return use_service


def _switch_mode(kind: str, args: tuple[str, ...], env: ActionEnv) -> Action:
    """switch-mode http [proto h1|h2]: the TCP stream becomes an HTTP one (worker.tcp.upgrade) once the
    frontend's content rules end; it stops the rules as accept does (an HTTP stream just accepts)."""
    if kind != "tcp-req" or not args or args[0] != "http":
        raise RuleError("'switch-mode' expects 'http' in 'tcp-request content' rules.",
                        "Write 'switch-mode http [proto h1|h2]'.")
    proto = ""
    if len(args) == 3 and args[1] == "proto" and args[2] in ("h1", "h2"):
        proto = args[2]
    elif len(args) != 1:
        raise RuleError(f"'switch-mode http' takes only 'proto h1|h2', got '{' '.join(args[1:])}'.")

    def switch_mode(txn: Any) -> Verdict:
        txn.switch_mode = proto
        return ACCEPT

    return switch_mode


PARSERS: dict[str, Callable[[str, tuple[str, ...], ActionEnv], Action]] = {
    "accept": _no_args(_accept),
    "reject": _no_args(_reject),
    "lua": _lua_function,
    "use-service": _use_service,
    "switch-mode": _switch_mode,
    "set-src": lambda kind, args, env: set_address(kind, args, env, "src"),  # type: ignore[arg-type]
    "set-dst": lambda kind, args, env: set_address(kind, args, env, "dst"),  # type: ignore[arg-type]
    "set-src-port": lambda kind, args, env: set_address(kind, args, env, "src_port"),  # type: ignore[arg-type]
    "set-dst-port": lambda kind, args, env: set_address(kind, args, env, "dst_port"),  # type: ignore[arg-type]
}


def parse(kind: str, words: tuple[str, ...], env: ActionEnv) -> Action:
    """Compile one action; *kind* is 'tcp-req' or 'tcp-res' (the Lua action kinds)."""
    name, args = words[0], tuple(words[1:])
    if name.startswith("lua."):
        return env.lua_action(kind, name[4:], args)
    if name.startswith("set-var(") and name.endswith(")"):
        if not args:
            raise RuleError(f"'{name}' expects a sample expression.")
        return env.set_var(name[8:-1], " ".join(args))
    if name.startswith("set-var-fmt(") and name.endswith(")"):
        if len(args) != 1:
            raise RuleError(f"'{name}' expects one log-format string.")
        return env.set_var(name[12:-1], args[0], fmt=True)
    if name.startswith("unset-var(") and name.endswith(")"):
        return env.unset_var(name[10:-1])
    stick = actions_stick.parse(name, args, env)  # type: ignore[arg-type]
    if stick is not None:
        return stick
    if kind == "tcp-req" and (resolve := actions_resolve.parse(name, args, env)) is not None:  # type: ignore[arg-type]
        return resolve
    parser = PARSERS.get(name)
    if parser is None:
        raise unknown_action(name, PARSERS, "lua.<name>")
    return parser(kind, args, env)
