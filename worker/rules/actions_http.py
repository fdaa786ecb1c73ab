"""Actions of ``http-request`` and ``http-response`` rules.

Each keyword is declared once in ``REQUEST``/``RESPONSE`` with its parser.
Values written as log-format strings (``%[expr]``) are compiled by the
environment's sample engine; Lua actions and services come from the
environment as plain callables, so this module never imports Lua.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..filters.cache_rules import action as cache_action
from ..http.message import Headers
from ..http.pages import Reply, error_page
from ..http.pages import reason as default_reason
from . import actions_http_flow, actions_resolve, actions_stick, rewrites
from .errors import RuleError, unknown_action
from .verdict import ACCEPT, CONTINUE, DONE, ERROR, REJECT, Verdict

Action = Callable[[Any], Verdict]
Parser = Callable[[str, tuple[str, ...], "HttpActionEnv"], Action]


class Renderer(Protocol):
    def render(self, ctx: Any) -> str: ...


class HttpActionEnv(Protocol):
    """What HTTP action parsers need from the configuration being compiled."""

    def log_format(self, text: str) -> Renderer: ...

    def set_var(self, name: str, expression: str, fmt: bool = False) -> Action: ...

    def unset_var(self, name: str) -> Action: ...

    def pattern_update(self, operation: str, file: str, key: Renderer, value: Renderer | None) -> Action: ...

    def lua_action(self, kind: str, name: str, args: tuple[str, ...]) -> Action: ...

    def lua_function_action(self, name: str, args: tuple[str, ...]) -> Action: ...

    def service(self, name: str) -> Callable[[Any, Any], None]: ...

    def http_errors(self, name: str) -> dict[int, str] | None: ...

    def sample(self, expression: str) -> Any: ...

    def capture_slot(self) -> int | None: ...

    def cache(self, name: str) -> Any: ...


def _args(keyword: str, args: tuple[str, ...], count: int, usage: str) -> tuple[str, ...]:
    if len(args) != count:
        raise RuleError(f"'{keyword}' expects {usage}.")
    return args


def _allow(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
    _args("allow", args, 0, "no argument")
    return lambda txn: ACCEPT


def _deny(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
    status = 403 if kind == "http-req" else 502
    rest = list(args)
    if rest[:1] in (["deny_status"], ["status"]):
        if len(rest) < 2 or not rest[1].isdigit():
            raise RuleError(f"'deny {rest[0]}' expects a status code.")
        status = int(rest[1])
        rest = rest[2:]
    reply = _reply_builder(status, rest, env, "deny") if rest else None

    def deny(txn: Any) -> Verdict:
        txn.reply = reply(txn) if reply else Reply(status, errorfile=True)
        return REJECT

    return deny


def _return(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
    rest = list(args)
    status = 200
    if rest[:1] == ["status"]:
        if len(rest) < 2 or not rest[1].isdigit() or not 200 <= int(rest[1]) <= 599:
            raise RuleError("'return status' expects a status code between 200 and 599.")
        status = int(rest[1])
        rest = rest[2:]
    made = _reply_maker(status, rest, env, "return")
    if type(made) is Reply:
        def return_fixed(txn: Any) -> Verdict:
            txn.reply = made  # the same Reply for every request: no builder to call
            return DONE

        return return_fixed
    build = made

    def return_(txn: Any) -> Verdict:
        txn.reply = build(txn)
        return DONE

    return return_


def http_error_reply(status: int, words: tuple[str, ...], env: HttpActionEnv) -> Callable[[Any], Reply]:
    """``http-error status <code> [reply options]``: the proxy's own reply for this status."""
    return _reply_builder(status, list(words), env, "http-error")


def _raw_page(status: int, word: str, value: str, env: HttpActionEnv) -> bytes | None:
    """The page of ``errorfile FILE`` or of ``errorfiles SECTION`` for *status* (None: haproxy's default)."""
    if word == "errorfiles":
        pages = env.http_errors(value)
        if pages is None:
            raise RuleError(f"'errorfiles': unknown http-errors section '{value}'.")
        if status not in pages:
            return None
        value = pages[status]
    try:
        return Path(value).read_bytes()
    except OSError as exc:
        raise RuleError(f"'{word}': cannot read '{value}' ({exc.strerror}).") from None


def _rendered(headers: list[tuple[str, Renderer]], txn: Any) -> list[tuple[str, str]]:
    """A reply's ``hdr`` lines; one whose value renders empty is left out, as haproxy does."""
    return [(name, value) for name, renderer in headers if (value := renderer.render(txn))]


def _reply_builder(status: int, words: list[str], env: HttpActionEnv, keyword: str) -> Callable[[Any], Reply]:
    """``[content-type T] [string S | lf-string F | file F | lf-file F] [hdr N F]*`` → a reply maker."""
    made = _reply_maker(status, words, env, keyword)
    if type(made) is Reply:
        return lambda txn: made
    return made


def _reply_maker(status: int, words: list[str], env: HttpActionEnv,
                 keyword: str) -> Reply | Callable[[Any], Reply]:
    """What _reply_builder makes: the Reply itself when nothing in it depends on the request."""
    content_type: str | None = None
    default_page = False
    body: Renderer | bytes | None = None
    headers: list[tuple[str, Renderer]] = []
    while words:
        word = words.pop(0)
        if word in ("content-type", "string", "lf-string", "file", "lf-file") and not words:
            raise RuleError(f"'{keyword} {word}' expects a value.")
        if word == "content-type":
            content_type = words.pop(0)
        elif word == "string":
            body = words.pop(0).encode("latin-1")
        elif word == "lf-string":
            body = env.log_format(words.pop(0))
        elif word in ("file", "lf-file"):
            path = words.pop(0)
            try:
                text = Path(path).read_bytes()
            except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
                raise RuleError(f"'{keyword} {word}': cannot read '{path}' "
                                f"({getattr(exc, 'strerror', None) or exc}).") from None
            body = text if word == "file" else env.log_format(text.decode("latin-1"))
        elif word == "hdr":
            if len(words) < 2:
                raise RuleError(f"'{keyword} hdr' expects a name and a value.")
            headers.append((words.pop(0), env.log_format(words.pop(0))))
        elif word == "default-errorfiles":
            default_page = True
        elif word in ("errorfile", "errorfiles"):
            if not words:
                raise RuleError(f"'{keyword} {word}' expects a value.")
            raw = _raw_page(status, word, words.pop(0), env)
            return lambda txn: Reply(status, close=True, raw=raw) if raw is not None else error_page(status)
        else:
            raise RuleError(f"'{keyword}': unexpected '{word}'.",
                            "Expected content-type, string, lf-string, file, lf-file or hdr.")
    if body is not None and content_type is None:
        raise RuleError(f"'{keyword}': a body needs a 'content-type'.")
    if type(body) is bytes and not headers:
        # Nothing in it depends on the request: one Reply for every request, its bytes written once (Reply.whole).
        return Reply(status, [("content-type", content_type or "")] if body else [], body)

    def build(txn: Any) -> Reply:
        if body is None:
            if keyword == "http-error" and default_page:
                return error_page(status)
            if keyword == "deny" or default_page:
                return Reply(status, errorfile=True)
            return Reply(status, _rendered(headers, txn))
        data = body if isinstance(body, bytes) else body.render(txn).encode("latin-1")
        extra = [("content-type", content_type or "")] if data else []  # no type for an empty body
        extra += _rendered(headers, txn)
        return Reply(status, extra, data)

    return build


REDIRECT_CODES = (301, 302, 303, 307, 308)


def _redirect(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
    """``redirect location|prefix|scheme <fmt> [code N] [drop-query] [append-slash] [ignore-empty] ...``,
    the words in any order, as haproxy reads them."""
    mode, fmt = "", ""
    code, drop_query, append_slash, ignore_empty = 302, False, False, False
    rest = list(args)
    while rest:
        word = rest.pop(0)
        if word in ("location", "prefix", "scheme") and rest:
            mode, fmt = word, rest.pop(0)
        elif word == "code":
            if not rest or not rest[0].isdigit() or int(rest[0]) not in REDIRECT_CODES:
                raise RuleError(f"'redirect code' expects one of {', '.join(map(str, REDIRECT_CODES))}.")
            code = int(rest.pop(0))
        elif word == "drop-query":
            drop_query = True
        elif word == "append-slash":
            append_slash = True
        elif word == "ignore-empty":
            ignore_empty = True
        elif word in ("set-cookie", "clear-cookie") and rest:
            rest.pop(0)
        else:
            raise RuleError(f"'redirect': unexpected '{word}'.",
                            "Expected location, prefix or scheme, code, drop-query, append-slash or ignore-empty.")
    if not mode:
        raise RuleError("'redirect' expects 'location', 'prefix' or 'scheme' and a value.")
    target = env.log_format(fmt)

    def redirect(txn: Any) -> Verdict:
        value = target.render(txn)
        if ignore_empty and not value:
            return CONTINUE
        request = txn.request
        if mode == "location":
            location = value
        else:
            path = request.path if drop_query or request.query is None else f"{request.path}?{request.query}"
            if append_slash and not request.path.endswith("/"):
                path = request.path + "/" + ("" if drop_query or request.query is None else f"?{request.query}")
            if mode == "prefix":
                location = ("" if value == "/" else value) + path
            else:
                host = request.headers.get_all("host")
                location = f"{value}://{host[-1] if host else ''}{path}"
        permanent = code in (301, 308)
        txn.reply = Reply(code, [("location", location)] + ([] if permanent else [("cache-control", "no-cache")]))
        return DONE

    return redirect


def _header_action(operation: str) -> Parser:
    def parse(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
        name, value = _args(operation, args, 2, "a header name and a value")
        fmt = env.log_format(value)

        def act(txn: Any) -> Verdict:
            headers = _message(txn, kind).headers
            text = fmt.render(txn)
            side = "req" if kind == "http-req" else "res"
            freed = sum(rewrites.header_cost(name, v) for v in headers.get_all(name)) \
                if operation == "set-header" else 0
            if not rewrites.fits(txn, side, rewrites.header_cost(name, text) - freed):
                return ERROR if rewrites.strict(txn, side) else CONTINUE
            getattr(headers, "set" if operation == "set-header" else "add")(name, text)
            return CONTINUE

        return act

    return parse


_NAME_MATCH: dict[str, Callable[[str], Callable[[str], bool]]] = {
    "str": lambda p: lambda n: n.lower() == p.lower(),
    "beg": lambda p: lambda n: n.lower().startswith(p.lower()),
    "end": lambda p: lambda n: n.lower().endswith(p.lower()),
    "sub": lambda p: lambda n: p.lower() in n.lower(),
    "reg": lambda p: _regex(p).search,
}


def _del_header(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
    """del-header <name> [-m str|beg|end|sub|reg]: every field whose name matches goes."""
    if len(args) not in (1, 3) or (len(args) == 3 and (args[1] != "-m" or args[2] not in _NAME_MATCH)):
        raise RuleError("'del-header' expects a header name and optionally '-m str|beg|end|sub|reg'.")
    name = args[0]
    if len(args) == 1 or args[2] == "str":

        def act(txn: Any) -> Verdict:
            _message(txn, kind).headers.remove(name)
            return CONTINUE

        return act
    matches = _NAME_MATCH[args[2]](name)

    def act_matching(txn: Any) -> Verdict:
        headers: Headers = _message(txn, kind).headers
        headers.fields[:] = [(n, v) for n, v in headers.fields if not matches(n)]
        return CONTINUE

    return act_matching


def _replace(operation: str) -> Parser:
    def parse(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
        name, pattern, replacement = _args(operation, args, 3, "a header name, a regex and a replacement")
        regex = _regex(pattern)
        fmt = env.log_format(replacement)

        def act(txn: Any) -> Verdict:
            headers: Headers = _message(txn, kind).headers
            method = headers.replace_full if operation == "replace-header" else headers.replace_value
            method(name, regex, fmt.render(txn))
            return CONTINUE

        return act

    return parse


def _set_pathq(request: Any, pathq: str) -> None:
    path, mark, query = pathq.partition("?")
    request.set_path(path)
    request.set_query(query if mark else "")


_URI_PARTS: dict[str, tuple[Callable[[Any], str], Callable[[Any, str], None]]] = {
    "replace-path": (lambda r: r.path, lambda r, v: r.set_path(v)),
    "replace-pathq": (lambda r: r.path + ("" if r.query is None else "?" + r.query), _set_pathq),
    "replace-uri": (lambda r: r.target, lambda r, v: r.set_uri(v)),
}


def _replace_uri_part(operation: str) -> Parser:
    """replace-path|replace-pathq|replace-uri <regex> <fmt>: when the part matches, it becomes <fmt>
    with \\1... replaced by the groups."""
    get, put = _URI_PARTS[operation]

    def parse(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
        pattern, replacement = _args(operation, args, 2, "a regex and a replacement")
        regex = _regex(pattern)
        fmt = env.log_format(replacement)

        def act(txn: Any) -> Verdict:
            request = txn.request
            match = regex.search(get(request))
            if match:
                put(request, re.sub(r"\\([0-9])", lambda g: _group(match, int(g.group(1))), fmt.render(txn)))
            return CONTINUE

        return act

    return parse


def _group(match: re.Match[str], number: int) -> str:
    return (match.group(number) or "") if number <= (match.re.groups or 0) else ""


def _regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise RuleError(f"invalid regex '{pattern}': {exc}.") from None


def _request_setter(operation: str) -> Parser:
    def parse(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
        (value,) = _args(operation, args, 1, "a value")
        fmt = env.log_format(value)

        def act(txn: Any) -> Verdict:
            request, text = txn.request, fmt.render(txn)
            if operation == "set-path":
                request.set_path(text)
            elif operation == "set-query":
                request.set_query(text)
            elif operation == "set-pathq":
                _set_pathq(request, text)
            elif operation == "set-method":
                request.method = text
            else:
                request.set_uri(text)
            return CONTINUE

        return act

    return parse


_TIME = re.compile(r"^\d+(us|ms|s|m|h|d)?$")
_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1e-3}


def _set_timeout(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
    """set-timeout server|tunnel <time | expression in ms>: this transaction's timeout."""
    if len(args) != 2 or args[0] not in ("server", "tunnel"):
        raise RuleError("'set-timeout' expects 'server' or 'tunnel' and a time or a sample expression.")
    name, value = args
    constant = _TIME.match(value)
    if constant:
        seconds = int(value.rstrip("usmhd")) * _TIME_UNITS[constant.group(1)]

        def set_constant(txn: Any) -> Verdict:
            txn.set_timeout(name, seconds)
            return CONTINUE

        return set_constant
    expr = env.sample(value)

    def set_from_sample(txn: Any) -> Verdict:
        smp = expr.evaluate(txn)
        if smp is not None and isinstance(smp.value, int) and smp.value > 0:
            txn.set_timeout(name, smp.value / 1000)
        return CONTINUE

    return set_from_sample


def _wait_for_body(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
    """wait-for-body time <time> [at-least <bytes>]: hold the message until its body is complete,
    <bytes> came or the buffer is full; past <time> the request gets a 408, the response a 504."""
    words = list(args)
    if len(words) not in (2, 4) or words[0] != "time" or not (constant := _TIME.match(words[1])) \
            or (len(words) == 4 and (words[2] != "at-least" or not words[3].isdigit())):
        raise RuleError("'wait-for-body' expects 'time <time>' and optionally 'at-least <bytes>'.")
    seconds = int(words[1].rstrip("usmhd")) * _TIME_UNITS[constant.group(1)]
    at_least = int(words[3]) if len(words) == 4 else None
    side, status = ("req", 408) if kind == "http-req" else ("res", 504)

    def act(txn: Any) -> Verdict:
        if txn.http_stream is None or txn.http_stream.wait_body(txn, side, seconds, at_least):
            return CONTINUE
        txn.reply = Reply(status, errorfile=True, close=True)
        return DONE

    return act


def set_address(kind: str, args: tuple[str, ...], env: HttpActionEnv, field: str = "") -> Action:
    """set-src|set-dst <expr> (an address) and set-src-port|set-dst-port <expr>: what fetches and
    logs see as the client's source or destination from now on."""
    if len(args) != 1:
        raise RuleError(f"'set-{field.replace('_', '-')}' expects a sample expression.")
    expr = env.sample(args[0])
    is_port = field.endswith("_port")

    def act(txn: Any) -> Verdict:
        smp = expr.evaluate(txn)
        if smp is None:
            return CONTINUE
        if is_port:
            text = str(smp.value).strip()
            if text.isdigit() and 0 <= int(text) <= 65535:
                setattr(txn, field, int(text))
            return CONTINUE
        value = smp.value if isinstance(smp.value, bytes) and len(smp.value) in (4, 16) else str(smp.value).strip()
        with contextlib.suppress(ValueError):
            setattr(txn, field, str(ipaddress.ip_address(value)))  # an address sample is packed bytes
        return CONTINUE

    return act


def _capture(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
    """capture <expr> len <n> (a new request slot) | id <n> (a declared slot): the sample's text,
    cut to the slot's length, for %hr and capture.req.hdr()/capture.res.hdr()."""
    side = "request" if kind == "http-req" else "response"
    if len(args) != 3 or args[1] not in ("len", "id") or not args[2].isdigit() \
            or (kind != "http-req" and args[1] == "len"):
        raise RuleError("'capture' expects a sample expression then 'len <length>' (requests) or 'id <slot>'.")
    expr = env.sample(args[0])
    slot = env.capture_slot() if args[1] == "len" else int(args[2])
    if slot is None:
        raise RuleError("'capture': no capture slot for this rule.")

    def act(txn: Any) -> Verdict:
        slots = txn.captures.get(side)
        smp = expr.evaluate(txn)
        if slots is not None and slot < len(slots) and smp is not None:
            slots[slot] = str(smp.value)[: txn.frontend.header_captures[side][slot][1]]
        return CONTINUE

    return act


def _set_status(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
    if not args or not args[0].isdigit() or not 100 <= int(args[0]) <= 999:
        raise RuleError("'set-status' expects a status code.")
    status = int(args[0])
    reason = None
    if len(args) == 3 and args[1] == "reason":
        reason = args[2]
    elif len(args) != 1:
        raise RuleError("'set-status' expects a status code and optionally 'reason <text>'.")

    def act(txn: Any) -> Verdict:
        txn.response.status = status
        txn.response.reason = reason if reason is not None else default_reason(status)
        return CONTINUE

    return act


def _use_service(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
    (name,) = _args("use-service", args, 1, "a service name")
    service = env.service(name)
    applet = "<PROMEX>" if name == "prometheus-exporter" else f"<{name}>"

    def act(txn: Any) -> Verdict:
        txn.service = service
        txn.applet = applet
        return DONE

    return act


def _lua_function(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
    if not args:
        raise RuleError("'lua' expects the name of a global Lua function.", "Write 'lua <function>'.")
    return env.lua_function_action(args[0], args[1:])


def _message(txn: Any, kind: str) -> Any:
    return txn.request if kind == "http-req" else txn.response


def _strict_mode(kind: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
    """strict-mode on|off: whether a rewrite that does not fit fails the transaction (500) or is skipped."""
    if len(args) != 1 or args[0] not in ("on", "off"):
        raise RuleError("'strict-mode' expects 'on' or 'off'.")
    side, on = ("req" if kind == "http-req" else "res"), args[0] == "on"

    def act(txn: Any) -> Verdict:
        rewrites.set_strict(txn, side, on)
        return CONTINUE

    return act


COMMON: dict[str, Parser] = {
    "allow": _allow,
    "strict-mode": _strict_mode,
    "deny": _deny,
    "set-header": _header_action("set-header"),
    "add-header": _header_action("add-header"),
    "del-header": _del_header,
    "replace-header": _replace("replace-header"),
    "replace-value": _replace("replace-value"),
    "lua": _lua_function,
}
REQUEST: dict[str, Parser] = {
    **COMMON,
    "return": _return,
    "redirect": _redirect,
    "set-path": _request_setter("set-path"),
    "set-query": _request_setter("set-query"),
    "set-pathq": _request_setter("set-pathq"),
    "set-timeout": _set_timeout,
    "capture": _capture,
    "set-src": lambda kind, args, env: set_address(kind, args, env, "src"),
    "set-dst": lambda kind, args, env: set_address(kind, args, env, "dst"),
    "set-src-port": lambda kind, args, env: set_address(kind, args, env, "src_port"),
    "set-dst-port": lambda kind, args, env: set_address(kind, args, env, "dst_port"),
    "replace-path": _replace_uri_part("replace-path"),
    "replace-pathq": _replace_uri_part("replace-pathq"),
    "replace-uri": _replace_uri_part("replace-uri"),
    "set-method": _request_setter("set-method"),
    "set-uri": _request_setter("set-uri"),
    "use-service": _use_service,
    "tarpit": actions_stick.tarpit,
    "cache-use": cache_action("cache-use"),
    "wait-for-body": _wait_for_body,
    **actions_http_flow.REQUEST,
}
RESPONSE: dict[str, Parser] = {**COMMON, "set-status": _set_status, "return": _return, "capture": _capture,
                               "redirect": _redirect, "wait-for-body": _wait_for_body,
                               "cache-store": cache_action("cache-store")}

_FUNCTION_STYLE = re.compile(r"^(set-var|set-var-fmt|unset-var|set-map|del-map|add-acl|del-acl)\((.+)\)$")


def parse(kind: str, words: tuple[str, ...], env: HttpActionEnv) -> Action:
    """Compile one action; *kind* is 'http-req' or 'http-res' (the Lua action kinds)."""
    name, args = words[0], tuple(words[1:])
    if name.startswith("lua."):
        return env.lua_action(kind, name[4:], args)
    if m := _FUNCTION_STYLE.match(name):
        return _function_style(m.group(1), m.group(2), args, env)
    stick = actions_stick.parse(name, args, env)  # type: ignore[arg-type]
    if stick is not None:
        return stick
    if kind == "http-req" and (resolve := actions_resolve.parse(name, args, env)) is not None:  # type: ignore[arg-type]
        return resolve
    table = REQUEST if kind == "http-req" else RESPONSE
    parser = table.get(name)
    if parser is None:
        raise unknown_action(name, table, "set-var(), set-map(), lua.<name>")
    return parser(kind, args, env)


def _function_style(keyword: str, inner: str, args: tuple[str, ...], env: HttpActionEnv) -> Action:
    if keyword == "set-var":
        if not args:
            raise RuleError(f"'set-var({inner})' expects a sample expression.")
        return env.set_var(inner, " ".join(args))
    if keyword == "set-var-fmt":
        if len(args) != 1:
            raise RuleError(f"'set-var-fmt({inner})' expects one log-format string.")
        return env.set_var(inner, args[0], fmt=True)
    if keyword == "unset-var":
        return env.unset_var(inner)
    wants_value = keyword == "set-map"
    if len(args) != (2 if wants_value else 1):
        raise RuleError(f"'{keyword}({inner})' expects {'a key and a value' if wants_value else 'a key'}.")
    key = env.log_format(args[0])
    value = env.log_format(args[1]) if wants_value else None
    return env.pattern_update(keyword, inner, key, value)
