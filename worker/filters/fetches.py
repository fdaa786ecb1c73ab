"""The cache's sample fetches: res.cache_hit and res.cache_name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..samples.registry import fetch
from ..samples.types import Sample, SampleType

_HIT = Sample(SampleType.BOOL, True)
_MISS = Sample(SampleType.BOOL, False)


def _state(ctx: Any) -> Any:
    return getattr(ctx, "filters", None)


def _cache_hit(ctx: Any, args: Sequence[Any]) -> Sample:
    state = _state(ctx)
    return _HIT if state is not None and state.cache_hit else _MISS


def _cache_name(ctx: Any, args: Sequence[Any]) -> Sample | None:
    state = _state(ctx)
    if state is None or not state.cache_hit:
        return None
    return Sample(SampleType.STR, state.cache_name)


FETCHES = (
    fetch("res.cache_hit", _cache_hit, SampleType.BOOL, "True when the response came from a cache.", section="l7"),
    fetch("res.cache_name", _cache_name, SampleType.STR, "The name of the cache the response came from.",
          section="l7"),
)
