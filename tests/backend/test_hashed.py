"""Hash-based algorithms: the server haproxy 2.6 picks for the same key, stability, fallbacks.

The expected choices were recorded by sending these keys through haproxy 2.6
(Debian 2.6.12) with the same servers, weights and hash-type.
"""

from __future__ import annotations

from collections import Counter

import pytest

from luaproxy.worker.backend import make_balancer
from luaproxy.worker.backend.state import OpState

from .kit import Txn, farm, http_txn, names

HAPROXY_SOURCE_1_2_4 = {
    "127.0.0.1": "s2", "127.0.0.2": "s3", "127.0.0.3": "s2", "127.0.0.7": "s3", "127.1.2.3": "s1",
    "127.9.8.7": "s2", "127.200.1.5": "s2", "127.3.3.3": "s3", "127.0.1.0": "s3", "127.17.0.99": "s3",
    "127.255.255.254": "s1", "127.0.0.100": "s3",
}
HAPROXY_SOURCE_AVALANCHE_1_2_4 = {
    "127.0.0.1": "s3", "127.0.0.2": "s3", "127.0.0.3": "s2", "127.0.0.7": "s2", "127.1.2.3": "s3",
    "127.9.8.7": "s1", "127.200.1.5": "s3", "127.0.1.0": "s1", "127.17.0.99": "s2",
}
HAPROXY_URI_1_2_3 = {
    "/": "s3", "/a": "s1", "/a/b": "s3", "/a/b/c?x=1": "s3", "/index.html": "s1", "/img/logo.png?v=2": "s3",
    "/x/y/z": "s2", "/api/v1/users": "s2", "/api/v1/users?id=3": "s2", "/static/app.js": "s2", "/q?z": "s2",
    "/foo/bar": "s3",
}
HAPROXY_URI_DEPTH2_WHOLE_1_1_1 = {
    "/": "s3", "/a": "s1", "/a/b": "s3", "/a/b/c?x=1": "s3", "/index.html": "s1", "/img/logo.png?v=2": "s3",
    "/x/y/z": "s2", "/static/app.js": "s3", "/q?z": "s1", "/foo/bar": "s2",
}
HAPROXY_URL_PARAM_DJB2_1_1_2 = {
    "/?uid=1": "s2", "/?uid=2": "s3", "/?uid=abc": "s3", "/p?x=1&uid=42": "s3", "/p?uid=&x": "s3",
    "/p?x=1&uid=zzz&uid=2": "s3", "/p?uid=hello": "s3",
}
HAPROXY_HOST_DOMAIN_ONLY_1_1_2 = {
    "www.example.com": "s2", "static.example.com": "s2", "a.b.c.d": "s3", "localhost": "s3", "foo.org": "s2",
    "bar.net:8080": "s3", "x.y.example.com": "s2", "www.haproxy.org": "s3",
}
HAPROXY_CONSISTENT_SOURCE_1_2_4_DOWN3 = {
    "127.28.46.22": "s3", "127.184.86.189": "s3", "127.157.128.156": "s3", "127.108.18.149": "s2",
    "127.81.220.164": "s3", "127.18.14.94": "s2", "127.238.163.233": "s2", "127.84.90.61": "s2",
}
HAPROXY_CONSISTENT_URI_DJB2_1_2_3 = {
    "/881542/x?q=0": "s3", "/965210/x?q=1": "s3", "/97463/x?q=2": "s1", "/533158/x?q=3": "s3",
    "/664078/x?q=4": "s2", "/220843/x?q=5": "s2", "/889353/x?q=9": "s1", "/156802/x?q=11": "s3",
}


def test_source_matches_haproxy():
    balancer = make_balancer(("source",), farm(1, 2, 4), {})
    assert {ip: balancer.pick(Txn(ip)).name for ip in HAPROXY_SOURCE_1_2_4} == HAPROXY_SOURCE_1_2_4
    avalanche = make_balancer(("source",), farm(1, 2, 4), {}, ("map-based", "sdbm", "avalanche"))
    assert {ip: avalanche.pick(Txn(ip)).name for ip in HAPROXY_SOURCE_AVALANCHE_1_2_4} == \
        HAPROXY_SOURCE_AVALANCHE_1_2_4


@pytest.mark.parametrize(("words", "weights", "hash_type", "expected"), [
    (("uri",), (1, 2, 3), (), HAPROXY_URI_1_2_3),
    (("uri", "depth", "2", "whole"), (1, 1, 1), (), HAPROXY_URI_DEPTH2_WHOLE_1_1_1),
    (("url_param", "uid"), (1, 1, 2), ("map-based", "djb2"), HAPROXY_URL_PARAM_DJB2_1_1_2),
    (("uri",), (1, 2, 3), ("consistent", "djb2"), HAPROXY_CONSISTENT_URI_DJB2_1_2_3),
])
def test_request_hashes_match_haproxy(words, weights, hash_type, expected):
    balancer = make_balancer(words, farm(*weights), {}, hash_type)
    assert {uri: balancer.pick(http_txn(uri)).name for uri in expected} == expected


def test_header_with_domain_only_matches_haproxy():
    balancer = make_balancer(("hdr(host)", "use_domain_only"), farm(1, 1, 2), {})
    chosen = {host: balancer.pick(http_txn("/", [("Host", host)])).name for host in HAPROXY_HOST_DOMAIN_ONLY_1_1_2}
    assert chosen == HAPROXY_HOST_DOMAIN_ONLY_1_1_2


def test_consistent_source_matches_haproxy_with_a_server_down():
    servers = farm(1, 2, 4, 3)
    servers[3].op_state = OpState.DOWN
    balancer = make_balancer(("source",), servers, {}, ("consistent",))
    chosen = {ip: balancer.pick(Txn(ip)).name for ip in HAPROXY_CONSISTENT_SOURCE_1_2_4_DOWN3}
    assert chosen == HAPROXY_CONSISTENT_SOURCE_1_2_4_DOWN3


def test_a_key_stays_on_its_server():
    balancer = make_balancer(("uri",), farm(1, 1, 1, 1), {})
    for path in ("/a", "/b/c", "/d?e"):
        assert len({balancer.pick(http_txn(path)).name for _ in range(20)}) == 1
    again = make_balancer(("uri",), farm(1, 1, 1, 1), {})
    assert balancer.pick(http_txn("/b/c")).name == again.pick(http_txn("/b/c")).name


def test_uri_spreads_by_weight():
    balancer = make_balancer(("uri",), farm(1, 3), {})
    counts = Counter(balancer.pick(http_txn(f"/item/{i}")).name for i in range(4000))
    assert 0.2 < counts["s1"] / 4000 < 0.3


def test_uri_options_select_the_hashed_part():
    balancer = make_balancer(("uri", "depth", "1"), farm(1, 1, 1, 1, 1, 1, 1), {})
    assert len({balancer.pick(http_txn(f"/shop/{i}")).name for i in range(50)}) == 1
    whole = make_balancer(("uri", "whole"), farm(1, 1, 1, 1, 1, 1, 1), {})
    assert len({whole.pick(http_txn(f"/shop?page={i}")).name for i in range(50)}) > 1
    short = make_balancer(("uri", "len", "5"), farm(1, 1, 1, 1, 1, 1, 1), {})
    assert len({short.pick(http_txn(f"/shop{i}")).name for i in range(50)}) == 1
    path_only = make_balancer(("uri", "path-only"), farm(1, 1, 1, 1, 1, 1, 1), {})
    assert path_only.pick(http_txn("http://a.example/x")) is path_only.pick(http_txn("/x"))


def test_consistent_ring_moves_only_the_lost_servers_keys():
    servers = farm(1, 1, 1, 1)
    balancer = make_balancer(("source",), servers, {}, ("consistent",))
    ips = [f"10.0.{i // 250}.{i % 250}" for i in range(1000)]
    before = {ip: balancer.pick(Txn(ip)) for ip in ips}
    servers[1].op_state = OpState.DOWN
    after = {ip: balancer.pick(Txn(ip)) for ip in ips}
    moved = [ip for ip in ips if before[ip] is not after[ip]]
    assert moved and all(before[ip] is servers[1] for ip in moved)


@pytest.mark.parametrize(("words", "txn"), [
    (("hdr(x-user)",), http_txn("/")),
    (("url_param", "uid"), http_txn("/p?other=1")),
    (("uri",), Txn()),
    (("source",), Txn(src=None)),
])
def test_missing_key_falls_back_to_round_robin(words, txn):
    balancer = make_balancer(words, farm(1, 1, 1), {})
    assert Counter(names([balancer.pick(txn) for _ in range(9)])) == {"s1": 3, "s2": 3, "s3": 3}


def test_full_hashed_server_is_not_replaced():
    servers = farm(1, 1)
    balancer = make_balancer(("source",), servers, {})
    home = balancer.pick(Txn("192.0.2.7"))
    home.maxconn = home.current_conns = 1
    assert balancer.pick(Txn("192.0.2.7")) is None
