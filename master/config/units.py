"""HAProxy's time and size units."""

from __future__ import annotations

import re

_TIME_UNITS = {"us": 0.000001, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_TIME = re.compile(r"^(\d+)(us|ms|s|m|h|d)?$")
_SIZE = re.compile(r"^(\d+)([kmg]?)$", re.IGNORECASE)


def parse_time(text: str, default_unit: str = "ms") -> float:
    """Seconds from '5s', '100ms', '2m'...; a bare number uses *default_unit*, as HAProxy does."""
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"invalid time value '{text}' (expected a number with an optional unit "
                         "us, ms, s, m, h or d)")
    return int(m.group(1)) * _TIME_UNITS[m.group(2) or default_unit]


def parse_size(text: str) -> int:
    """Bytes from '16384', '16k', '1m', '2g'."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"invalid size value '{text}' (expected a number with an optional unit k, m or g)")
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]
