"""Errors raised by the Lua-facing API; the prelude rethrows them as Lua strings."""


class LuaApiError(Exception):
    """Misuse of the Lua API (bad argument, wrong context); becomes a Lua error."""
