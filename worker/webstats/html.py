"""The HTML stats page: one table per proxy (frontend, servers, backend), and the admin form."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from .conf import StatsConf

COLUMNS = (("Queue", ("qcur", "qmax", "qlimit")), ("Sessions", ("scur", "smax", "slim", "stot", "lbtot")),
           ("Bytes", ("bin", "bout")), ("Denied", ("dreq", "dresp")), ("Errors", ("ereq", "econ", "eresp")),
           ("Warnings", ("wretr", "wredis")), ("Server", ("status", "lastchg", "weight", "act", "bck",
                                                          "check_status", "chkfail", "chkdown", "downtime")))
ADMIN_ACTIONS = (("ready", "Set state to READY"), ("drain", "Set state to DRAIN"), ("maint", "Set state to MAINT"),
                 ("dhlth", "Health: disable checks"), ("ehlth", "Health: enable checks"),
                 ("hrunn", "Health: force UP"), ("hnolb", "Health: force NOLB"), ("hdown", "Health: force DOWN"))
RESULTS = {"DONE": "Action processed successfully.", "PART": "Action partially processed.",
           "NONE": "Nothing has changed.", "DENY": "Action denied.", "ERRP": "Action not processed because of "
           "invalid parameters.", "EXCD": "Action not processed: the buffer couldn't store all the data."}
STYLE = ("body{font-family:arial,helvetica,sans-serif;font-size:12px}table{border-collapse:collapse;"
         "margin-bottom:12px}td,th{border:1px solid #999;padding:1px 4px;text-align:right}"
         "th.pxname{background:#b00040;color:#fff;text-align:left}tr.frontend{background:#e8e8d0}"
         "tr.backend{background:#e8e8d0;font-weight:bold}tr.UP{background:#c0ffc0}tr.DOWN{background:#ff9090}"
         "tr.MAINT{background:#c07820}tr.DRAIN{background:#20a0ff}")


def _escape(text: str) -> str:
    """html.escape, imported when a page is made: the html package loads its entity table (~0.4 MB), which a
    worker that never serves the page does not need."""
    from html import escape

    return escape(text)


def render(proxies: list[dict[str, Any]], rows: list[Any], conf: StatsConf, worker: Any, admin: bool,
           result: str | None, refresh: int) -> str:
    out = ["<!DOCTYPE html>\n<html><head><title>Statistics Report for HAProxy"
           f"{'' if conf.node is None else ' on ' + _escape(conf.node or socket.gethostname())}</title>",
           '<meta http-equiv="content-type" content="text/html; charset=iso-8859-1">',
           f'<meta http-equiv="refresh" content="{refresh}">' if refresh else "",
           f"<style>{STYLE}</style></head><body>", "<h1>Statistics Report for pid "
           f"{os.getpid()}</h1>", _info(conf, worker)]
    if result in RESULTS:
        out.append(f"<p><b>{RESULTS[result]}</b></p>")
    by_proxy: dict[int, list[Any]] = {}
    for row in rows:
        by_proxy.setdefault(row[1], []).append(row)
    for proxy in proxies:
        out.append(_table(proxy, by_proxy.get(proxy["id"], []), admin and proxy["backend"]))
    out.append("</body></html>\n")
    return "\n".join(part for part in out if part)


def _info(conf: StatsConf, worker: Any) -> str:
    version = "" if conf.hide_version else f"luaproxy {_escape(worker.version)}, "
    uptime = int(time.time() - worker.started)
    parts = [f"<p>{version}uptime {uptime // 86400}d {uptime // 3600 % 24}h{uptime // 60 % 60:02d}m"
             f"{uptime % 60:02d}s, maxconn = {worker.maxconn}</p>"]
    if conf.desc:
        parts.append(f"<p>{_escape(conf.desc)}</p>")
    if conf.show_legends:
        parts.append("<p>Legend: UP, DOWN, MAINT (maintenance), DRAIN (no new sessions); "
                     "queue, session, byte, denied, error and warning counters per object.</p>")
    return "\n".join(parts)


def _table(proxy: dict[str, Any], rows: list[Any], admin: bool) -> str:
    name = _escape(proxy["name"])
    width = sum(len(fields) for _, fields in COLUMNS) + 1 + admin
    head = [f'<table><tr><th class="pxname" colspan="{width}">{name}</th></tr><tr>' + ("<th></th>" if admin else "")
            + "<th></th>" + "".join(f'<th colspan="{len(f)}">{t}</th>' for t, f in COLUMNS) + "</tr>"]
    head.append("<tr>" + ("<th></th>" if admin else "") + "<th></th>"
                + "".join(f"<th>{f}</th>" for _, fields in COLUMNS for f in fields) + "</tr>")
    servers = {s["id"]: s for s in proxy["servers"]}
    for kind, _, sid, cells in rows:
        values = dict(cells)
        label = ({"F": "Frontend", "B": "Backend"}.get(kind)
                 or _escape(str(values["svname"]) if kind == "L" else servers[sid]["name"]))
        css = {"F": "frontend", "B": "backend", "L": "socket"}.get(kind) or str(values.get("status", "")).split()[0]
        box = ""
        if admin:
            box = (f'<td><input type="checkbox" name="s" value="{_escape(servers[sid]["name"])}"></td>'
                   if kind == "S" else "<td></td>")
        out = "".join(f"<td>{_escape(str(values.get(f, '')))}</td>" for _, fields in COLUMNS for f in fields)
        head.append(f'<tr class="{css}">{box}<th>{label}</th>{out}</tr>')
    head.append("</table>")
    table = "\n".join(head)
    if not admin:
        return table
    options = "".join(f'<option value="{value}">{text}</option>' for value, text in ADMIN_ACTIONS)
    return (f'<form method="post">{table}<p>Choose the action to perform on the checked servers: '
            f'<select name="action"><option value=""></option>{options}</select>'
            f'<input type="hidden" name="b" value="#{proxy["id"]}"><input type="submit" value="Apply"></p></form>')
