"""The catalogue of sample fetches and converters, declared once.

A ``SampleRegistry`` instance holds every definition (name, argument spec,
input/output types, function, one-line doc).  ``default_registry()`` builds
HAProxy's catalogue; the config loader adds ``lua.NAME`` entries with
``add_text_fetch``/``add_text_converter``.  The same definitions feed the
expression parser, the Lua ``Fetches``/``Converters`` classes (through
``lua_name``) and the generated Markdown catalogue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .args import NO_ARGS, ArgSpec, ArgType, ParseEnv, arg_spec, parse_args
from .context import SampleContext
from .errors import SampleError, closest
from .types import Sample, SampleType, cast, from_native

FetchFn = Callable[[SampleContext, Sequence[Any]], Sample | None]
MultiFn = Callable[[SampleContext, Sequence[Any]], Iterable[Sample]]
ConvFn = Callable[[SampleContext, Sample, Sequence[Any]], Sample | None]
BareFn = Callable[[SampleContext, Sequence[Any]], Any]


@dataclass(frozen=True, slots=True)
class FetchDef:
    """One sample fetch.

    ``multi`` yields every value when an ACL iterates (e.g. each header
    occurrence); ``response`` names the fetch to use instead when evaluating in
    the response direction (``hdr`` becomes ``res.hdr``).
    """

    name: str
    fn: FetchFn = field(compare=False)
    args: ArgSpec
    out: SampleType
    doc: str
    section: str = "internal"
    multi: MultiFn | None = field(default=None, compare=False)
    response: str | None = None
    bare: BareFn | None = field(default=None, compare=False)
    """The value alone, no Sample, for a fetch whose value is always of type ``out`` (an ACL compares
    it directly: ``sc_http_req_rate(0) gt 10``)."""


@dataclass(frozen=True, slots=True)
class ConverterDef:
    """One converter: input type, output type, function."""

    name: str
    fn: ConvFn = field(compare=False)
    args: ArgSpec
    in_type: SampleType
    out: SampleType
    doc: str
    section: str = "converters"


def lua_name(name: str) -> str:
    """The name a fetch or converter has in Lua's ``txn.f``/``txn.c`` tables."""
    return name.replace(".", "_").replace("-", "_").replace("+", "_")


def fetch(
    name: str,
    fn: FetchFn,
    out: SampleType,
    doc: str,
    args: ArgSpec = NO_ARGS,
    *,
    section: str = "internal",
    multi: MultiFn | None = None,
    response: str | None = None,
    bare: BareFn | None = None,
) -> FetchDef:
    return FetchDef(name, fn, args, out, doc, section, multi, response, bare)


def converter(
    name: str, fn: ConvFn, in_type: SampleType, out: SampleType, doc: str, args: ArgSpec = NO_ARGS
) -> ConverterDef:
    return ConverterDef(name, fn, args, in_type, out, doc)


def alias(definition: FetchDef, name: str, doc: str | None = None) -> FetchDef:
    """The same fetch under another (often deprecated) name."""
    return FetchDef(
        name,
        definition.fn,
        definition.args,
        definition.out,
        doc or f"Alias of {definition.name}.",
        definition.section,
        definition.multi,
        definition.response,
        definition.bare,
    )


_LUA_ARGS = arg_spec(*([ArgType.STR] * 12), required=0)


class SampleRegistry:
    """Every fetch and converter a configuration may use, by name."""

    def __init__(self) -> None:
        self._fetches: dict[str, FetchDef] = {}
        self._converters: dict[str, ConverterDef] = {}

    def add_fetch(self, definition: FetchDef) -> None:
        if definition.name in self._fetches:
            raise SampleError(f"sample fetch '{definition.name}' is already registered")
        self._fetches[definition.name] = definition

    def add_converter(self, definition: ConverterDef) -> None:
        if definition.name in self._converters:
            raise SampleError(f"converter '{definition.name}' is already registered")
        self._converters[definition.name] = definition

    def add_text_fetch(self, name: str, fn: Callable[[SampleContext, list[str]], Any], doc: str = "") -> None:
        """Register a scripted fetch: string arguments, returns str (or int/bool/bytes) or None."""

        def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
            return from_native(fn(ctx, list(args)))

        self.add_fetch(FetchDef(name, run, _LUA_ARGS, SampleType.STR, doc or "Registered by Lua.", "lua"))

    def add_text_converter(
        self, name: str, fn: Callable[[SampleContext, Sample, list[str]], Any], doc: str = ""
    ) -> None:
        """Register a scripted converter taking the input sample and string arguments."""

        def run(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
            return from_native(fn(ctx, smp, list(args)))

        definition = ConverterDef(
            name, run, _LUA_ARGS, SampleType.STR, SampleType.STR, doc or "Registered by Lua.", "lua"
        )
        self.add_converter(definition)

    def get_fetch(self, name: str) -> FetchDef | None:
        return self._fetches.get(name)

    def get_converter(self, name: str) -> ConverterDef | None:
        return self._converters.get(name)

    def fetch_def(self, name: str) -> FetchDef:
        found = self._fetches.get(name)
        if found is None:
            raise SampleError(f"unknown fetch method '{name}'", closest(name, self._fetches))
        return found

    def converter_def(self, name: str) -> ConverterDef:
        found = self._converters.get(name)
        if found is None:
            raise SampleError(f"unknown converter '{name}'", closest(name, self._converters))
        return found

    def fetches(self) -> Iterator[FetchDef]:
        return iter(self._fetches.values())

    def converters(self) -> Iterator[ConverterDef]:
        return iter(self._converters.values())

    def fetch_names(self) -> list[str]:
        return list(self._fetches)

    def lua_fetches(self) -> dict[str, FetchDef]:
        """Fetches by Lua name; a dotted canonical name wins over a legacy twin (req.len over req_len)."""
        return _by_lua_name(self._fetches.values())

    def lua_converters(self) -> dict[str, ConverterDef]:
        return _by_lua_name(self._converters.values())

    def call_fetch(
        self,
        name: str,
        ctx: SampleContext,
        raw_args: Sequence[object] = (),
        *,
        res: bool = False,
        env: ParseEnv | None = None,
    ) -> Sample | None:
        """Run one fetch with runtime arguments (Lua's ``txn.f:name(...)``)."""
        definition = self.fetch_def(name)
        if res and definition.response:
            definition = self.fetch_def(definition.response)
        texts = [_arg_text(a) for a in raw_args]
        values = parse_args(definition.args, texts, "fetch method", name, env or ParseEnv())
        return definition.fn(ctx, values)

    def call_converter(
        self,
        name: str,
        ctx: SampleContext,
        smp: Sample,
        raw_args: Sequence[object] = (),
        *,
        env: ParseEnv | None = None,
    ) -> Sample | None:
        """Run one converter on *smp* with runtime arguments (Lua's ``txn.c:name(...)``)."""
        definition = self.converter_def(name)
        texts = [_arg_text(a) for a in raw_args]
        values = parse_args(definition.args, texts, "converter", name, env or ParseEnv())
        typed = cast(smp, definition.in_type)
        return None if typed is None else definition.fn(ctx, typed, values)


def _arg_text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _by_lua_name(definitions: Iterable[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for definition in definitions:
        key = lua_name(definition.name)
        if key not in out or lua_name(out[key].name) == out[key].name:
            out[key] = definition
    return out


def default_registry() -> SampleRegistry:
    """A registry holding HAProxy's whole built-in catalogue."""
    from ..filters import fetches as filter_fetches
    from . import (
        conv_codec,
        conv_json,
        conv_jwt,
        conv_map,
        conv_misc,
        conv_numeric,
        conv_proto,
        conv_string,
        conv_time,
        fetch_conn,
        fetch_http,
        fetch_internal,
        fetch_l4,
        fetch_ssl,
        fetch_sticktable,
    )

    registry = SampleRegistry()
    for module in (fetch_internal, fetch_l4, fetch_conn, fetch_ssl, fetch_http, fetch_sticktable, filter_fetches):
        for fetch_definition in module.FETCHES:
            registry.add_fetch(fetch_definition)
    for module in (conv_string, conv_numeric, conv_codec, conv_json, conv_proto, conv_time, conv_misc, conv_map,
                   fetch_sticktable, conv_jwt):
        for converter_definition in module.CONVERTERS:
            registry.add_converter(converter_definition)
    return registry


def catalogue_markdown(registry: SampleRegistry) -> str:
    """The catalogue as Markdown tables: name, arguments, types, doc."""
    lines = ["# Sample fetches and converters", "", "Generated from `worker.samples.registry.default_registry()`.", ""]
    sections: dict[str, list[FetchDef]] = {}
    for f in registry.fetches():
        sections.setdefault(f.section, []).append(f)
    titles = {"internal": "internal states", "l4": "layer 4", "l5": "SSL/TLS", "l6": "buffer contents",
              "l7": "HTTP (layer 7)"}
    for section, defs in sections.items():
        lines += [
            f"## Fetches: {titles.get(section, section)}",
            "",
            "| name | arguments | output | doc |",
            "|---|---|---|---|",
        ]
        lines += [f"| `{d.name}` | {_md(d.args.signature())} | {d.out.label} | {_md(d.doc)} |" for d in defs]
        lines.append("")
    lines += ["## Converters", "", "| name | arguments | input | output | doc |", "|---|---|---|---|---|"]
    for c in registry.converters():
        lines.append(f"| `{c.name}` | {_md(c.args.signature())} | {c.in_type.label} | {c.out.label} | {_md(c.doc)} |")
    lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|") if text else ""
