"""LUA_API.md is generated from the live Lua tables and must be current."""

from __future__ import annotations

from luaproxy.lua_api.reference import REFERENCE_PATH, build_engine, reference_markdown


def test_reference_is_current():
    text = reference_markdown(build_engine())
    for needle in ("| `reply` | `txn:reply([table])` | 2.6 |", "| `data` | `channel:data([offset], [length])` | 2.6 |",
                   "| `register_cli` |", "## HTTPClient", "## AppletTCP", "## Server", "## Listener"):
        assert needle in text, needle
    assert REFERENCE_PATH.read_text() == text, "regenerate with: python -m luaproxy.lua_api.reference"


def test_every_documented_2_6_name_is_listed_or_explained():
    from luaproxy.lua_api.reference import HAPROXY_2_6, MISSING

    text = reference_markdown(build_engine())
    listed = set()
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:]
        elif line.startswith("| `"):
            listed.add(f"{section}.{line.split('`')[1]}")
    missing = {name for name in HAPROXY_2_6 if name not in listed and name.split(".")[0] not in MISSING}
    assert not missing
