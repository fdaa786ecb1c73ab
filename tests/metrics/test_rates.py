"""The per-second rate cells of ``show stat`` with real traffic through two workers: sessions, HTTP requests
and connections per second on the frontend, sessions per second on the backend and its server; the
same values in Prometheus.  A second later without traffic the rates fall, the maxima stay."""

from __future__ import annotations

import socket
import time
import urllib.request

from luaproxy.worker.counters import Counters
from luaproxy.worker.rates import RateMeter
from tests.helpers import HttpBackend, free_port, wait_until
from tests.supervisor.conftest import cli

CONFIG = """
    global
        nbproc 2
        stats socket ipv4@127.0.0.1:{cli} level admin
    defaults
        mode http
        timeout client 5s
        timeout server 5s
        timeout connect 5s
    frontend fe
        bind 127.0.0.1:{port}
        default_backend be
    frontend metrics
        bind 127.0.0.1:{prom}
        http-request use-service prometheus-exporter
    backend be
        server s1 127.0.0.1:{backend}
"""


def requests_on_one_connection(port: int, count: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * count)
        received = b""
        while received.count(b"HTTP/1.1 200") < count:
            chunk = sock.recv(65536)
            assert chunk, received
            received += chunk


def stat(cli_port: int) -> dict[str, dict[str, str]]:
    lines = cli(cli_port, "show stat\n").splitlines()
    header = lines[0][2:].split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
    return {f"{row['pxname']}/{row['svname']}": row for row in rows}


def test_rates_count_the_last_second(luaproxy, write, tmp_path):
    cli_port, port, prom = free_port(), free_port(), free_port()
    backend = HttpBackend()
    try:
        write("r.cfg", CONFIG.format(cli=cli_port, port=port, prom=prom, backend=backend.port))
        luaproxy("-f", "r.cfg", wait_port=port, workers=2)
        time.sleep(1.2)  # the workers' first rotation is behind us
        for _ in range(10):
            requests_on_one_connection(port, 1)
        requests_on_one_connection(port, 20)
        cells = stat(cli_port)
        fe, be, server = cells["fe/FRONTEND"], cells["be/BACKEND"], cells["be/s1"]
        # Up to a rotation in between: the last second holds most of the 11 sessions and 30 requests.
        assert 5 <= int(fe["rate"]) <= 11 and fe["conn_rate"] == fe["rate"], fe
        assert 15 <= int(fe["req_rate"]) <= 30, fe
        assert int(fe["rate_max"]) >= int(fe["rate"]) and fe["conn_rate_max"] == fe["rate_max"]
        assert int(fe["req_rate_max"]) >= int(fe["req_rate"]) // 2
        assert int(be["rate"]) > 0 and be["rate"] == server["rate"] and be["rate_max"] == server["rate_max"]
        assert fe["rate_lim"] == "0" and be["slim"] == "409", be  # fullconn: a tenth of the default maxconn 4096
        with urllib.request.urlopen(f"http://127.0.0.1:{prom}/metrics", timeout=5) as response:
            text = response.read().decode()
        assert 'haproxy_frontend_max_session_rate{proxy="fe"} ' + fe["rate_max"] in text
        # Two seconds of quiet: the rates are 0, the maxima are kept.
        assert wait_until(lambda: stat(cli_port)["fe/FRONTEND"]["req_rate"] == "0", 5)
        quiet = stat(cli_port)
        assert quiet["fe/FRONTEND"]["rate"] == "0" and quiet["be/BACKEND"]["rate"] == "0"
        assert int(quiet["fe/FRONTEND"]["req_rate_max"]) >= int(fe["req_rate_max"])
        assert int(quiet["fe/FRONTEND"]["rate_max"]) > 0
    finally:
        backend.close()


def test_meter_weights_the_previous_second_as_haproxy():
    """The freq_ctr reading: this period's count plus the previous period's, weighted by what is left of
    a second; a gap of two periods forgets the previous one; the max is the largest per-period count."""
    now = [100.0]
    meter = RateMeter(lambda: now[0])
    counters = Counters()
    meter.rotate([counters])
    counters.total, counters.requests = 40, 80
    now[0] += 1.0
    meter.rotate([counters])
    counters.total += 10
    now[0] += 0.25
    assert meter.cells(counters) == {"rate": 10 + 30, "rate_max": 40, "req_rate": 60, "req_rate_max": 80}
    now[0] += 2.75
    meter.rotate([counters])
    assert meter.cells(counters) == {"rate": 0, "rate_max": 40, "req_rate": 0, "req_rate_max": 80}
    assert meter.cells(Counters()) == {"rate": 0, "rate_max": 0, "req_rate": 0, "req_rate_max": 0}
