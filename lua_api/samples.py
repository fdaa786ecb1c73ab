"""Fetches and Converters (txn.f, txn.sf, txn.c, txn.sc) and Lua's own lua.NAME fetches/converters.

The classes are generated from the sample registry, with ``.``, ``-`` and
``+`` turned into ``_`` (``req.hdr`` → ``txn.f:req_hdr()``), so nothing is
listed twice.  ``f``/``c`` return typed values or nil, ``sf``/``sc`` always
strings ("" when there is no sample), as HAProxy's "stringsafe" variants.
"""

from __future__ import annotations

from typing import Any

from luaproxy.worker.samples import (
    Sample,
    SampleError,
    SampleRegistry,
    SampleType,
    from_native,
    to_native,
    to_text,
)

from . import runner
from .contexts import Budget, Context, Run
from .errors import LuaApiError


def _output(smp: Sample | None, as_string: bool) -> Any:
    if smp is None:
        return "" if as_string else None
    return (to_text(smp) or "") if as_string else to_native(smp)


def fetch_functions(registry: SampleRegistry, as_string: bool) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for lname, definition in registry.lua_fetches().items():
        name = definition.name

        def fetch(txn: Any, *args: Any, _name: str = name) -> Any:
            try:
                smp = registry.call_fetch(_name, txn, args, res=txn.response is not None)
            except SampleError as exc:
                raise LuaApiError(f"{_name}: {exc}") from None
            return _output(smp, as_string)

        table[lname] = fetch
    return table


def converter_functions(registry: SampleRegistry, as_string: bool) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for lname, definition in registry.lua_converters().items():
        name = definition.name

        def convert(txn: Any, value: Any, *args: Any, _name: str = name) -> Any:
            smp = from_native(value.encode("latin-1") if isinstance(value, str) else value)
            if smp is None:
                return _output(None, as_string)
            if smp.type is SampleType.BIN:
                smp = Sample(SampleType.STR, smp.value.decode("latin-1"))
            try:
                result = registry.call_converter(_name, txn, smp, args)
            except SampleError as exc:
                raise LuaApiError(f"{_name}: {exc}") from None
            return _output(result, as_string)

        table[lname] = convert
    return table


class LuaFetch:
    """``lua.NAME`` as a sample fetch: the Lua function gets the TXN and string arguments."""

    def __init__(self, engine: Any, name: str, function: Any) -> None:
        self.engine, self.name, self.function = engine, name, function

    def __call__(self, ctx: Any, args: list[str]) -> Any:
        run = Run(Context.FETCH, self.name, ctx, Budget(self.engine.limits.session_timeout))
        result = runner.call(self.engine.runtime, self.function, run, self.engine.txn_object(ctx), *args)
        return self.engine.sample_result(result, f"Lua sample-fetch '{self.name}'")


class LuaConverter:
    """``lua.NAME`` as a converter: the Lua function gets the input as a string and string arguments."""

    def __init__(self, engine: Any, name: str, function: Any) -> None:
        self.engine, self.name, self.function = engine, name, function

    def __call__(self, ctx: Any, smp: Sample, args: list[str]) -> Any:
        run = Run(Context.CONVERTER, self.name, None, Budget(self.engine.limits.session_timeout))
        result = runner.call(self.engine.runtime, self.function, run, to_text(smp) or "", *args)
        return self.engine.sample_result(result, f"Lua converter '{self.name}'")


def register_lua_samples(engine: Any, registry: SampleRegistry) -> None:
    """After the body context: lua.NAME fetches and converters join the registry."""
    for name, function in engine.registry.fetches.items():
        registry.add_text_fetch(f"lua.{name}", LuaFetch(engine, name, function))
    for name, function in engine.registry.converters.items():
        registry.add_text_converter(f"lua.{name}", LuaConverter(engine, name, function))
