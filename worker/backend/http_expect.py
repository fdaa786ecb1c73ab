"""``http-check expect [!] hdr|fhdr name ... [value ...]`` and ``http-check set-var|unset-var``: the HTTP
check steps that need the sample engine.

They are parsed with the rest of ``http-check`` (text only, in :mod:`.checks`)
and compiled when the backend's samples are (``compile_steps``, given the
configuration's expression and log-format compilers).  At run time they see
the response through a :class:`CheckContext`, the stream a check's samples
read: its backend and server, its ``check.`` variables, the response head and
body.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..samples.vars import Vars

MATCH_METHODS = ("str", "beg", "end", "sub", "reg")


@dataclass(frozen=True, slots=True)
class Pattern:
    """One side of a header expectation: ``[-lf] [-m <meth>] <pattern>``, compiled on demand."""

    method: str
    text: str
    fmt: Any = None
    """The compiled log-format of a ``name-lf`` / ``value-lf`` pattern."""
    regex: re.Pattern[str] | None = None

    def matches(self, value: str, ctx: Any, ignore_case: bool) -> bool:
        if self.method == "reg":
            assert self.regex is not None
            return self.regex.search(value) is not None
        wanted = self.fmt.render(ctx) if self.fmt is not None else self.text
        if ignore_case:
            value, wanted = value.lower(), wanted.lower()
        return {"str": value == wanted, "beg": value.startswith(wanted), "end": value.endswith(wanted),
                "sub": wanted in value}[self.method]


@dataclass(frozen=True, slots=True)
class HeaderExpect:
    """A response header whose name (and, if given, one value) matches; ``fhdr`` compares whole values."""

    full: bool
    name: Pattern
    value: Pattern | None = None
    negate: bool = False
    lf_texts: tuple[str, ...] = ()
    """(name-lf text, value-lf text) still to compile, "" where the pattern is plain."""

    on_body = False

    def matches(self, status: int, body: bytes, ctx: Any = None) -> bool:
        headers = ctx.response.headers if ctx is not None and ctx.response is not None else ()
        found = False
        for name, raw in headers:
            if not self.name.matches(name, ctx, True):
                continue
            if self.value is None:
                found = True
                break
            values = [raw.strip()] if self.full else [v.strip() for v in raw.split(",")]
            if any(self.value.matches(v, ctx, False) for v in values):
                found = True
                break
        return found != self.negate


@dataclass(frozen=True, slots=True)
class VarStep:
    """``http-check set-var(<name>) <expr>`` or ``unset-var(<name>)``, run in order with the expectations."""

    name: str
    text: str = ""
    action: Callable[[Any], Any] | None = None

    def run(self, ctx: Any) -> None:
        if self.action is not None:
            self.action(ctx)


def parse_header_expect(kind: str, words: list[str], negate: bool) -> HeaderExpect:
    """``hdr|fhdr name[-lf] [-m meth] <name> [value[-lf] [-m meth] <value>]``; raises ValueError."""
    name, name_lf = _pattern(words, ("name", "name-lf"), kind)
    value, value_lf = (None, "")
    if words:
        value, value_lf = _pattern(words, ("value", "value-lf"), kind)
    if words:
        raise ValueError(f"'http-check expect {kind}': unexpected '{words[0]}'.")
    return HeaderExpect(kind == "fhdr", name, value, negate, (name_lf, value_lf))


def _pattern(words: list[str], keys: tuple[str, str], kind: str) -> tuple[Pattern, str]:
    if not words or words[0] not in keys:
        raise ValueError(f"'http-check expect {kind}' expects '{keys[0]}' or '{keys[1]}', "
                         f"got '{words[0] if words else ''}'.")
    lf = words.pop(0).endswith("-lf")
    method = "str"
    if words[:1] == ["-m"]:
        if len(words) < 2 or words[1] not in MATCH_METHODS:
            raise ValueError(f"'http-check expect {kind}': '-m' expects one of {', '.join(MATCH_METHODS)}.")
        method = words[1]
        del words[:2]
    if not words:
        raise ValueError(f"'http-check expect {kind}': missing pattern after '{keys[0]}'.")
    text = words.pop(0)
    if lf and method == "reg":
        raise ValueError(f"'http-check expect {kind}': '-m reg' cannot be used with a log-format pattern.")
    regex = None
    if method == "reg":
        try:
            regex = re.compile(text, re.IGNORECASE if keys[0] == "name" else 0)
        except re.error as exc:
            raise ValueError(f"'http-check expect {kind}': invalid regex '{text}': {exc}.") from None
    return Pattern(method, text, regex=regex), text if lf else ""


def parse_var_step(word: str, rest: list[str]) -> VarStep:
    """``set-var(<name>) <expr>`` or ``unset-var(<name>)``; raises ValueError."""
    match = re.fullmatch(r"(set|unset)-var\(([^)]+)\)", word)
    if match is None:
        raise ValueError(f"'http-check {word}': expected set-var(<name>) or unset-var(<name>).")
    if match.group(1) == "set" and len(rest) != 1:
        raise ValueError(f"'http-check {word}' expects one sample expression.")
    if match.group(1) == "unset" and rest:
        raise ValueError(f"'http-check {word}' takes no argument.")
    return VarStep(match.group(2), rest[0] if rest else "")


def compile_steps(steps: tuple[Any, ...], log_format: Callable[[str], Any],
                  set_var: Callable[[str, str], Any], unset_var: Callable[[str], Any]) -> tuple[Any, ...]:
    """The steps with their samples compiled by the configuration's compilers (which raise on errors)."""
    out = []
    for step in steps:
        if isinstance(step, HeaderExpect) and any(step.lf_texts):
            name_lf, value_lf = step.lf_texts
            name = replace(step.name, fmt=log_format(name_lf)) if name_lf else step.name
            value = replace(step.value, fmt=log_format(value_lf)) if value_lf and step.value else step.value
            step = replace(step, name=name, value=value, lf_texts=())
        elif isinstance(step, VarStep) and step.action is None:
            step = replace(step, action=set_var(step.name, step.text) if step.text else unset_var(step.name))
        out.append(step)
    return tuple(out)


@dataclass(slots=True)
class CheckContext:
    """What a health check's samples see (HAProxy's check session): no client, the backend and server,
    ``check.`` variables, the response."""

    backend: Any
    server: Any
    response: Any = None
    body: bytes = b""
    vars: Vars = field(default_factory=Vars)
    frontend: Any = None
    src: str | None = None
    src_port: int | None = None
    dst: str | None = None
    dst_port: int | None = None
    so_id: int = 0
    proxies: dict[str, Any] = field(default_factory=dict)
    process: tuple[int, int] = (1, 1)
    accept_date: float = field(default_factory=time.time)
    request: Any = None
    req_body: bytes | None = None
    last_rule: str | None = None
    first_request: bool = True
    incomplete: bool = False

    def req_data(self) -> bytes:
        return b""

    def res_data(self) -> bytes:
        return self.body
