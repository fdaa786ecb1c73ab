"""``balance`` and ``hash-type`` words → a balancer; one class per algorithm lives in
:mod:`.algorithms` and :mod:`.hashed`.

Errors are ValueErrors worded as HAProxy words them; the config compiler adds
the file and line.  Words HAProxy ignores (``balance roundrobin x``) are
ignored here too, so its configurations load unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..proxy import Server
from ..samples.hashing import crc32, djb2, sdbm, wt6
from .algorithms import First, LeastConn, Random, RoundRobin, StaticRoundRobin
from .farm import Balancer
from .hashed import Header, Source, Uri, UrlParam

__all__ = ["ALGORITHMS", "Balancer", "RoundRobin", "make_balancer"]

ALGORITHMS = ("roundrobin", "static-rr", "leastconn", "first", "source", "uri", "url_param", "hdr(name)",
              "random")
HASH_FUNCTIONS: dict[str, Callable[[bytes], int]] = {"sdbm": sdbm, "djb2": djb2, "wt6": wt6, "crc32": crc32}
_CALL = re.compile(r"^([a-z_-]+)(?:\((.*)\))?$")
_NAMES = {RoundRobin: "roundrobin", StaticRoundRobin: "static-rr", LeastConn: "leastconn", First: "first",
          Random: "random", Source: "source", Uri: "uri", UrlParam: "url_param", Header: "hdr"}


def algorithm_name(balancer: Any) -> str:
    """The ``algo`` column of the stats: the balancer's algorithm as ``balance`` names it."""
    return _NAMES.get(type(balancer), "roundrobin")


def make_balancer(words: tuple[str, ...], servers: list[Server], options: Mapping[str, bool],
                  hash_type: tuple[str, ...] = ()) -> Balancer:
    """The balancer for ``balance <words>``; *options* are the proxy's (``allbackups``)."""
    if not words:
        raise ValueError("'balance' expects an algorithm.")
    match = _CALL.match(words[0])
    name, arg = (match.group(1), match.group(2)) if match else (words[0], None)
    all_backups = bool(options.get("allbackups"))
    hashing = _hashing(hash_type)
    if name in _SIMPLE and arg is None:
        return _SIMPLE[name](servers, all_backups)
    if name == "random":
        return Random(servers, all_backups, draws=_draws(arg))
    if name == "source" and arg is None:
        return Source(servers, all_backups, **hashing)
    if name == "uri" and arg is None:
        return Uri(servers, all_backups, **_uri_options(words[1:]), **hashing)
    if name == "url_param" and arg is None:
        return UrlParam(servers, all_backups, name=_url_param_name(words[1:]), **hashing)
    if name == "hdr" and arg is not None:
        if not arg:
            raise ValueError("balance hdr requires an http header field name.")
        return Header(servers, all_backups, name=arg, domain_only=_domain_only(words), **hashing)
    raise ValueError(f"unknown balance algorithm '{words[0]}'; expected one of {', '.join(ALGORITHMS)}.")


_SIMPLE: dict[str, Callable[[list[Server], bool], Balancer]] = {
    "roundrobin": RoundRobin,
    "static-rr": StaticRoundRobin,
    "leastconn": LeastConn,
    "first": First,
}


def _draws(arg: str | None) -> int:
    if arg is None:
        return 2
    if not arg.isdigit():
        raise ValueError(f"balance random : unexpected character in '{arg}'; expected a number of draws.")
    if int(arg) < 1:
        raise ValueError("balance random : number of draws must be at least 1.")
    return int(arg)


def _hashing(words: tuple[str, ...]) -> dict[str, Any]:
    """``hash-type map-based|consistent [sdbm|djb2|wt6|crc32 [avalanche]]``."""
    if not words:
        return {}
    if words[0] not in ("map-based", "consistent"):
        raise ValueError("'hash-type' only supports 'consistent' and 'map-based'.")
    function = words[1] if len(words) > 1 else "sdbm"
    if function not in HASH_FUNCTIONS:
        raise ValueError("'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.")
    if len(words) > 2 and words[2] != "avalanche":
        raise ValueError("'hash-type' only supports 'avalanche' as a modifier for hash functions.")
    return {"function": HASH_FUNCTIONS[function], "avalanche": len(words) > 2,
            "consistent": words[0] == "consistent"}


def _uri_options(words: tuple[str, ...]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    rest = list(words)
    while rest:
        word = rest.pop(0)
        if word in ("len", "depth"):
            value = rest[0] if rest else ""
            if not value.isdigit() or int(value) < 1:
                raise ValueError(f"balance uri : '{word}' expects a positive integer (got '{value}').")
            found["length" if word == "len" else "depth"] = int(rest.pop(0))
        elif word in ("whole", "path-only"):
            found[word.replace("-", "_")] = True
        else:
            raise ValueError(f"balance uri only accepts parameters 'len', 'depth', 'path-only', and 'whole' "
                             f"(got '{word}').")
    return found


def _url_param_name(words: tuple[str, ...]) -> str:
    if not words:
        raise ValueError("balance url_param requires an URL parameter name.")
    if len(words) > 1:
        if words[1] == "check_post":
            raise ValueError("balance url_param: 'check_post' (hashing a POST body) is not supported.")
        raise ValueError(f"balance url_param only accepts 'check_post' modifier (got '{words[1]}').")
    return words[0]


def _domain_only(words: tuple[str, ...]) -> bool:
    for word in words[1:]:
        if word != "use_domain_only":
            raise ValueError(f"balance {words[0]} only accepts 'use_domain_only' modifier (got '{word}').")
    return len(words) > 1
