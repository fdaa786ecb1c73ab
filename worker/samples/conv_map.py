"""Map converters: ``map``, ``map_<match>`` and ``map_<match>_<int|ip>``.

The file argument is resolved at parse time through the pattern library, so
every expression naming the same file shares one list; runtime updates to that
list are seen at once.  A miss gives the default value, or no sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .args import ArgType, ParseEnv, arg_spec
from .context import SampleContext
from .conv_string import expand_template
from .errors import SampleError
from .patterns import ListIndex, Method, PatternError, parse_value
from .registry import ConverterDef, converter
from .types import Sample, SampleType

T = SampleType
A = ArgType

_INPUTS = {Method.INT: T.SINT, Method.IP: T.ADDR}
_OUTPUTS = {"": T.STR, "_int": T.SINT, "_ip": T.ADDR}


def _loader(method: Method, out: SampleType) -> Any:
    def check(values: list[Any], env: ParseEnv) -> list[Any]:
        if env.library is None:
            raise SampleError("no pattern library to load map files from")
        ref = env.library.load_map(values[0], env.origin)
        index = ref.index(method, False, out)
        default = None
        if len(values) > 1:
            raw = values[1]
            try:
                default = Sample(T.SINT, raw) if out is T.SINT else parse_value(raw, out)
            except PatternError as err:
                raise SampleError(str(err)) from None
        return [ref, index, default]

    return check


def _lookup(out: SampleType) -> Any:
    def run(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
        ref, index, default = args
        entry = index.lookup(smp.value, ref.curr_ver)
        return default if entry is None else entry.sample(out)

    return run


def _lookup_regm(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    ref, index, default = args
    assert isinstance(index, ListIndex)
    found = index.search(smp.value, ref.curr_ver)
    if found is None:
        return default
    entry, match = found
    value = expand_template(entry.value or "", match)
    return default if value is None else Sample(T.STR, value)


def _map_converters() -> tuple[ConverterDef, ...]:
    out: list[ConverterDef] = []
    for method in (
        Method.STR,
        Method.BEG,
        Method.SUB,
        Method.DIR,
        Method.DOM,
        Method.END,
        Method.REG,
        Method.INT,
        Method.IP,
    ):
        in_type = _INPUTS.get(method, T.STR)
        for suffix, out_type in _OUTPUTS.items():
            default_type = A.SINT if out_type is T.SINT else A.STR
            spec = arg_spec(A.STR, default_type, required=1, check=_loader(method, out_type))
            doc = f"Looks the input up in a map by {method.value} match: value as {out_type.label}, else the default."
            out.append(converter(f"map_{method.value}{suffix}", _lookup(out_type), in_type, out_type, doc, spec))
    str_spec = arg_spec(A.STR, A.STR, required=1, check=_loader(Method.STR, T.STR))
    out.insert(0, converter("map", _lookup(T.STR), T.STR, T.STR, "Alias of map_str.", str_spec))
    regm_spec = arg_spec(A.STR, A.STR, required=1, check=_loader(Method.REG, T.STR))
    doc = "map_reg whose value may use \\1..\\9 back-references to the matched regex groups."
    out.append(converter("map_regm", _lookup_regm, T.STR, T.STR, doc, regm_spec))
    return tuple(out)


CONVERTERS = _map_converters()
