"""Lua services (``http-request use-service lua.NAME``) as callables for the HTTP stream."""

from __future__ import annotations

from typing import Any

from luaproxy.worker.http.errors import LocalProtocolError

from . import runner
from .applet_http import LIVE, AppletState, hand_over
from .applet_tcp import TcpAppletState
from .contexts import SERVICE, Run
from .errors import LuaApiError
from .http import headers_table


class LuaService:
    """What both kinds of service share: their launcher (prelude.service_launcher), made on first use, once the
    configuration has set the limits."""

    def __init__(self, engine: Any, name: str, function: Any) -> None:
        self.engine, self.name, self.function = engine, name, function
        self._launch: Any = None
        self.tally = engine.call_metrics.tally(SERVICE, name)

    def launcher(self, metatable: Any) -> Any:
        if self._launch is None:
            self._launch = self.engine.runtime.prelude.service_launcher(self.engine.limits.forced_yield,
                                                                        self.function, metatable)
        return self._launch


class LuaHttpService(LuaService):
    def __call__(self, txn: Any, io: Any) -> None:
        """Run the service to its end; the stream finishes the response (500 if none was started)."""
        engine = self.engine
        launch = self._launch or self.launcher(engine.applet_metatable)
        run = Run(SERVICE, self.name, txn, engine.limits.service_timeout, io.flush)
        state = AppletState(io, txn)
        handle = id(state)
        LIVE[handle] = state
        try:
            result, output = runner.run_applet(engine.runtime, run, (launch, handle), self.tally)
            if output and not io.whole(*output):  # the whole response in one piece, else the general path
                try:
                    hand_over(state, *output)
                except (LuaApiError, LocalProtocolError) as exc:  # what start_response or send raised, in Lua, before
                    result = runner.Result(runner.ERROR,
                                           error=f"{exc} (the response the service left at its end)")
        finally:
            del LIVE[handle]
        state.release()
        if result.outcome is runner.ERROR or result.outcome is runner.TIMEOUT:
            runner.log_failure(self.engine.logger, f"Lua applet http '{self.name}'", result)


class LuaTcpService(LuaService):
    """``tcp-request content use-service lua.NAME``: the function gets an AppletTCP."""

    def __call__(self, txn: Any) -> None:
        engine = self.engine
        state = TcpAppletState(txn)
        result = runner.run_applet(engine.runtime, Run(SERVICE, self.name, txn, engine.limits.service_timeout),
                                   (self.launcher(engine.tcp_applet_metatable), state), self.tally)[0]
        state.release()
        if result.outcome is runner.ERROR or result.outcome is runner.TIMEOUT:
            runner.log_failure(self.engine.logger, f"Lua applet tcp '{self.name}'", result)


def applet_field(runtime: Any, request: Any, name: str) -> Any:
    """One of the attributes AppletHTTP exposes: method, path, qs, version, length, headers."""
    if name == "method":
        return request.method
    if name == "path":
        return request.path
    if name == "qs":
        return request.query or ""
    if name == "version":
        return request.version.removeprefix("HTTP/")
    if name == "length":
        length = request.headers.get_all("content-length")
        return int(length[-1]) if length and length[-1].isdigit() else 0
    return headers_table(runtime, request.headers)
