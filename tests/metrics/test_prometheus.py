"""The Prometheus endpoint: HAProxy's families, exact counts, filters, Lua and custom metrics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.test_http import get
from tests.helpers import HttpBackend

REFERENCE = Path(__file__).with_name("haproxy26_exporter.txt")


def families(text: str) -> dict[str, tuple[str, set[tuple[str, ...]]]]:
    """name -> (type, label-name sets), as a scraper sees the exposition text."""
    found: dict[str, tuple[str, set[tuple[str, ...]]]] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            _, _, name, kind = line.split()
            found[name] = (kind, set())
        elif line and not line.startswith("#"):
            name, _, labels = re.match(r"(\w+)(\{(.*)\})? ", line).groups()
            base = next(n for n in (name, name.removesuffix("_total"), name + "_total",
                                    re.sub(r"_(bucket|sum|count|created)$", "", name)) if n in found)
            found[base][1].add(tuple(sorted(re.findall(r'(\w+)="', labels or ""))))
    return found


def samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


@pytest.fixture
def backend():
    server = HttpBackend()
    yield server
    server.close()


def exporter_config(port: int, backend_port: int, extra_global: str = "", lua: bool = False,
                    workers: int = 2) -> str:
    return f"""
global
   nbproc {workers}
   {"lua-load m.lua" if lua else ""}
   {extra_global}
defaults
   mode http
   timeout connect 1s
   timeout client 2s
   timeout server 2s
frontend fe
   bind 127.0.0.1:{port}
   http-request use-service prometheus-exporter if {{ path /metrics }}
   {"http-request lua.count" if lua else ""}
   default_backend be
backend be
   server s1 127.0.0.1:{backend_port} check
   server s2 127.0.0.1:{backend_port}
"""


def test_families_types_and_labels_match_haproxy_26(write, luaproxy, port, backend):
    write("p.cfg", exporter_config(port, backend.port))
    luaproxy("-f", "p.cfg", wait_port=port, workers=2)
    status, headers, body = get(port, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    ours = families(body.decode())
    reference = families(REFERENCE.read_text())
    renamed = {"haproxy_process_failed_resolutions": "haproxy_process_failed_resolutions_total"}
    for name, (kind, labels) in reference.items():
        name = renamed.get(name, name)
        assert name in ours, name
        assert ours[name][0] == kind, name
        assert ours[name][1] == labels, name


def test_requests_through_two_workers_are_counted_exactly(write, luaproxy, port, backend):
    write("p.cfg", exporter_config(port, backend.port))
    proc = luaproxy("-f", "p.cfg", wait_port=port, workers=2)
    count = 40
    served_by = set()
    for _ in range(count):
        assert get(port, "/x")[0] == 200
    served_by = {n for n in proc.workers()}
    assert len(served_by) == 2
    values = samples(get(port, "/metrics?scope=frontend&scope=backend")[2].decode())
    assert values['haproxy_frontend_http_requests_total{proxy="fe"}'] == count + 1
    assert values['haproxy_backend_http_responses_total{code="2xx",proxy="be"}'] == count
    assert values['haproxy_backend_http_requests_total{proxy="be"}'] == count
    assert not any(k.startswith("haproxy_server_") or k.startswith("haproxy_process_") for k in values)


def test_metrics_filter(write, luaproxy, port, backend):
    write("p.cfg", exporter_config(port, backend.port))
    luaproxy("-f", "p.cfg", wait_port=port, workers=2)
    text = get(port, "/metrics?metrics=haproxy_process_nbproc,haproxy_server_weight")[2].decode()
    assert set(families(text)) == {"haproxy_process_nbproc", "haproxy_server_weight"}
    assert samples(text)["haproxy_process_nbproc"] == 2


def test_lua_and_custom_metrics(write, luaproxy, port, backend):
    write("m.lua", """
        local hits = core.metrics.counter("app_hits_total", "Hits by path", {"path"})
        local took = core.metrics.histogram("app_seconds", "Time spent", {0.1, 1})
        core.register_action("count", {"http-req"}, function(txn)
           hits:inc({path = txn.f:path()})
           took:observe(0.5)
        end)
        """)
    write("p.cfg", exporter_config(port, backend.port, "tune.lua.duration-histogram on", lua=True, workers=1))
    luaproxy("-f", "p.cfg", wait_port=port)
    for path in ("/a", "/a", "/b"):
        get(port, path)
    text = get(port, "/metrics?scope=global")[2].decode()
    values = samples(text)
    assert values['app_hits_total{path="/a"}'] == 2 and values['app_hits_total{path="/b"}'] == 1
    assert values['app_seconds_bucket{le="1.0"}'] == 3 and values['app_seconds_bucket{le="0.1"}'] == 0
    assert values['luaproxy_lua_calls_total{context="action",function="count"}'] >= 3
    assert values['luaproxy_lua_duration_seconds_count{context="action",function="count"}'] >= 3


def test_lua_duration_histogram_is_off_by_default(write, luaproxy, port, backend):
    write("m.lua", 'core.register_action("count", {"http-req"}, function(txn) end)')
    write("p.cfg", exporter_config(port, backend.port, lua=True, workers=1))
    luaproxy("-f", "p.cfg", wait_port=port)
    get(port, "/a")
    text = get(port, "/metrics?scope=global")[2].decode()
    values = samples(text)
    assert values['luaproxy_lua_calls_total{context="action",function="count"}'] == 1
    assert "luaproxy_lua_duration_seconds" in families(text)
    assert not any(name.startswith("luaproxy_lua_duration_seconds_count") for name in values)


def test_metric_updates_in_body_are_refused(write, luaproxy, port, backend, tmp_path):
    write("m.lua", """
        local hits = core.metrics.counter("app_hits_total", "Hits")
        hits:inc()
        """)
    write("p.cfg", exporter_config(port, backend.port, lua=True).replace("http-request lua.count", ""))
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "luaproxy.master", "-c", "-f", "p.cfg"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "app_hits_total: updating a metric: not available in the body context" in result.stderr


def test_counters_survive_a_worker_respawn(write, luaproxy, port, backend):
    import os
    import signal

    from tests.helpers import wait_until

    write("p.cfg", exporter_config(port, backend.port))
    proc = luaproxy("-f", "p.cfg", wait_port=port, workers=2)
    workers = proc.wait_workers(2)
    for _ in range(30):
        get(port, "/x")
    key = 'haproxy_frontend_http_requests_total{proxy="fe"}'
    before = samples(get(port, "/metrics?scope=frontend")[2].decode())[key]
    os.kill(workers[0], signal.SIGKILL)
    assert wait_until(lambda: len(proc.workers()) == 2 and workers[0] not in proc.workers(), 10)
    after = samples(get(port, "/metrics?scope=frontend")[2].decode())[key]
    assert after >= before + 1


def test_map_updates_and_worker_restarts_are_counted(write, luaproxy, port, backend, tmp_path):
    import os
    import signal

    from tests.helpers import wait_until
    from tests.supervisor.conftest import cli

    write("flags.map", "a 1\n")
    sock = tmp_path / "admin.sock"
    write("p.cfg", exporter_config(port, backend.port, extra_global=f"stats socket {sock} level admin")
          + "   http-request set-header x-flag %[str(a),map(flags.map)]\n")
    proc = luaproxy("-f", "p.cfg", wait_port=port, workers=2)
    assert cli(str(sock), "set map flags.map a 2\n") == "\n"
    assert cli(str(sock), "add map flags.map b 3\n") == "\n"
    workers = proc.wait_workers(2)
    os.kill(workers[1], signal.SIGKILL)
    assert wait_until(lambda: len(proc.workers()) == 2 and workers[1] not in proc.workers(), 10)
    values = samples(get(port, "/metrics?scope=global")[2].decode())
    assert values['luaproxy_map_updates_total{kind="map",source="cli"}'] == 2
    assert values["luaproxy_worker_restarts_total"] == 1


def test_listener_metrics_and_nan_for_what_does_not_apply(write, luaproxy, port, backend):
    """option socket-stats: haproxy_listener_* per bind (sock-N unless named); NaN where promex shows it:
    no check (check counters, downtime), no maxconn/maxqueue/pool-max-conn, no slowstart, no servers."""
    write("p.cfg", f"""
defaults
   mode http
   timeout connect 1s
   timeout client 2s
   timeout server 2s
   option socket-stats
frontend fe
   bind 127.0.0.1:{port}
   http-request use-service prometheus-exporter if {{ path /metrics }}
   default_backend be
backend be
   server s1 127.0.0.1:{backend.port}
   server s2 127.0.0.1:{backend.port} check maxqueue 10 maxconn 12 pool-max-conn 42
backend empty
""")
    luaproxy("-f", "p.cfg", wait_port=port, workers=1)
    values = samples(get(port, "/metrics")[2].decode())
    listener = 'listener="sock-1",proxy="fe"'
    assert values[f'haproxy_listener_status{{{listener},state="OPEN"}}'] == 1
    assert values[f'haproxy_listener_status{{{listener},state="WAITING"}}'] == 0
    assert values[f"haproxy_listener_sessions_total{{{listener}}}"] >= 1
    for name, s1, s2 in (("check_failures_total", "nan", 0), ("downtime_seconds_total", "nan", 0),
                         ("queue_limit", "nan", 10), ("limit_sessions", "nan", 12),
                         ("idle_connections_limit", "nan", 42), ("current_throttle", "nan", "nan")):
        got = [values[f'haproxy_server_{name}{{proxy="be",server="{s}"}}'] for s in ("s1", "s2")]
        assert [str(v) if v != v else v for v in got] == [s1, s2], name
    assert str(values['haproxy_backend_downtime_seconds_total{proxy="empty"}']) == "nan"
    assert values['haproxy_backend_downtime_seconds_total{proxy="be"}'] == 0
    assert "haproxy_listener_" not in get(port, "/metrics?scope=frontend")[2].decode()
    assert "haproxy_listener_status" in get(port, "/metrics?scope=listener")[2].decode()
