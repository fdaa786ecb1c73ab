"""Give each proxy its HTTP filters: the caches its rules name, its compression settings.

``filter cache NAME`` and ``filter compression`` are accepted as in HAProxy
2.6 (the cache works through its rules, compression through its
``compression`` lines, declared or implicit); ``filter compression`` without
``compression algo`` compresses nothing.  ``filter trace`` (HAProxy's debugging
filter) is accepted with its options and traces nothing: luaproxy's bodies
already flow in the chunks the network gives.
"""

from __future__ import annotations

from typing import Any

from luaproxy.worker.filters.cache import Cache
from luaproxy.worker.filters.compression import CompressionFilter, parse

from .config.errors import ConfigError, did_you_mean
from .config.model import Config, ProxyConf

BUILT_IN = ("cache", "compression", "trace")
TRACE_OPTIONS = ("random-parsing", "random-forwarding", "hexdump", "quiet")


def caches(config: Config) -> dict[str, Cache]:
    """One store per ``cache`` section (each worker gets its own copy when it forks)."""
    return {name: Cache(settings) for name, settings in config.caches.items()}


def attach(conf: ProxyConf, proxy: Any, stores: dict[str, Cache]) -> list[ConfigError]:
    """Check the proxy's ``filter cache``/``filter compression`` lines and set its compression filter."""
    errors: list[ConfigError] = []
    proxy.caches = stores
    for words in conf.settings.get("filter", []):
        if words[:1] == ("cache",):
            name = words[1] if len(words) > 1 else ""
            if len(words) > 2 or (name and name not in stores):
                errors.append(conf.line_of("filter").error(f"proxy '{conf.name}': 'filter cache' names no known cache "
                                              f"'{name}'.", did_you_mean(name, stores)))
        elif words[:1] == ("trace",):
            options = list(words[1:])
            if options[:1] == ["name"]:
                del options[:2]
            unknown = [o for o in options if o not in TRACE_OPTIONS]
            if unknown:
                at = conf.line_of("filter")
                errors.append(at.error(f"proxy '{conf.name}': 'filter trace': unknown option '{unknown[0]}'.",
                                       f"Expected: name <name>, {', '.join(TRACE_OPTIONS)}."))
        elif words[:1] == ("compression",) and len(words) > 1:
            errors.append(conf.line_of("filter").error(f"proxy '{conf.name}': 'filter compression' takes no argument."))
    lines = conf.settings.get("compression", [])
    if not lines:
        return errors
    settings = parse(lines)  # each line was checked as it was read
    if conf.mode == "http" and settings.algorithms:
        proxy.filters = (*(proxy.filters or ()), CompressionFilter(settings))
    return errors
