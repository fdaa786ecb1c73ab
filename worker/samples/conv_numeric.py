"""Integer converters (arithmetic, bitwise, boolean) and ipmask.

Arithmetic saturates at the signed 64-bit limits as HAProxy does; the operand
is a constant or a variable name, and a missing variable gives no sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .args import ArgType, ParseEnv, arg_spec, parse_sint
from .context import SampleContext
from .errors import SampleError
from .registry import converter
from .types import INT64_MAX, Sample, SampleType, cast, clamp64, v6_to_v4, wrap64
from .vars import VarName, parse_var_name

T = SampleType
A = ArgType


def _check_int_or_var(values: list[Any], env: ParseEnv) -> list[Any]:
    number = parse_sint(values[0])
    if number is not None:
        return [number]
    try:
        return [parse_var_name(values[0])]
    except SampleError:
        raise SampleError("expects an integer or a variable name") from None


def _operand(ctx: SampleContext, arg: int | VarName) -> int | None:
    if isinstance(arg, int):
        return arg
    smp = ctx.vars.get(arg)
    if smp is None:
        return None
    smp = cast(smp, T.SINT)
    return None if smp is None else smp.value


def _div(a: int, b: int) -> int:
    if b == 0:
        return INT64_MAX
    q = abs(a) // abs(b)
    return clamp64(q if (a < 0) == (b < 0) else -q)


def _mod(a: int, b: int) -> int:
    if b == 0:
        return 0
    r = abs(a) % abs(b)
    return -r if a < 0 else r


def _binary(op: Callable[[int, int], int]) -> Any:
    def run(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
        other = _operand(ctx, args[0])
        return None if other is None else Sample(T.SINT, op(smp.value, other))

    return run


def _unary(op: Callable[[int], object], out: SampleType) -> Any:
    return lambda ctx, smp, args: Sample(out, op(smp.value))


def _ipmask(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    """Mask an address; an IPv6 one that carries an IPv4 address is masked as IPv4 first (haproxy converts
    it before looking at the masks), any other IPv6 one needs mask6."""
    if smp.type is T.IPV6:
        v4 = v6_to_v4(smp.value)
        if v4 is None:
            if len(args) < 2:
                return None
            masked = int.from_bytes(smp.value, "big") & args[1]
            return Sample(T.IPV6, masked.to_bytes(16, "big"))
        smp = Sample(T.IPV4, v4)
    masked = int.from_bytes(smp.value, "big") & args[0]
    return Sample(T.IPV4, masked.to_bytes(4, "big"))


_OPERAND = arg_spec(A.STR, check=_check_int_or_var)
_DOC_OPERAND = " The operand is an integer or a variable name."

CONVERTERS = (
    converter(
        "add",
        _binary(lambda a, b: clamp64(a + b)),
        T.SINT,
        T.SINT,
        "Adds the operand, saturating." + _DOC_OPERAND,
        _OPERAND,
    ),
    converter(
        "sub",
        _binary(lambda a, b: clamp64(a - b)),
        T.SINT,
        T.SINT,
        "Subtracts the operand, saturating." + _DOC_OPERAND,
        _OPERAND,
    ),
    converter(
        "mul",
        _binary(lambda a, b: clamp64(a * b)),
        T.SINT,
        T.SINT,
        "Multiplies by the operand, saturating." + _DOC_OPERAND,
        _OPERAND,
    ),
    converter(
        "div",
        _binary(_div),
        T.SINT,
        T.SINT,
        "Divides (truncating); by zero gives the largest integer." + _DOC_OPERAND,
        _OPERAND,
    ),
    converter(
        "mod",
        _binary(_mod),
        T.SINT,
        T.SINT,
        "Remainder with the dividend's sign; modulo zero gives 0." + _DOC_OPERAND,
        _OPERAND,
    ),
    converter("and", _binary(lambda a, b: a & b), T.SINT, T.SINT, "Bitwise AND." + _DOC_OPERAND, _OPERAND),
    converter("or", _binary(lambda a, b: a | b), T.SINT, T.SINT, "Bitwise OR." + _DOC_OPERAND, _OPERAND),
    converter("xor", _binary(lambda a, b: a ^ b), T.SINT, T.SINT, "Bitwise XOR." + _DOC_OPERAND, _OPERAND),
    converter("neg", _unary(lambda a: wrap64(-a), T.SINT), T.SINT, T.SINT, "The opposite value."),
    converter("cpl", _unary(lambda a: ~a, T.SINT), T.SINT, T.SINT, "Ones' complement."),
    converter("not", _unary(lambda a: a == 0, T.BOOL), T.SINT, T.BOOL, "True when the input is zero."),
    converter("bool", _unary(lambda a: a != 0, T.BOOL), T.SINT, T.BOOL, "True when the input is non-zero."),
    converter("even", _unary(lambda a: a & 1 == 0, T.BOOL), T.SINT, T.BOOL, "True when the input is even."),
    converter("odd", _unary(lambda a: a & 1 == 1, T.BOOL), T.SINT, T.BOOL, "True when the input is odd."),
    converter(
        "ipmask",
        _ipmask,
        T.ADDR,
        T.ADDR,
        "Masks an address (mask4 dotted or CIDR; mask6 for IPv6).",
        arg_spec(A.MSK4, A.MSK6, required=1),
    ),
)
