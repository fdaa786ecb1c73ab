"""Health counter, admin states and their log lines, worded as haproxy 2.6 prints them."""

from __future__ import annotations

from luaproxy.worker.backend.checks import configure_checks
from luaproxy.worker.backend.state import (
    AdminState,
    CheckResult,
    OpState,
    apply_check_result,
    set_admin,
    stat_status,
)

from .kit import RecordingLogger, farm, proxy

REFUSED = CheckResult("L4CON", info="Connection refused")
PASSED = CheckResult("L4OK")


def checked(*weights: int, backups: tuple[int, ...] = (), rise: str = "2", fall: str = "3"):
    servers = farm(*weights, backups=backups)
    for server in servers:
        server.check = True
        configure_checks(server, {"rise": rise, "fall": fall}, float)
    return servers


def test_a_checked_server_starts_up_and_falls_at_its_first_failure():
    servers = checked(1, 1)
    be, log = proxy(servers), RecordingLogger()
    assert stat_status(servers[0]) == "UP 1/3"
    apply_check_result(be, servers[1], REFUSED, log)
    assert servers[1].op_state == OpState.DOWN and servers[1].check_downs == 1
    assert log.messages() == [
        'Server be/s2 is DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms.'
        " 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue."]


def test_fall_failures_from_full_health_then_rise_successes():
    servers = checked(1)
    be, log = proxy(servers), RecordingLogger()
    apply_check_result(be, servers[0], CheckResult("L7OK", 200), log)
    assert stat_status(servers[0]) == "UP" and servers[0].check_health == 4
    apply_check_result(be, servers[0], REFUSED, log)
    apply_check_result(be, servers[0], REFUSED, log)
    assert stat_status(servers[0]) == "UP 1/3" and servers[0].op_state == OpState.UP
    servers[0].current_conns = 2
    apply_check_result(be, servers[0], CheckResult("L4TOUT", duration_ms=301), log)
    apply_check_result(be, servers[0], REFUSED, log)
    assert servers[0].check_failures == 3
    apply_check_result(be, servers[0], PASSED, log)
    assert stat_status(servers[0]) == "DOWN 1/2"
    apply_check_result(be, servers[0], CheckResult("L7OK", 302), log)
    assert log.lines == [
        ("warning", "Server be/s1 is DOWN, reason: Layer4 timeout, check duration: 301ms. 0 active and 0 backup "
                    "servers left. 2 sessions active, 0 requeued, 0 remaining in queue."),
        ("alert", "backend 'be' has no server available!"),
        ("warning", "Server be/s1 is UP, reason: Layer7 check passed, code: 302, check duration: 0ms. 1 active "
                    "and 0 backup servers online. 0 sessions requeued, 0 total in queue."),
    ]
    assert servers[0].check_downs == 1 and servers[0].check_status == "L7OK" and servers[0].check_code == 302


def test_backup_wording_and_running_on_backup():
    servers = checked(1, backups=(1,))
    be, log = proxy(servers), RecordingLogger()
    apply_check_result(be, servers[0], CheckResult("L7STS", 500, "X"), log)
    apply_check_result(be, servers[1], REFUSED, log)
    assert log.messages() == [
        'Server be/s1 is DOWN, reason: Layer7 wrong status, code: 500, info: "X", check duration: 0ms. 0 active '
        "and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue.",
        'Backup Server be/b1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", check '
        "duration: 0ms. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
        "backend 'be' has no server available!",
    ]


def test_log_health_checks_reports_each_change_and_shortens_the_transition():
    servers = checked(1)
    be, log = proxy(servers, **{"log-health-checks": True}), RecordingLogger()
    for result in (PASSED, PASSED, REFUSED, REFUSED, REFUSED, PASSED, PASSED):
        apply_check_result(be, servers[0], result, log)
    refused = 'reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms'
    passed = "reason: Layer4 check passed, check duration: 0ms"
    assert log.messages() == [
        f"Health check for server be/s1 succeeded, {passed}, status: 3/3 UP.",
        f"Health check for server be/s1 failed, {refused}, status: 2/3 UP.",
        f"Health check for server be/s1 failed, {refused}, status: 1/3 UP.",
        f"Health check for server be/s1 failed, {refused}, status: 0/2 DOWN.",
        "Server be/s1 is DOWN. 0 active and 0 backup servers left. 0 sessions active, 0 requeued, "
        "0 remaining in queue.",
        "backend 'be' has no server available!",
        f"Health check for server be/s1 succeeded, {passed}, status: 1/2 DOWN.",
        f"Health check for server be/s1 succeeded, {passed}, status: 3/3 UP.",
        "Server be/s1 is UP. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
    ]


def test_weight_zero_servers_are_not_counted():
    servers = checked(1, 0)
    be, log = proxy(servers), RecordingLogger()
    apply_check_result(be, servers[1], REFUSED, log)
    assert "1 active and 0 backup servers left." in log.messages()[0]


def test_admin_states_in_haproxy_words():
    servers = checked(1, 1, 1)
    servers[2].check = False
    be, log = proxy(servers), RecordingLogger()
    apply_check_result(be, servers[1], REFUSED, log)
    log.lines.clear()
    set_admin(be, servers[1], AdminState.MAINT, log)
    set_admin(be, servers[1], AdminState.READY, log)
    set_admin(be, servers[0], AdminState.DRAIN, log)
    set_admin(be, servers[0], AdminState.MAINT, log)
    assert stat_status(servers[0]) == "MAINT" and servers[0].check_downs == 1
    set_admin(be, servers[0], AdminState.DRAIN, log)
    set_admin(be, servers[0], AdminState.READY, log)
    set_admin(be, servers[2], AdminState.MAINT, log)
    set_admin(be, servers[1], AdminState.MAINT, log)
    set_admin(be, servers[0], AdminState.MAINT, log)
    assert log.messages() == [
        "Server be/s2 was DOWN and now enters maintenance.",
        "Server be/s2 is UP/READY (leaving forced maintenance).",
        "Server be/s1 enters drain state. 2 active and 0 backup servers online. 0 sessions requeued, "
        "0 total in queue.",
        "Server be/s1 is going DOWN for maintenance. 2 active and 0 backup servers left. 0 sessions active, "
        "0 requeued, 0 remaining in queue.",
        "Server be/s1 is UP/DRAIN (leaving forced maintenance).",
        "Server be/s1 remains in forced drain mode.",
        "Server be/s1 is UP (leaving forced drain).",
        "Server be/s3 is going DOWN for maintenance. 2 active and 0 backup servers left. 0 sessions active, "
        "0 requeued, 0 remaining in queue.",
        "Server be/s2 is going DOWN for maintenance. 1 active and 0 backup servers left. 0 sessions active, "
        "0 requeued, 0 remaining in queue.",
        "Server be/s1 is going DOWN for maintenance. 0 active and 0 backup servers left. 0 sessions active, "
        "0 requeued, 0 remaining in queue.",
        "backend 'be' has no server available!",
    ]
    assert stat_status(servers[2]) == "MAINT"


def test_leaving_maintenance_restarts_health_at_rise():
    servers = checked(1)
    be, log = proxy(servers), RecordingLogger()
    set_admin(be, servers[0], AdminState.MAINT, log)
    assert servers[0].check_health == 0 and not servers[0].usable
    apply_check_result(be, servers[0], PASSED, log)
    assert servers[0].check_health == 0 and servers[0].check_status == ""
    set_admin(be, servers[0], AdminState.READY, log)
    assert servers[0].usable and servers[0].check_health == 2
    apply_check_result(be, servers[0], REFUSED, log)
    assert servers[0].op_state == OpState.DOWN


def test_stat_status_without_check_and_downtime():
    servers = farm(1)
    assert stat_status(servers[0]) == "no check"
    servers = checked(1)
    be, log = proxy(servers), RecordingLogger()
    apply_check_result(be, servers[0], REFUSED, log, now=100.0)
    apply_check_result(be, servers[0], PASSED, log, now=101.0)
    apply_check_result(be, servers[0], PASSED, log, now=103.5)
    assert servers[0].downtime == 3.5 and servers[0].last_change == 103.5
