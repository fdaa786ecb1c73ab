"""core's helpers that touch no transaction: tokenize, now, HTTP dates, addresses, get_info.

Each returns what haproxy 2.6 returns for the same input (checked with the
same script): nil for an unparsable date or address, a table of strings for
tokenize, {sec, usec} for now.
"""

from __future__ import annotations

import calendar
import ipaddress
import os
import resource
import time
from typing import Any

from luaproxy.master.management.formats import uptime_info
from luaproxy.master.management.typed import INFO_TAGS
from luaproxy.master.version import VERSION

from . import checks
from .errors import LuaApiError

IMF = "%a, %d %b %Y %H:%M:%S GMT"
RFC850 = "%A, %d-%b-%y %H:%M:%S GMT"
ASCTIME = "%a %b %d %H:%M:%S %Y"
STARTED = time.time()


def tokenize(text: Any, separators: Any, noblank: Any = False) -> list[str]:
    """Split *text* on any of *separators*; with *noblank*, drop the empty pieces."""
    text = checks.string(text, "tokenize", 1)
    separators = checks.string(separators, "tokenize", 2)
    pieces, current = [], []
    for char in text:
        if char in separators:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return [p for p in pieces if p] if noblank else pieces


def now() -> tuple[int, int]:
    stamp = time.time()
    return int(stamp), int(stamp % 1 * 1_000_000)


def _parse_date(text: Any, function: str, formats: tuple[str, ...]) -> int | None:
    value = checks.string(text, function, 1)
    for layout in formats:
        try:
            parsed = time.strptime(" ".join(value.split()) if layout is ASCTIME else value, layout)
        except ValueError:
            continue
        return calendar.timegm(parsed)
    return None


def imf_date(text: Any) -> int | None:
    return _parse_date(text, "imf_date", (IMF,))


def rfc850_date(text: Any) -> int | None:
    return _parse_date(text, "rfc850_date", (RFC850,))


def asctime_date(text: Any) -> int | None:
    return _parse_date(text, "asctime_date", (ASCTIME,))


def http_date(text: Any) -> int | None:
    return _parse_date(text, "http_date", (IMF, RFC850, ASCTIME))


class Network:
    """What core.parse_addr returns (a userdata in haproxy): an address and its network length."""

    __slots__ = ("network",)

    def __init__(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
        self.network = network

    def __repr__(self) -> str:
        return f"addr {self.network.with_prefixlen}"


def parse_addr(text: Any) -> Network | None:
    try:
        return Network(ipaddress.ip_network(checks.string(text, "parse_addr", 1), strict=False))
    except ValueError:
        return None


def match_addr(first: Any, second: Any) -> bool:
    """True when both addresses agree on the bits of the shorter of their two networks."""
    if not isinstance(first, Network) or not isinstance(second, Network):
        raise LuaApiError("match_addr: both arguments must come from core.parse_addr()")
    a, b = first.network, second.network
    if a.version != b.version:
        return False
    prefix = min(a.prefixlen, b.prefixlen)
    return a.supernet(new_prefix=prefix) == b.supernet(new_prefix=prefix)


def worker_facts(context: Any) -> dict[str, Any]:
    """core.get_info()'s figures of one worker (a WorkerContext): its slot, connections and requests."""
    frontends = [p.fe_counters for p in context.all_proxies if p.has_frontend]
    return {"Nbproc": context.nbproc, "Process_num": context.index, "Maxconn": context.maxconn,
            "CurrConns": sum(c.current for c in frontends), "CumConns": sum(c.total for c in frontends),
            "CumReq": sum(c.requests for c in frontends), "Stopping": int(context.stopping),
            "Uptime_sec": int(time.time() - context.started)}


def get_info(facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """``show info``'s fields for this process, every one of haproxy 2.6's names (those luaproxy has no
    figure for read 0, or "" for a string)."""
    uptime = int(time.time() - STARTED)
    ulimit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    info: dict[str, Any] = {name: "" if kind == "str" else 0 for name, (_, _, kind) in INFO_TAGS.items()}
    info.update({"Name": "luaproxy", "Version": VERSION, "Build info": VERSION, "Nbthread": 1, "Nbproc": 1,
                 "Process_num": 1, "Pid": os.getpid(), "Uptime_sec": uptime,
                 "Uptime": uptime_info(uptime),
                 "Start_time_sec": int(STARTED), "Idle_pct": 100, "Ulimit-n": ulimit, "Maxsock": ulimit,
                 "node": os.uname().nodename, "Tainted": "0"})
    info.update(facts or {})
    info["Hard_maxconn"] = info["Hard_maxconn"] or info["Maxconn"]
    return info


def install(runtime: Any, core: Any, facts: Any = None) -> None:
    """Add these functions to the Lua ``core`` table; *facts* (a callable) adds the process's figures."""
    def tokenize_table(text: Any, separators: Any, noblank: Any = False) -> Any:
        return runtime.table(*tokenize(text, separators, noblank))

    def now_table() -> Any:
        sec, usec = now()
        return runtime.table_from({"sec": sec, "usec": usec})

    def info_table() -> Any:
        return runtime.table_from(get_info(facts() if facts is not None else None))

    functions = {"tokenize": tokenize_table, "now": now_table, "get_info": info_table, "http_date": http_date,
                 "imf_date": imf_date, "rfc850_date": rfc850_date, "asctime_date": asctime_date,
                 "parse_addr": parse_addr, "match_addr": match_addr}
    for name, function in functions.items():
        core[name] = runtime.func(function)
    core.thread = 0
