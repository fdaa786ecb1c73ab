"""The HTTP class: the request and response of an HTTP-mode transaction.

Functions take the transaction (the Lua ``txn.http`` object is built on it) and edit the one
message model the rules and the forwarding path use.  Both the spec's names
and HAProxy's later ones are registered (``req_get_header`` =
``req_get_headers``, ``req_replace_header`` = ``req_rep_header``...), and the
spec's ``HTTP.req.set_uri`` spelling works too.
"""

from __future__ import annotations

import re
from typing import Any

from luaproxy.worker.http.message import Headers
from luaproxy.worker.http.pages import reason

from . import checks
from .errors import LuaApiError
from .txn import transaction


def headers_table(runtime: Any, headers: Headers) -> Any:
    """HAProxy's layout: t[lower-case name][0..n-1] = value, 0-based; built by Lua in one call."""
    flat: list[str] = []
    for name, value in headers:
        flat += (name.lower(), value)
    return runtime.prelude.headers_table(*flat)


def _regex(pattern: Any, function: str) -> re.Pattern[str]:
    text = checks.string(pattern, function, 3)
    try:
        return re.compile(text)
    except re.error as exc:
        raise LuaApiError(f"{function}: invalid regex '{text}': {exc}") from None


def _response(txn: Any, function: str) -> Any:
    if txn.response is None:
        raise LuaApiError(f"{function}: no response yet (call it from an http-res action)")
    return txn.response


def functions(runtime: Any) -> dict[str, Any]:
    def message(txn: Any, side: str, function: str) -> Any:
        txn = transaction(txn)
        return txn.request if side == "req" else _response(txn, function)

    def get_headers(side: str) -> Any:
        def get(txn: Any) -> Any:
            return headers_table(runtime, message(txn, side, f"{side}_get_headers").headers)
        return get

    def add_header(side: str) -> Any:
        name = f"{side}_add_header"

        def add(txn: Any, header: Any, value: Any) -> None:
            if type(header) is not str or type(value) is not str:  # two strings, the usual case, need no check
                header, value = checks.string(header, name, 2), checks.string(value, name, 3)
            txn = transaction(txn)
            (txn.request if side == "req" else _response(txn, name)).headers.add(header, value)
        return add

    def del_header(side: str) -> Any:
        name = f"{side}_del_header"

        def delete(txn: Any, header: Any) -> None:
            message(txn, side, name).headers.remove(checks.string(header, name, 2))
        return delete

    def set_header(side: str) -> Any:
        name = f"{side}_set_header"

        def set_(txn: Any, header: Any, value: Any) -> None:
            if type(header) is not str or type(value) is not str:
                header, value = checks.string(header, name, 2), checks.string(value, name, 3)
            txn = transaction(txn)
            (txn.request if side == "req" else _response(txn, name)).headers.set(header, value)
        return set_

    def replace(side: str, whole: bool) -> Any:
        name = f"{side}_rep_{'header' if whole else 'value'}"

        def rep(txn: Any, header: Any, regex: Any, replacement: Any) -> None:
            headers: Headers = message(txn, side, name).headers
            method = headers.replace_full if whole else headers.replace_value
            method(checks.string(header, name, 2), _regex(regex, name), checks.string(replacement, name, 4))
        return rep

    def setter(attribute: str) -> Any:
        name = f"req_set_{attribute}"

        def set_(txn: Any, value: Any) -> None:
            text = checks.string(value, name, 2)
            request = transaction(txn).request
            if attribute == "method":
                request.method = text
            elif attribute == "path":
                request.set_path(text)
            elif attribute == "query":
                request.set_query(text)
            else:
                request.set_uri(text)
        return set_

    def res_set_status(txn: Any, status: Any, text: Any = None) -> None:
        code = checks.integer(status, "res_set_status", 2)
        if not 100 <= code <= 999:
            raise LuaApiError(f"bad argument #2 to 'res_set_status' (invalid status {code})")
        response = _response(transaction(txn), "res_set_status")
        response.status = code
        response.reason = checks.string(text, "res_set_status", 3) if text is not None else reason(code)

    table: dict[str, Any] = {"res_set_status": res_set_status}
    for side in ("req", "res"):
        table[f"{side}_get_headers"] = get_headers(side)
        table[f"{side}_add_header"] = add_header(side)
        table[f"{side}_del_header"] = del_header(side)
        table[f"{side}_set_header"] = set_header(side)
        table[f"{side}_rep_header"] = replace(side, True)
        table[f"{side}_rep_value"] = replace(side, False)
    for attribute in ("method", "path", "query", "uri"):
        table[f"req_set_{attribute}"] = setter(attribute)
    return table


ALIASES = {
    "req_get_header": "req_get_headers",
    "res_get_header": "res_get_headers",
    "req_replace_header": "req_rep_header",
    "res_replace_header": "res_rep_header",
    "req_replace_value": "req_rep_value",
    "res_replace_value": "res_rep_value",
}
