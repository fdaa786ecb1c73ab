"""Initialisation mode: build the Lua engine and run each file's body context."""

from __future__ import annotations

import os

from luaproxy.lua_api.engine import LuaEngine, LuaLimits
from luaproxy.lua_api.errors import LuaApiError
from luaproxy.lua_api.runtime import LuaError

from .config.errors import ConfigError, ConfigErrors
from .config.lexer import Line
from .config.model import GlobalSettings


def resolve_path(path: str, settings: GlobalSettings, line: Line) -> str:
    """A relative path as HAProxy's ``default-path`` says (the current directory by default)."""
    if os.path.isabs(path):
        return path
    mode, _, origin = settings.default_path.partition(" ")
    config_dir = os.path.dirname(os.path.abspath(line.file)) if line.file else os.getcwd()
    base = {"current": os.getcwd(), "config": config_dir, "parent": os.path.dirname(config_dir),
            "origin": origin}[mode]
    return os.path.join(base, path)


def limits(tune: dict[str, str]) -> LuaLimits:
    """The tune.lua.* budgets; the parser already turned times into seconds."""
    defaults = LuaLimits()
    return LuaLimits(
        session_timeout=float(tune.get("tune.lua.session-timeout", defaults.session_timeout)),
        task_timeout=float(tune.get("tune.lua.task-timeout", defaults.task_timeout)),
        service_timeout=float(tune.get("tune.lua.service-timeout", defaults.service_timeout)),
        forced_yield=int(tune.get("tune.lua.forced-yield", defaults.forced_yield)),
    )


def boot(settings: GlobalSettings, logger: object) -> LuaEngine:
    """Create the engine and run every ``lua-load`` body; errors name the config line."""
    maxmem = settings.tune.get("tune.lua.maxmem")
    engine = LuaEngine(logger, max_memory=int(maxmem) * 1024 * 1024 if maxmem else None,
                       limits=limits(settings.tune))
    for pattern, kind in settings.lua_paths:
        engine.runtime.prepend_path(pattern, kind)
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
    return engine


def run_inits(engine: LuaEngine) -> None:
    """The init context, after the configuration is complete."""
    try:
        engine.run_inits()
    except LuaApiError as exc:
        raise ConfigErrors([ConfigError("", 0, str(exc))]) from None
