"""Health-check settings: per server (``inter``, ``rise``, ``port``...) and per backend
(``option httpchk``, ``http-check send|expect``), and how a response is judged.

No I/O here (the request is built here, sent by :mod:`.health`).  Defaults are HAProxy's: a TCP
connect every 2s, 2 successes to rise, 3 failures to fall; an HTTP check sends
``OPTIONS / HTTP/1.0`` and accepts any 2xx or 3xx.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any

from ..http import CLIENT, Connection, Data, EndOfMessage, Headers, LocalProtocolError, Request, RequestHead
from ..proxy import Server
from .agent import parse_agent
from .dial import parse_proxy
from .http_expect import HeaderExpect, VarStep, compile_steps, parse_header_expect, parse_var_step
from .state import CheckResult, OpState
from .tcpcheck.rules import Connect, parse_connect

BODY_LIMIT = 16384
_STATUS_LIST = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


@dataclass(frozen=True, slots=True)
class HttpExpect:
    """One ``http-check expect [!] status|rstatus|string|rstring <pattern>``."""

    kind: str
    pattern: str
    negate: bool = False

    @property
    def on_body(self) -> bool:
        return self.kind in ("string", "rstring")

    def matches(self, status: int, body: bytes, ctx: Any = None) -> bool:
        if self.kind == "status":
            found = _in_status_list(status, self.pattern)
        elif self.kind == "rstatus":
            found = re.search(self.pattern, str(status)) is not None
        elif self.kind == "string":
            found = self.pattern in body.decode("latin-1")
        else:
            found = re.search(self.pattern, body.decode("latin-1")) is not None
        return found != self.negate


@dataclass(frozen=True, slots=True)
class HealthCheckSpec:
    """What a backend's checks do: a TCP connect, or this HTTP request and these expectations."""

    http: bool = False
    method: str = "OPTIONS"
    uri: str = "/"
    version: str = "HTTP/1.0"
    headers: tuple[tuple[str, Any], ...] = ()
    """Names and values; an ``http-check send hdr`` value is a log-format (compiled by ``compile_spec``)."""
    body: str = ""
    uri_lf: Any = None
    """``uri-lf``: the log-format of the URI (its text until compiled); an empty result sends "/"."""
    body_lf: Any = None
    """``body-lf``: the log-format of the body (its text until compiled)."""
    connect: Connect | None = None
    """``http-check connect ...``: where and how this exchange connects."""
    send_state: bool = False
    """``http-check send-state``: tell the server how it is seen (X-Haproxy-Server-State)."""
    before: tuple[VarStep, ...] = ()
    """The ``set-var``/``unset-var`` steps before this exchange's ``send``: they run before the request is made."""
    expects: tuple[HttpExpect | HeaderExpect | VarStep, ...] = ()
    """The ``http-check expect`` and ``set-var``/``unset-var`` steps, run in order on the response."""
    following: tuple[HealthCheckSpec, ...] = ()
    """The exchanges each later ``http-check connect`` starts, run in turn while each one passes."""

    @property
    def exchanges(self) -> tuple[HealthCheckSpec, ...]:
        return (self, *self.following)

    @property
    def reads_body(self) -> bool:
        return any(getattr(e, "on_body", False) for e in self.expects)

    def judge(self, status: int, reason: str, body: bytes, duration_ms: int, ctx: Any = None) -> CheckResult:
        """L7OK, or L7STS (status expectation) / L7RSP (body or header expectation) as HAProxy reports them.

        *ctx* (a CheckContext) is what header expectations and variables read."""
        expects = [e for e in self.expects if not isinstance(e, VarStep)]
        if not expects and not 200 <= status < 400:
            return CheckResult("L7STS", status, reason, duration_ms)
        for expect in self.expects:
            if isinstance(expect, VarStep):
                expect.run(ctx)
            elif not expect.matches(status, body, ctx):
                if isinstance(expect, HeaderExpect):
                    return CheckResult("L7RSP", None, "HTTP header did not match", duration_ms)
                if expect.on_body:
                    return CheckResult("L7RSP", None, "HTTP content check did not match", duration_ms)
                return CheckResult("L7STS", status, reason, duration_ms)
        return CheckResult("L7OK", status, "", duration_ms)


TCP_CHECK = HealthCheckSpec()


def configure_checks(server: Server, options: Mapping[str, str], parse_time: Callable[[str], float],
                     spec: object = TCP_CHECK) -> None:
    """Copy a server line's check settings onto *server*; a bad value raises ValueError.

    *spec* is a HealthCheckSpec or a tcp-check RuleSet.  *parse_time* is the
    configuration's time parser ("2s" → 2.0), passed in so the worker does not
    depend on the master.  A checked server starts UP with
    ``rise`` points of health, as in HAProxy.
    """
    for name in ("inter", "fastinter", "downinter"):
        if name in options:
            value = parse_time(options[name])
            if value <= 0:
                raise ValueError(f"server {server.name}: '{name}' has to be > 0.")
            setattr(server, f"check_{name}", value)
    for name in ("rise", "fall"):
        if name in options:
            setattr(server, f"check_{name}", _positive(server, name, options[name]))
    if "port" in options:
        port = _positive(server, "port", options["port"])
        if port > 65535:
            raise ValueError(f"server {server.name}: 'port' expects a port number, got '{port}'.")
        server.check_port = port
    if "addr" in options:
        addr = options["addr"]
        if addr.startswith("["):
            addr = addr[1:].partition("]")[0]
        elif addr.count(":") == 1:
            addr = addr.partition(":")[0]  # a port given with the address is not used: 'port' sets it
        server.check_addr = addr
    server.check_spec = spec
    server.check_health = server.check_rise if server.check else 0
    server.agent = parse_agent(options, "agent-check" in options, parse_time, server.check_inter)
    if "socks4" in options:
        server.socks4 = parse_proxy(options["socks4"])
    server.check_via_socks4 = server.socks4 is not None and "check-via-socks4" in options


def parse_check_spec(httpchk: tuple[str, ...] | None,
                     http_check: Iterable[tuple[str, ...]] = ()) -> HealthCheckSpec:
    """The spec of ``option httpchk [<method>] <uri> [<version>]`` and the ``http-check`` lines.

    *httpchk* is None without ``option httpchk`` (a TCP check).  A version with
    ``\\r\\n`` and headers after it (the pre-2.2 trick) is split into headers.
    """
    if httpchk is None:
        return TCP_CHECK
    if len(httpchk) > 3:
        raise ValueError("'option httpchk' expects at most a method, a URI and a version.")
    spec = HealthCheckSpec(http=True)
    if len(httpchk) == 1:
        spec = replace(spec, uri=httpchk[0])
    elif httpchk:
        spec = replace(spec, method=httpchk[0], uri=httpchk[1])
    if len(httpchk) == 3:
        version, *lines = httpchk[2].split("\r\n")
        spec = replace(spec, version=version, headers=tuple(_header_line(line) for line in lines if line))
    http_check = list(http_check)
    _check_order([words[0] for words in http_check if words])
    done: list[HealthCheckSpec] = []
    before: list[VarStep] = []
    expects: list[HttpExpect | HeaderExpect | VarStep] = []
    started = send_state = False  # started: this exchange has sent or expected something
    for words in http_check:
        if words and words[0] == "connect":
            if started or spec.connect is not None:
                done.append(replace(spec, before=tuple(before), expects=tuple(expects)))
                spec, before, expects, started = HealthCheckSpec(http=True), [], [], False
            spec = replace(spec, connect=parse_connect(list(words[1:])))
        elif words and words[0] == "send":
            spec, started = _send(spec, words[1:]), True
        elif words and words[0] == "expect":
            expects.append(_expect(words[1:]))
            started = True
        elif words and words[0].startswith(("set-var(", "unset-var(")):
            (expects if started else before).append(parse_var_step(words[0], list(words[1:])))
        elif words[:1] == ("send-state",) and len(words) == 1:
            send_state = True
        elif words[:1] == ("comment",) and len(words) == 2:
            continue
        else:
            raise ValueError(f"'http-check {' '.join(words[:1])}' is not supported; luaproxy supports "
                             "'http-check connect', 'send', 'expect', 'set-var', 'unset-var', 'send-state' and "
                             "'comment'.")
    done.append(replace(spec, before=tuple(before), expects=tuple(expects)))
    done = [replace(exchange, send_state=send_state) for exchange in done]
    for exchange in done:
        try:
            request_bytes(Connection(CLIENT), replace(exchange, uri_lf=None, body_lf=None))  # formats vary
        except LocalProtocolError as exc:
            raise ValueError(f"the health-check request '{exchange.method} {exchange.uri}' is invalid: "
                             f"{exc}.") from None
    return replace(done[0], following=tuple(done[1:]))


_NEEDS_BEFORE = {"send": ("connect", "a 'connect'"), "expect": ("send", "expect", "a 'send'"),
                 "connect": ("expect", "an 'expect'")}


def _check_order(actions: list[str]) -> None:
    """The order haproxy 2.6 accepts: with a ``connect``, the first step is one; a ``send`` comes right after a
    ``connect``, an ``expect`` after a ``send`` or an ``expect``, a later ``connect`` after an ``expect``
    (set-var, unset-var, comment and send-state are not steps)."""
    steps = [a for a in actions if a in _NEEDS_BEFORE]
    if "connect" in steps and steps[0] != "connect":
        raise ValueError("with an 'http-check connect', the first step must be a 'connect' too (only set-var, "
                         "unset-var and comment may come before it).")
    for previous, action in pairwise(steps):
        *allowed, wanted = _NEEDS_BEFORE[action]
        if previous not in allowed:
            raise ValueError(f"'http-check {action}' after 'http-check {previous}': it needs {wanted} "
                             "step before it.")


def _positive(server: Server, name: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"'{name}' expects a positive integer, got '{text}'.")
    return int(text)


def _header_line(line: str) -> tuple[str, str]:
    name, colon, value = line.partition(":")
    if not colon or not name.strip():
        raise ValueError(f"'option httpchk': invalid header line '{line}' after the version.")
    return name.strip(), value.strip()


def _send(spec: HealthCheckSpec, words: tuple[str, ...]) -> HealthCheckSpec:
    """``http-check send [meth M] [uri U|uri-lf F] [ver V] [hdr N F]... [body B|body-lf F] [comment C]`` over
    *spec* (what it names wins)."""
    rest = list(words)
    keys = {"meth": "method", "uri": "uri", "uri-lf": "uri_lf", "ver": "version", "body": "body",
            "body-lf": "body_lf", "comment": ""}
    changes: dict[str, str] = {}
    headers: list[tuple[str, str]] = [] if "hdr" in rest else list(spec.headers)  # its hdr list replaces the option's
    while rest:
        word = rest.pop(0)
        needed = 2 if word == "hdr" else 1
        if word not in (*keys, "hdr") or len(rest) < needed:
            raise ValueError(f"'http-check send' expects meth, uri, uri-lf, ver, hdr, body, body-lf or comment with "
                             f"a value, got '{word}'.")
        if word == "hdr":
            headers.append((rest.pop(0), rest.pop(0)))
        elif keys[word]:
            changes[keys[word]] = rest.pop(0)
        else:
            rest.pop(0)
    for plain, formatted in (("uri", "uri_lf"), ("body", "body_lf")):
        if plain in changes and formatted in changes:
            raise ValueError(f"'http-check send' takes '{plain}' or '{plain}-lf', not both.")
        if plain in changes or formatted in changes:
            changes.setdefault(formatted, None)  # the one named replaces the other from the option
    return replace(spec, **changes, headers=tuple(headers))


def _expect(words: tuple[str, ...]) -> HttpExpect | HeaderExpect:
    negate = bool(words) and words[0] == "!"
    words = words[1:] if negate else words
    if words and words[0] in ("hdr", "fhdr"):
        return parse_header_expect(words[0], list(words[1:]), negate)
    if not words or words[0] not in ("status", "rstatus", "string", "rstring"):
        raise ValueError("'http-check expect' supports [!] status, rstatus, string, rstring, hdr or fhdr, "
                         f"got '{' '.join(words)}'.")
    if len(words) != 2:
        raise ValueError(f"'http-check expect {words[0]}' expects one pattern.")
    kind, pattern = words
    if kind == "status" and not _STATUS_LIST.match(pattern):
        raise ValueError(f"'http-check expect status' expects codes or ranges such as 200,300-399, "
                         f"got '{pattern}'.")
    if kind in ("rstatus", "rstring"):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"'http-check expect {kind}': invalid regex '{pattern}': {exc}.") from None
    return HttpExpect(kind, pattern, negate)


def _in_status_list(status: int, codes: str) -> bool:
    for part in codes.split(","):
        low, _, high = part.partition("-")
        if int(low) <= status <= int(high or low):
            return True
    return False


def compile_spec(spec: Any, log_format: Callable[[str], Any], set_var: Callable[[str, str], Any],
                 unset_var: Callable[[str], Any]) -> Any:
    """*spec* with its log-formats, header patterns and variable steps compiled (other specs unchanged)."""
    if not isinstance(spec, HealthCheckSpec):
        return spec
    compiled = [_compile_exchange(e, log_format, set_var, unset_var) for e in spec.exchanges]
    return replace(compiled[0], following=tuple(compiled[1:]))


def _compile_exchange(spec: HealthCheckSpec, log_format: Callable[[str], Any], set_var: Callable[[str, str], Any],
                      unset_var: Callable[[str], Any]) -> HealthCheckSpec:
    def fmt(text: Any) -> Any:
        return log_format(text) if isinstance(text, str) else text

    headers = tuple((name, fmt(value) if isinstance(value, str) and "%" in value else value)
                    for name, value in spec.headers)
    return replace(spec, uri_lf=fmt(spec.uri_lf), body_lf=fmt(spec.body_lf), headers=headers,
                   before=compile_steps(spec.before, log_format, set_var, unset_var),
                   expects=compile_steps(spec.expects, log_format, set_var, unset_var))


def next_interval(server: Server) -> float:
    """``inter`` when settled, ``downinter`` when fully DOWN, ``fastinter`` while changing (HAProxy's rule)."""
    if server.check_health >= server.check_rise + server.check_fall - 1:
        return server.check_inter
    if server.check_health == 0 and server.op_state == OpState.DOWN:
        return server.check_downinter or server.check_inter
    return server.check_fastinter or server.check_inter


def check_timeouts(proxy: Any, server: Server) -> tuple[float, float | None]:
    """(connect timeout, read timeout once connected) for one check.

    With ``timeout check``, connecting may take min(``timeout connect``,
    ``inter``) and reading ``timeout check`` more; without it the whole check
    must fit in ``inter`` (read timeout None), as haproxy 2.6 measures.
    """
    check = proxy.timeout("check")
    if check is None:
        return server.check_inter, None
    connect = proxy.timeout("connect")
    return (server.check_inter if connect is None else min(connect, server.check_inter)), check


def server_state_header(proxy: Any, server: Server) -> str:
    """X-Haproxy-Server-State: "UP 2/3; address=...; port=...; name=be/srv; node=...; weight=w/total;
    scur=cur/total; qcur=0", the fields of haproxy 2.6."""
    up = server.op_state == OpState.UP
    top = server.check_rise + server.check_fall - 1
    if not server.check:
        state = "no check"
    elif up:
        state = "UP" if server.check_health >= top else \
            f"UP {server.check_health - server.check_rise + 1}/{server.check_fall}"
    else:
        state = f"DOWN {server.check_health}/{server.check_rise}" if server.check_health else "DOWN"
    servers = getattr(proxy, "servers", [server])
    total_weight = sum(s.weight for s in servers if s.usable and not s.backup)
    total_conns = sum(s.current_conns for s in servers)
    return (f"{state}; address={server.host}; port={server.port}; name={proxy.name}/{server.name}; "
            f"node={socket.gethostname()}; weight={server.weight}/{total_weight}; "
            f"scur={server.current_conns}/{total_conns}; qcur=0")


def request_bytes(conn: Connection, spec: HealthCheckSpec, state: str | None = None, ctx: Any = None) -> bytes:
    """The check request, with the configured version on the request line as HAProxy sends it.

    Log-formats render against *ctx* (a CheckContext).  An HTTP/1.1 check gets ``Connection: close``
    (HAProxy adds it too).
    """
    headers = Headers([(name, _render(value, ctx)) for name, value in spec.headers])
    if state is not None:
        headers.add("X-Haproxy-Server-State", state)
    if spec.version == "HTTP/1.1" and not headers.contains("connection"):
        headers.add("Connection", "close")
    uri = _render(spec.uri_lf, ctx) or "/" if spec.uri_lf is not None else spec.uri
    body = (_render(spec.body_lf, ctx) if spec.body_lf is not None else spec.body).encode("latin-1", "replace")
    if body:
        headers.set("Content-Length", str(len(body)))
    data = conn.send(Request(RequestHead(spec.method, uri, spec.version, headers)))
    if body:
        data += conn.send(Data(body))
    data += conn.send(EndOfMessage())
    return data


def _render(value: Any, ctx: Any) -> str:
    """A plain value, or a compiled log-format rendered for this check (text still uncompiled is sent as is)."""
    return value if isinstance(value, str) else value.render(ctx)
