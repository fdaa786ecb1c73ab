"""Backends: server choice (one class per balancing algorithm), server states, health checks."""

from .balance import make_balancer
from .checks import HealthCheckSpec, configure_checks, parse_check_spec
from .farm import Balancer
from .health import HealthChecker
from .state import (
                    AdminState,
                    CheckResult,
                    OpState,
                    ServerChange,
                    ServerChangeError,
                    apply_server_change,
                    find_server,
                    parse_weight,
                    set_admin,
                    stat_status,
)

__all__ = [
    "AdminState",
    "Balancer",
    "CheckResult",
    "HealthCheckSpec",
    "HealthChecker",
    "OpState",
    "ServerChange",
    "ServerChangeError",
    "apply_server_change",
    "configure_checks",
    "find_server",
    "make_balancer",
    "parse_check_spec",
    "parse_weight",
    "set_admin",
    "stat_status",
]
