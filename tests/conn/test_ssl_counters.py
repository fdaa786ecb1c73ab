"""show info's TLS fields from the workers' counters (the reg-test ssl/ssl_reuse.vtc runs them for real)."""

from __future__ import annotations

from luaproxy.worker.tls.counters import SslCounters, info_fields


def test_reuse_percentage_is_summed_over_workers_and_rounded_down_as_haproxy() -> None:
    one, two = SslCounters(), SslCounters()
    for n in range(42):
        one.handshake(True, resumed=n % 21 != 0)  # 2 full handshakes
        two.handshake(True, resumed=n % 21 != 0)
    two.handshake(False, resumed=False)
    fields = info_fields([{"ssl": one.as_dict()}, {"ssl": two.as_dict()}, {"metrics": {}}])
    assert fields["SslFrontendSessionReuse_pct"] == 95  # 80 of 84 resumed: 100 - ceil(4.76)
    assert fields["CumSslConns"] == 85
    assert info_fields([])["SslFrontendSessionReuse_pct"] == 0
