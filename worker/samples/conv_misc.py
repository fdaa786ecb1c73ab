"""Converters acting on the stream rather than the value: variables, debug, nbsrv."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .args import ArgType, ParseEnv, arg_spec
from .context import SampleContext
from .fetch_internal import find_server
from .registry import converter
from .types import Sample, SampleType
from .vars import check_conditions, parse_var_name

T = SampleType
A = ArgType


def _check_set_var(values: list[Any], env: ParseEnv) -> list[Any]:
    return [parse_var_name(values[0]), check_conditions(v for v in values[1:] if v)]


def _set_var(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    ctx.vars.set(args[0], smp, args[1])
    return smp


def _unset_var(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample:
    ctx.vars.unset(args[0])
    return smp


def _srv_queue(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    """luaproxy queues per backend, not per server: a server's own queue is always empty."""
    return None if find_server(ctx, smp.value) is None else Sample(T.SINT, 0)


def _nbsrv(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    proxy = ctx.proxies.get(smp.value)
    return None if proxy is None else Sample(T.SINT, sum(1 for s in proxy.servers if s.usable))


CONVERTERS = (
    converter(
        "set-var",
        _set_var,
        T.ANY,
        T.ANY,
        "Stores the input in a variable (if the conditions hold) and passes it on.",
        arg_spec(A.VAR, A.STR, A.STR, A.STR, A.STR, required=1, check=_check_set_var),
    ),
    converter(
        "unset-var",
        _unset_var,
        T.ANY,
        T.ANY,
        "Unsets a variable and passes the input on.",
        arg_spec(A.VAR, check=lambda values, env: [parse_var_name(values[0])]),
    ),
    converter(
        "debug",
        lambda ctx, smp, args: smp,
        T.ANY,
        T.ANY,
        "Passes the input on unchanged (HAProxy also logs it).",
        arg_spec(A.STR, A.STR, required=0),
    ),
    converter("nbsrv", _nbsrv, T.STR, T.SINT, "Usable servers in the backend named by the input."),
    converter("srv_queue", _srv_queue, T.STR, T.SINT, "Requests queued for the server named by the input."),
)
