"""A layer-4 health check as haproxy makes it: the server's kernel answers, its application never sees it."""

from __future__ import annotations

import socket

import pytest

from luaproxy.worker.backend.health import run_check
from luaproxy.worker.proxy import Proxy, Server


def test_layer4_check_passes_without_reaching_the_application() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        server = Server("s", "127.0.0.1", listener.getsockname()[1], check=True)
        proxy = Proxy("be", 1, "http", False, True, servers=[server])
        assert run_check(proxy, server).status == "L4OK"
        listener.settimeout(0.3)
        with pytest.raises(TimeoutError):  # never established for the application, as with haproxy
            listener.accept()
