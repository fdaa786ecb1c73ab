"""HTTP compression end to end: real luaproxy, real zlib on both sides, a scripted server and a Lua service."""

from __future__ import annotations

import gzip
import zlib

import pytest

from tests.e2e.test_http import get, start
from tests.helpers import http_exchange

from .scripted import Answer, ScriptedBackend

TEXT = b"".join(b"line %d of a compressible text body\n" % i for i in range(2000))


@pytest.fixture
def backend():
    server = ScriptedBackend()
    yield server
    server.close()


def test_gzip_deflate_and_what_is_left_alone(write, luaproxy, port, backend):
    backend.answers["/text"] = Answer([("Content-Type", "text/plain; charset=utf-8"), ("ETag", '"e1"')], TEXT)
    backend.answers["/chunked"] = Answer([("Content-Type", "text/plain")], TEXT, chunked=True)
    backend.answers["/css"] = Answer([("Content-Type", "text/css")], TEXT)
    backend.answers["/done"] = Answer([("Content-Type", "text/plain"), ("Content-Encoding", "br")], b"xx")
    backend.answers["/keep"] = Answer([("Content-Type", "text/plain"), ("Cache-Control", "no-transform")], TEXT)
    start(write, luaproxy, port, f"""
        frontend fe
           bind 127.0.0.1:{{port}}
           default_backend be
        backend be
           compression algo gzip deflate
           compression type text/plain text/html
           compression offload
           server s1 127.0.0.1:{backend.port}
        """)
    status, headers, body = get(port, "/text", headers="Accept-Encoding: gzip\r\n")
    assert (status, headers["content-encoding"], headers["vary"], headers["etag"]) == (200, "gzip", "Accept-Encoding",
                                                                                       'W/"e1"')
    assert "content-length" not in headers and len(body) < len(TEXT) // 5
    assert gzip.decompress(body) == TEXT
    assert "accept-encoding" not in backend.seen[-1][2]  # offload: the server never sees it
    status, headers, body = get(port, "/chunked", headers="Accept-Encoding: gzip;q=0.5, deflate;q=0.8\r\n")
    assert headers["content-encoding"] == "deflate" and zlib.decompress(body) == TEXT
    for path, request in (("/css", "gzip"), ("/done", "gzip"), ("/keep", "gzip"), ("/text", "br"),
                          ("/text", "gzip;q=0")):
        status, headers, body = get(port, path, headers=f"Accept-Encoding: {request}\r\n")
        assert headers.get("content-encoding") != "gzip" and "vary" not in headers, (path, request)
    # HTTP/1.0 clients get no compression.
    raw = http_exchange(port, b"GET /text HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n")
    assert raw.endswith(TEXT) and b"Content-Encoding" not in raw


def test_a_lua_service_response_is_compressed(write, luaproxy, port):
    start(write, luaproxy, port, """
        frontend fe
           bind 127.0.0.1:{port}
           compression algo gzip
           compression type application/javascript
           http-request use-service lua.blob
        """, lua="""
        local piece = string.rep("0123456789abcdef", 4096)
        core.register_service("blob", "http", function(applet)
           applet:set_status(200)
           applet:add_header("Content-Type", "application/javascript")
           applet:add_header("Content-Length", tostring(#piece * 8))
           applet:start_response()
           for i = 1, 8 do applet:send(piece) end
        end)
        """)
    status, headers, body = get(port, "/", headers="Accept-Encoding: gzip\r\n")
    assert (status, headers["content-encoding"]) == (200, "gzip")
    assert gzip.decompress(body) == b"0123456789abcdef" * 4096 * 8
