"""Keywords of stick tables and stickiness: ``stick-table`` and ``stick on|match|store-request|store-response``."""

from __future__ import annotations

from luaproxy.worker.sticktable import SpecError, parse_table_args

from .keywords import PROXY, expect_args
from .lexer import Line
from .model import ProxyConf, RuleConf

STICK_KINDS = ("on", "match", "store-request", "store-response")


@PROXY.register("stick-table", ("frontend", "backend", "listen"),
                "stick-table type ip|ipv6|integer|string [len N]|binary [len N] size N [expire T] [nopurge] "
                "[store D,...]")
def _stick_table(p: ProxyConf, line: Line) -> None:
    args = expect_args(line, 1, None, "'type <type> size <size> [expire <time>] [store <data>,...]'")
    if p.stick_table is not None:
        raise line.error(f"only one stick-table per proxy, '{p.name}' already has one.",
                         "Declare another backend with its own stick-table and refer to it by name.")
    try:
        parse_table_args(p.name, args)
    except SpecError as exc:
        raise line.error(f"stick-table: {exc}.") from None
    p.stick_table = line


@PROXY.register("stick", ("backend", "listen"), "stick on|match|store-request|store-response <pattern> "
                "[table <table>] [if|unless <cond>]")
def _stick(p: ProxyConf, line: Line) -> None:
    args = expect_args(line, 2, None, "'on|match|store-request|store-response <pattern> [table <table>]'")
    if args[0] not in STICK_KINDS:
        raise line.error(f"'stick' expects one of {', '.join(STICK_KINDS)}, got '{args[0]}'.")
    p.add_rule(RuleConf(f"stick {args[0]}", args[1:], line))
