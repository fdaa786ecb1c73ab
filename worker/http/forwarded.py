"""``option forwardfor`` and ``option originalto``: the client's source or original destination,
sent to the server in a header unless the address is in the ``except`` network."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ForwardedHeader:
    side: str  # "src" (forwardfor) or "dst" (originalto)
    name: str
    unless: Any = None  # an ipaddress network, or None
    if_none: bool = False

    @classmethod
    def parse(cls, option: str, args: tuple[str, ...]) -> ForwardedHeader:
        """``[except NET] [header NAME] [if-none]`` (if-none only for forwardfor); ValueError if bad."""
        side, name = ("src", "X-Forwarded-For") if option == "forwardfor" else ("dst", "X-Original-To")
        unless, if_none, rest = None, False, list(args)
        while rest:
            word = rest.pop(0)
            if word in ("except", "header") and rest:
                value = rest.pop(0)
                if word == "header":
                    name = value
                else:
                    unless = ipaddress.ip_network(value, strict=False)
            elif word == "if-none" and option == "forwardfor":
                if_none = True
            else:
                raise ValueError(f"'option {option}' : unexpected '{word}'")
        return cls(side, name, unless, if_none)

    def apply(self, headers: Any, address: str | None) -> None:
        if not address or (self.if_none and headers.contains(self.name)):
            return
        if self.unless is not None:
            try:
                if ipaddress.ip_address(address) in self.unless:
                    return
            except ValueError:
                pass
        headers.add(self.name, address)
