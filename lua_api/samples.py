"""Fetches and Converters (txn.f, txn.sf, txn.c, txn.sc) and Lua's own lua.NAME fetches/converters.

The classes are generated from the sample registry, with ``.``, ``-`` and
``+`` turned into ``_`` (``req.hdr`` → ``txn.f:req_hdr()``), so nothing is
listed twice.  ``f``/``c`` return typed values or nil, ``sf``/``sc`` always
strings ("" when there is no sample), as HAProxy's "stringsafe" variants.
"""

from __future__ import annotations

import socket
from typing import Any

from luaproxy.worker.samples import (
    ParseEnv,
    Sample,
    SampleError,
    SampleRegistry,
    SampleType,
    from_native,
    to_native,
    to_text,
)
from luaproxy.worker.samples.args import parse_args
from luaproxy.worker.samples.types import ip_sample

from . import runner
from .contexts import Context, Run
from .errors import LuaApiError
from .txn import transaction

_ADDRESS_FAMILIES = {SampleType.IPV4: socket.AF_INET, SampleType.IPV6: socket.AF_INET6}


def _output(smp: Sample | None, as_string: bool) -> Any:
    if smp is None:
        return "" if as_string else None
    family = _ADDRESS_FAMILIES.get(smp.type)
    if family is not None:  # an address (txn.sf:src()) is its text in both modes: no cast
        return socket.inet_ntop(family, smp.value)
    return (to_text(smp) or "") if as_string else to_native(smp)


ADDRESS_TEXTS_KEPT = 4096
"""How many client addresses address_text remembers; when full it starts afresh (clients are many)."""
_address_texts: dict[str | None, str | None] = {}


def address_text(address: str | None) -> str | None:
    """The text txn.sf:src() gives for a transaction's *address* (None when it is not an IP address), handed
    to an action with its run so that the fetch needs no call to Python; worked out once per address."""
    text = _address_texts.get(address, _address_texts)
    if text is not _address_texts:
        return text  # type: ignore[return-value]
    text = _output(ip_sample(address), True) or None
    if len(_address_texts) >= ADDRESS_TEXTS_KEPT:
        _address_texts.clear()
    _address_texts[address] = text
    return text


def fetch_functions(registry: SampleRegistry, as_string: bool) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for lname, definition in registry.lua_fetches().items():
        name = definition.name
        plain = _without_arguments(definition)
        response = registry.get_fetch(definition.response) if definition.response else None
        on_response = _without_arguments(response) if response is not None else plain

        def fetch(txn: Any, *args: Any, _name: str = name, _plain: Any = plain, _on_response: Any = on_response) -> Any:
            txn = transaction(txn)
            ready = (_plain if txn.response is None else _on_response) if not args else None
            try:
                if ready is not None:
                    smp = ready[0](txn, list(ready[1]))
                else:
                    smp = registry.call_fetch(_name, txn, args, res=txn.response is not None)
            except SampleError as exc:
                raise LuaApiError(f"{_name}: {exc}") from None
            return _output(smp, as_string)

        table[lname] = fetch
    return table


def _without_arguments(definition: Any) -> tuple[Any, list[Any]] | None:
    """(function, argument values) of a fetch called with no arguments (txn.f:src(), the common
    case), parsed once here rather than on every call; None when it needs arguments."""
    try:
        return definition.fn, parse_args(definition.args, [], "fetch method", definition.name, ParseEnv())
    except SampleError:
        return None


def converter_functions(registry: SampleRegistry, as_string: bool) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for lname, definition in registry.lua_converters().items():
        name = definition.name

        def convert(txn: Any, value: Any, *args: Any, _name: str = name) -> Any:
            txn = transaction(txn)
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
        run = Run(Context.FETCH, self.name, ctx, self.engine.limits.session_timeout)
        result = runner.call(self.engine.runtime, self.function, run, self.engine.txn_object(ctx), *args)
        return self.engine.sample_result(result, f"Lua sample-fetch '{self.name}'")


class LuaConverter:
    """``lua.NAME`` as a converter: the Lua function gets the input as a string and string arguments."""

    def __init__(self, engine: Any, name: str, function: Any) -> None:
        self.engine, self.name, self.function = engine, name, function

    def __call__(self, ctx: Any, smp: Sample, args: list[str]) -> Any:
        run = Run(Context.CONVERTER, self.name, None, self.engine.limits.session_timeout)
        result = runner.call(self.engine.runtime, self.function, run, to_text(smp) or "", *args)
        return self.engine.sample_result(result, f"Lua converter '{self.name}'")


def register_lua_samples(engine: Any, registry: SampleRegistry) -> None:
    """After the body context: lua.NAME fetches and converters join the registry."""
    for name, function in engine.registry.fetches.items():
        registry.add_text_fetch(f"lua.{name}", LuaFetch(engine, name, function))
    for name, function in engine.registry.converters.items():
        registry.add_text_converter(f"lua.{name}", LuaConverter(engine, name, function))
