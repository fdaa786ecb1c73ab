"""What a DNS answer does to a server with ``resolvers``, in the master's copy and every worker's.

The master resolves and sends a ServerChange(op="dns"): ``value`` the new
address, or "" with ``words`` (status,) when the name stopped resolving past its
``hold`` period.  No address puts the server in maintenance (haproxy's RMAINT,
"MAINT (resolution)"); the next valid answer brings it back.  The texts are
haproxy 2.6's.
"""

from __future__ import annotations

from typing import Any

from ..proxy import Server
from . import state

STATUS_TEXT = {"nx": "DNS NX status", "timeout": "DNS timeout status", "refused": "DNS refused status",
               "none": "DNS resolution", "noip": "No IP for server "}
"""Why a server went into maintenance; other failures read "unspecified DNS error"."""


def apply(proxy: Any, server: Server, address: str, status: str, origin: str, logger: Any,
          now: float | None = None) -> state.ChangeResult:
    if address:
        return _resolved(proxy, server, address, origin, logger, now)
    if server.dns_maint:
        return state.ChangeResult(True)
    was_ready = server.admin_state != state.AdminState.MAINT
    server.dns_maint = status or "other"
    server.host = ""
    if was_ready:
        before = sum(state.counts(proxy.servers))
        state._change(server, admin=state.AdminState.MAINT, now=now)
        server.check_health = 0
        reason = STATUS_TEXT.get(status, "unspecified DNS error")
        state.report(proxy, logger, state.ALERT, f"{state._title(proxy, server)} is going DOWN for maintenance "
                                                 f"({reason}). {state._left(proxy, server)}")
        state._alert_if_empty(proxy, logger, before)
    else:
        server.dns_maint_forced = True
    return state.ChangeResult(True)


def _resolved(proxy: Any, server: Server, address: str, origin: str, logger: Any,
              now: float | None) -> state.ChangeResult:
    old = server.host or "(none)"
    if address != server.host:
        logger.warning(f"{proxy.name}/{server.name} changed its IP from {old} to {address} by {origin}.")
        server.host = address
    if server.dns_maint:
        server.dns_maint = ""
        if server.dns_maint_forced:
            server.dns_maint_forced = False
            return state.ChangeResult(True)
        if server.check:
            server.check_health = server.check_rise
        state._change(server, op=state.OpState.UP, admin=state.AdminState.READY, now=now)
        title = state._title(proxy, server)
        state.report(proxy, logger, state.NOTICE, f"{title} ('{server.fqdn}') is UP/READY (resolves again).")
        state.report(proxy, logger, state.NOTICE, f"{title} administratively READY thanks to valid DNS answer.")
    return state.ChangeResult(True)


def set_fqdn(proxy: Any, server: Server, name: str, origin: str) -> state.ChangeResult:
    """``set server <b>/<s> fqdn``: the name the master resolves from now on."""
    old, server.fqdn = server.fqdn, name
    return state.ChangeResult(True, f"{proxy.name}/{server.name} changed its FQDN from {old} to {name} by "
                                    f"'{origin}'")
