"""HAProxy 2.6's Lua filters on TCP streams: ``filter lua.NAME`` in a ``mode tcp`` proxy.

Each stream gets its own filter instance (``Flt:new()``).  ``start_analyze``
runs as the request's analysis starts (before the ``tcp-request content``
rules) and as the response's starts (the server connected); ``end_analyze``
once that side's peer has closed and the filter let go of its data, or as the
stream ends.  A filter that called ``filter.register_data_filter(self, chn)``
sees the side's forwarded bytes in ``tcp_payload(txn, chn)``: during the call
``chn`` (the same object as ``txn.req`` or ``txn.res``) shows the bytes this
filter has not yet let through, and its methods (``data``, ``line``, ``set``,
``insert``, ``remove``, ``prepend``, ``append``, ``forward``, ``send``,
``input``, ``output``) work on them, never waiting (a filter cannot yield).
What ``forward`` and ``send`` moved, then the number of bytes it returned (all
of them when it returns nothing; ``filter.WAIT`` is 0: hold everything), goes
on; the rest is shown again with the next bytes.  A filter holds at most a
buffer (tune.bufsize); when the peer closes, it sees what it held once more,
then it all goes on.  A Lua error, a timeout or a negative return
(``filter.ERROR``) ends the stream, as in haproxy 2.6.  What a TCP service
(``tcp-request content use-service``) exchanges with the client is not filtered.
"""

from __future__ import annotations

from typing import Any

from luaproxy.worker.channel import Channel
from luaproxy.worker.tcp.filters import TcpFilterError

from . import runner
from .contexts import Context, Run


class FilterView(Channel):
    """What a filter callback's channel shows: the bytes this filter has not let through yet.

    A filter callback cannot wait for more, as in haproxy: every wait returns at once."""

    __slots__ = ()

    def wait_input(self, timeout: float | None = None, need_line: bool = False) -> bool:
        return False

    def wait_more(self, size: int, timeout: float) -> bool:
        return False

    def wait_for(self, condition: Any, timeout: float | None = None) -> bool:
        return False

    @property
    def req(self) -> FilterView:
        """The driver puts the view in a Channel object's slot 0, where its transaction is otherwise: the
        Channel methods take the channel from that slot's ``req``/``res`` (lua_api.channel.functions_of)."""
        return self

    res = req


class LuaTcpFilterConf:
    """One ``filter lua.NAME`` line of a TCP proxy (the Lua filter object its function returned)."""

    __slots__ = ("conf", "driver", "engine", "name")

    def __init__(self, engine: Any, name: str, conf: Any, driver: Any) -> None:
        self.engine = engine
        self.name = name
        self.conf = conf
        self.driver = driver

    def attach(self, txn: Any) -> LuaTcpFilter | None:
        """The stream's instance (``Flt:new()``), or None when new() returned nil."""
        made = LuaTcpFilter(self, txn)
        return made if made.call(self.driver.tcp_attach)[0] else None


class LuaTcpFilter:
    """One stream's instance of a Lua TCP filter: the Lua object stays in the driver's table, keyed by
    the stream's TXN object and the filter's configuration."""

    __slots__ = ("conf", "txn", "views")

    def __init__(self, conf: LuaTcpFilterConf, txn: Any) -> None:
        self.conf = conf
        self.txn = txn
        self.views: dict[str, FilterView] = {}

    def start(self, side: str) -> bool:
        channel = self.txn.req if side == "req" else self.txn.res
        view = self.views[side] = FilterView(side, channel.bufsize)
        return self._analyze("start_analyze", side, view)

    def end(self, side: str) -> None:
        view = self.views.get(side)
        if view is not None:
            view.input_closed = True
            self._analyze("end_analyze", side, view)

    def data(self, side: str, data: bytes, closed: bool) -> bytes:
        """The bytes this filter lets through once it saw *data*; raises TcpFilterError when it failed."""
        view = self.views.get(side)
        if view is None:
            return data
        view.input += data
        view.input_closed = closed
        if not view.input and not closed:
            return b""
        view.readable = True
        try:
            values = self.call(self.conf.driver.tcp_payload, side, view)  # (false) or (true, count or nil)
        finally:
            view.readable = False
        count = values[1] if values[0] and len(values) > 1 else None
        if count is not None and count < 0:
            raise TcpFilterError(f"Lua filter '{self.conf.name}': tcp_payload returned an error")
        size = len(view.input)
        if count is None or closed or size >= view.bufsize:
            count = size
        out = bytes(view.output) + bytes(view.input[:count])
        view.output.clear()
        del view.input[:count]
        return out

    def _analyze(self, name: str, side: str, view: FilterView) -> bool:
        """start_analyze/end_analyze: False when it failed or returned filter.ERROR."""
        view.readable = False
        try:
            code = self.call(self.conf.driver.tcp_analyze, name, side, view)[0]
        except TcpFilterError:
            return False
        return code is None or code >= 0

    def call(self, function: Any, *args: Any) -> tuple[Any, ...]:
        """One driver function in a coroutine (the script may call what an action may): what it returned,
        at least one value.  Raises TcpFilterError (logged) on a Lua error or timeout."""
        engine = self.conf.engine
        label = f"filter lua.{self.conf.name}"
        run = Run(Context.ACTION, label, self.txn, engine.limits.session_timeout)
        result = runner.run(engine.runtime, function, run, engine.txn_object(self.txn), self.conf.conf, *args,
                            forced_yield=engine.limits.forced_yield)
        if result.outcome is runner.Outcome.TIMEOUT or result.outcome is runner.Outcome.ERROR:
            runner.log_failure(engine.logger, f"Lua filter '{self.conf.name}'", result)
            raise TcpFilterError(label)
        return result.values or (None,)
