"""The runtime API an operator reaches for beyond maps: servers, frontends, sessions, process facts.

HAProxy 2.6's words and answers.  A change goes through the supervisor's
``spread_runtime`` (applied by the master, then acknowledged by every worker,
as map changes are); questions about live connections ask every worker.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import time
from typing import Any

from luaproxy.worker import stats
from luaproxy.worker.backend.state import AdminState, ServerChange, ServerChangeError, parse_weight, resolve_server
from luaproxy.worker.tls.counters import info_fields as ssl_info

from .. import dynamic_servers
from ..control.runtime import FrontendChange, find_frontend
from ..version import VERSION
from . import formats, typed
from .commands import ADMIN, OPERATOR, STATS_COMMANDS, USER, Command, CommandTable, Reply, Session, Supervisor
from .commands_resolvers import set_fqdn
from .pending import Pending

SET_SERVER_USAGE = ("usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | "
                    "check-addr | check-port | fqdn | health | ssl | state | weight\n")


def _server(sup: Supervisor, name: str | None) -> tuple[Any, Any] | str:
    try:
        return resolve_server(sup.proxies(), name or "")
    except ServerChangeError as exc:
        return f"{exc}\n"


def _change(sup: Supervisor, name: str, op: str, value: str) -> Reply:
    found = _server(sup, name)
    if isinstance(found, str):
        return found
    proxy, server = found
    return sup.spread_runtime(ServerChange(proxy.name, server.name, op, value))


# --- servers --------------------------------------------------------------------------------------


def admin_server(state: AdminState) -> Any:
    def handler(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
        return _change(sup, args[0] if args else "", "state", str(state).lower())

    return handler


def set_server(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    found = _server(sup, args[0] if args else "")
    if isinstance(found, str):
        return found
    proxy, server = found
    what, values = (args[1], args[2:]) if len(args) > 1 else ("", [])
    if what == "state":
        word = values[0].upper() if values else ""
        if word not in ("READY", "DRAIN", "MAINT"):
            return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"
        return sup.spread_runtime(ServerChange(proxy.name, server.name, "state", word.lower()))
    if what == "weight":
        return _weight(sup, proxy, server, values[0] if values else "")
    if what == "addr":
        return _addr(sup, proxy, server, values)
    if what == "fqdn":
        return set_fqdn(sup, proxy, server, values)
    if what == "ssl":
        if server.dynamic:
            return "'set server <srv> ssl' not supported on dynamic servers\n"
        if not values or values[0] not in ("on", "off"):
            return "'set server <srv> ssl' expects 'on' or 'off'.\n"
        return sup.spread_runtime(ServerChange(proxy.name, server.name, "ssl", values[0]))
    return SET_SERVER_USAGE


def add_server(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    """``add server <backend>/<server> <addr> [options]``: built and checked by the master first."""
    backend, slash, name = (args[0] if args else "").partition("/")
    if not slash or not name:
        return "'server' expects <name> and <addr>[:<port>] as arguments.\n"
    return sup.spread_runtime(ServerChange(backend, name, "add", words=tuple(args[1:])))


def del_server(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    """Checked in the master, then every worker says whether it still has connections to the server (the
    master serves none), then the deletion goes everywhere."""
    backend, slash, name = (args[0] if args else "").partition("/")
    if not slash:
        return "Require 'backend/server'.\n"
    change = ServerChange(backend, name, "del")
    try:
        dynamic_servers.deletable(sup.proxies(), change)
    except ServerChangeError as exc:
        return f"{exc}\n"
    reply = Pending()

    def decide(outcome: Any) -> None:
        if any(outcome.replies.values()):
            reply.resolve(f"{dynamic_servers.STILL_USED}\n")
        else:
            sup.spread_runtime(change).on_done(reply.resolve)

    sup.ask_workers({"t": "server-busy", "backend": backend, "server": name}).on_done(decide)
    return reply


def server_check(op: str, value: str) -> Any:
    """``enable|disable health|agent <backend>/<server>``."""
    def handler(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
        return _change(sup, args[0] if args else "", op, value)

    return handler


def experimental_mode(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    """Every command luaproxy has is available without it; accepted so that scripts run unchanged."""
    return ""


def _weight(sup: Supervisor, proxy: Any, server: Any, text: str) -> Reply:
    try:
        weight = parse_weight(proxy, server, text)
    except ServerChangeError as exc:
        return f"{exc}\n"
    return sup.spread_runtime(ServerChange(proxy.name, server.name, "weight", str(weight)))


def _addr(sup: Supervisor, proxy: Any, server: Any, values: list[str]) -> Reply:
    if not values:
        return "set server <b>/<s> addr requires an address and optional port.\n"
    try:
        host = str(ipaddress.ip_address(values[0]))
    except ValueError:
        return f"Invalid addr '{values[0]}' by 'stats socket command'\n"
    port, problem = "", ""
    if len(values) >= 3 and values[1] == "port":
        if values[2].isdigit() and 0 < int(values[2]) < 65536:
            port = values[2]
        else:  # haproxy still changes the address and says what it made of the port
            problem = f", problem converting port '{values[2]}' to an int"
    reply = sup.spread_runtime(ServerChange(proxy.name, server.name, "addr", host, port))
    return reply.then(lambda text: text.replace(" by '", f"{problem} by '", 1)) if problem else reply


def set_weight(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    found = _server(sup, args[0] if args else "")
    if isinstance(found, str):
        return found
    return _weight(sup, *found, args[1] if len(args) > 1 else "")


def get_weight(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    found = _server(sup, args[0] if args else "")
    if isinstance(found, str):
        return found
    _, server = found
    return f"{server.weight} (initial {server.iweight})\n"


def show_servers_conn(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    proxies = [p for p in sup.proxies() if p.has_backend]
    if args:
        proxies = [p for p in proxies if p.name == args[0]]
        if not proxies:
            return "Can't find backend.\n"

    def text(snapshots: list[dict[str, Any]]) -> str:
        merged = {p["name"]: p for p in stats.merge(snapshots)}
        lines = ["# bkname/svname bkid/svid addr port - purge_delay used_cur used_max need_est unsafe_nb safe_nb "
                 "idle_lim idle_cur idle_per_thr[1]\n"]
        for proxy in proxies:
            counted = {s["name"]: s["counters"] for s in merged.get(proxy.name, {}).get("servers", [])}
            for server in proxy.servers:
                used = counted.get(server.name, {})
                lines.append(f"{proxy.name}/{server.name} {proxy.id}/{server.id} {server.host} {server.port} - 5000 "
                             f"{used.get('current', 0)} {used.get('max', 0)} 0 0 0 -1 0 0\n")
        return "".join(lines)

    return sup.collect_stats().then(text)


# --- frontends ------------------------------------------------------------------------------------


def set_maxconn_frontend(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    if not args:
        return "Frontend name expected.\n"
    proxy = find_frontend(sup.proxies(), args[0])
    if proxy is None:
        return "No such frontend.\n"
    if len(args) < 2:
        return "Integer value expected.\n"
    leading = re.match(r"\s*([+-]?\d+)", args[1])
    value = int(leading.group(1)) if leading else 0  # atoi, as haproxy reads it
    if value < 0:
        return "Value out of range.\n"
    return sup.spread_runtime(FrontendChange(proxy.name, maxconn=value))


def pause_frontend(paused: bool) -> Any:
    def handler(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
        if not args:
            return "A frontend name is expected.\n"
        proxy = find_frontend(sup.proxies(), args[0])
        if proxy is None:
            return "No such frontend.\n"
        if proxy.stopped:
            return f"Frontend was previously shut down, cannot {'disable' if paused else 'enable'}.\n"
        if proxy.paused == paused:
            return f"All sockets are already {'disabled' if paused else 'enabled'}.\n"
        return sup.spread_runtime(FrontendChange(proxy.name, paused=paused))

    return handler


# --- sessions -------------------------------------------------------------------------------------


def show_sess(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    def text(outcome: Any) -> str:
        return "".join(line for lines in outcome.replies.values() for line in (lines or []))

    return sup.ask_workers({"t": "sessions"}).then(text)


def show_cache(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    """Each worker's caches (a worker holds its own)."""
    return sup.ask_workers({"t": "caches"}).then(
        lambda outcome: "".join(line for lines in outcome.replies.values() for line in (lines or [])))


def shutdown_session(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    if not args:
        return "Session pointer expected (use 'show sess').\n"
    try:
        sid = int(args[0], 16)
    except ValueError:
        return "No such session (use 'show sess').\n"
    return sup.ask_workers({"t": "shutdown-session", "id": sid}).then(
        lambda outcome: "" if any(outcome.replies.values()) else "No such session (use 'show sess').\n")


def shutdown_server_sessions(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    """Every worker cuts the client connections that server is serving (haproxy answers nothing)."""
    try:
        resolve_server(sup.proxies(), args[0] if args else "")
    except ServerChangeError as exc:
        return f"{exc}\n"
    return sup.ask_workers({"t": "shutdown-server-sessions", "server": args[0]}).then(lambda _outcome: "")


# --- process facts --------------------------------------------------------------------------------


def show_errors(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    """Every worker's count, and the newest invalid request of each frontend (``[<px>]`` narrows it)."""
    def text(outcome: Any) -> str:
        replies = [r for r in outcome.replies.values() if r]
        latest: dict[str, dict[str, Any]] = {}
        for capture in (c for r in replies for c in r["captures"]):
            if capture["proxy"] not in latest or capture["when"] > latest[capture["proxy"]]["when"]:
                latest[capture["proxy"]] = capture
        shown = sorted((c for c in latest.values() if not args or c["proxy"] == args[0]), key=lambda c: c["id"])
        total = sum(r["events"] for r in replies)
        lines = [f"Total events captured on [{_stamp(time.time())}] : {total}\n"]
        for capture in shown:
            data = capture["data"].encode("latin-1")
            lines += [" \n",
                      f"[{_stamp(capture['when'])}] frontend {capture['proxy']} (#{capture['id']}): invalid request\n",
                      f"  backend <NONE> (#-1), server <NONE> (#-1), event #{capture['event']}, src {capture['src']}\n",
                      f"  buffer starts at 0 (including 0 out), {max(CAPTURE_BUFFER - len(data), 0)} free,\n",
                      f"  len {len(data)} :\n", "  \n", *_dump(data)]
        return "".join(lines)

    return sup.ask_workers({"t": "errors"}).then(text)


CAPTURE_BUFFER = 16384


def _stamp(when: float) -> str:
    moment = datetime.datetime.fromtimestamp(when).astimezone()
    return moment.strftime("%d/%b/%Y:%H:%M:%S") + f".{moment.microsecond // 1000:03d}"


def _dump(data: bytes) -> list[str]:
    """haproxy's capture dump: the offset, then the bytes escaped, one line per received line."""
    lines, start = [], 0
    while start < len(data):
        end = data.find(b"\n", start, start + 64)
        end = min(start + 64, len(data)) if end < 0 else end + 1
        text = "".join(_ESCAPES.get(b, chr(b) if 32 <= b < 127 else f"\\x{b:02x}") for b in data[start:end])
        lines.append(f"  {start:05d}  {text}\n")
        start = end
    return lines


_ESCAPES = {0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t", 0x5C: "\\\\"}


def show_env(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    if args:
        return f"{args[0]}={os.environ[args[0]]}\n" if args[0] in os.environ else "Variable not found\n"
    return "".join(f"{name}={value}\n" for name, value in os.environ.items())


def show_version(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    return f"{VERSION}\n"


def show_activity(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    """The counters a worker keeps that mean the same as haproxy's (a worker is a thread there), one column
    per worker: event-loop iterations and accepted connections."""
    def text(snapshots: list[dict[str, Any]]) -> str:
        live = [s for s in snapshots if "proxies" in s and s.get("pid")]
        columns = {"loops": [s.get("loops", 0) for s in live],
                   "accepted": [sum(p["fe"]["total"] for p in s["proxies"] if p["frontend"]) for s in live]}
        lines = [f"thread_id: 1 (1..{max(len(live), 1)})\n", f"date_now: {time.time():.6f}\n"]
        lines += [f"{name}: {sum(values)} [ {' '.join(str(v) for v in values)} ]\n" for name, values in columns.items()]
        return "".join(lines)

    return sup.collect_stats().then(text)


def show_info_as(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    def text(snapshots: list[dict[str, Any]]) -> str:
        values = formats.info_values({**sup.process_facts(), "ssl": ssl_info(snapshots)}, stats.merge(snapshots),
                                     time.time())
        if "json" in args:
            return typed.info_json(values)
        if "typed" in args:
            return typed.info_typed(values)
        return "".join(f"{name}: {value}\n" for name, value in values)

    return sup.collect_stats().then(text)


def show_stat_as(sup: Supervisor, session: Session, args: list[str], payload: str | None) -> Reply:
    def text(snapshots: list[dict[str, Any]]) -> str:
        proxies, now = stats.merge(snapshots), time.time()
        if "json" in args or "typed" in args:
            rows = formats.stat_rows(proxies, sup.maxconn(), sup.algorithms(), now)
            return typed.stat_json(rows) if "json" in args else typed.stat_typed(rows)
        return formats.stat_csv(proxies, sup.maxconn(), sup.algorithms(), now)

    return sup.collect_stats().then(text)


RUNTIME_COMMANDS = [
    Command(("disable", "server"), "disable server (DEPRECATED)",
            "disable a server for maintenance (use 'set server' instead)", ADMIN, admin_server(AdminState.MAINT)),
    Command(("enable", "server"), "enable server  (DEPRECATED)",
            "enable a disabled server (use 'set server' instead)", ADMIN, admin_server(AdminState.READY)),
    Command(("set", "server"), "set server <bk>/<srv> [opts]", "change a server's state, weight, address or ssl",
            ADMIN, set_server),
    Command(("add", "server"), "add server <bk>/<srv>", "create a new server", ADMIN, add_server),
    Command(("del", "server"), "del server <bk>/<srv>", "remove a dynamically added server", ADMIN, del_server),
    Command(("enable", "health"), "enable health", "enable health checks", ADMIN, server_check("check", "enable")),
    Command(("disable", "health"), "disable health", "disable health checks", ADMIN,
            server_check("check", "disable")),
    Command(("enable", "agent"), "enable agent", "enable agent checks", ADMIN, server_check("agent", "enable")),
    Command(("disable", "agent"), "disable agent", "disable agent checks", ADMIN,
            server_check("agent", "disable")),
    Command(("experimental-mode",), "experimental-mode [on|off]", "toggle experimental mode", ADMIN,
            experimental_mode),
    Command(("set", "weight"), "set weight <bk>/<srv>  (DEPRECATED)",
            "change a server's weight (use 'set server' instead)", ADMIN, set_weight),
    Command(("get", "weight"), "get weight <bk>/<srv>", "report a server's current weight", USER, get_weight),
    Command(("show", "servers", "conn"), "show servers conn [<backend>]",
            "dump server connections status (all or for a single backend)", USER, show_servers_conn),
    Command(("set", "maxconn", "frontend"), "set maxconn frontend <frontend> <value>",
            "change a frontend's maxconn setting", ADMIN, set_maxconn_frontend),
    Command(("disable", "frontend"), "disable frontend <frontend>", "temporarily disable specific frontend",
            ADMIN, pause_frontend(True)),
    Command(("enable", "frontend"), "enable frontend <frontend>", "re-enable specific frontend", ADMIN,
            pause_frontend(False)),
    Command(("show", "sess"), "show sess [id]", "report the list of current sessions or dump this exact session",
            OPERATOR, show_sess),
    Command(("show", "cache"), "show cache", "show cache status", OPERATOR, show_cache),
    Command(("shutdown", "session"), "shutdown session [id]", "kill a specific session", ADMIN, shutdown_session),
    Command(("shutdown", "sessions", "server"), "shutdown sessions server <bk>/<srv>", "kill sessions on a server",
            ADMIN, shutdown_server_sessions),
    Command(("show", "errors"), "show errors [<px>] [request|response]",
            "report last request and/or response errors for each proxy", OPERATOR, show_errors),
    Command(("show", "env"), "show env [var]", "dump environment variables known to the process", OPERATOR,
            show_env),
    Command(("show", "version"), "show version", "show version of the current process", USER, show_version),
    Command(("show", "activity"), "show activity", "show per-thread activity stats (for support/developers)", USER,
            show_activity),
]

# ``show info`` and ``show stat`` take haproxy's json / typed options here.
_REPLACED = {("show", "info"), ("show", "stat")}
RUNTIME_STATS_COMMANDS = CommandTable([
    *(c for c in STATS_COMMANDS.commands if c.words not in _REPLACED),
    *RUNTIME_COMMANDS,
    Command(("show", "info"), "show info [desc|json|typed|float]*", "report information about the running process",
            USER, show_info_as),
    Command(("show", "stat"), "show stat [desc|json|no-maint|typed|up]*", "report counters for each proxy and server",
            USER, show_stat_as),
])
