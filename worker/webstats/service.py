"""The stats page as a built-in service: HTML or CSV of every proxy, and the admin form's POST actions.

A request whose URI starts with a proxy's ``stats uri`` (after that proxy's
http-request rules let it through) is answered here.  Options follow the URI
as haproxy reads them: ``;csv``, ``;up``, ``;norefresh``, ``;st=<result>``
and ``scope=<proxy>``.  A POST from a client ``stats admin`` allows changes
servers the way ``set server … state|health`` does: here first, then through
the master to every worker; the answer is haproxy's 303 to ``<uri>;st=…``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
from typing import Any
from urllib.parse import parse_qsl

from luaproxy.master.management.formats import stat_csv, stat_rows

from .. import stats
from ..backend.balance import algorithm_name
from ..backend.state import ServerChange, change_server
from ..http.message import Headers, ResponseHead
from . import html
from .conf import StatsConf

ACTIONS = {"ready": ("state", "ready"), "drain": ("state", "drain"), "maint": ("state", "maint"),
           "enable": ("state", "ready"), "disable": ("state", "maint"), "start": ("check", "enable"),
           "stop": ("check", "disable"), "dhlth": ("check", "disable"), "ehlth": ("check", "enable"),
           "hrunn": ("health", "up"), "hnolb": ("health", "nolb"), "hdown": ("health", "down"),
           "dagent": ("agent", "disable"), "eagent": ("agent", "enable"), "arunn": ("agent", "up"),
           "adown": ("agent", "down")}
MAX_POST = 64 * 1024
"""A larger admin form is refused (st=EXCD), as haproxy refuses one over its buffer."""


def claim(txn: Any, *proxies: Any) -> bool:
    """Make the stats page *txn*'s service when its URI is the stats URI of one of these proxies."""
    target = txn.request.target
    for proxy in proxies:
        conf = getattr(proxy, "stats", None) if proxy is not None else None
        if conf is not None and target.startswith(conf.uri):
            txn.service = StatsPage(proxy, conf)
            txn.applet = "<STATS>"
            return True
    return False


class StatsPage:
    def __init__(self, proxy: Any, conf: StatsConf) -> None:
        self.proxy = proxy
        self.conf = conf

    def __call__(self, txn: Any, io: Any) -> None:
        conf = self.conf
        if conf.users and not _authorized(conf, txn.request.headers.get_all("authorization")):
            _answer(io, 401, "text/html", b"<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and "
                    b"password to access this content.\n</body></html>\n",
                    [("www-authenticate", f'Basic realm="{conf.realm}"')])
            return
        options = txn.request.target[len(conf.uri):]
        if txn.request.method == "POST":
            _answer(io, 303, "text/plain", b"", [("location", f"{conf.uri};st={self._post(txn, io)}")])
            return
        worker = io.stream.worker
        snapshots = worker.stats_source() if worker.stats_source is not None else [worker.snapshot()]
        proxies = self._in_scope(stats.merge([s for s in snapshots if "proxies" in s]), options)
        if ";up" in options:
            proxies = [{**p, "servers": [s for s in p["servers"] if s["state"]["op_state"] == "UP"]}
                       for p in proxies]
        algorithms = {p.name: algorithm_name(p.balancer) for p in worker.all_proxies}
        if ";csv" in options:
            body = stat_csv(proxies, worker.maxconn, algorithms, time.time()).encode()
            _answer(io, 200, "text/plain", body, [("cache-control", "no-cache")])
            return
        rows = stat_rows(proxies, worker.maxconn, algorithms, time.time())
        result = re.search(r";st=([A-Z]+)", options)
        page = html.render(proxies, rows, conf, worker, admin=conf.allows_admin(txn),
                           result=result.group(1) if result else None,
                           refresh=0 if ";norefresh" in options else conf.refresh)
        _answer(io, 200, "text/html", page.encode(), [("cache-control", "no-cache")])

    def _in_scope(self, proxies: list[dict[str, Any]], options: str) -> list[dict[str, Any]]:
        allowed = {self.proxy.name if s == "." else s for s in self.conf.scopes}
        asked = re.search(r"[?;&]scope=([^&;]*)", options)
        if asked:
            allowed = {asked.group(1)} if not allowed or asked.group(1) in allowed else set()
            if not asked.group(1):
                allowed = {p["name"] for p in proxies}
        return [p for p in proxies if not allowed or p["name"] in allowed]

    def _post(self, txn: Any, io: Any) -> str:
        """Apply the admin form; haproxy's result code: DONE, PART, NONE, DENY, ERRP or EXCD."""
        if not self.conf.allows_admin(txn):
            return "DENY"
        body = io.receive(MAX_POST + 1)
        if len(body) > MAX_POST:
            return "EXCD"
        fields = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
        names = [v for k, v in fields if k == "s"]
        action = next((v for k, v in fields if k == "action"), "")
        backend = _backend(io.stream.worker.all_proxies, next((v for k, v in fields if k == "b"), ""))
        if backend is None or action not in ACTIONS:
            return "ERRP"
        op, value = ACTIONS[action]
        worker = io.stream.worker
        done = 0
        for name in names:
            server = next((s for s in backend.servers if s.name == name), None)
            if server is None:
                continue
            change = ServerChange(backend.name, server.name, op, value, origin="stats page")
            if change_server(backend, server, change, worker.logger).applied:
                done += 1
                if worker.publish_runtime is not None:
                    worker.publish_runtime(change)
        if not done:
            return "NONE"
        return "DONE" if done == len(names) else "PART"


def _backend(proxies: list[Any], ref: str) -> Any:
    """``b=#<id>`` or ``b=<name>``: a proxy with a backend side."""
    for proxy in proxies:
        if proxy.has_backend and (ref == f"#{proxy.id}" or ref == proxy.name):
            return proxy
    return None


def _authorized(conf: StatsConf, values: list[str]) -> bool:
    for value in values:
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "basic":
            continue
        try:
            user, _, password = base64.b64decode(token.strip()).decode("latin-1").partition(":")
        except (binascii.Error, ValueError):
            return False
        expected = conf.users.get(user)
        return expected is not None and hmac.compare_digest(expected.encode("latin-1"), password.encode("latin-1"))
    return False


def _answer(io: Any, status: int, content_type: str, body: bytes, extra: list[tuple[str, str]]) -> None:
    reasons = {200: "OK", 303: "See Other", 401: "Unauthorized"}
    headers = Headers([("content-type", content_type), *extra, ("content-length", str(len(body)))])
    io.send_head(ResponseHead(status, reasons[status], "HTTP/1.1", headers))
    io.send(body)
