"""The master's authoritative runtime state of servers and frontends, carried over by reloads.

Workers are forked from the master, so a change applied to the master's
proxies reaches a respawned worker with no further step.  Each change is also
recorded per server (or frontend) with what the configuration said when it
was made; a reload replays the recorded change on the new proxies when the
configuration still says the same for that server, as the map store keeps a
list's runtime changes unless its file changed (the configuration wins).
"""

from __future__ import annotations

from typing import Any

from luaproxy.worker.backend.state import ServerChange, ServerChangeError

from .control import runtime
from .control.runtime import Change, FrontendChange


class _Quiet:
    """The master applies quietly: worker 1, which also reports health checks, logs the change with the
    servers' real health (the master runs no checks)."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


_QUIET = _Quiet()


def _configured(proxy: Any, server: Any = None) -> tuple[Any, ...]:
    if server is None:
        return (proxy.maxconn,)
    return (server.iweight, server.host, server.port, server.disabled)


class RuntimeStore:
    def __init__(self, proxies: list[Any]) -> None:
        self.proxies = proxies
        self.baseline = {_key(p, s): _configured(p, s) for p in proxies for s in p.servers}
        self.baseline.update({("", p.name): _configured(p) for p in proxies if p.has_frontend})
        self.recorded: dict[tuple[str, str, str], Change] = {}
        """The last change of each kind (a server's op, a frontend's settings), in the order first made."""
        self.added: set[tuple[str, str]] = set()
        """Servers ``add server`` brought (their changes are replayed after them, whatever the configuration)."""

    def apply(self, change: Change) -> str:
        """Apply here first (raises ServerChangeError, changing nothing, when it cannot apply)."""
        text = runtime.apply(self.proxies, change, _QUIET)
        if isinstance(change, ServerChange) and change.op in ("add", "del", "pin"):
            if change.op != "pin":  # a reload starts Lua afresh: nothing holds the server any more
                self._record_farm(change)
            return text
        if isinstance(change, FrontendChange) and change.stopped:
            return text  # a reload binds the frontend's sockets again, as haproxy's new process does
        key = _change_key(change)
        previous = self.recorded.get(key)
        self.recorded[key] = previous.merged(change) if isinstance(previous, FrontendChange) else change
        return text

    def _record_farm(self, change: ServerChange) -> None:
        """``add server`` is replayed with the changes made to that server since; ``del server`` of a server
        added at run time forgets it all, of a configured one is replayed like any change."""
        target = (change.backend, change.server)
        for key in [k for k in self.recorded if k[:2] == target and k[2] != "del"]:
            del self.recorded[key]
        if change.op == "add":
            self.added.add(target)
            self.recorded[(*target, "add")] = change
        elif target in self.added:
            self.added.discard(target)
        else:
            self.recorded[(*target, "del")] = change

    def carry_over(self, previous: RuntimeStore) -> tuple[list[str], list[str]]:
        """Replay *previous*'s changes where the configuration did not change; returns (kept, config won)."""
        kept: list[str] = []
        config_won: list[str] = []
        for key, change in previous.recorded.items():
            target = key[:2]
            name = "/".join(target) if key[0] else key[1]
            if key[2] != "add" and target not in self.added:
                if target not in self.baseline:
                    continue
                if self.baseline[target] != previous.baseline.get(target):
                    if name not in config_won:
                        config_won.append(name)
                    continue
            if self._replay(change) and name not in kept:
                kept.append(name)
        return kept, config_won

    def _replay(self, change: Change) -> bool:
        try:
            self.apply(change)
        except ServerChangeError:
            return False
        return True


def _key(proxy: Any, server: Any) -> tuple[str, str]:
    return (proxy.name, server.name)


def _change_key(change: Change) -> tuple[str, str, str]:
    if isinstance(change, ServerChange):
        return (change.backend, change.server, change.op)
    assert isinstance(change, FrontendChange)
    return ("", change.frontend, "")  # no backend has an empty name
