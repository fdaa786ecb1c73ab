"""Initialisation mode: build the Lua engine and run each file's body context."""

from __future__ import annotations

import os

from luaproxy.lua_api.engine import LuaEngine, LuaLimits
from luaproxy.lua_api.errors import LuaApiError
from luaproxy.lua_api.httpclient import TlsSettings
from luaproxy.lua_api.runtime import LuaError
from luaproxy.lua_api.samples import register_lua_samples
from luaproxy.worker.samples import PatternLibrary, SampleRegistry

from .config.errors import ConfigError, ConfigErrors
from .config.lexer import Line
from .config.model import GlobalSettings

DEFAULT_LUA_MAXMEM_MB = 256
"""Without ``tune.lua.maxmem`` (HAProxy: unlimited) a worker's Lua state may hold this much.

A Lua memory bomb otherwise grows a worker until the kernel's OOM killer picks
a process, maybe not the worker; 256 MB is far above what scripts that keep
per-transaction data need, and several workers times 256 MB still fits small
machines.  ``tune.lua.maxmem 0`` lifts the limit.
"""


def base_directory(settings: GlobalSettings, config_file: str) -> str:
    """Where relative paths start, as HAProxy's ``default-path`` says (the current directory by default)."""
    mode, _, origin = settings.default_path.partition(" ")
    config_dir = os.path.dirname(os.path.abspath(config_file)) if config_file else os.getcwd()
    return {"current": os.getcwd(), "config": config_dir, "parent": os.path.dirname(config_dir),
            "origin": origin}[mode]


def resolve_path(path: str, settings: GlobalSettings, line: Line) -> str:
    return path if os.path.isabs(path) else os.path.join(base_directory(settings, line.file), path)


def limits(tune: dict[str, str]) -> LuaLimits:
    """The tune.lua.* budgets; the parser already turned times into seconds."""
    defaults = LuaLimits()
    return LuaLimits(
        session_timeout=float(tune.get("tune.lua.session-timeout", defaults.session_timeout)),
        task_timeout=float(tune.get("tune.lua.task-timeout", defaults.task_timeout)),
        service_timeout=float(tune.get("tune.lua.service-timeout", defaults.service_timeout)),
        forced_yield=int(tune.get("tune.lua.forced-yield", defaults.forced_yield)),
    )


def boot(settings: GlobalSettings, logger: object, registry: SampleRegistry,
         library: PatternLibrary) -> LuaEngine:
    """Create the engine and run every ``lua-load`` body; then lua.NAME fetches and converters
    join the sample registry.  Errors name the config line."""
    maxmem = int(settings.tune.get("tune.lua.maxmem", DEFAULT_LUA_MAXMEM_MB))
    engine = LuaEngine(logger, registry, library, max_memory=maxmem * 1024 * 1024 if maxmem else None,
                       limits=limits(settings.tune),
                       call_durations=settings.tune.get("tune.lua.duration-histogram") == "on")
    for pattern, kind in settings.lua_paths:
        engine.runtime.prepend_path(pattern, kind)
    TlsSettings.configure(settings.ssl.get("httpclient.ssl.verify", "required") == "required",
                          settings.ssl.get("httpclient.ssl.ca-file", ""))
    errors = []
    for load in settings.lua_loads:
        path = resolve_path(load.path, settings, load.line)
        try:
            engine.load_file(path, load.path)
        except (LuaApiError, LuaError) as exc:
            message = f"'{load.line.words[0]}': failed to load Lua file '{load.path}': {exc}"
            errors.append(ConfigError(load.line.file, load.line.number, message))
    if errors:
        raise ConfigErrors(errors)
    register_lua_samples(engine, registry)
    return engine


def run_inits(engine: LuaEngine) -> None:
    """The init context, after the configuration is complete."""
    try:
        engine.run_inits()
    except LuaApiError as exc:
        raise ConfigErrors([ConfigError("", 0, str(exc))]) from None
