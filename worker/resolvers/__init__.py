"""DNS resolution as HAProxy's ``resolvers`` sections do it: settings, one resolution's state
machine (no I/O; dnspython reads and writes the messages) and the worker's blocking client."""

from .resolution import Answer, BadName, Resolution, dns_name
from .settings import COUNTERS, HOLD_STATUSES, Nameserver, NameserverStats, ResolversSection

__all__ = ["COUNTERS", "HOLD_STATUSES", "Answer", "BadName", "Nameserver", "NameserverStats", "Resolution",
           "ResolversSection", "dns_name"]
