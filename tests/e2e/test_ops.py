"""ops/: the systemd unit runs as written (paths swapped for this checkout), the Grafana dashboard reads
only metrics luaproxy serves, the Prometheus example scrapes where the README's exporter listens."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers import Process, free_port, port_listening, read_all, wait_until
from tests.supervisor.conftest import NotifySocket, cli

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "ops" / "luaproxy.service"
LUAPROXY_BIN = ROOT / ".venv" / "bin" / "luaproxy"


def unit_for_here(run_dir: Path) -> str:
    """The unit with the README's install place (/opt/luaproxy) and /run/luaproxy pointed at this checkout."""
    return UNIT.read_text().replace("/opt/luaproxy", str(ROOT)).replace("/run/luaproxy", str(run_dir))


def commands(unit: str, key: str) -> list[list[str]]:
    return [shlex.split(line.split("=", 1)[1]) for line in unit.splitlines() if line.startswith(f"{key}=")]


def test_unit_is_clean_for_systemd_analyze(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    if not LUAPROXY_BIN.exists():
        pytest.skip(".venv/bin/luaproxy is not installed (tests/run.sh installs it)")
    unit = tmp_path / "luaproxy.service"
    unit.write_text(unit_for_here(Path("/run/luaproxy")))
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_unit_uses_its_runtime_directory():
    unit = UNIT.read_text()
    assert "RuntimeDirectory=luaproxy" in unit
    (start,) = commands(unit, "ExecStart")
    assert start[0] == "/opt/luaproxy/.venv/bin/luaproxy"  # where the README's install puts it
    assert start[start.index("-p") + 1] == "/run/luaproxy/luaproxy.pid"
    assert start[start.index("-S") + 1] == "/run/luaproxy/master.sock"


def test_unit_commands_run_as_systemd_runs_them(tmp_path):
    if not LUAPROXY_BIN.exists():
        pytest.skip(".venv/bin/luaproxy is not installed (tests/run.sh installs it)")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    port = free_port()
    config = tmp_path / "luaproxy.cfg"
    config.write_text(f"defaults\n mode http\n timeout client 5s\nfrontend web\n bind 127.0.0.1:{port}\n"
                      " http-request return status 200 content-type text/plain string ok\n")
    unit = unit_for_here(run_dir).replace("$CONFIG", str(config))
    for pre in commands(unit, "ExecStartPre"):
        assert subprocess.run(pre, capture_output=True, timeout=60).returncode == 0
    (start,) = commands(unit, "ExecStart")
    notify = NotifySocket(tmp_path / "notify.sock")
    proc = Process(start[1:], tmp_path, env={"NOTIFY_SOCKET": notify.path}, program=[start[0]])
    try:
        notify.wait_for("READY=1")
        assert wait_until(lambda: port_listening(port), 10)
        assert (run_dir / "luaproxy.pid").read_text().strip() == str(proc.pid)
        assert "master" in cli(str(run_dir / "master.sock"), "show proc\n")
        assert commands(unit, "ExecReload")[0][1:] == pre[1:]  # the reload checks the same configuration first
    finally:
        proc.stop()
        notify.close()


def dashboard_metrics() -> set[str]:
    dashboard = json.loads((ROOT / "ops" / "grafana" / "luaproxy-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    names = set(re.findall(r"\b((?:haproxy|luaproxy)_[a-z_]+)", " ".join(exprs)))
    return {re.sub(r"_(bucket|sum|count)$", "", name) for name in names}


def test_dashboard_reads_only_metrics_luaproxy_serves(write, luaproxy, port):
    metrics_port = free_port()
    write("m.lua", 'core.register_action("hello", {"http-req"}, function(txn) end)\n')
    write("m.cfg", f"""
        global
           lua-load m.lua
        defaults
           mode http
           timeout client 5s
           timeout server 5s
           timeout connect 2s
        frontend web
           bind 127.0.0.1:{port}
           http-request lua.hello
           http-request return status 200 content-type text/plain string ok
        backend be
           server s1 127.0.0.1:{free_port()}
        frontend prometheus
           bind 127.0.0.1:{metrics_port}
           http-request use-service prometheus-exporter if {{ path /metrics }}
        """)
    luaproxy("-f", "m.cfg", wait_port=metrics_port)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        read_all(sock)
    with socket.create_connection(("127.0.0.1", metrics_port), timeout=5) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        scrape = read_all(sock).decode()
    served = set(re.findall(r"^# TYPE (\S+) ", scrape, re.M))
    wanted = dashboard_metrics()
    assert len(wanted) >= 20 and {"luaproxy_lua_calls_total", "luaproxy_lua_duration_seconds"} <= wanted
    assert wanted - served == set()


def test_prometheus_example_scrapes_the_exporter_path():
    text = (ROOT / "ops" / "prometheus" / "prometheus.yml").read_text()
    assert "job_name: luaproxy" in text and "metrics_path: /metrics" in text
    assert "http-request use-service prometheus-exporter if { path /metrics }" in text
