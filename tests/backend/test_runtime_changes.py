"""Server changes as values: one apply for the master and the workers, the master's store across reloads."""

from __future__ import annotations

import re

import pytest

from luaproxy.master.control import runtime
from luaproxy.master.control.runtime import FrontendChange
from luaproxy.master.runtime_store import RuntimeStore
from luaproxy.worker.backend import make_balancer
from luaproxy.worker.backend.connect import connection_key
from luaproxy.worker.backend.state import ServerChange, ServerChangeError, apply_server_change, parse_weight
from luaproxy.worker.conn.outbound import SendProxy
from luaproxy.worker.proxy import Proxy, Server
from luaproxy.worker.tls.contexts import ServerTls
from tests.backend.kit import farm, proxy


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, text: str) -> None:
        self.lines.append(text)

    alert = notice = warning


def config(weight: int = 3, port: int = 8000) -> list[Proxy]:
    servers = farm(weight, 1)
    servers[0].port = port
    backend = proxy(servers)
    frontend = Proxy("web", 2, "http", True, False)
    return [backend, frontend]


def test_change_round_trips_the_wire():
    change = ServerChange("be", "s1", "addr", "10.0.0.1", "81", origin="Lua script")
    assert ServerChange.from_wire(change.to_wire()) == change
    assert runtime.from_wire(runtime.to_wire(change)) == change


def test_apply_states_weights_and_addresses():
    proxies, log = config(), Log()
    assert apply_server_change(proxies, ServerChange("be", "s1", "state", "drain"), log) == ""
    assert log.lines[-1].startswith("Server be/s1 enters drain state.")
    text = apply_server_change(proxies, ServerChange("be", "s1", "addr", "127.0.0.2", "9000", origin="Lua script"), log)
    assert text == "IP changed from '127.0.0.1' to '127.0.0.2', port changed from '8000' to '9000' by 'Lua script'"
    apply_server_change(proxies, ServerChange("be", "s1", "weight", "0"), log)
    assert (proxies[0].servers[0].weight, proxies[0].servers[0].iweight) == (0, 3)
    with pytest.raises(ServerChangeError, match=re.escape("No such server.")):
        apply_server_change(proxies, ServerChange("be", "zz", "state", "maint"), log)


class Addresses:
    """What a connection key reads of a transaction: the client's and destination addresses."""

    src, src_port, dst, dst_port = "192.0.2.1", 40000, "198.51.100.7", 8080


def test_a_kept_connection_key_goes_with_a_change_of_what_it_was_made_from():
    """A server's connection key is kept when no transaction changes it, and dropped by any change of its
    address, port, TLS or PROXY settings, from the management socket or elsewhere: never a stale key."""
    proxies, log, txn = config(), Log(), Addresses()
    server = proxies[0].servers[0]
    key, private = connection_key(server, txn)
    assert server.pool_key is key and key == (("127.0.0.1", 8000), None, None) and not private
    apply_server_change(proxies, ServerChange("be", "s1", "addr", "127.0.0.2", "9000"), log)
    assert server.pool_key is None
    assert connection_key(server, txn)[0] == server.pool_key == (("127.0.0.2", 9000), None, None)
    server.tls = ServerTls(None)
    assert server.pool_key is None
    assert connection_key(server, txn)[0] == server.pool_key == (("127.0.0.2", 9000), None, None)
    server.tls = ServerTls(None, sni=lambda txn: "example.com")  # an SNI made per transaction: never kept
    assert connection_key(server, txn)[0] == (("127.0.0.2", 9000), "example.com", None)
    assert server.pool_key is None
    server.tls, server.send_proxy = None, SendProxy(1)  # a PROXY header per client: never kept
    assert connection_key(server, txn)[0][2].startswith(b"PROXY TCP4 192.0.2.1 198.51.100.7 40000 8080")
    assert server.pool_key is None
    server.send_proxy = SendProxy(0)
    connection_key(server, txn)
    assert server.pool_key == (("127.0.0.2", 9000), None, None)
    following = Server("any", "0.0.0.0", 0)  # each client's destination: never kept, never shared
    assert connection_key(following, txn) == ((("198.51.100.7", 8080), None, None), True)
    assert following.pool_key is None


def test_a_kept_traffic_answer_goes_with_a_change_of_state_or_weight():
    """Whether a server takes traffic is kept once asked (the per-request pick reads it without a call), and
    dropped by any change of its health, admin state or weight, from the management socket or elsewhere: a pick
    never follows a stale answer."""
    backend, log = proxy(farm(3)), Log()
    balancer = backend.balancer = make_balancer(("roundrobin",), backend.servers, {})
    proxies, server = [backend], backend.servers[0]
    assert server.traffic is None and balancer.take_lone() is server and server.traffic is True
    balancer.release(server)
    for op, value, back in (("state", "maint", "ready"), ("state", "drain", "ready"), ("weight", "0", "3"),
                            ("health", "down", "up")):
        apply_server_change(proxies, ServerChange("be", "s1", op, value), log)
        assert balancer.take_lone() is None and balancer.group() == [] and server.traffic is False
        apply_server_change(proxies, ServerChange("be", "s1", op, back), log)
        assert balancer.take_lone() is server and server.traffic is True
        balancer.release(server)
    server.op_state = "DOWN"  # a health check's own move
    assert server.traffic is None and balancer.take_lone() is None
    server.op_state = "UP"
    assert server.traffic is None and balancer.group() == [server] and server.traffic is True


@pytest.mark.parametrize(("algorithm", "text", "expected"), [
    (("roundrobin",), "50%", 1), (("roundrobin",), "200", 200), (("roundrobin",), "0%", 0),
    (("static-rr",), "100%", 3), (("static-rr",), "2", "Backend is using a static LB algorithm"),
    (("source",), "2", "Backend is using a static LB algorithm"),
    (("roundrobin",), "257", "Absolute weight can only be between 0 and 256 inclusive."),
    (("roundrobin",), "-1", "Absolute weight can only be between 0 and 256 inclusive."),
    (("roundrobin",), "x", "Empty weight string empty or preceded by garbage"),
    (("roundrobin",), "5x", "Trailing garbage in weight string"), (("roundrobin",), "500%", 15),
    (("roundrobin",), "-5%", "Relative weight must be positive."),
])
def test_parse_weight(algorithm, text, expected):
    backend = config()[0]
    backend.balancer = make_balancer(algorithm, backend.servers, {})
    if isinstance(expected, int):
        assert parse_weight(backend, backend.servers[0], text) == expected
    else:
        with pytest.raises(ServerChangeError, match=re.escape(expected)):
            parse_weight(backend, backend.servers[0], text)


def test_store_replays_changes_on_a_reload_unless_the_configuration_changed():
    store = RuntimeStore(config())
    store.apply(ServerChange("be", "s1", "state", "maint"))
    store.apply(ServerChange("be", "s1", "weight", "7"))
    store.apply(ServerChange("be", "s2", "weight", "5"))
    store.apply(FrontendChange("web", paused=True))
    same = RuntimeStore(config())
    assert same.carry_over(store) == (["be/s1", "be/s2", "web"], [])
    s1, s2 = same.proxies[0].servers
    assert (s1.admin_state, s1.weight, s2.weight, same.proxies[1].paused) == ("MAINT", 7, 5, True)
    edited = RuntimeStore(config(port=8080))  # s1's line changed: the configuration wins for it
    assert edited.carry_over(same) == (["be/s2", "web"], ["be/s1"])
    assert (edited.proxies[0].servers[0].admin_state, edited.proxies[0].servers[1].weight) == ("READY", 5)
