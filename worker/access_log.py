"""Traffic logs: one line per transaction (HTTP) or session (TCP), in the proxy's format, to its loggers.

``build`` reads a proxy's ``log``, ``log-format`` and logging options once, at
start-up; the ``AccessLog`` it returns is the proxy's ``access_log``, which the
streams call when a transaction ends.  It also holds the proxy's loggers, where
``txn:log`` sends Lua lines.  A log never ends a stream: whatever goes wrong
while rendering is reported once per proxy and the line is dropped.
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from .log import Logger, LogServer, parse_log_server
from .proxy import Proxy
from .samples import LOG_VARIABLES, LogFormat, PatternLibrary, SampleError, SampleRegistry, parse_log_format

HTTPLOG = ("%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq "
           "%hr %hs %{+Q}r")
HTTPSLOG = HTTPLOG + (" %[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed] "
                      "%[ssl_fc_sni]/%sslv/%sslc")
HTTPLOG_CLF = ('%{+Q}o %{-Q}ci - - [%trg] %r %ST %B "" "" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc '
               "%bc %sc %rc %sq %bq %CC %CS %hrl %hsl")
TCPLOG = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq"
INFO, ERR = 6, 3

_requests = itertools.count()
"""This process's request counter (%rt): HAProxy numbers every stream of a process."""


class AccessLog:
    """A proxy's traffic log: format (None: HAProxy's "Connect from" line), loggers, options."""

    __slots__ = ("_broken", "_count", "_greeted", "dontlog_normal", "dontlognull", "format", "logger",
                 "loggers", "proxies", "proxy", "separate_errors", "tag")

    def __init__(self, proxy: Proxy, loggers: Sequence[LogServer], log_format: LogFormat | None,
                 logger: Logger, proxies: Sequence[Proxy] = (), tag: str | None = None) -> None:
        self.proxy = proxy
        self.loggers = tuple(loggers)
        self.format = log_format
        self.logger = logger
        self.proxies = tuple(proxies) or (proxy,)
        self.tag = tag
        self.dontlognull = bool(proxy.options.get("dontlognull"))
        self.dontlog_normal = bool(proxy.options.get("dontlog-normal"))
        self.separate_errors = bool(proxy.options.get("log-separate-errors"))
        self._count = itertools.count()
        self._greeted: weakref.WeakSet[Any] = weakref.WeakSet()
        self._broken = False

    def __call__(self, txn: Any) -> None:
        """Log one ended transaction; never raises into the stream."""
        try:
            self._log(txn)
        except Exception as exc:  # a log line must never end a stream
            if not self._broken:
                self._broken = True
                self.logger.alert(f"proxy '{self.proxy.name}': cannot build its log line: {exc!r}")

    def _log(self, txn: Any) -> None:
        serial = next(_requests)
        if self.format is None:
            self._connect_line(txn)
            return
        if self.dontlognull and txn.request is None and not txn.bytes_in:
            return
        error = is_error(txn)
        if self.dontlog_normal and not error:
            return
        level = traffic_level(txn.loglevel, error and self.separate_errors)
        if level is None:
            return
        overrides = {"rt": serial, "lc": next(self._count),
                     "ac": sum(p.current_conns for p in self.proxies)}
        self.logger.send(self.loggers, level, self.format.render(txn, overrides), self.tag)

    def _connect_line(self, txn: Any) -> None:
        """Without a format HAProxy logs each connection once (when accepted; here, when its first transaction ends)."""
        if txn.client in self._greeted:
            return
        self._greeted.add(txn.client)
        mode = "HTTP" if self.proxy.mode == "http" else "TCP"
        line = f"Connect from {txn.src}:{txn.src_port} to {txn.dst}:{txn.dst_port} ({self.proxy.name}/{mode})"
        self.logger.send(self.loggers, INFO, line, self.tag)


def is_error(txn: Any) -> bool:
    """HAProxy's idea of a failed stream (``dontlog-normal``, ``log-separate-errors``)."""
    cause = txn.termination[0]
    return cause not in "-L" or (cause == "-" and txn.retries > 0) or (txn.request is not None and txn.status >= 500)


def traffic_level(loglevel: int | None, error: bool) -> int | None:
    """The level of a traffic line; None when silenced.

    ``txn.loglevel`` holds HAProxy's per-stream override: 0 or None for none,
    -1 for silent, else the level plus one.  Lua's ``set_loglevel`` stores its
    argument as is, as haproxy 2.6 does, so ``set_loglevel(core.warning)``
    logs the traffic line at ``err``.
    """
    if loglevel:
        return None if loglevel < 0 else loglevel - 1
    return ERR if error else INFO


def proxy_loggers(proxy: Proxy | None) -> tuple[LogServer, ...]:
    """A proxy's own loggers (``log global`` included); empty when it has none."""
    access_log = proxy.access_log if proxy is not None else None
    return access_log.loggers if isinstance(access_log, AccessLog) else ()


def lua_log(txn: Any, level: int, message: str) -> None:
    """``txn:log`` and friends: to the backend's loggers as HAProxy does, else to the global ones."""
    txn.logger.log(level, message, proxy_loggers(txn.backend or txn.frontend))


def build(proxy: Proxy, settings: Mapping[str, Sequence[Sequence[str]]], global_logs: Sequence[LogServer],
          logger: Logger, registry: SampleRegistry, library: PatternLibrary | None = None,
          proxies: Sequence[Proxy] = (), warnings: list[str] | None = None) -> AccessLog | None:
    """The proxy's access log, or None when it has no loggers; *proxies* are the worker's (for %ac).

    Raises ValueError (a ``log`` line) or SampleError (the format), worded as HAProxy words them.
    """
    loggers: list[LogServer] = []
    for words in settings.get("log", ()):
        if tuple(words) == ("global",):
            loggers.extend(global_logs)
        else:
            loggers.append(parse_log_server(words))
    if not loggers:
        return None
    text = _format_text(proxy, settings, warnings if warnings is not None else [])
    log_format = None
    if text is not None:
        log_format = parse_log_format(text, registry, library, mandatory=True)
        if proxy.mode != "http":
            for name in log_format.variables:
                if LOG_VARIABLES[name].http:
                    raise SampleError(f"format variable '{name}' is reserved for HTTP mode.")
    tags = settings.get("log-tag")
    return AccessLog(proxy, loggers, log_format, logger, proxies, tags[-1][0] if tags else None)


def _format_text(proxy: Proxy, settings: Mapping[str, Sequence[Sequence[str]]], warnings: list[str]) -> str | None:
    """``log-format`` wins, then ``option httplog`` (falling back to tcplog outside HTTP mode), then tcplog."""
    custom = settings.get("log-format")
    if custom:
        return " ".join(custom[-1])
    httplog = next((name for name in ("httplog", "httpslog") if proxy.options.get(name)), None)
    if httplog and proxy.mode != "http":
        if proxy.has_frontend:
            warnings.append(f"'option {httplog}' not usable with proxy '{proxy.name}' (needs 'mode http'). "
                            "Falling back to 'option tcplog'.")
        return TCPLOG
    if httplog:
        clf = any("clf" in args for args in settings.get(f"option {httplog}", ()))
        return HTTPLOG_CLF if clf else HTTPSLOG if httplog == "httpslog" else HTTPLOG
    return TCPLOG if proxy.options.get("tcplog") else None
