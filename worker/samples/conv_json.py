"""The ``json_query`` converter: one value of a JSON document by a ``$.key[n]`` path."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from . import jsonpath
from .args import ArgType, ParseEnv, arg_spec
from .context import SampleContext
from .errors import SampleError
from .registry import converter
from .types import INT64_MAX, INT64_MIN, Sample, SampleType

T = SampleType
A = ArgType

JSON_INT_MAX = (1 << 53) - 1
"""HAProxy keeps integers within I-JSON's exact range (RFC 7493), else no sample."""

_STRTOLL = re.compile(rb"[ \t\n\v\f\r]*([-+]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")


def _check(values: list[Any], env: ParseEnv) -> list[Any]:
    if not values or not values[0]:
        raise SampleError("json_path must not be empty")
    if len(values) > 1:
        if values[1] != "int":
            raise SampleError('output_type only supports "int" as argument')
        values[1] = True
    return [values[0].encode("latin-1"), len(values) > 1]


def strtoll(data: bytes) -> int:
    """C's strtoll(data, NULL, 0): leading number in base 16, 8 or 10, saturated; 0 if none."""
    m = _STRTOLL.match(data)
    if m is None:
        return 0
    digits = m.group(2)
    base = 16 if digits[:2] in (b"0x", b"0X") else 8 if len(digits) > 1 and digits[:1] == b"0" else 10
    value = int(digits, base) if base != 16 else int(digits[2:], 16)
    if m.group(1) == b"-":
        value = -value
    return max(INT64_MIN, min(INT64_MAX, value))


def _json_query(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    path, as_int = args
    data = smp.value.encode("latin-1")
    found = jsonpath.find(data, path)
    if found is None:
        return None
    kind = found.kind
    if kind is jsonpath.Tok.NUMBER:
        if as_int:
            # Read from the token on, as HAProxy's strtoll does: '0x1F' gives 31.
            value = strtoll(data[found.start :])
            return Sample(T.SINT, value) if -JSON_INT_MAX <= value <= JSON_INT_MAX else None
        return Sample(T.STR, f"{jsonpath.number_end(data, found.start)[0]:g}")
    if kind is jsonpath.Tok.TRUE or kind is jsonpath.Tok.FALSE:
        return Sample(T.BOOL, kind is jsonpath.Tok.TRUE)
    if kind is jsonpath.Tok.STRING:
        text = jsonpath.unescape(data[found.start + 1 : found.end - 1])
        return None if text is None else Sample(T.STR, text.decode("latin-1"))
    return None


CONVERTERS = (
    converter(
        "json_query",
        _json_query,
        T.STR,
        T.ANY,
        "A JSON value by path ($.key.sub[n]): string, boolean, or number ('int': as an integer).",
        arg_spec(A.STR, A.STR, required=0, check=_check),
    ),
)
