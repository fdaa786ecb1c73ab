"""``show resolvers [<section>]``: each nameserver's counters, in haproxy 2.6's layout.

The counters are the master's, which resolves the servers that name a
section; ``do-resolve`` lookups are counted by the worker that made them.
"""

from __future__ import annotations

from typing import Any

from luaproxy.worker.resolvers import COUNTERS


def show_resolvers(sup: Any, session: Any, args: list[str], payload: str | None) -> str:
    sections = sup.resolver_sections()
    if args:
        if args[0] not in sections:
            return "Can't find that resolvers section\n"
        sections = {args[0]: sections[args[0]]}
    lines = []
    for name, section in sections.items():
        lines.append(f"Resolvers section {name}\n")
        for ns in section.nameservers:
            stats = section.stats[ns.name]
            lines.append(f" nameserver {ns.name}:\n")
            lines += [f"  {counter + ':':<13}{stats[counter]}\n" for counter in COUNTERS]
    return "".join(lines)


RESOLVER_COMMANDS = (
    (("show", "resolvers"), "show resolvers [id]", "dumps counters from all resolvers section and associated "
     "name servers", show_resolvers),
)
