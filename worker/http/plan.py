"""What an HTTP stream needs of a proxy, looked up once per proxy instead of once per request.

A proxy's rule sets, timeouts and options do not change while a worker runs
(a reload starts new workers), so the stream reads them from this plan: an
empty rule set is ``None`` and costs one attribute test, a timeout is a plain
attribute rather than a dict lookup with a fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True, frozen=True)
class HttpPlan:
    tcp_content: list[Any] | None
    http_request: list[Any] | None
    tcp_response: list[Any] | None
    http_response: list[Any] | None
    after_response: list[Any] | None
    response_rules: bool
    """``tcp-response content`` or ``http-response`` rules exist."""
    session_rules: bool
    """``tcp-request connection`` or ``tcp-request session`` rules exist."""
    client: float | None
    server: float | None
    tunnel: float | None
    request: float | None
    """``timeout http-request``, else ``timeout client``: how long a request head (and buffered body) may take."""
    keep_alive: float | None
    """``timeout http-keep-alive``, else the request timeout: how long an idle keep-alive connection waits."""
    httpclose: bool
    server_close: bool
    buffer_request: bool
    ignore_probes: bool
    restrict_names: bool
    """``option http-restrict-req-hdr-names delete|reject`` (a backend's)."""
    abortonclose: bool
    plain_answer: bool
    """No ``tcp-response content``, ``http-response`` or ``http-after-response`` rule and no response header
    capture: an answer of our own goes out as it was made."""


def plan_of(proxy: Any) -> HttpPlan:
    """The proxy's plan, built on first use and kept on the proxy."""
    plan = proxy.plan
    if plan is None:
        plan = proxy.plan = _build(proxy)
    return plan


def _build(proxy: Any) -> HttpPlan:
    rules, timeouts, options = proxy.rules, proxy.timeouts, proxy.options
    request = timeouts.get("http-request") or timeouts.get("client")
    return HttpPlan(
        tcp_content=rules.get("tcp-request content") or None,
        http_request=rules.get("http-request") or None,
        tcp_response=rules.get("tcp-response content") or None,
        http_response=rules.get("http-response") or None,
        after_response=rules.get("http-after-response") or None,
        response_rules=bool(rules.get("tcp-response content") or rules.get("http-response")),
        session_rules=bool(rules.get("tcp-request connection") or rules.get("tcp-request session")),
        client=timeouts.get("client"),
        server=timeouts.get("server"),
        tunnel=timeouts.get("tunnel"),
        request=request,
        keep_alive=timeouts.get("http-keep-alive") or request,
        httpclose=bool(options.get("httpclose")),
        server_close=bool(options.get("http-server-close")),
        buffer_request=bool(options.get("http-buffer-request")),
        ignore_probes=bool(options.get("http-ignore-probes")),
        restrict_names=options.get("http-restrict-req-hdr-names") in ("delete", "reject"),
        abortonclose=bool(options.get("abortonclose")),
        plain_answer=not (rules.get("tcp-response content") or rules.get("http-response")
                          or rules.get("http-after-response") or proxy.header_captures.get("response")),
    )
