"""Fetches from internal states (HAProxy 7.3.2): constants, time, environment, proxies, variables."""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Sequence
from typing import Any

from ..sticktable.table import freq_read, now_ms
from .args import ArgType, ParseEnv, arg_spec
from .context import ProxyView, SampleContext, ServerView
from .errors import SampleError
from .registry import fetch
from .types import Sample, SampleType, clamp64
from .vars import parse_var_name

T = SampleType
A = ArgType

_HOSTNAME = socket.gethostname()
_UNITS = {"s": 1, "ms": 1000, "us": 1000000}


def check_unit(position: int) -> Any:
    """A check accepting an optional time unit ('s', 'ms', 'us') at *position*."""

    def check(values: list[Any], env: ParseEnv) -> list[Any]:
        if len(values) > position and values[position] not in _UNITS:
            raise SampleError(f"expects 's', 'ms' or 'us', got '{values[position]}'")
        return values

    return check


def _const(type_: SampleType, value: object) -> Any:
    smp = Sample(type_, value)
    return lambda ctx, args: smp


def _first(type_: SampleType) -> Any:
    return lambda ctx, args: Sample(type_, args[0])


def _check_bool(values: list[Any], env: ParseEnv) -> list[Any]:
    if values[0] not in ("true", "false", "1", "0"):
        raise SampleError("Expects 'true', 'false', '0' or '1'.")
    return [values[0] in ("true", "1")]


def _check_bin(values: list[Any], env: ParseEnv) -> list[Any]:
    text = values[0]
    if len(text) % 2:
        raise SampleError("an even number of hex digit is expected.")
    try:
        return [bytes.fromhex(text)]
    except ValueError:
        raise SampleError("invalid hex digit.") from None


def check_var(values: list[Any], env: ParseEnv) -> list[Any]:
    return [parse_var_name(values[0]), *values[1:]]


def _date(ctx: SampleContext, args: Sequence[Any]) -> Sample:
    unit = _UNITS[args[1]] if len(args) > 1 else 1
    now = int(time.time() * unit)
    return Sample(T.SINT, clamp64(now + (args[0] if args else 0)))


def _date_us(ctx: SampleContext, args: Sequence[Any]) -> Sample:
    return Sample(T.SINT, int(time.time() * 1000000) % 1000000)


def _env(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    value = os.environ.get(args[0])
    return None if value is None else Sample(T.STR, value)


def _rand(ctx: SampleContext, args: Sequence[Any]) -> Sample:
    value = random.getrandbits(32)
    if args:
        value = (value * args[0]) >> 32
    return Sample(T.SINT, value)


def _timeout_ms(seconds: float | None) -> Sample | None:
    return None if seconds is None else Sample(T.SINT, round(seconds * 1000))


def _proxy_timeout(side: str, name: str) -> Any:
    """be_server_timeout & co: the configured timeout of the frontend or backend, in ms."""
    def get(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        proxy = ctx.frontend if side == "fe" else ctx.backend
        return None if proxy is None else _timeout_ms(getattr(proxy, "timeouts", {}).get(name))

    return get


def _current_timeout(name: str) -> Any:
    """cur_server_timeout & co: the transaction's timeout after http-request set-timeout, in ms."""
    def get(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        override = getattr(ctx, "timeouts", {}).get(name)
        if override is not None:
            return _timeout_ms(override)
        return _proxy_timeout("be", name)(ctx, args)

    return get


def _unique_id(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    unique_id = getattr(ctx, "unique_id", None)
    return Sample(T.STR, unique_id()) if unique_id is not None else None


def _uuid(ctx: SampleContext, args: Sequence[Any]) -> Sample:
    import uuid  # here: uuid imports platform and more, which a worker without the fetch never needs

    return Sample(T.STR, str(uuid.uuid4()))


def _check_uuid(values: list[Any], env: ParseEnv) -> list[Any]:
    if values and values[0] != 4:
        raise SampleError(f"Unsupported UUID version: '{values[0]}'")
    return values


def _var(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    smp = ctx.vars.get(args[0])
    if smp is None and len(args) > 1:
        return Sample(T.STR, args[1])
    return smp


def _proxy(ctx: SampleContext, args: Sequence[Any], current: ProxyView | None) -> ProxyView | None:
    return ctx.proxies.get(args[0]) if args else current


def _nbsrv(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    px = _proxy(ctx, args, ctx.backend)
    return None if px is None else Sample(T.SINT, sum(1 for s in px.servers if s.usable))


def _be_conn(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    px = _proxy(ctx, args, ctx.backend)
    return None if px is None else Sample(T.SINT, px.current_conns)


def _fe_conn(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    px = _proxy(ctx, args, ctx.frontend)
    return None if px is None else Sample(T.SINT, px.current_conns)


def _connslots(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    """Free connection slots over usable servers; -1 when any has no maxconn (HAProxy's rule)."""
    px = _proxy(ctx, args, ctx.backend)
    if px is None:
        return None
    total = 0
    for server in px.servers:
        if not server.usable:
            continue
        if server.maxconn == 0:
            return Sample(T.SINT, -1)
        total += max(server.maxconn - server.current_conns, 0)
    return Sample(T.SINT, total)


_OPT_BE = arg_spec(A.BE, required=0)


def find_server(ctx: SampleContext, ref: str) -> ServerView | None:
    """``[<backend>/]<server>``: without a backend, a server of the current one."""
    backend_name, slash, name = ref.rpartition("/")
    px = ctx.proxies.get(backend_name) if slash else ctx.backend
    return None if px is None else next((s for s in px.servers if s.name == name), None)


def _server_fetch(value: Any, out: SampleType = T.SINT) -> Any:
    """A fetch on the server named by its argument; *value* maps the server to the sample's value."""

    def run(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
        server = find_server(ctx, args[0])
        return None if server is None else Sample(out, value(server))

    return run


def _conn_free(server: ServerView) -> int:
    return server.maxconn - server.current_conns if server.maxconn else -1


def _sess_rate(server: ServerView) -> int:
    return freq_read(server.sess_rate, 0, 1000, now_ms())  # type: ignore[arg-type]


def _be_conn_free(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    """Free slots on the usable active servers (backups only when no active one is usable); -1: unlimited."""
    px = _proxy(ctx, args, ctx.backend)
    if px is None:
        return None
    usable = [s for s in px.servers if s.usable and not s.backup] or [s for s in px.servers if s.usable]
    if any(s.maxconn == 0 for s in usable):
        return Sample(T.SINT, -1)
    return Sample(T.SINT, sum(max(_conn_free(s), 0) for s in usable))


def _queued(px: ProxyView) -> int:
    return px.balancer.queued() if px.balancer is not None else 0


def _queue(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    px = _proxy(ctx, args, ctx.backend)
    return None if px is None else Sample(T.SINT, _queued(px))


def _avg_queue(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    """Queued requests per usable server; twice the queue when none is usable (HAProxy's estimate)."""
    px = _proxy(ctx, args, ctx.backend)
    if px is None:
        return None
    usable = sum(1 for s in px.servers if s.usable and not s.backup)
    queued = _queued(px)
    return Sample(T.SINT, (queued + usable - 1) // usable if usable else queued * 2)


_SERVER_ARG = arg_spec(A.STR)

def _last_rule_file(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    where = ctx.last_rule
    return None if not where else Sample(T.STR, where.rpartition(":")[0])


def _last_rule_line(ctx: SampleContext, args: Sequence[Any]) -> Sample | None:
    where = ctx.last_rule
    return None if not where else Sample(T.SINT, int(where.rpartition(":")[2]))


FETCHES = (
    fetch("always_false", _const(T.BOOL, False), T.BOOL, "Always false."),
    fetch("always_true", _const(T.BOOL, True), T.BOOL, "Always true."),
    fetch("internal.strm.is_htx", lambda ctx, args: Sample(T.BOOL, ctx.request is not None), T.BOOL,
          "True when the stream is an HTTP one (HAProxy's internal HTX flag), false in TCP mode."),
    fetch("be_conn", _be_conn, T.SINT, "Established connections on the (current or named) backend.", _OPT_BE),
    fetch(
        "be_conn_free", _be_conn_free, T.SINT, "Free connection slots on the backend's usable servers.", _OPT_BE
    ),
    fetch("queue", _queue, T.SINT, "Requests queued in the (current or named) backend.", _OPT_BE),
    fetch("avg_queue", _avg_queue, T.SINT, "Queued requests per usable server of the backend.", _OPT_BE),
    fetch(
        "srv_conn",
        _server_fetch(lambda s: s.current_conns),
        T.SINT,
        "Established connections on a ([backend/]server) server.",
        _SERVER_ARG,
    ),
    fetch(
        "srv_conn_free",
        _server_fetch(_conn_free),
        T.SINT,
        "Free connection slots on a server (-1: no maxconn).",
        _SERVER_ARG,
    ),
    fetch(
        "srv_is_up",
        _server_fetch(lambda s: s.op_state == "UP" and s.admin_state != "MAINT", T.BOOL),
        T.BOOL,
        "True when the server is UP and not in maintenance.",
        _SERVER_ARG,
    ),
    fetch("srv_sess_rate", _server_fetch(_sess_rate), T.SINT, "Sessions per second sent to a server (this "
          "process).", _SERVER_ARG),
    fetch("srv_iweight", _server_fetch(lambda s: s.iweight), T.SINT, "A server's configured weight.", _SERVER_ARG),
    fetch("srv_uweight", _server_fetch(lambda s: s.weight), T.SINT, "A server's user-set weight.", _SERVER_ARG),
    fetch("srv_weight", _server_fetch(lambda s: s.weight), T.SINT, "A server's current weight.", _SERVER_ARG),
    fetch(
        "srv_queue",
        _server_fetch(lambda s: 0),
        T.SINT,
        "Requests queued for a server (0: luaproxy queues per backend, see queue).",
        _SERVER_ARG,
    ),
    fetch("bin", _first(T.BIN), T.BIN, "A constant binary block given in hex.", arg_spec(A.STR, check=_check_bin)),
    fetch(
        "bool", _first(T.BOOL), T.BOOL, "A constant boolean: true, false, 1 or 0.", arg_spec(A.STR, check=_check_bool)
    ),
    fetch(
        "connslots",
        _connslots,
        T.SINT,
        "Free connection slots on the backend's usable servers (-1: unlimited).",
        _OPT_BE,
    ),
    fetch(
        "date",
        _date,
        T.SINT,
        "Current epoch time, plus an offset, in s, ms or us.",
        arg_spec(A.SINT, A.STR, required=0, check=check_unit(1)),
    ),
    fetch("date_us", _date_us, T.SINT, "Microseconds part of the current date."),
    fetch("env", _env, T.STR, "An environment variable of the process.", arg_spec(A.STR)),
    fetch(
        "fe_conn",
        _fe_conn,
        T.SINT,
        "Established connections on the (current or named) frontend.",
        arg_spec(A.FE, required=0),
    ),
    fetch("hostname", _const(T.STR, _HOSTNAME), T.STR, "The system hostname."),
    fetch("last_rule_file", _last_rule_file, T.STR, "Config file of the last rule that ended a rule set."),
    fetch("last_rule_line", _last_rule_line, T.SINT, "Config line of the last rule that ended a rule set."),
    fetch("int", _first(T.SINT), T.SINT, "A constant signed integer.", arg_spec(A.SINT)),
    fetch("ipv4", _first(T.IPV4), T.IPV4, "A constant IPv4 address.", arg_spec(A.IPV4)),
    fetch("ipv6", _first(T.IPV6), T.IPV6, "A constant IPv6 address.", arg_spec(A.IPV6)),
    fetch("meth", _first(T.METH), T.METH, "A constant HTTP method.", arg_spec(A.STR)),
    fetch("nbproc", lambda ctx, args: Sample(T.SINT, ctx.process[0]), T.SINT, "Number of worker processes."),
    fetch("nbsrv", _nbsrv, T.SINT, "Usable servers in the (current or named) backend.", _OPT_BE),
    fetch("proc", lambda ctx, args: Sample(T.SINT, ctx.process[1]), T.SINT, "This worker's process number."),
    fetch(
        "rand", _rand, T.SINT, "A random integer in [0, range), range defaulting to 2^32.", arg_spec(A.SINT, required=0)
    ),
    fetch(
        "str",
        lambda ctx, args: Sample(T.STR, args[0] if args else ""),
        T.STR,
        "A constant string.",
        arg_spec(A.STR, required=0),
    ),
    fetch("thread", _const(T.SINT, 0), T.SINT, "Thread number (always 0: one thread per worker)."),
    fetch("be_server_timeout", _proxy_timeout("be", "server"), T.SINT, "The backend's server timeout (ms)."),
    fetch("be_tunnel_timeout", _proxy_timeout("be", "tunnel"), T.SINT, "The backend's tunnel timeout (ms)."),
    fetch("fe_client_timeout", _proxy_timeout("fe", "client"), T.SINT, "The frontend's client timeout (ms)."),
    fetch("cur_server_timeout", _current_timeout("server"), T.SINT,
          "The transaction's server timeout, after set-timeout (ms)."),
    fetch("cur_tunnel_timeout", _current_timeout("tunnel"), T.SINT,
          "The transaction's tunnel timeout, after set-timeout (ms)."),
    fetch("unique-id", _unique_id, T.STR, "The transaction's unique ID (unique-id-format)."),
    fetch("uuid", _uuid, T.STR, "A random (version 4) UUID.", arg_spec(A.SINT, required=0, check=_check_uuid)),
    fetch(
        "var",
        _var,
        T.ANY,
        "A variable, with its stored type; else the default as a string.",
        arg_spec(A.VAR, A.STR, required=1, check=check_var),
    ),
)
