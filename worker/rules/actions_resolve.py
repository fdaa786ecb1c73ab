"""``do-resolve(<var>,<resolvers>[,ipv4|ipv6]) <expr>``: resolve a name taken from the request and keep its
first address in a variable (left unset when the name does not resolve), as haproxy 2.6 does: the family
given (ipv6 by default) is preferred, the other is asked when it has no address.

The lookup waits only for this stream's greenlet; answers are kept for the
section's ``hold valid`` (worker.resolvers.client).  Written for
``http-request`` and ``tcp-request content`` rules.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Protocol

from ..samples import Sample, SampleError, SampleType, parse_var_name
from .errors import RuleError
from .verdict import CONTINUE, Verdict

USAGE = "do-resolve(<var>,<resolvers>[,ipv4|ipv6]) <expr>"
_SYNTAX = re.compile(r"^do-resolve\(([^,()]+),([^,()]+)(?:,([^,()]+))?\)$")


class ResolveEnv(Protocol):
    def sample(self, expression: str) -> Any: ...

    def resolver(self, name: str) -> Any: ...


def parse(name: str, args: tuple[str, ...], env: ResolveEnv) -> Any:
    """The action when *name* is a do-resolve, else None."""
    if not name.startswith("do-resolve"):
        return None
    match = _SYNTAX.match(name)
    if match is None or not args:
        raise RuleError(f"'do-resolve' expects {USAGE}.")
    var_text, section, family = match.group(1), match.group(2), match.group(3) or "ipv6"
    if family not in ("ipv4", "ipv6"):
        raise RuleError(f"'do-resolve': unknown family '{family}'.", "Write ipv4 or ipv6.")
    try:
        var = parse_var_name(var_text)
    except SampleError as exc:
        raise RuleError(f"'do-resolve': {exc}") from None
    resolver = env.resolver(section)
    expr = env.sample(" ".join(args))

    def do_resolve(txn: Any) -> Verdict:
        smp = expr.evaluate(txn)
        if smp is None:
            return CONTINUE
        value = smp.value.decode("latin-1") if isinstance(smp.value, bytes) else str(smp.value)
        addresses = resolver.resolve(value, family)
        if addresses:
            address = ipaddress.ip_address(addresses[0])
            txn.vars.set(var, Sample(SampleType.IPV4 if address.version == 4 else SampleType.IPV6, address.packed))
        return CONTINUE

    return do_resolve
