"""``cache NAME`` sections: the settings of one HTTP cache (HAProxy 2.6's cache section).

``total-max-size`` is in megabytes, ``max-object-size`` in bytes (at most half
the total, as HAProxy demands; by default a 256th of it), ``max-age`` in
seconds, ``process-vary on|off`` and ``max-secondary-entries`` bound what Vary
may store.  The runtime store lives in ``worker.filters.cache``.
"""

from __future__ import annotations

from luaproxy.worker.filters.cache import CacheSettings

from .errors import ConfigError
from .keywords import on_off
from .lexer import Line

KEYWORDS = ("total-max-size", "max-object-size", "max-age", "process-vary", "max-secondary-entries")


def parse_section(header: Line, body: list[Line], errors: list[ConfigError]) -> CacheSettings | None:
    """One ``cache`` section; errors go to *errors*."""
    if len(header.words) != 2:
        errors.append(header.error("'cache' expects exactly one name.", "Write 'cache <name>'."))
        return None
    values: dict[str, int] = {}
    vary = False
    for line in body:
        word, args = line.words[0], line.words[1:]
        if word not in KEYWORDS:
            errors.append(line.error(f"unknown keyword '{word}' in 'cache' section '{header.words[1]}'.",
                                     f"Expected one of: {', '.join(KEYWORDS)}."))
            continue
        if word == "process-vary":
            try:
                vary = on_off(line) == "on"
            except ConfigError as exc:
                errors.append(exc)
            continue
        if len(args) != 1 or not args[0].isdigit():
            errors.append(line.error(f"'{word}' expects a positive integer."))
            continue
        values[word] = int(args[0])
    total = values.get("total-max-size", 64) * 1024 * 1024
    if total <= 0:
        errors.append(header.error(f"cache '{header.words[1]}': 'total-max-size' must be at least 1 (megabyte)."))
        return None
    max_object = values.get("max-object-size", total // 256)
    if max_object > total // 2:
        errors.append(header.error(f"cache '{header.words[1]}': 'max-object-size' ({max_object}) may not exceed "
                                   f"half of 'total-max-size' ({total // 2} bytes)."))
        return None
    return CacheSettings(header.words[1], total, max_object, values.get("max-age", 60), vary,
                         values.get("max-secondary-entries", 10))
