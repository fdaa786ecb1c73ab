"""Cookie persistence: ``cookie NAME insert|rewrite|prefix [indirect] [nocache] [postonly] [preserve] …``.

A request whose persistence cookie names a server (its ``cookie VALUE``) goes
to that server while it is usable (or, with ``option persist``, even when it
is down).  The response then gets the cookie inserted (insert), the server's
own cookie rewritten (rewrite) or prefixed (prefix).  Each transaction keeps
the two cookie letters of haproxy's termination state (``%tsc``): what the
client sent (N none, I invalid, D down server, V valid) and what was done to
the server's cookie (N nothing, I inserted, P preserved, R rewritten,
D deleted).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Any

import xxhash

PREFIX_DELIMITER = "~"
DATE_DELIMITER = "|"


@dataclass(slots=True)
class CookieConf:
    """A backend's ``cookie`` line."""

    name: str
    mode: str = ""  # insert, rewrite, prefix, or "" (the server sets it, we only read it)
    indirect: bool = False
    nocache: bool = False
    postonly: bool = False
    preserve: bool = False
    httponly: bool = False
    secure: bool = False
    dynamic: bool = False
    domains: list[str] = field(default_factory=list)
    attrs: list[str] = field(default_factory=list)
    maxidle: int = 0
    maxlife: int = 0

    def set_cookie(self, value: str) -> str:
        """The Set-Cookie value inserted for a server whose cookie is *value*."""
        parts = [f"{self.name}={value}", "path=/", *(f"domain={d}" for d in self.domains)]
        parts += ["HttpOnly"] * self.httponly + ["Secure"] * self.secure + self.attrs
        return "; ".join(parts)


FLAGS = ("indirect", "nocache", "postonly", "preserve", "httponly", "secure", "dynamic")
MODES = ("insert", "rewrite", "prefix")


def parse_cookie_line(words: list[str], parse_seconds: Any) -> CookieConf:
    """The words after ``cookie``; raises ValueError with what is wrong."""
    if not words:
        raise ValueError("'cookie' expects a cookie name")
    conf = CookieConf(words[0])
    rest = list(words[1:])
    while rest:
        word = rest.pop(0)
        if word in MODES:
            if conf.mode and conf.mode != word:
                raise ValueError(f"'{conf.mode}' and '{word}' are incompatible")
            conf.mode = word
        elif word in FLAGS:
            setattr(conf, word, True)
        elif word in ("domain", "attr", "maxidle", "maxlife"):
            if not rest:
                raise ValueError(f"'{word}' expects a value")
            value = rest.pop(0)
            if word == "domain":
                conf.domains.append(value)
            elif word == "attr":
                if any(c in value for c in ";\r\n"):
                    raise ValueError("'attr' value must not contain ';' or line breaks")
                conf.attrs.append(value)
            else:
                setattr(conf, word, int(parse_seconds(value)))
        else:
            raise ValueError(f"unknown option '{word}' (expected rewrite, insert, prefix, indirect, nocache, "
                             "postonly, preserve, httponly, secure, domain, maxidle, maxlife, dynamic or attr)")
    if conf.preserve and conf.mode != "insert" and not conf.indirect:
        raise ValueError("'preserve' requires at least 'insert' or 'indirect'")
    if conf.postonly and conf.mode != "insert":
        raise ValueError("'postonly' only makes sense with 'insert'")
    return conf


def dynamic_cookie(key: str, host: str, port: int) -> str | None:
    """``cookie … dynamic`` with ``dynamic-cookie-key``: a server's cookie made from the key, its address and
    port as haproxy makes it (XXH64 of key, packed address, 32-bit big-endian port); None when not an IP."""
    try:
        packed = ipaddress.ip_address(host).packed
    except ValueError:
        return None
    return f"{xxhash.xxh64(key.encode() + packed + struct.pack('!I', port), seed=0).intdigest():016x}"


@dataclass(slots=True)
class CookieState:
    """One transaction's persistence: the server the cookie chose and the two %tsc letters."""

    server: Any = None
    client: str = "N"
    action: str = "N"

    @property
    def flags(self) -> str:
        return self.client + self.action


def cookie_server(backend: Any, txn: Any) -> Any:
    """The server the request's persistence cookie names, when persistence applies (else None).
    The request's cookie is read (and stripped as the mode asks) once per transaction."""
    conf = backend.cookie
    state = txn.cookie
    if state is None:
        state = txn.cookie = _read_request(conf, backend, txn.request)
    server = state.server
    if server is None:
        return None
    if server.usable or backend.options.get("persist"):
        return server
    return None


def _read_request(conf: CookieConf, backend: Any, request: Any) -> CookieState:
    state = CookieState()
    if request is None:
        return state
    headers = request.headers
    strip = conf.mode == "insert" and conf.indirect
    for index, (name, value) in enumerate(list(headers.fields)):
        if name.lower() != "cookie":
            continue
        kept = []
        for part in value.split(";"):
            cname, eq, cvalue = part.strip().partition("=")
            if cname != conf.name or not eq or state.client != "N":
                kept.append(part.strip())
                continue
            server_id = cvalue
            if conf.mode == "prefix":
                server_id, delim, rest = cvalue.partition(PREFIX_DELIMITER)
                if delim:
                    kept.append(f"{cname}={rest}")
                else:
                    server_id = ""
                    kept.append(part.strip())
            elif not strip:
                kept.append(part.strip())
            state.client, state.server = _judge(backend, server_id.split(DATE_DELIMITER, 1)[0])
        headers.fields[index] = (name, "; ".join(kept))
    headers.fields[:] = [(n, v) for n, v in headers.fields if n.lower() != "cookie" or v]
    return state


def _judge(backend: Any, server_id: str) -> tuple[str, Any]:
    for server in backend.servers:
        if server.cookie is not None and server.cookie == server_id:
            if server.usable or backend.options.get("persist") or server.admin_state == "DRAIN":
                return "V", server
            return "D", server
    return "I", None


def on_response(backend: Any, txn: Any, head: Any) -> None:
    """The server's Set-Cookie handled as the mode says, then ours inserted when the client needs it."""
    conf = backend.cookie
    state = txn.cookie or CookieState()
    txn.cookie = state
    server = txn.server
    own = server.cookie if server is not None else None
    present = False
    for index, (name, value) in enumerate(list(head.headers.fields)):
        if name.lower() != "set-cookie":
            continue
        cname, eq, cvalue = value.partition("=")
        if cname.strip() != conf.name or not eq:
            continue
        present = True
        if conf.preserve:
            state.action = "P"
        elif conf.mode == "insert" or (conf.indirect and state.client == "V"):
            head.headers.fields[index] = ("", "")
            state.action = "D"
        elif conf.mode == "rewrite" and own is not None:
            attrs = cvalue.partition(";")[2]
            head.headers.fields[index] = (name, f"{conf.name}={own}" + (f";{attrs}" if attrs else ""))
            state.action = "R"
        elif conf.mode == "prefix" and own is not None:
            head.headers.fields[index] = (name, f"{conf.name}={own}{PREFIX_DELIMITER}{cvalue}")
            state.action = "R"
    head.headers.fields[:] = [f for f in head.headers.fields if f[0]]
    if conf.mode != "insert" or own is None or (present and conf.preserve):
        return
    if conf.postonly and txn.request is not None and txn.request.method != "POST":
        return
    if state.client == "V" and state.server is server and conf.indirect:
        return
    head.headers.add("Set-Cookie", conf.set_cookie(own))
    state.action = "I"
    if conf.nocache:
        head.headers.add("Cache-control", 'private')
