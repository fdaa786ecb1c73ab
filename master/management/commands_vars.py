"""``experimental-mode`` and ``set var``: the CLI's way to change a ``proc.`` variable (HAProxy 2.6).

``set var`` is experimental in 2.6, so the session must turn that mode on
first; each worker evaluates the expression against its own ``proc.`` store.
"""

from __future__ import annotations

from typing import Any


def experimental_mode(sup: Any, session: Any, args: list[str], payload: str | None) -> str:
    if not args:
        return f"experimental-mode is {'on' if session.experimental else 'off'}\n"
    if args[0] not in ("on", "off"):
        return "error: 'experimental-mode' only supports 'on' and 'off'.\n"
    session.experimental = args[0] == "on"
    return ""


def set_var(sup: Any, session: Any, args: list[str], payload: str | None) -> Any:
    """``set var <name> [expr|fmt] <text>``, sent to every worker; the first worker's error, if any."""
    if not session.experimental:
        return "This command is restricted to experimental mode only.\n"
    if not args:
        return "Missing process-wide variable identifier.\n"
    name, rest = args[0], list(args[1:])
    mode = rest.pop(0) if rest and rest[0] in ("expr", "fmt") else "expr"
    if not rest:
        return "Missing either an expression or a format string.\n"
    message = {"t": "set-var", "name": name, "mode": mode, "text": " ".join(rest)}

    def text(outcome: Any) -> str:
        errors = [r for r in outcome.replies.values() if r]
        return (errors[0] if errors else "") + outcome.problems()

    return sup.ask_workers(message).then(text)


VAR_COMMANDS = (
    (("experimental-mode",), "experimental-mode [on|off]", "toggle experimental mode for this session", "admin",
     experimental_mode),
    (("set", "var"), "set var <var> [expr|fmt] ...", "set a process-wide variable", "operator", set_var),
)
