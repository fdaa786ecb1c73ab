"""``set-var`` and ``set-var-fmt`` of the global section: ``proc.`` variables set at start-up.

Each line is evaluated in order when the configuration is loaded, against a
context that has no connection, so only constants, other ``proc.`` variables
and converters make sense (as in HAProxy).  Every worker starts with these
values in its ``proc.`` store, where every other ``proc.`` variable the
configuration names already exists without a value (HAProxy creates them while
parsing, which the ``ifexists``/``ifnotexists`` conditions see).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from luaproxy.worker.samples import (
    PatternLibrary,
    Sample,
    SampleError,
    SampleRegistry,
    SampleType,
    Vars,
    parse_expr,
    parse_log_format,
    parse_var_name,
)

from .config.errors import ConfigError, ConfigErrors
from .config.lexer import Line
from .config.model import GlobalSettings

_PROC_NAME = re.compile(r"\bproc\.[A-Za-z0-9_][A-Za-z0-9._]*")


@dataclass
class StartupContext:
    """A SampleContext without a stream: what a global set-var expression can see."""

    vars: Vars
    src: str | None = None
    src_port: int | None = None
    dst: str | None = None
    dst_port: int | None = None
    so_id: int = 0
    frontend: None = None
    backend: None = None
    server: None = None
    proxies: dict[str, object] = field(default_factory=dict)
    process: tuple[int, int] = (1, 1)
    accept_date: float = field(default_factory=time.time)
    request: None = None
    response: None = None
    req_body: bytes | None = None
    last_rule: str | None = None
    incomplete: bool = False

    def req_data(self) -> bytes:
        return b""

    def res_data(self) -> bytes:
        return b""


def declared_names(lines: Iterable[Line]) -> set[str]:
    """Every ``proc.`` variable named on these configuration lines."""
    return {name.rstrip(".") for line in lines for word in line.words for name in _PROC_NAME.findall(word)}


def initial_proc_vars(settings: GlobalSettings, lines: Iterable[Line], registry: SampleRegistry,
                      library: PatternLibrary) -> dict[str, Sample | None]:
    """The ``proc.`` store every worker starts with; errors name their configuration line."""
    store: dict[str, Sample | None] = dict.fromkeys(declared_names(lines))
    ctx = StartupContext(Vars(store, {}), process=(settings.nbproc, 1))
    errors: list[ConfigError] = []
    for keyword, name, text, line in settings.proc_vars:
        try:
            var = parse_var_name(name)
            if var.scope != "proc":
                raise SampleError(f"only 'proc.' variables may be set here, got '{name}'")
            if keyword == "set-var":
                value = parse_expr(text, registry, library, origin=(line.file, line.number)).evaluate(ctx)
            else:
                rendered = parse_log_format(text, registry, library, origin=(line.file, line.number)).render(ctx)
                value = Sample(SampleType.STR, rendered)
        except (SampleError, AttributeError) as exc:
            errors.append(line.error(f"'{keyword} {name}': {exc}"))
            continue
        if value is not None:
            ctx.vars.set(var, value)
    if errors:
        raise ConfigErrors(errors)
    return store


ProcVarSetter = Callable[[dict[str, Sample | None], str, str, str], str]


def cli_setter(registry: SampleRegistry | None, library: PatternLibrary) -> ProcVarSetter:
    """What a worker runs for the CLI's ``set var <name> [expr|fmt] <text>``: '' or the error to show."""
    def set_var(store: dict[str, Sample | None], name: str, mode: str, text: str) -> str:
        try:
            var = parse_var_name(name)
            if var.scope != "proc":
                return "'set var' only supports process-wide variables ('proc.' scope).\n"
            ctx = StartupContext(Vars(store, {}))
            if registry is None:
                return "No sample registry.\n"
            if mode == "fmt":
                value: Sample | None = Sample(SampleType.STR, parse_log_format(text, registry, library).render(ctx))
            else:
                value = parse_expr(text, registry, library).evaluate(ctx)
        except (SampleError, AttributeError) as exc:
            return f"failed to parse '{text}': {exc}\n"
        if value is None:
            return "failed to evaluate the expression.\n"
        ctx.vars.set(var, value)
        return ""

    return set_var
