"""Sample expressions: ``fetch(args),conv(args),conv...`` parsed once, evaluated per stream.

Parsing resolves every name, types every argument, checks that each converter
can accept what the previous step produces, and opens the map files named by
converter arguments.  Evaluation never raises for data reasons: a missing
sample, or a value that cannot be cast to a converter's input type, gives None.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from .args import Origin, ParseEnv, parse_args, split_args
from .context import SampleContext
from .errors import SampleError
from .library import PatternLibrary
from .registry import ConverterDef, FetchDef, SampleRegistry
from .types import Sample, SampleType, can_cast, cast

_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-+")

Step = tuple[ConverterDef, Sequence[Any]]


class SampleExpr:
    """A compiled expression; ``evaluate`` returns a Sample or None."""

    __slots__ = ("_convs", "_fetch", "_res_fetch", "args", "text")

    def __init__(
        self, text: str, fetch: FetchDef, args: Sequence[Any], convs: Sequence[Step], res_fetch: FetchDef | None
    ) -> None:
        self.text = text
        self._fetch = fetch
        self.args = args
        self._convs = tuple(convs)
        self._res_fetch = res_fetch

    def __repr__(self) -> str:
        return f"SampleExpr({self.text!r})"

    @property
    def fetch(self) -> FetchDef:
        return self._fetch

    @property
    def response_fetch(self) -> FetchDef | None:
        """The fetch used instead in the response direction (``hdr`` there is ``res.hdr``), if any."""
        return self._res_fetch

    @property
    def converters(self) -> tuple[str, ...]:
        return tuple(conv.name for conv, _ in self._convs)

    @property
    def out_type(self) -> SampleType:
        """The declared type of the result (the last converter's, else the fetch's)."""
        return self._convs[-1][0].out if self._convs else self._fetch.out

    def evaluate(self, ctx: SampleContext, res: bool = False) -> Sample | None:
        """Fetch then convert; *res* selects the response direction for fetches like ``hdr``."""
        fetch = self._res_fetch if res and self._res_fetch is not None else self._fetch
        return self._convert(ctx, fetch.fn(ctx, self.args))

    def evaluate_all(self, ctx: SampleContext, res: bool = False) -> Iterator[Sample]:
        """Every value an ACL should try: each occurrence for multi-valued fetches."""
        fetch = self._res_fetch if res and self._res_fetch is not None else self._fetch
        if fetch.multi is None:
            smp = self._convert(ctx, fetch.fn(ctx, self.args))
            if smp is not None:
                yield smp
            return
        for raw in fetch.multi(ctx, self.args):
            smp = self._convert(ctx, raw)
            if smp is not None:
                yield smp

    def _convert(self, ctx: SampleContext, smp: Sample | None) -> Sample | None:
        for conv, args in self._convs:
            if smp is None:
                return None
            if smp.type is not conv.in_type:
                smp = cast(smp, conv.in_type)
                if smp is None:
                    return None
            smp = conv.fn(ctx, smp, args)
        return smp


def parse_expr(
    text: str,
    registry: SampleRegistry,
    library: PatternLibrary | None = None,
    *,
    origin: Origin | None = None,
) -> SampleExpr:
    """Parse a whole word as a sample expression; raise SampleError on any problem."""
    expr, end = parse_expr_prefix(text, 0, registry, library, origin=origin)
    if end != len(text):
        raise SampleError(f"unexpected '{text[end:]}' after sample expression '{text[:end]}'")
    return expr


def parse_expr_prefix(
    text: str,
    pos: int,
    registry: SampleRegistry,
    library: PatternLibrary | None = None,
    *,
    origin: Origin | None = None,
) -> tuple[SampleExpr, int]:
    """Parse the expression starting at *pos*; return it and the offset where it stopped."""
    env = ParseEnv(library, origin)
    start = pos
    name, pos = _name(text, pos)
    if not name:
        raise SampleError("missing fetch method")
    fetch = registry.fetch_def(name)
    args, pos = _args(text, pos, fetch.args, "fetch method", name, env)
    res_fetch = registry.fetch_def(fetch.response) if fetch.response else None
    current = fetch.out
    convs: list[Step] = []
    while pos < len(text) and text[pos] == ",":
        pos += 1
        cname, pos = _name(text, pos)
        if not cname:
            if pos < len(text) and text[pos] == ",":
                continue
            raise SampleError("unknown converter ''")
        conv = registry.converter_def(cname)
        cargs, pos = _args(text, pos, conv.args, "converter", cname, env)
        if not can_cast(current, conv.in_type):
            raise SampleError(f"converter '{cname}' cannot be applied")
        convs.append((conv, cargs))
        current = conv.out
    return SampleExpr(text[start:pos], fetch, args, convs, res_fetch), pos


def _name(text: str, pos: int) -> tuple[str, int]:
    end = pos
    while end < len(text) and text[end] in _ID_CHARS:
        end += 1
    return text[pos:end], end


def _args(text: str, pos: int, spec: Any, kind: str, name: str, env: ParseEnv) -> tuple[list[Any], int]:
    if pos < len(text) and text[pos] == "(":
        try:
            raw = split_args(text, pos)
        except SampleError as err:
            prefix = f"invalid arg 1 in converter '{name}' : " if kind == "converter" else f"{kind} '{name}' : "
            raise SampleError(prefix + err.message) from None
        allowed = len(spec.types)
        rest = ""
        if len(raw.texts) > allowed:
            cut = raw.starts[allowed] - (1 if allowed else 0)
            rest = text[cut:]
        return parse_args(spec, raw.texts, kind, name, env, rest), raw.end
    return parse_args(spec, (), kind, name, env), pos
