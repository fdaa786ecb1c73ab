"""The algorithms that ignore the request, the farm rules they share, and the factory."""

from __future__ import annotations

from collections import Counter

import pytest

from luaproxy.worker.backend import make_balancer
from luaproxy.worker.backend.state import AdminState, OpState
from luaproxy.worker.proxy import Server

from .kit import Txn, farm, names

TXN = Txn()


def picks(balancer, count: int, **kwargs) -> list[str | None]:
    return names([balancer.pick(TXN, **kwargs) for _ in range(count)])


def test_roundrobin_follows_weights_smoothly():
    balancer = make_balancer(("roundrobin",), farm(3, 1, 2), {})
    assert picks(balancer, 6) == ["s1", "s3", "s1", "s2", "s3", "s1"]
    assert Counter(picks(balancer, 600)) == {"s1": 300, "s2": 100, "s3": 200}


def test_roundrobin_applies_a_weight_change_at_once():
    servers = farm(1, 1)
    balancer = make_balancer(("roundrobin",), servers, {})
    assert Counter(picks(balancer, 10)) == {"s1": 5, "s2": 5}
    servers[0].weight = 4
    assert Counter(picks(balancer, 100)) == {"s1": 80, "s2": 20}


@pytest.mark.parametrize("change", [
    {"op_state": OpState.DOWN},
    {"admin_state": AdminState.MAINT},
    {"admin_state": AdminState.DRAIN},
    {"weight": 0},
])
def test_unusable_servers_get_nothing(change):
    servers = farm(1, 1, 1)
    for name, value in change.items():
        setattr(servers[1], name, value)
    for algorithm in ("roundrobin", "static-rr", "leastconn", "first", "random", "source"):
        assert "s2" not in picks(make_balancer((algorithm,), servers, {}), 30), algorithm


def test_disabled_server_starts_in_maintenance():
    server = Server("s", "127.0.0.1", 80, disabled=True)
    assert server.admin_state == AdminState.MAINT and not server.usable
    server.admin_state = AdminState.READY
    assert server.usable


def test_first_usable_backup_only_when_no_active_server_is_usable():
    servers = farm(1, 1, backups=(1, 5))
    balancer = make_balancer(("roundrobin",), servers, {})
    assert set(picks(balancer, 10)) == {"s1", "s2"}
    servers[0].op_state = servers[1].op_state = OpState.DOWN
    assert set(picks(balancer, 10)) == {"b1"}
    servers[2].admin_state = AdminState.MAINT
    assert set(picks(balancer, 10)) == {"b2"}
    servers[1].op_state = OpState.UP
    assert set(picks(balancer, 10)) == {"s2"}


def test_allbackups_balances_over_every_backup_by_weight():
    servers = farm(1, backups=(1, 2))
    servers[0].op_state = OpState.DOWN
    balancer = make_balancer(("roundrobin",), servers, {"allbackups": True})
    assert Counter(picks(balancer, 30)) == {"b1": 10, "b2": 20}


@pytest.mark.parametrize("algorithm", ["roundrobin", "static-rr", "leastconn", "first", "random"])
def test_full_servers_are_skipped_and_none_when_all_are_full(algorithm):
    servers = farm(1, 1)
    servers[0].maxconn = servers[1].maxconn = 2
    servers[0].current_conns = 2
    balancer = make_balancer((algorithm,), servers, {})
    assert set(picks(balancer, 10)) == {"s2"}
    servers[1].current_conns = 2
    assert picks(balancer, 3) == [None, None, None]
    servers[0].current_conns = 1
    assert picks(balancer, 2) == ["s1", "s1"]


def test_static_rr_uses_haproxy_map_order_and_ignores_live_weights():
    servers = farm(3, 1, 2)
    balancer = make_balancer(("static-rr",), servers, {})
    # recorded from haproxy 2.6 with the same weights
    assert picks(balancer, 12) == ["s1", "s1", "s3", "s1", "s2", "s3"] * 2
    servers[1].weight = 10
    assert Counter(picks(balancer, 60)) == {"s1": 30, "s2": 10, "s3": 20}
    servers[1].weight = 0
    assert Counter(picks(balancer, 50)) == {"s1": 30, "s3": 20}


def test_leastconn_prefers_the_least_loaded_for_its_weight():
    servers = farm(1, 2, 1)
    servers[0].current_conns, servers[1].current_conns = 3, 3
    balancer = make_balancer(("leastconn",), servers, {})
    assert picks(balancer, 3) == ["s3"] * 3
    servers[2].current_conns = 1
    assert Counter(picks(balancer, 4)) == {"s2": 2, "s3": 2}


def test_leastconn_rotates_among_equal_loads():
    balancer = make_balancer(("leastconn",), farm(1, 1, 1), {})
    assert Counter(picks(balancer, 30)) == {"s1": 10, "s2": 10, "s3": 10}


def test_first_fills_servers_in_id_order():
    servers = farm(1, 1, 1)
    servers[0].id, servers[2].id = 3, 1
    for server in servers:
        server.maxconn = 2
    balancer = make_balancer(("first",), servers, {})
    chosen = []
    for _ in range(6):
        server = balancer.pick(TXN)
        server.current_conns += 1
        chosen.append(server.name)
    assert chosen == ["s3", "s3", "s2", "s2", "s1", "s1"]
    assert balancer.pick(TXN) is None


def test_random_follows_weights_and_prefers_the_less_loaded():
    servers = farm(1, 3)
    single = make_balancer(("random(1)",), servers, {})
    single.rng.seed(1)
    assert 0.2 < Counter(picks(single, 4000))["s1"] / 4000 < 0.3
    servers[1].current_conns = 50
    two = make_balancer(("random",), servers, {})
    two.rng.seed(1)
    # s1 wins whenever one of the two draws finds it: 1 - 0.75 ** 2 = 44% of the time
    assert 0.38 < Counter(picks(two, 4000))["s1"] / 4000 < 0.5


def test_exclude_avoids_the_failed_server_unless_it_is_alone():
    servers = farm(1, 1)
    for algorithm in ("roundrobin", "static-rr", "leastconn", "first", "random", "source"):
        balancer = make_balancer((algorithm,), servers, {})
        assert set(picks(balancer, 10, exclude=servers[0])) == {"s2"}, algorithm
    servers[1].op_state = OpState.DOWN
    balancer = make_balancer(("roundrobin",), servers, {})
    assert picks(balancer, 2, exclude=servers[0]) == ["s1", "s1"]


def test_no_usable_server_gives_none():
    servers = farm(1, 1)
    for server in servers:
        server.op_state = OpState.DOWN
    for algorithm in ("roundrobin", "static-rr", "leastconn", "first", "random", "source", "uri"):
        assert make_balancer((algorithm,), servers, {}).pick(TXN) is None


@pytest.mark.parametrize(("words", "hash_type", "message"), [
    (("wrr",), (), "unknown balance algorithm 'wrr'"),
    (("url_param",), (), "balance url_param requires an URL parameter name."),
    (("url_param", "id", "x"), (), "only accepts 'check_post' modifier (got 'x')"),
    (("url_param", "id", "check_post"), (), "'check_post' (hashing a POST body) is not supported"),
    (("uri", "foo"), (), "balance uri only accepts parameters 'len', 'depth', 'path-only', and 'whole' (got 'foo')"),
    (("uri", "len", "0"), (), "'len' expects a positive integer (got '0')"),
    (("uri", "depth"), (), "'depth' expects a positive integer (got '')"),
    (("hdr()",), (), "balance hdr requires an http header field name."),
    (("hdr(host)", "foo"), (), "only accepts 'use_domain_only' modifier (got 'foo')"),
    (("random(0)",), (), "number of draws must be at least 1"),
    (("random(x)",), (), "unexpected character"),
    (("source",), ("jump",), "'hash-type' only supports 'consistent' and 'map-based'."),
    (("source",), ("map-based", "md5"), "only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions"),
    (("source",), ("map-based", "sdbm", "x"), "only supports 'avalanche' as a modifier"),
    ((), (), "'balance' expects an algorithm."),
])
def test_factory_rejects_bad_words_in_haproxy_terms(words, hash_type, message):
    with pytest.raises(ValueError, match=None) as info:
        make_balancer(words, farm(1), {}, hash_type)
    assert message in str(info.value)


def test_factory_ignores_words_haproxy_ignores():
    assert type(make_balancer(("roundrobin", "x"), farm(1), {})).__name__ == "RoundRobin"
    assert type(make_balancer(("leastconn", "2"), farm(1), {})).__name__ == "LeastConn"
