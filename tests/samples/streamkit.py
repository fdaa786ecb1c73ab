"""A concrete stream view for sample tests: plain data implementing SampleContext."""

from __future__ import annotations

from dataclasses import dataclass, field

from luaproxy.worker.http.message import Headers, RequestHead, ResponseHead
from luaproxy.worker.samples import Vars


@dataclass
class Server:
    name: str
    id: int = 1
    usable: bool = True
    current_conns: int = 0
    maxconn: int = 0
    weight: int = 1
    iweight: int = 1
    op_state: str = "UP"
    admin_state: str = "READY"
    backup: bool = False
    sess_rate: list[int] = field(default_factory=lambda: [0, 0, 0])


@dataclass
class Queue:
    waiting: int = 0

    def queued(self) -> int:
        return self.waiting


@dataclass
class Proxy:
    name: str
    id: int = 1
    current_conns: int = 0
    servers: list[Server] = field(default_factory=list)
    bind_names: list[str] = field(default_factory=list)
    balancer: Queue | None = None
    timeouts: dict[str, float] = field(default_factory=dict)

    def timeout(self, name: str, default: float | None = None) -> float | None:
        return self.timeouts.get(name, default)


def request(method: str = "GET", target: str = "/", headers: list[tuple[str, str]] | None = None) -> RequestHead:
    return RequestHead(method, target, "HTTP/1.1", Headers(list(headers or [])))


def response(status: int = 200, headers: list[tuple[str, str]] | None = None) -> ResponseHead:
    return ResponseHead(status, "OK", "HTTP/1.1", Headers(list(headers or [])))


@dataclass
class Stream:
    src: str | None = "192.168.1.10"
    src_port: int | None = 51234
    dst: str | None = "10.0.0.1"
    dst_port: int | None = 8080
    so_id: int = 1
    frontend: Proxy = field(default_factory=lambda: Proxy("fe", 2, 5))
    backend: Proxy | None = None
    server: Server | None = None
    proxies: dict[str, Proxy] = field(default_factory=dict)
    vars: Vars = field(default_factory=Vars)
    process: tuple[int, int] = (4, 2)
    accept_date: float = 1234567890.123
    request: RequestHead | None = None
    response: ResponseHead | None = None
    data: bytes = b""
    res_buffer: bytes = b""
    req_body: bytes | None = None
    last_rule: str | None = None
    first_request: bool = True
    incomplete: bool = False

    def req_data(self) -> bytes:
        return self.data

    def res_data(self) -> bytes:
        return self.res_buffer


HAPROXY_TARGET = "/dir/page.html?k=v;x=1&j=2&n=33"
HAPROXY_HEADERS = [
    ("Host", "example.com"),
    ("X-A", "a1, a2"),
    ("X-A", "a3"),
    ("X-N", "42"),
    ("X-IP", "10.1.2.3:80"),
    ("Cookie", "a=1; b=2; a=3; n=7"),
    ("Authorization", "Basic dTpw"),
    ("Accept-Language", "fr-CH, fr;q=0.9, en;q=0.8"),
]


def http_stream(target: str = HAPROXY_TARGET, headers: list[tuple[str, str]] | None = None) -> Stream:
    """The request sent to haproxy 2.6 when collecting the reference values (tests/samples/test_haproxy_values.py)."""
    servers = [Server("s1", 1, True, 3, 10), Server("s2", 2, False, 0, 10), Server("s3", 3, True, 1, 5)]
    be = Proxy("be", 3, 4, servers)
    fe = Proxy("fe", 2, 5)
    return Stream(
        backend=be,
        frontend=fe,
        server=servers[0],
        proxies={"be": be, "fe": fe, "empty": Proxy("empty", 9)},
        request=request("GET", target, HAPROXY_HEADERS if headers is None else headers),
    )
