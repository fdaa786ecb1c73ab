"""TXN objects name their transaction by an integer handle (worker.txn.handle_of): every transaction's handle
is dropped when it ends, whichever way it ends, and a TXN kept past its transaction names nothing.

Served in this process (the registry is a worker's), on real loopback sockets, every wait bounded.
"""

from __future__ import annotations

import socket
import textwrap
from pathlib import Path
from typing import Any

import gevent
import pytest
from gevent import socket as gsocket

from luaproxy.master import lua_boot, reload
from luaproxy.worker import process
from luaproxy.worker.context import WorkerContext
from luaproxy.worker.log import Logger
from luaproxy.worker.txn import SWEEP_SIZE, Transaction, handle_of, handles
from tests.helpers import recv_until

WAIT = 10.0

LUA = """
core.register_action("tag", {"http-req", "http-res"}, function(txn)
   txn:set_var("txn.tag", txn.sf:src())
   txn.http:req_set_header("x-tag", "1")
end)
core.register_action("fail", {"http-req"}, function(txn)
   txn:set_var("txn.x", 1)
   error("failing on purpose")
end)
core.register_action("slow", {"http-req"}, function(txn)
   txn:set_priv("slow")
   core.msleep(200)
end)
core.register_action("tcp_hello", {"tcp-req"}, function(txn)
   txn.res:send("hello\\n")
   txn:done()
end)
core.register_fetches("src_text", function(txn)
   return txn.sf:src()
end)
Tagger = {}
Tagger.__index = Tagger
function Tagger:new() return setmetatable({}, Tagger) end
function Tagger:http_headers(txn, msg)
   txn:set_var("txn.filtered", 1)
   msg:add_header("x-filtered", "1")
end
core.register_filter("tagger", Tagger, function(f, args) return f end)
Upper = {}
Upper.__index = Upper
function Upper:new() return setmetatable({}, Upper) end
function Upper:start_analyze(txn, chn)
   txn:set_var("txn.started", 1)
   if not chn:is_resp() then filter.register_data_filter(self, chn) end
end
function Upper:tcp_payload(txn, chn)
   chn:set(chn:data():upper())
end
core.register_filter("upper", Upper, function(f, args) return f end)
kept = nil
core.register_action("keep", {"http-req"}, function(txn)
   if kept == nil then
      kept = txn
      return
   end
   local ok, err = pcall(kept.get_var, kept, "txn.tag")
   local ok_sf, err_sf = pcall(function() return kept.sf:src() end)
   local ok_http, err_http = pcall(function() return kept.http:req_get_headers() end)
   txn.http:req_set_header("x-stale", tostring(ok) .. tostring(ok_sf) .. tostring(ok_http) .. " " .. err)
end)
"""


def config(lua: Path, ports: dict[str, int], backend: int) -> str:
    return textwrap.dedent(f"""
        global
           lua-load {lua}
        defaults
           timeout client 5s
           timeout server 5s
           timeout connect 5s
        frontend returned
           mode http
           bind 127.0.0.1:{ports["returned"]}
           http-request lua.tag
           http-request set-header x-src %[lua.src_text]
           http-request return status 200 content-type text/plain string ok
        frontend forwarded
           mode http
           bind 127.0.0.1:{ports["forwarded"]}
           http-request lua.tag
           http-response lua.tag
           default_backend be
        frontend failing
           mode http
           bind 127.0.0.1:{ports["failing"]}
           http-request lua.fail
           http-request return status 200 content-type text/plain string ok
        frontend slow
           mode http
           bind 127.0.0.1:{ports["slow"]}
           http-request lua.slow
           http-request return status 200 content-type text/plain string ok
        frontend kept
           mode http
           bind 127.0.0.1:{ports["kept"]}
           http-request lua.keep
           http-request return status 200 content-type text/plain string ok hdr x-stale "%[req.hdr(x-stale)]"
        frontend filtered
           mode http
           bind 127.0.0.1:{ports["filtered"]}
           filter lua.tagger
           http-request lua.tag
           default_backend be
        listen tcp
           mode tcp
           bind 127.0.0.1:{ports["tcp"]}
           tcp-request content lua.tcp_hello
        listen tcp_filtered
           mode tcp
           bind 127.0.0.1:{ports["tcp_filtered"]}
           filter lua.upper
           server s1 127.0.0.1:{backend}
        backend be
           mode http
           server s1 127.0.0.1:{backend}
        """)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


class InProcess:
    """The configuration's worker in this process: each frontend's listener accepts in a greenlet."""

    def __init__(self, tmp_path: Path) -> None:
        names = ["returned", "forwarded", "failing", "slow", "kept", "filtered", "tcp", "tcp_filtered"]
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        self.backend = gsocket.socket()
        self.backend.bind(("127.0.0.1", 0))
        self.backend.listen(16)
        (tmp_path / "handles.lua").write_text(LUA)
        backend = self.backend.getsockname()[1]
        (tmp_path / "handles.cfg").write_text(config(tmp_path / "handles.lua", self.ports, backend))
        logger = Logger(quiet=True)
        generation = reload.load([str(tmp_path / "handles.cfg")], logger)
        lua_boot.run_inits(generation.engine)
        settings, proxies = generation.settings, generation.proxies
        context = WorkerContext(logger, {p.name: p for p in proxies if p.has_backend}, 1, 1, settings.bufsize,
                                proxies, generation.engine.metrics, settings.maxconn)
        self.worker = process.Worker(process.WorkerSpec(1, context, []))
        self.frontends = {p.name: p for p in proxies}
        self.greenlets = [gevent.spawn(self._backend)]
        for name, port in self.ports.items():
            listening = gsocket.socket()
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.bind(("127.0.0.1", port))
            listening.listen(16)
            self.greenlets.append(gevent.spawn(self._accept, listening, self.frontends[name]))

    def _accept(self, listening: Any, frontend: Any) -> None:
        while True:
            client, _ = listening.accept()
            gevent.spawn(self.worker.handle_connection, frontend, client, 0)

    def _backend(self) -> None:
        while True:
            conn, _ = self.backend.accept()
            gevent.spawn(self._answer, conn)

    @staticmethod
    def _answer(conn: Any) -> None:
        """An HTTP request's head gets a short response; a TCP client's line is echoed back."""
        with conn:
            conn.settimeout(WAIT)
            data = recv_until(conn, b"\n")
            if data is None:
                return
            if not data.startswith(b"GET"):
                conn.sendall(data)
                return
            if recv_until(conn, b"\r\n\r\n", data) is None:
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    def stop(self) -> None:
        gevent.killall(self.greenlets, timeout=WAIT)


@pytest.fixture
def served(tmp_path: Path) -> Any:
    server = InProcess(tmp_path)
    yield server
    server.stop()


def exchange(port: int, data: bytes) -> bytes:
    """Send *data*, read until the server closes (bounded)."""
    with gsocket.create_connection(("127.0.0.1", port), timeout=WAIT) as conn:
        conn.sendall(data)
        out = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return out
            out += chunk


def request(port: int, requests: int = 1) -> bytes:
    return exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n" * (requests - 1)
                    + b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")


def abort(port: int) -> None:
    """A request whose client goes away while its action runs."""
    with gsocket.create_connection(("127.0.0.1", port), timeout=WAIT) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        gevent.sleep(0.05)


def left(before: set[int]) -> set[int]:
    """The handles given since *before* (the registry's handles then) that are still there, once every
    connection's greenlet has ended its transaction (bounded)."""
    deadline = gevent.get_hub().loop.now() + WAIT
    while set(handles) - before and gevent.get_hub().loop.now() < deadline:
        gevent.sleep(0.02)
    return set(handles) - before


def test_every_ended_transaction_drops_its_handle(served):
    before = set(handles)
    for _ in range(20):
        assert request(served.ports["returned"], 3).count(b"200 OK") == 3
        assert request(served.ports["forwarded"]).startswith(b"HTTP/1.1 200")
        assert b" 500 " in request(served.ports["failing"])
        assert exchange(served.ports["tcp"], b"x") == b"hello\n"
        assert request(served.ports["filtered"]).startswith(b"HTTP/1.1 200")
        assert exchange(served.ports["tcp_filtered"], b"line\n") == b"LINE\n"
    for _ in range(5):
        abort(served.ports["slow"])
    assert left(before) == set()


def test_a_txn_kept_past_its_transaction_is_a_lua_error(served):
    before = set(handles)
    request(served.ports["kept"])
    answer = request(served.ports["kept"])
    assert b"x-stale: falsefalsefalse " in answer
    assert b"this TXN's transaction has ended" in answer
    assert left(before) == set()


def test_a_transaction_whose_connection_ended_without_release_leaves_no_entry(served):
    """A transaction whose connection ended without Transaction.release() (an HTTP/2 stream killed with its
    connection) is not kept by the registry: its entry goes once the registry has grown; a live one stays."""
    frontend = served.frontends["returned"]
    addresses = (("127.0.0.1", 1), ("127.0.0.1", 2))
    ended_client, live_client = socket.socketpair()

    def handle(client: socket.socket) -> int:
        return handle_of(Transaction(client, frontend, None, None, Logger(quiet=True), addresses=addresses))

    ended, live = handle(ended_client), handle(live_client)
    ended_client.close()
    for _ in range(SWEEP_SIZE):
        handle(ended_client)
    assert ended not in handles
    assert live in handles
    live_client.close()
    for _ in range(SWEEP_SIZE):
        handle(live_client)
    assert live not in handles
