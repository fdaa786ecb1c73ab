"""``http-request use-service prometheus-exporter``: the scrape endpoint, HAProxy's syntax."""

from __future__ import annotations

import importlib
from typing import Any
from urllib.parse import parse_qsl

from .http.message import Headers, ResponseHead
from .prometheus import CONTENT_TYPE, render


class PrometheusExporter:
    """Serves the metrics summed over every worker (through the worker context's stats view)."""

    def __init__(self) -> None:
        # Made while the master compiles the configuration: prometheus-client loads here, before the fork, so
        # that every worker shares it (worker.prometheus imports it only when it renders).
        importlib.import_module("prometheus_client.exposition")

    def __call__(self, txn: Any, io: Any) -> None:
        scopes: list[str] = []
        names: list[str] = []
        for key, value in parse_qsl(txn.request.query or "", keep_blank_values=True):
            if key == "scope":
                scopes.append(value)
            elif key == "metrics":
                names.extend(v for v in value.split(",") if v)
        body = render(io.stream.worker.stats_view(), scopes, names)
        head = ResponseHead(200, "OK", "HTTP/1.1", Headers([("content-type", CONTENT_TYPE),
                                                            ("content-length", str(len(body)))]))
        io.send_head(head)
        io.send(body)
