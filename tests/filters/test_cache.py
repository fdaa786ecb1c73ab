"""The HTTP cache end to end: a real luaproxy between real sockets and a scripted server."""

from __future__ import annotations

import re

import pytest

from luaproxy.worker.filters.cache import Cache, CacheSettings, Entry
from luaproxy.worker.http.message import ResponseHead
from tests.e2e.test_http import get, start
from tests.helpers import http_exchange
from tests.supervisor.conftest import cli

from .scripted import Answer, ScriptedBackend


@pytest.fixture
def backend():
    server = ScriptedBackend()
    yield server
    server.close()


CONFIG = """
    frontend fe
       bind 127.0.0.1:{{port}}
       default_backend be
    backend be
       http-request cache-use small
       http-response cache-store small
       http-response set-header X-Hit %[res.cache_hit]
       http-response set-header X-Name %[res.cache_name]
       server s1 127.0.0.1:{backend}
    cache small
       total-max-size 1
       max-object-size 4096
       max-age 30
       process-vary on
"""


def test_hits_serve_the_stored_response_without_the_server(write, luaproxy, port, backend, tmp_path):
    body = bytes(range(256)) * 12  # 3072 bytes, every byte value, sent in chunks
    backend.answers["/chunked"] = Answer([("Cache-Control", "max-age=10"), ("ETag", '"v1"')], body, chunked=True)
    start(write, luaproxy, port, CONFIG.format(backend=backend.port),
          extra_global=f"stats socket {tmp_path}/admin.sock level admin")
    first = get(port, "/chunked")
    second = get(port, "/chunked")
    assert first[2] == second[2] == body
    assert (first[1]["x-hit"], first[1]["x-name"]) == ("0", "")
    assert (second[1]["x-hit"], second[1]["x-name"]) == ("1", "small")
    assert second[1]["etag"] == '"v1"'
    assert backend.count("/chunked") == 1
    shown = cli(str(tmp_path / "admin.sock"), "show cache\n").splitlines()
    assert re.fullmatch(r"0x[0-9a-f]+: small \(shctx:0x[0-9a-f]+, available blocks:\d+\)", shown[0]), shown
    assert re.fullmatch(r"0x[0-9a-f]+ hash:\d+ vary:0x0{16} size:\d+ \(4 blocks\), refcount:0, expire:\d+",
                        shown[1]), shown
    raw = http_exchange(port, b"HEAD /chunked HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(b"\r\n\r\n") and b"X-Hit: 1\r\n" in raw
    # The client's copy is current: 304 from the cache, no body.
    status, headers, rest = get(port, "/chunked", headers='If-None-Match: "v1"\r\n')
    assert (status, rest, headers["x-hit"]) == (304, b"", "1")
    # A client asking for a fresh copy goes to the server.
    assert get(port, "/chunked", headers="Cache-Control: no-cache\r\n")[1]["x-hit"] == "0"
    assert backend.count("/chunked") == 2


UNCACHEABLE = [
    [],  # neither a lifetime nor a validator
    [("Cache-Control", "max-age=10, private")],
    [("Cache-Control", "no-store")],
    [("Cache-Control", "max-age=10"), ("Set-Cookie", "a=b")],
    [("Cache-Control", "max-age=5"), ("Age", "9")],
    [("Cache-Control", "max-age=5"), ("Age", "abc")],
    [("Expires", "Thu, 01 Jan 2015 00:00:00 GMT")],
    [("Cache-Control", "max-age=10"), ("Vary", "user-agent")],
]


def test_uncacheable_responses_go_to_the_server_each_time(write, luaproxy, port, backend):
    for i, headers in enumerate(UNCACHEABLE):
        backend.answers[f"/{i}"] = Answer(headers, b"hello")
    start(write, luaproxy, port, CONFIG.format(backend=backend.port))
    for i, headers in enumerate(UNCACHEABLE):
        assert [get(port, f"/{i}")[1]["x-hit"] for _ in range(2)] == ["0", "0"], headers
        assert backend.count(f"/{i}") == 2, headers


def test_big_objects_vary_and_unsafe_methods(write, luaproxy, port, backend):
    backend.answers["/big"] = Answer([("Cache-Control", "max-age=10")], b"b" * 5000, chunked=True)
    backend.answers["/v"] = Answer([("Cache-Control", "max-age=10"), ("Vary", "Referer")], b"v")
    backend.answers["/p"] = Answer([("Cache-Control", "max-age=10")], b"p")
    start(write, luaproxy, port, CONFIG.format(backend=backend.port))
    assert [get(port, "/big")[2] for _ in range(2)] == [b"b" * 5000] * 2
    assert backend.count("/big") == 2  # past max-object-size: never stored
    for referer in ("a", "b", "a", "b"):
        get(port, "/v", headers=f"Referer: {referer}\r\n")
    assert backend.count("/v") == 2  # one entry per Referer
    get(port, "/p")
    assert get(port, "/p")[1]["x-hit"] == "1"
    get(port, "/p", method="POST", body=b"data")
    assert get(port, "/p")[1]["x-hit"] == "0"  # the successful POST dropped the entry


def test_the_store_never_grows_past_total_max_size():
    cache = Cache(CacheSettings("c", total_size=1024 * 1024, max_object_size=4096, max_age=60))
    for i in range(2000):
        cache.store(f"host/{i}", Entry(ResponseHead(200), b"x" * 4000, 0.0, 1e12))
        assert cache.used <= 1024 * 1024
    assert cache.lookup("host/1999", ResponseHead(200).headers) is not None
    assert cache.lookup("host/0", ResponseHead(200).headers) is None  # the least recently used went first


def test_config_errors_name_the_line(write, luaproxy, tmp_path):
    write("bad.cfg", """
        defaults
           mode http
        cache c1
           total-max-size 1
           max-objects 10
        frontend fe
           bind 127.0.0.1:0
           http-request cache-use c2
           compression algo brotli
           default_backend be
        backend be
           server s 127.0.0.1:1
        """)
    proc = luaproxy("-c", "-f", "bad.cfg")
    assert proc.wait(20) == 1
    errors = proc.stderr()
    assert "bad.cfg:5] : unknown keyword 'max-objects' in 'cache' section 'c1'" in errors
    assert "bad.cfg:8] : 'http-request': unable to find cache 'c2'" in errors
    assert "bad.cfg:9] : unknown compression algorithm 'brotli'" in errors
    assert "Traceback" not in errors
