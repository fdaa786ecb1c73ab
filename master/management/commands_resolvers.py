"""``show resolvers [<section>]`` (each nameserver's counters, in haproxy 2.6's layout) and ``set server
<b>/<s> fqdn <name>``.

The counters add the master's (it resolves the servers that name a section)
and every worker's (their ``do-resolve`` lookups).
"""

from __future__ import annotations

from typing import Any

from luaproxy.worker.backend.state import ServerChange
from luaproxy.worker.resolvers import COUNTERS, BadName, NameserverStats, dns_name


def show_resolvers(sup: Any, session: Any, args: list[str], payload: str | None) -> Any:
    sections = sup.resolver_sections()
    if args:
        if args[0] not in sections:
            return "Can't find that resolvers section\n"
        sections = {args[0]: sections[args[0]]}
    return sup.collect_stats().then(lambda snapshots: _resolvers_text(sections, snapshots))


def _resolvers_text(sections: dict[str, Any], snapshots: list[dict[str, Any]]) -> str:
    """The master's counters (server resolutions) plus every worker's (do-resolve)."""
    lines = []
    for name, section in sections.items():
        lines.append(f"Resolvers section {name}\n")
        for ns in section.nameservers:
            stats = NameserverStats()
            stats.add(section.stats[ns.name])
            for snapshot in snapshots:
                stats.add(snapshot.get("resolvers", {}).get(name, {}).get(ns.name, {}))
            lines.append(f" nameserver {ns.name}:\n")
            lines += [f"  {counter + ':':<13}{stats[counter]}\n" for counter in COUNTERS]
    return "".join(lines)


def set_fqdn(sup: Any, proxy: Any, server: Any, values: list[str]) -> Any:
    """A new name for a server with ``resolvers``: every process takes it, the master resolves it at once."""
    if not values:
        return "set server <b>/<s> fqdn requires a FQDN.\n"
    if server.resolvers is None:
        return "set server <b>/<s> fqdn failed because no resolution is configured.\n"
    try:
        dns_name(values[0])
    except BadName:
        return f"could not update {proxy.name}/{server.name} FQDN by 'stats socket command'\n"
    return sup.spread_runtime(ServerChange(proxy.name, server.name, "fqdn", values[0].rstrip(".").lower()))


RESOLVER_COMMANDS = (
    (("show", "resolvers"), "show resolvers [id]", "dumps counters from all resolvers section and associated "
     "name servers", show_resolvers),
)
