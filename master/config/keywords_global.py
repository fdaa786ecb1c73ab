"""Keywords of the ``global`` section."""

from __future__ import annotations

import os
import socket
import urllib.parse
from dataclasses import dataclass

from luaproxy.worker.log import FACILITIES, Logger, LogServer, parse_log_server

from .keywords import GLOBAL, expect_args, on_off, to_int
from .lexer import Line
from .model import FleetSync, GlobalSettings, LogTarget, LuaLoad
from .units import parse_size, parse_time

G = ("global",)


@GLOBAL.register("lua-load", G, "Load and run the body of a Lua file.")
def _lua_load(g: GlobalSettings, line: Line) -> None:
    (path,) = expect_args(line, 1, 1, "a Lua file path")
    g.lua_loads.append(LuaLoad(path, line))


@GLOBAL.register("lua-load-per-thread", G, "Same as lua-load: each worker already has its own Lua state.")
def _lua_load_per_thread(g: GlobalSettings, line: Line) -> None:
    _lua_load(g, line)


@GLOBAL.register("lua-prepend-path", G, "Prepend a pattern to Lua's package.path (or cpath).")
def _lua_prepend_path(g: GlobalSettings, line: Line) -> None:
    args = expect_args(line, 1, 2, "a path pattern and optionally 'path' or 'cpath'")
    kind = args[1] if len(args) == 2 else "path"
    if kind not in ("path", "cpath"):
        raise line.error(f"'lua-prepend-path' type must be 'path' or 'cpath', got '{kind}'.")
    g.lua_paths.append((args[0], kind))


@GLOBAL.register("nbproc", G, "Number of worker processes (an alias of nbthread).")
def _nbproc(g: GlobalSettings, line: Line) -> None:
    (n,) = expect_args(line, 1, 1, "a number of processes")
    g.nbproc = to_int(line, n, "number of processes", 1)


@GLOBAL.register("pidfile", G, "Write the master's PID to this file.")
def _pidfile(g: GlobalSettings, line: Line) -> None:
    (g.pidfile,) = expect_args(line, 1, 1, "a file path")


@GLOBAL.register("daemon", G, "Detach from the terminal (as -D).")
def _daemon(g: GlobalSettings, line: Line) -> None:
    expect_args(line, 0, 0, "no argument")
    g.daemon = True


@GLOBAL.register("master-worker", G, "Master-worker mode (as -W); luaproxy always runs a master.")
def _master_worker(g: GlobalSettings, line: Line) -> None:
    expect_args(line, 0, 1, "nothing or 'no-exit-on-failure'")


@GLOBAL.register("maxconn", G, "Maximum concurrent connections per process.")
def _maxconn(g: GlobalSettings, line: Line) -> None:
    (n,) = expect_args(line, 1, 1, "a number of connections")
    g.maxconn = to_int(line, n, "number of connections", 1)


@GLOBAL.register("hard-stop-after", G, "Longest a soft stop may last.")
def _hard_stop_after(g: GlobalSettings, line: Line) -> None:
    (value,) = expect_args(line, 1, 1, "a time")
    try:
        g.hard_stop_after = parse_time(value)
    except ValueError as exc:
        raise line.error(str(exc)) from None


@GLOBAL.register("default-path", G, "Base of relative paths: current, config, parent or origin <path>.")
def _default_path(g: GlobalSettings, line: Line) -> None:
    args = expect_args(line, 1, 2, "'current', 'config', 'parent' or 'origin <path>'")
    if args[0] not in ("current", "config", "parent", "origin") or (args[0] == "origin") != (len(args) == 2):
        raise line.error("'default-path' expects 'current', 'config', 'parent' or 'origin <path>'.")
    g.default_path = " ".join(args)


@dataclass(slots=True)
class LogLine(LogTarget):
    """A global ``log`` line: LogTarget's summary plus what the loggers send with."""

    server: LogServer | None = None


@GLOBAL.register("log", G, "log <target> [len N] [format F] <facility> [<level> [<minlevel>]]: where logs go.")
def _log(g: GlobalSettings, line: Line) -> None:
    try:
        server = parse_log_server(line.words[1:])
    except ValueError as exc:
        raise line.error(str(exc)) from None
    g.logs.append(LogLine(server.target, FACILITIES[server.facility], server.max_level, server.fmt, server))


def log_servers(g: GlobalSettings) -> list[LogServer]:
    """The global loggers, in configuration order."""
    return [t.server for t in g.logs if isinstance(t, LogLine) and t.server is not None]


def configure_logger(logger: Logger, g: GlobalSettings) -> None:
    """Hand the global log settings to *logger*, once the Lua body context has run (as HAProxy)."""
    logger.configure(log_servers(g), g.log_tag, g.log_send_hostname,
                     g.tune.get("tune.lua.log.loggers", "on") != "off", g.tune.get("tune.lua.log.stderr", "auto"))


@GLOBAL.register("log-tag", G, "The tag of syslog lines (default: haproxy).")
def _log_tag(g: GlobalSettings, line: Line) -> None:
    (g.log_tag,) = expect_args(line, 1, 1, "a tag")


@GLOBAL.register("log-send-hostname", G, "Put this host name (default: the system's) in syslog headers.")
def _log_send_hostname(g: GlobalSettings, line: Line) -> None:
    args = expect_args(line, 0, 1, "an optional host name")
    g.log_send_hostname = args[0] if args else socket.gethostname()


ON_OFF_TUNES = {"tune.lua.log.loggers": ("on", "off"), "tune.lua.log.stderr": ("on", "auto", "off"),
                "tune.ssl.keylog": ("on", "off"), "tune.idle-pool.shared": ("on", "off"),
                "tune.sched.low-latency": ("on", "off"), "tune.listener.multi-queue": ("on", "off"),
                "tune.fd.edge-triggered": ("on", "off")}


def _tune(g: GlobalSettings, line: Line) -> None:
    name = line.words[0]
    if name in ON_OFF_TUNES:
        g.tune[name] = on_off(line, ON_OFF_TUNES[name])
        return
    (value,) = expect_args(line, 1, 1, "one value")
    try:
        if name in ("tune.bufsize", "tune.maxrewrite"):
            value = str(parse_size(value))
        elif name.endswith("timeout"):
            value = str(parse_time(value))
    except ValueError as exc:
        raise line.error(str(exc)) from None
    g.tune[name] = value


for _name, _doc in (
    ("tune.bufsize", "Buffer size; also the largest request header block."),
    ("tune.maxrewrite", "Room kept for header rewrites."),
    ("tune.lua.session-timeout", "Longest Lua run time of an action or fetch."),
    ("tune.lua.task-timeout", "Longest Lua run time of a task."),
    ("tune.lua.service-timeout", "Longest Lua run time of a service."),
    ("tune.lua.log.loggers", "Send Lua logs to the proxy's loggers (on|off)."),
    ("tune.lua.log.stderr", "Copy Lua logs to stderr (on|auto|off)."),
    ("tune.lua.burst-timeout", "Longest uninterrupted Lua run."),
):
    GLOBAL.register(_name, G, _doc)(_tune)


H2_TUNES = {
    "tune.h2.header-table-size": (0, 65536, "HPACK table size a client may make us keep (4096)."),
    "tune.h2.initial-window-size": (0, 2**31 - 1, "Body bytes an HTTP/2 client may send ahead on a stream (65535)."),
    "tune.h2.max-concurrent-streams": (1, 65535, "Streams an HTTP/2 client may have open at once (100)."),
    "tune.h2.max-frame-size": (16384, 16777215, "Largest HTTP/2 frame we accept (16384)."),
}


def _tune_h2(g: GlobalSettings, line: Line) -> None:
    (value,) = expect_args(line, 1, 1, "one number")
    low, high, _ = H2_TUNES[line.words[0]]
    g.tune[line.words[0]] = str(to_int(line, value, "value", low, high))


for _name, (_low, _high, _doc) in H2_TUNES.items():
    GLOBAL.register(_name, G, _doc)(_tune_h2)


MAX_FORCED_YIELD = 1_000_000
"""More instructions than this between two checks would let one Lua run hold a worker for too long."""
MAX_LUA_MEMORY_MB = 1 << 20


@GLOBAL.register("tune.lua.forced-yield", G, "Instructions between forced yields (and time checks) of a Lua run.")
def _forced_yield(g: GlobalSettings, line: Line) -> None:
    (value,) = expect_args(line, 1, 1, "a number of instructions")
    g.tune[line.words[0]] = str(to_int(line, value, "number of instructions", 1, MAX_FORCED_YIELD))


@GLOBAL.register("tune.lua.maxmem", G, "Lua memory limit in megabytes per worker (0: none).")
def _lua_maxmem(g: GlobalSettings, line: Line) -> None:
    (value,) = expect_args(line, 1, 1, "a size in megabytes")
    g.tune[line.words[0]] = str(to_int(line, value, "size in megabytes", 0, MAX_LUA_MEMORY_MB))


@GLOBAL.register("tune.lua.duration-histogram", G, "Observe luaproxy_lua_duration_seconds on every Lua run "
                 "(on|off; off by default: the call and error counters are always kept).")
def _lua_duration_histogram(g: GlobalSettings, line: Line) -> None:
    g.tune[line.words[0]] = on_off(line)


@GLOBAL.register("watchdog", G, "Kill and respawn a worker silent that long on its control socket (0: never).")
def _watchdog(g: GlobalSettings, line: Line) -> None:
    (value,) = expect_args(line, 1, 1, "a time (e.g. 5s), or 0 to turn the watchdog off")
    try:
        g.watchdog = parse_time(value)
    except ValueError as exc:
        raise line.error(str(exc)) from None
    if 0 < g.watchdog < 1:
        raise line.error(f"'watchdog' must be 0 (off) or at least 1s, got '{value}'.",
                         "A worker's heartbeat comes every half second.")


@GLOBAL.register("map-persist", G, "Write committed runtime map/ACL changes back to their files (on|off).")
def _map_persist(g: GlobalSettings, line: Line) -> None:
    g.map_persist = on_off(line) == "on"


@GLOBAL.register("fleet-sync", G, "fleet-sync <redis://|rediss://URL> [name <fleet>]: share maps and ACLs.")
def _fleet_sync(g: GlobalSettings, line: Line) -> None:
    args = expect_args(line, 1, 3, "a redis:// or rediss:// URL, then optionally 'name <fleet>'")
    if len(args) == 2 or (len(args) == 3 and args[1] != "name"):
        raise line.error("'fleet-sync' expects 'name <fleet>' after the URL.",
                         "Example: fleet-sync redis://10.0.0.5:6379/0 name edge")
    problem = fleet_url_problem(args[0])
    if problem:
        raise line.error(f"'fleet-sync': {problem}.", "Use redis://[user:password@]host:port[/db] or rediss://...")
    g.fleet_sync = FleetSync(args[0], args[2] if len(args) == 3 else "luaproxy")


def fleet_url_problem(url: str) -> str:
    """Why *url* is not a usable Redis URL, or '' when it is."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("redis", "rediss"):
        return f"'{url}' is not a redis:// or rediss:// URL"
    try:
        parsed.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        return f"bad port in '{url}'"
    if not parsed.hostname:
        return f"'{url}' needs a host"
    database = parsed.path.strip("/")
    if database and not database.isdigit():
        return f"the database in '{url}' must be a number"
    return ""


@GLOBAL.register("stats", G, "stats socket/timeout: the management socket.")
def _stats(g: GlobalSettings, line: Line) -> None:
    args = expect_args(line, 2, None, "'socket <address> [options]' or 'timeout <time>'")
    if args[0] not in ("socket", "timeout", "maxconn", "bind-process"):
        raise line.error(f"unknown 'stats' keyword '{args[0]}'.",
                         "Expected 'socket', 'timeout', 'maxconn' or 'bind-process'.")
    if args[0] == "bind-process":
        return  # processes are gone since haproxy 2.5, which still accepts the line and ignores it
    if args[0] == "socket":
        g.stats_sockets.append(line)
    elif args[0] == "timeout":
        try:
            g.stats_timeout = parse_time(args[1])
        except ValueError as exc:
            raise line.error(str(exc)) from None
    else:
        g.stats_maxconn = to_int(line, args[1], "stats maxconn", minimum=1)


@GLOBAL.register("set-var", G, "set-var proc.<name> <expr>: a process-wide variable set at start-up.")
def _set_var(g: GlobalSettings, line: Line) -> None:
    name, text = expect_args(line, 2, 2, "a proc. variable name and a sample expression")
    g.proc_vars.append(("set-var", name, text, line))


@GLOBAL.register("set-var-fmt", G, "set-var-fmt proc.<name> <fmt>: a process-wide variable from a log-format.")
def _set_var_fmt(g: GlobalSettings, line: Line) -> None:
    name, text = expect_args(line, 2, 2, "a proc. variable name and a log-format string")
    g.proc_vars.append(("set-var-fmt", name, text, line))


SSL_GLOBALS = (
    ("ssl-default-bind-ciphers", "Default 'ciphers' of 'bind … ssl' lines."),
    ("ssl-default-bind-ciphersuites", "Default 'ciphersuites' of 'bind … ssl' lines."),
    ("ssl-default-bind-curves", "Default 'curves' of 'bind … ssl' lines."),
    ("ssl-default-bind-options", "Default options of 'bind … ssl' lines (no-tlsv1x, ssl-min-ver…)."),
    ("ssl-default-server-ciphers", "Default 'ciphers' of 'server … ssl' lines."),
    ("ssl-default-server-ciphersuites", "Default 'ciphersuites' of 'server … ssl' lines."),
    ("ssl-default-server-options", "Default options of 'server … ssl' lines."),
    ("ssl-server-verify", "Default 'verify' of servers: none or required (the default)."),
    ("ca-base", "Directory of relative ca-file and crl-file paths."),
    ("crt-base", "Directory of relative crt and crt-list paths."),
    ("ssl-dh-param-file", "DH parameters (PEM) for DHE on every 'bind … ssl' certificate without its own."),
    ("ssl-skip-self-issued-ca", "Accepted; chains are sent as the PEM holds them."),
    ("ssl-provider", "Accepted: OpenSSL's default provider is what Python's ssl module loads."),
    ("ssl-provider-path", "Accepted: OpenSSL's default provider is what Python's ssl module loads."),
    ("ssl-propquery", "Accepted: OpenSSL's default property query applies."),
    ("ssl-load-extra-files", "Accepted; a '.key' beside a certificate is always read, bundles always tried."),
    ("ssl-load-extra-del-ext", "Look for 'x.key' beside 'x.crt' (instead of 'x.crt.key')."),
)


def _ssl_global(g: GlobalSettings, line: Line) -> None:
    name = line.words[0]
    if name in ("ssl-load-extra-del-ext", "ssl-skip-self-issued-ca"):
        expect_args(line, 0, 0, "no argument")
        g.ssl[name] = "on"
        return
    args = expect_args(line, 1, None if name.endswith(("-options", "-files")) else 1, "a value")
    if name == "ssl-server-verify" and args[0] not in ("none", "required"):
        raise line.error(f"'ssl-server-verify' expects 'none' or 'required', got '{args[0]}'.")
    if name == "ssl-dh-param-file":
        _check_dh_file(line, args[0])
    g.ssl[name] = " ".join(args)


def _check_dh_file(line: Line, path: str) -> None:
    """haproxy reads the file when it parses the line: one without DH parameters is refused there."""
    import ssl

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_dh_params(path)
    except (OSError, ssl.SSLError):
        raise line.error(f"'ssl-dh-param-file': unable to load DH parameters from file <{path}>.") from None


for _name, _doc in SSL_GLOBALS:
    GLOBAL.register(_name, G, _doc)(_ssl_global)


@GLOBAL.register("httpclient.ssl.verify", G, "httpclient.ssl.verify none|required: verify the servers of "
                 "core.httpclient (default required).")
def _httpclient_verify(g: GlobalSettings, line: Line) -> None:
    (value,) = expect_args(line, 1, 1, "'none' or 'required'")
    if value not in ("none", "required"):
        raise line.error(f"'httpclient.ssl.verify' expects 'none' or 'required', got '{value}'.")
    g.ssl[line.words[0]] = value


@GLOBAL.register("httpclient.ssl.ca-file", G, "httpclient.ssl.ca-file <file>: the CAs core.httpclient "
                 "verifies servers against (default @system-ca).")
def _httpclient_ca_file(g: GlobalSettings, line: Line) -> None:
    import ssl

    (value,) = expect_args(line, 1, 1, "a CA file")
    path = value
    if value != "@system-ca" and not os.path.isabs(value) and g.ssl.get("ca-base"):
        path = os.path.join(g.ssl["ca-base"], value)
    if value != "@system-ca":
        try:
            ssl.create_default_context(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise line.error(f"'httpclient.ssl.ca-file': cannot load CA file '{path}' "
                             f"({getattr(exc, 'strerror', None) or exc}).") from None
    g.ssl[line.words[0]] = path

for _name, _doc in (
    ("tune.ssl.cachesize", "Sessions kept in each worker's TLS session cache and in the one they share."),
    ("tune.ssl.lifetime", "How long a TLS session may be resumed."),
    ("tune.ssl.maxrecord", "Accepted; OpenSSL sizes its records."),
    ("tune.ssl.hard-maxrecord", "Accepted; OpenSSL sizes its records."),
    ("tune.ssl.default-dh-param", "DHE with RFC 7919 groups sized after the RSA key, capped by this size, without DH "
     "parameters."),
    ("tune.ssl.ssl-ctx-cache-size", "Certificates 'generate-certificates' made: one LRU per worker (1000)."),
    ("tune.ssl.capture-buffer-size", "Bytes of ClientHello lists kept for ssl_fc_cipherlist_* & co. (JA3)."),
    ("tune.ssl.capture-cipherlist-size", "Old name of tune.ssl.capture-buffer-size."),
    ("tune.ssl.keylog", "on: TLS 1.3 secrets kept for the ssl_fc_*_secret fetches (SSLKEYLOGFILE)."),
    ("tune.idle-pool.shared", "Accepted (on|off); each worker keeps its own idle server connections."),
    ("tune.sched.low-latency", "Accepted (on|off); gevent schedules the greenlets."),
    ("tune.listener.multi-queue", "Accepted (on|off); each worker accepts on its own."),
    ("tune.fd.edge-triggered", "Accepted (on|off); gevent's loop polls the sockets."),
):
    GLOBAL.register(_name, G, _doc)(_tune)


@GLOBAL.register("tune.ssl.force-private-cache", G, "Each worker keeps its own TLS session cache (not shared).")
def _tune_private_cache(g: GlobalSettings, line: Line) -> None:
    expect_args(line, 0, 0, "no value")
    g.tune[line.words[0]] = "on"
