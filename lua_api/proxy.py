"""The Proxy, Server and Listener classes, and core.proxies / backends / frontends.

Reads (names, weights, addresses, statistics) come from this worker's proxies;
a statistic is this worker's share (``show stat`` on the management socket sums
every worker's).  A server change (``set_maint``, ``set_weight``...) goes through
``worker.backend.state.change_server``, the one place the management socket's
commands use too: applied here at once, then sent to the master (``publish``),
which applies it to its copy, records it for reloads and sends it to every worker.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from luaproxy.worker.backend.attached import shut_sessions
from luaproxy.worker.backend.state import AdminState, ServerChange, change_server

from . import checks, stats


@dataclass(frozen=True, slots=True)
class ServerRef:
    proxy: Any
    server: Any

    def __repr__(self) -> str:
        return f"{self.proxy.name}/{self.server.name}"


@dataclass(frozen=True, slots=True)
class ListenerRef:
    proxy: Any
    name: str
    number: int

    def __repr__(self) -> str:
        return f"{self.proxy.name}/{self.name}"


class ServerUpdates:
    """Server changes made from Lua; ``publish`` (set by the worker's control agent) tells the master."""

    def __init__(self, logger: Any) -> None:
        self.logger = logger
        self.publish: Any = None
        self.broadcast: Any = None  # a message for every other worker (set by the control agent)

    def apply(self, ref: ServerRef, op: str, value: str = "", port: str = "") -> str | None:
        change = ServerChange(ref.proxy.name, ref.server.name, op, value, port, origin="Lua script")
        result = change_server(ref.proxy, ref.server, change, self.logger)
        if result.applied and self.publish is not None:
            self.publish(change)
        return result.text

    def pin(self, ref: ServerRef) -> None:
        """Lua holds this server now: as in haproxy, ``del server`` refuses it from then on (every process
        learns it through the master)."""
        if ref.server.pinned:
            return
        ref.server.pinned = True
        if self.publish is not None:
            self.publish(ServerChange(ref.proxy.name, ref.server.name, "pin", origin="Lua script"))

    def shut_sessions(self, ref: ServerRef) -> None:
        """Server:shut_sess(): cut the server's sessions here at once, then in every other worker."""
        shut_sessions(ref.server)
        if self.broadcast is not None:
            self.broadcast({"t": "shutdown-server-sessions", "server": f"{ref.proxy.name}/{ref.server.name}"})

    def shut_backup_sessions(self, proxy: Any) -> None:
        """Proxy:shut_bcksess(): cut the sessions of the proxy's backup servers, as haproxy 2.6 does."""
        for server in proxy.servers:
            if server.backup:
                self.shut_sessions(ServerRef(proxy, server))

    def pause(self, proxy: Any, paused: bool) -> None:
        """Proxy:pause()/resume(): the frontend's listeners stop (or start again) accepting in every
        worker, like ``disable/enable frontend`` (the master applies it, then every worker, this one too)."""
        from luaproxy.master.control.runtime import FrontendChange

        if proxy.has_frontend and not proxy.stopped and self.publish is not None:
            self.publish(FrontendChange(proxy.name, paused=paused))

    def stop(self, proxy: Any) -> None:
        """Proxy:stop(): the frontend's listening sockets close for good in every process, the master's too,
        so the port is free (a reload binds it again, as haproxy's new process does)."""
        from luaproxy.master.control.runtime import FrontendChange

        if proxy.has_frontend and not proxy.stopped and self.publish is not None:
            self.logger.warning(f"Proxy {proxy.name} stopped.")
            self.publish(FrontendChange(proxy.name, stopped=True))


def get_cap(proxy: Any) -> str:
    if proxy.has_frontend and proxy.has_backend:
        return "proxy"
    return "frontend" if proxy.has_frontend else "backend"


def get_mode(proxy: Any) -> str:
    return proxy.mode if proxy.mode in ("tcp", "http", "health") else "unknown"


def server_functions(updates: ServerUpdates) -> dict[str, Any]:
    def set_state(op: str, value: str):
        def change(ref: ServerRef) -> str | None:
            return updates.apply(ref, op, value)
        return change

    def set_weight(ref: ServerRef, weight: Any) -> str | None:
        return updates.apply(ref, "weight", checks.string(weight, "set_weight", 2))

    def set_maxconn(ref: ServerRef, maxconn: Any) -> str | None:
        return updates.apply(ref, "maxconn", checks.string(maxconn, "set_maxconn", 2))

    def set_addr(ref: ServerRef, addr: Any, port: Any = None) -> str | None:
        port_text = checks.string(port, "set_addr", 3) if port is not None else ""
        return updates.apply(ref, "addr", checks.string(addr, "set_addr", 2), port_text)

    functions = {
        "get_name": lambda ref: ref.server.name,
        "get_puid": lambda ref: str(ref.server.id),
        "is_draining": lambda ref: int(ref.server.admin_state == AdminState.DRAIN),
        "get_maxconn": lambda ref: ref.server.maxconn,
        "set_maxconn": set_maxconn,
        "get_weight": lambda ref: ref.server.weight,
        "set_weight": set_weight,
        "get_addr": lambda ref: f"{ref.server.host}:{ref.server.port}",
        "set_addr": set_addr,
        "shut_sess": updates.shut_sessions,
        "set_drain": set_state("state", "drain"),
        "set_maint": set_state("state", "maint"),
        "set_ready": set_state("state", "ready"),
        "check_enable": set_state("check", "enable"),
        "check_disable": set_state("check", "disable"),
        "check_force_up": set_state("health", "up"),
        "check_force_nolb": set_state("health", "nolb"),
        "check_force_down": set_state("health", "down"),
        "agent_enable": set_state("agent", "enable"),
        "agent_disable": set_state("agent", "disable"),
        "agent_force_up": set_state("agent", "up"),
        "agent_force_down": set_state("agent", "down"),
    }
    return {name: pinning(updates, function) for name, function in functions.items()}


def pinning(updates: ServerUpdates | None, function: Any) -> Any:
    """*function* (a Server method), which first marks its server as held by Lua."""
    if updates is None:
        return function

    @functools.wraps(function)
    def run(ref: ServerRef, *args: Any) -> Any:
        updates.pin(ref)
        return function(ref, *args)

    return run


def proxy_functions(updates: ServerUpdates) -> dict[str, Any]:
    return {"get_cap": get_cap, "get_mode": get_mode, "shut_bcksess": updates.shut_backup_sessions,
            "pause": lambda proxy: updates.pause(proxy, True), "resume": lambda proxy: updates.pause(proxy, False),
            "stop": updates.stop}


LIVE_SERVERS = """
local setmetatable = setmetatable
return function(lookup, entries)
   return setmetatable({}, {
      __index = function(_, name) return lookup(name) end,
      __pairs = function(self)
         local names, objects = entries()
         local i = 0
         return function()
            i = i + 1
            local name = names[i]
            if name ~= nil then return name, objects[i] end
         end, self, nil
      end,
   })
end
"""


class LiveServers:
    """``Proxy.servers``: the backend's servers as they are now, those ``add server`` brought included and
    those ``del server`` removed left out; a server keeps one Lua object while it lives."""

    def __init__(self, runtime: Any, server_class: Any, proxy: Any) -> None:
        self.runtime = runtime
        self.server_class = server_class
        self.proxy = proxy
        self.objects: dict[str, tuple[Any, Any]] = {}

    def lookup(self, name: Any) -> Any:
        server = next((s for s in self.proxy.servers if s.name == name), None)
        if server is None:
            self.objects.pop(name, None)
            return None
        return self._object(server)

    def entries(self) -> tuple[Any, Any]:
        """Every server's name and object, in order, for ``pairs``: one pass over the servers (a name
        looked up again at each step made a walk quadratic)."""
        servers = self.proxy.servers
        for gone in self.objects.keys() - {s.name for s in servers}:
            del self.objects[gone]
        return (self.runtime.table(*(s.name for s in servers)),
                self.runtime.table(*(self._object(s) for s in servers)))

    def _object(self, server: Any) -> Any:
        """The server's Lua object, the same one while the server lives."""
        known = self.objects.get(server.name)
        if known is not None and known[0] is server:
            return known[1]
        obj = self.server_class.new(ServerRef(self.proxy, server))
        obj.name, obj.puid = server.name, str(server.id)
        self.objects[server.name] = (server, obj)
        return obj

    def table(self, make: Any) -> Any:
        return make(self.lookup, self.entries)


def listener_key(bind_names: list[str], number: int) -> str:
    """A listener's key in Proxy.listeners: its bind line's ``name``, else ``sock-<id>`` (as haproxy 2.6)."""
    named = bind_names[number - 1] if number <= len(bind_names) else ""
    return named or f"sock-{number}"


def build_tables(runtime: Any, classes: dict[str, Any], proxies: list[Any],
                 listener_counts: dict[str, int], updates: ServerUpdates | None = None,
                 maxconn: int = 0) -> tuple[Any, Any, Any]:
    """(core.proxies, core.backends, core.frontends): Proxy objects by name, built once per process."""
    def stats_method(function: Any) -> Any:
        return lambda state: runtime.table_from(function(state))

    getters = {"Proxy": lambda proxy: stats.proxy_stats(proxy, maxconn),
               "Server": pinning(updates, lambda ref: stats.server_stats(ref.proxy, ref.server)),
               "Listener": lambda ref: stats.listener_stats(ref.proxy, ref.number)}
    for name, getter in getters.items():
        classes[name].methods.get_stats = runtime.prelude.method(classes[name].metatable, "get_stats",
                                                                 stats_method(getter))
    every, backends, frontends = runtime.table(), runtime.table(), runtime.table()
    live_servers = runtime.lua.execute(LIVE_SERVERS)
    for proxy in proxies:
        obj = classes["Proxy"].new(proxy)
        obj.name, obj.uuid = proxy.name, str(proxy.id)
        servers = LiveServers(runtime, classes["Server"], proxy).table(live_servers)
        listeners = runtime.table()
        for number in range(1, listener_counts.get(proxy.name, 0) + 1):
            name = listener_key(proxy.bind_names, number)
            listeners[name] = classes["Listener"].new(ListenerRef(proxy, name, number))
        obj.servers, obj.listeners = servers, listeners
        if proxy.table is not None:
            obj.stktable = classes["StickTable"].new(proxy.table)
        every[proxy.name] = obj
        if proxy.has_backend:
            backends[proxy.name] = obj
        if proxy.has_frontend:
            frontends[proxy.name] = obj
    return every, backends, frontends
