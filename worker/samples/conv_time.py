"""Date converters: strftime in local time or UTC, and HTTP dates."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from .args import ArgType, arg_spec
from .context import SampleContext
from .fetch_internal import check_unit
from .registry import converter
from .types import Sample, SampleType

T = SampleType
A = ArgType

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UNIT_DIGITS = {"s": (1, 0), "ms": (1000, 3), "us": (1000000, 6)}


def _strftime(convert: Any) -> Any:
    def run(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
        stamp = smp.value + (args[1] if len(args) > 1 else 0)
        try:
            text = time.strftime(args[0], convert(stamp))
        except (OverflowError, OSError, ValueError):
            return None
        return Sample(T.STR, text)

    return run


def http_date(stamp: float, fraction: str = "") -> str:
    """RFC 7231 IMF-fixdate, with an optional '.mmm'/'.uuuuuu' fraction before GMT."""
    t = time.gmtime(stamp)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}{fraction} GMT"
    )


def _http_date(ctx: SampleContext, smp: Sample, args: Sequence[Any]) -> Sample | None:
    scale, digits = _UNIT_DIGITS[args[1] if len(args) > 1 else "s"]
    value = smp.value + (args[0] if args else 0)
    seconds, sub = divmod(value, scale)
    fraction = f".{sub:0{digits}d}" if digits else ""
    try:
        return Sample(T.STR, http_date(seconds, fraction))
    except (OverflowError, OSError, ValueError):
        return None


_FMT_OFFSET = arg_spec(A.STR, A.SINT, required=1)

CONVERTERS = (
    converter(
        "ltime",
        _strftime(time.localtime),
        T.SINT,
        T.STR,
        "An epoch date formatted by strftime in local time, with an optional offset.",
        _FMT_OFFSET,
    ),
    converter(
        "utime",
        _strftime(time.gmtime),
        T.SINT,
        T.STR,
        "An epoch date formatted by strftime in UTC, with an optional offset.",
        _FMT_OFFSET,
    ),
    converter(
        "http_date",
        _http_date,
        T.SINT,
        T.STR,
        "An epoch date as an HTTP date; optional offset and unit (s, ms, us).",
        arg_spec(A.SINT, A.STR, required=0, check=check_unit(1)),
    ),
)
