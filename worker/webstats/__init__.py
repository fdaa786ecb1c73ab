"""HAProxy's statistics page: ``stats enable|uri|scope|admin|auth|realm|refresh|…`` in a proxy."""

from .conf import StatsConf, check_stats_line
from .service import claim

__all__ = ["StatsConf", "check_stats_line", "claim"]
