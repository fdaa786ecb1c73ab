"""core.register_cli: Lua commands on the management socket.

The master owns the management socket, so a Lua command runs there, on the
master's Lua state, with an AppletTCP whose input is the command's payload
(the lines after ``<<``) and whose output is the answer.  Its arguments are
the command's words, the registered path included, as in haproxy 2.6.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from luaproxy.worker.channel import Channel
from luaproxy.worker.samples import Vars

from . import runner
from .applet_tcp import TcpAppletState
from .contexts import Context, Run

CLI_BUFSIZE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RegisteredCli:
    path: tuple[str, ...]
    usage: str
    function: Any


class CliTransaction:
    """What an AppletTCP needs of a transaction: a request channel (the payload), a response channel
    (the answer), variables."""

    __slots__ = ("frontend", "lua", "nice", "req", "res", "vars")

    def __init__(self, payload: bytes, output: list[bytes]) -> None:
        self.req = Channel("req", CLI_BUFSIZE)
        self.req.input += payload
        self.req.close_input()
        self.res = Channel("res", CLI_BUFSIZE)
        self.res.connect(output.append)
        self.vars = Vars()
        self.frontend = None
        self.lua = None
        self.nice = 0


def run_command(engine: Any, command: RegisteredCli, words: list[str], payload: str | None) -> str:
    """Run one Lua CLI command to its end; its output, or the error HAProxy's CLI would print."""
    output: list[bytes] = []
    txn = CliTransaction((payload or "").encode("latin-1"), output)
    applet = engine.tcp_applet_object(TcpAppletState(txn))
    run = Run(Context.SERVICE, " ".join(command.path), txn, engine.limits.service_timeout)
    result = runner.call(engine.runtime, command.function, run, applet, *words)
    text = b"".join(output).decode("latin-1")
    if result.outcome in (runner.Outcome.ERROR, runner.Outcome.TIMEOUT):
        engine.logger.alert(f"Lua cli '{' '.join(command.path)}': {result.outcome.value}: {result.error}")
        text += f"Lua cli '{' '.join(command.path)}': {result.error.splitlines()[0]}\n"
    return text
