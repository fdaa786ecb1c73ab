"""Backends: server choice (one class per balancing algorithm), server states, health checks."""

from .balance import make_balancer
from .checks import HealthCheckSpec, configure_checks, parse_check_spec
from .farm import Balancer
from .health import HealthChecker
from .state import AdminState, CheckResult, OpState, set_admin, stat_status

__all__ = [
    "AdminState",
    "Balancer",
    "CheckResult",
    "HealthCheckSpec",
    "HealthChecker",
    "OpState",
    "configure_checks",
    "make_balancer",
    "parse_check_spec",
    "set_admin",
    "stat_status",
]
