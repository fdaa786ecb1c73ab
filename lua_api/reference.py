"""Regenerate LUA_API.md from the live Lua tables: ``python -m luaproxy.lua_api.reference``.

Every class and function listed is read from a freshly built engine (the
class tables the scripts see), so nothing is listed that does not exist.  The
signatures come from the Python functions behind them (or, for the few written
in Lua, from LUA_SIGNATURES); the version column says whether the name is in
the 1.6-era spec luaproxy started from, in haproxy 2.6's Lua documentation, or
is luaproxy's own; DIFFERENCES says where luaproxy behaves otherwise.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from luaproxy.worker.samples import PatternLibrary, default_registry

from .checks import lua_type

REFERENCE_PATH = Path(__file__).with_name("LUA_API.md")


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


SPEC_1_6 = _names("""
core.Alert core.Debug core.Info core.Warning core.add_acl core.alert core.crit core.debug core.del_acl core.del_map
core.emerg core.err core.info core.log core.msleep core.notice core.register_converters core.register_fetches
core.register_init core.register_task core.set_map core.set_nice core.sleep core.tcp core.warning core.yield
TXN.Alert TXN.Debug TXN.Info TXN.Warning TXN.c TXN.close TXN.deflog TXN.f TXN.get_headers TXN.get_priv TXN.get_var
TXN.http TXN.log TXN.req TXN.res TXN.sc TXN.set_loglevel TXN.set_mark TXN.set_priv TXN.set_tos TXN.set_var TXN.sf
Channel.append Channel.dup Channel.forward Channel.get Channel.get_in_length Channel.get_line Channel.get_out_length
Channel.send Channel.set HTTP.req HTTP.req_add_header HTTP.req_del_header HTTP.req_get_header
HTTP.req_replace_header HTTP.req_replace_value HTTP.req_set_header HTTP.req_set_method HTTP.req_set_path
HTTP.req_set_query HTTP.res_add_header HTTP.res_del_header HTTP.res_get_header HTTP.res_replace_header
HTTP.res_replace_value HTTP.res_set_header Map.beg Map.dir Map.dom Map.end Map.int Map.ip Map.lookup Map.new Map.reg
Map.slookup Map.str Map.sub Socket.close Socket.connect Socket.connect_ssl Socket.getpeername Socket.getsockname
Socket.receive Socket.send Socket.setoption Socket.settimeout
""")

HAPROXY_2_6 = _names("""
AppletHTTP.add_header AppletHTTP.c AppletHTTP.f AppletHTTP.get_priv AppletHTTP.get_var AppletHTTP.getline
AppletHTTP.headers AppletHTTP.length AppletHTTP.method AppletHTTP.path AppletHTTP.qs AppletHTTP.receive
AppletHTTP.sc AppletHTTP.send AppletHTTP.set_priv AppletHTTP.set_status AppletHTTP.set_var AppletHTTP.sf
AppletHTTP.start_response AppletHTTP.unset_var AppletHTTP.version AppletTCP.c AppletTCP.f AppletTCP.get_priv
AppletTCP.get_var AppletTCP.getline AppletTCP.receive AppletTCP.sc AppletTCP.send AppletTCP.set_priv
AppletTCP.set_var AppletTCP.sf AppletTCP.unset_var Channel.append Channel.data Channel.dup Channel.forward
Channel.get Channel.get_in_len Channel.get_out_len Channel.getline Channel.input Channel.insert Channel.is_full
Channel.is_resp Channel.line Channel.may_recv Channel.output Channel.prepend Channel.remove Channel.send Channel.set
Concat.add Concat.dump HTTP.req_add_header HTTP.req_del_header HTTP.req_get_headers HTTP.req_rep_header
HTTP.req_rep_value HTTP.req_set_header HTTP.req_set_method HTTP.req_set_path HTTP.req_set_query HTTP.req_set_uri
HTTP.res_add_header HTTP.res_del_header HTTP.res_get_headers HTTP.res_rep_header HTTP.res_rep_value
HTTP.res_set_header HTTP.res_set_status HTTPClient.delete HTTPClient.get HTTPClient.head HTTPClient.post
HTTPClient.put HTTPMessage.add_header HTTPMessage.append HTTPMessage.body HTTPMessage.del_header HTTPMessage.eom
HTTPMessage.forward HTTPMessage.get_headers HTTPMessage.get_stline HTTPMessage.input HTTPMessage.insert
HTTPMessage.is_full HTTPMessage.is_resp HTTPMessage.may_recv HTTPMessage.output HTTPMessage.prepend
HTTPMessage.remove HTTPMessage.rep_header HTTPMessage.rep_value HTTPMessage.send HTTPMessage.set HTTPMessage.set_eom
HTTPMessage.set_header HTTPMessage.set_method HTTPMessage.set_path HTTPMessage.set_query HTTPMessage.set_status
HTTPMessage.set_uri HTTPMessage.unset_eom Listener.get_stats Map._beg Map._dir Map._dom Map._end Map._int Map._ip
Map._reg Map._str Map._sub Map.lookup Map.new Map.slookup Proxy.get_cap Proxy.get_mode Proxy.get_stats
Proxy.listeners Proxy.name Proxy.pause Proxy.resume Proxy.servers Proxy.shut_bcksess Proxy.stktable Proxy.stop
Proxy.uuid Regex.exec Regex.match Regex.new Reply.add_header Reply.del_header Reply.set_body Reply.set_status
Server.agent_disable Server.agent_enable Server.agent_force_down Server.agent_force_up Server.check_disable
Server.check_enable Server.check_force_down Server.check_force_nolb Server.check_force_up Server.get_addr
Server.get_maxconn Server.get_stats Server.get_weight Server.is_draining Server.name Server.puid Server.set_addr
Server.set_drain Server.set_maint Server.set_maxconn Server.set_ready Server.set_weight Server.shut_sess
Socket.close Socket.connect Socket.connect_ssl Socket.getpeername Socket.getsockname Socket.receive Socket.send
Socket.setoption Socket.settimeout StickTable.dump StickTable.info StickTable.lookup
TXN.Alert TXN.Debug TXN.Info TXN.Warning TXN.c TXN.deflog TXN.done TXN.f
TXN.get_priv TXN.get_var TXN.http TXN.http_req TXN.http_res TXN.log TXN.reply TXN.req TXN.res TXN.sc
TXN.set_loglevel TXN.set_mark TXN.set_priority_class TXN.set_priority_offset TXN.set_priv TXN.set_tos TXN.set_var
TXN.sf TXN.unset_var act.ABORT act.CONTINUE act.DENY act.DONE act.ERROR act.INVALID act.STOP act.YIELD act.wake_time
core.Alert core.Debug core.Info core.Warning core.add_acl core.alert core.asctime_date core.backends core.concat
core.crit core.debug core.del_acl core.del_map core.done core.emerg core.err core.frontends core.get_info
core.http_date core.httpclient core.imf_date core.info core.log core.match_addr core.msleep core.notice core.now
core.parse_addr core.proxies core.register_action core.register_cli core.register_converters core.register_fetches
core.register_filter core.register_init core.register_service core.register_task core.rfc850_date core.set_map
core.set_nice core.sleep core.tcp core.thread core.tokenize core.warning core.yield filter.CONTINUE filter.ERROR
filter.FLT_CFG_FL_HTX filter.WAIT filter.register_data_filter filter.unregister_data_filter filter.wake_time
""")

MISSING = {
    "CertCache": "not available: certificates change through the management socket (`set ssl cert`).",
}

ATTRIBUTES = {
    "TXN": ("c", "f", "sc", "sf", "req", "res", "http", "http_req", "http_res"),
    "AppletHTTP": ("c", "f", "sc", "sf", "method", "path", "qs", "version", "length", "headers"),
    "AppletTCP": ("c", "f", "sc", "sf"),
    "Proxy": ("name", "uuid", "servers", "listeners", "stktable"),
    "Server": ("name", "puid"),
    "HTTPMessage": ("channel",),
}
"""Fields of objects (built on first use, so not in the method tables)."""

LUA_SIGNATURES = {
    "TXN.done": "txn:done([reply])", "TXN.close": "txn:close()", "TXN.reply": "txn:reply([table])",
    "core.concat": "core.concat()", "core.done": "core.done([data])",
    "Reply.set_status": "reply:set_status(status [, reason])", "Reply.add_header": "reply:add_header(name, value)",
    "Reply.del_header": "reply:del_header(name)", "Reply.set_body": "reply:set_body(body)",
    "Concat.add": "concat:add(string)", "Concat.dump": "concat:dump()",
    "filter.register_data_filter": "filter.register_data_filter(flt, chn)",
    "filter.unregister_data_filter": "filter.unregister_data_filter(flt, chn)",
    "filter.wake_time": "filter.wake_time(milliseconds)",
    "AppletHTTP.set_var": "applethttp:set_var(name, value [, ifexist])",
    "AppletHTTP.start_response": "applethttp:start_response()", "AppletHTTP.send": "applethttp:send(data)",
    "AppletTCP.set_var": "applettcp:set_var(name, value [, ifexist])",
    "HTTP.req": "http.req.set_uri(http, uri) (the 1.6 spec's spelling)",
    "HTTPMessage.add_header": "httpmessage:add_header(name, value)",
    "HTTPMessage.append": "httpmessage:append(string)",
    "HTTPMessage.del_header": "httpmessage:del_header(name)",
    "HTTPMessage.forward": "httpmessage:forward(length)",
    "HTTPMessage.input": "httpmessage:input()", "HTTPMessage.output": "httpmessage:output()",
    "HTTPMessage.insert": "httpmessage:insert(string [, offset])",
    "HTTPMessage.prepend": "httpmessage:prepend(string)",
    "HTTPMessage.remove": "httpmessage:remove([offset [, length]])",
    "HTTPMessage.rep_header": "httpmessage:rep_header(name, regex, replace)",
    "HTTPMessage.rep_value": "httpmessage:rep_value(name, regex, replace)",
    "HTTPMessage.send": "httpmessage:send(string)",
    "HTTPMessage.set": "httpmessage:set(string [, offset [, length]])",
    "HTTPMessage.set_header": "httpmessage:set_header(name, value)",
    "HTTPMessage.set_method": "httpmessage:set_method(method)", "HTTPMessage.set_path": "httpmessage:set_path(path)",
    "HTTPMessage.set_query": "httpmessage:set_query(query)", "HTTPMessage.set_uri": "httpmessage:set_uri(uri)",
}

DIFFERENCES = {
    "Channel.append": "Appends at the end of the input, as documented (haproxy 2.6.12 inserts in front).",
    "Channel.forward": "Waits for the missing bytes in an action, as 2.6 does; returns what was forwarded.",
    "Channel.send": "Written to the peer at once; -1 once the peer is gone.",
    "HTTPMessage.body": "The body data in http_payload (what was held back first); empty before.",
    "HTTPClient.get": "One connection per request; TLS verified as 2.6 (httpclient.ssl.ca-file/verify).",
    "Proxy.pause": "Every worker's listeners of the frontend stop accepting (like disable frontend).",
    "Proxy.resume": "Every worker's listeners of the frontend accept again (like enable frontend).",
    "Proxy.stop": "Closes the frontend's sockets in every process; a reload binds them again.",
    "Proxy.servers": "A live view: servers added or deleted at run time (add/del server) show at once "
                     "(haproxy 2.6 builds the table once).",
    "Server.shut_sess": "Cuts the server's sessions in every worker (as shutdown sessions server).",
    "Proxy.stktable": "nil when the proxy has no stick-table.",
    "Proxy.get_stats": "show stat's BACKEND row (FRONTEND for a frontend-only proxy) with this worker's "
                       "counters (the management socket sums every worker); rates stay 0. haproxy 2.6 also "
                       "returns fields left over from the previous get_stats() call, luaproxy does not.",
    "Server.get_stats": "show stat's server row with this worker's counters; states are the same in every worker.",
    "Listener.get_stats": "show stat's listener row with option socket-stats, else empty as in haproxy 2.6.",
    "Server.set_maint": "Reaches every worker and the management socket's view through the master.",
    "Server.agent_enable": "Accepted, no effect: luaproxy has no agent checks.",
    "Server.check_force_nolb": "Treated as up (luaproxy has no NOLB state).",
    "core.register_cli": "Runs in the master (which owns the management socket) on its Lua state.",
    "core.register_filter": "http_payload for request and response bodies (after register_data_filter; not an "
                            "HTTP/1.0 request's); a filtered body leaves chunked; filter.WAIT holds up to a "
                            "buffer. In mode tcp, tcp_payload sees the forwarded bytes; Channel.send and "
                            "forward work there (haproxy 2.6.12's send returns -1 and forward garbles the "
                            "rest); what it holds goes on when the peer closes.",
    "core.get_info": "This process's figures under show info's names.",
    "core.thread": "Always 0 (one shared Lua state per process).",
    "AppletTCP.get_priv": "Returns what set_priv stored (haproxy 2.6.12 returns nil for a number).",
    "act.wake_time": "An action returning act.YIELD runs again after it (10 ms without it), until the client "
                     "timeout.",
    "TXN.set_var": "As 2.6: false for an invalid name; with ifexist a proc. variable is set only if the "
                   "configuration names it.",
    "Regex.new": "Python's re syntax (close to PCRE).",
    "Socket.connect": "Host names resolve through gevent in every runtime context.",
}


def _python_signature(function: Any, skip_state: bool) -> str:
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return "..."
    if skip_state and parameters:
        parameters = parameters[1:]
    words = []
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            words.append("...")
        elif parameter.default is inspect.Parameter.empty:
            words.append(parameter.name)
        else:
            words.append(f"[{parameter.name}]")
    return ", ".join(words)


def _since(key: str) -> str:
    if key in SPEC_1_6:
        return "1.6 spec"
    if key in HAPROXY_2_6:
        return "2.6"
    return "luaproxy"


def _rows(engine: Any) -> dict[str, list[tuple[str, str, str, str]]]:
    from . import core as core_module
    from . import core_extras, httpclient, socket

    sections: dict[str, list[tuple[str, str, str, str]]] = {}
    python_core = {**engine.core.functions(), **engine.pattern_updates.functions(), "tcp": socket.tcp,
                   "httpclient": httpclient.new, "tokenize": core_extras.tokenize, "now": core_extras.now,
                   "get_info": lambda: None, "http_date": core_extras.http_date, "imf_date": core_extras.imf_date,
                   "rfc850_date": core_extras.rfc850_date, "asctime_date": core_extras.asctime_date,
                   "parse_addr": core_extras.parse_addr, "match_addr": core_extras.match_addr}
    lua_globals = engine.runtime.globals
    for table_name in ("core", "act", "filter", "Map", "Regex"):
        table = lua_globals[table_name]
        rows = []
        for name in sorted(str(k) for k in table):
            value = table[name]
            key = f"{table_name}.{name}"
            if lua_type(value) == "function":
                target = python_core.get(name) if table_name == "core" else None
                if table_name == "act" and name == "wake_time":
                    target = core_module.wake_time
                args = _python_signature(target, False) if target is not None else None
                signature = LUA_SIGNATURES.get(key) or f"{table_name}.{name}({args if args is not None else '...'})"
            elif lua_type(value) == "table":
                signature = f"{table_name}.{name} (table)"
            else:
                signature = f"{table_name}.{name} = {value!r}" if table_name != "core" or name != "thread" \
                    else "core.thread"
            rows.append((name, signature, _since(key), DIFFERENCES.get(key, "")))
        sections[table_name] = rows
    for class_name, lua_class in sorted(engine.classes.items()):
        if class_name.startswith("String"):
            continue
        methods = lua_class.methods
        functions = lua_class.functions
        rows = []
        for name in sorted(str(k) for k in methods):
            if name == "get_stats" and class_name in ("Proxy", "Server", "Listener"):
                notes = DIFFERENCES.get(f"{class_name}.{name}", "")
                rows.append((name, f"{class_name.lower()}:get_stats()", "2.6", notes))
                continue
            key = f"{class_name}.{name}"
            target = functions.get(name)
            if key in LUA_SIGNATURES:
                signature = LUA_SIGNATURES[key]
            elif target is not None:
                signature = f"{class_name.lower()}:{name}({_python_signature(target, True)})"
            else:
                signature = f"{class_name.lower()}:{name}(...)"
            rows.append((name, signature, _since(key), DIFFERENCES.get(key, "")))
        rows += [(name, f"{class_name.lower()}.{name}", _since(f"{class_name}.{name}"),
                  DIFFERENCES.get(f"{class_name}.{name}", "")) for name in ATTRIBUTES.get(class_name, ())]
        sections[class_name] = sections.get(class_name, []) + rows
    sections["Reply"] = [(n, LUA_SIGNATURES[f"Reply.{n}"], "2.6", "")
                         for n in ("add_header", "del_header", "set_body", "set_status")]
    sections["Reply"] += [(n, f"reply.{n}", "2.6", "") for n in ("status", "reason", "headers", "body")]
    sections["Concat"] = [(n, LUA_SIGNATURES[f"Concat.{n}"], "2.6", "") for n in ("add", "dump")]
    return sections


def reference_markdown(engine: Any) -> str:
    lines = ["# Lua API reference", "",
             "Generated from the Lua tables of a fresh engine by `python -m luaproxy.lua_api.reference`.",
             "*since*: `1.6 spec` (the API luaproxy started from), `2.6` (haproxy 2.6's Lua documentation) or",
             "`luaproxy` (luaproxy's own, or a later haproxy's). Fetches and Converters (`txn.f`, `txn.c`...) have",
             "one method per sample fetch and converter of [the catalogue](../worker/samples/CATALOGUE.md).", ""]
    for section, rows in _rows(engine).items():
        if section in ("Fetches", "Converters"):
            lines += [f"## {section}", "", f"{len(rows)} methods, one per entry of the sample catalogue.", ""]
            continue
        lines += [f"## {section}", "", "| name | signature | since | luaproxy differs |", "|---|---|---|---|"]
        lines += [f"| `{name}` | `{signature}` | {since} | {notes} |" for name, signature, since, notes in rows]
        lines.append("")
    lines += ["## Not available", ""]
    lines += [f"- **{name}**: {text}" for name, text in MISSING.items()]
    lines.append("")
    return "\n".join(lines)


def build_engine() -> Any:
    from .engine import LuaEngine

    class Quiet:
        def log(self, level: int, message: str) -> None:
            return

        def alert(self, message: str) -> None:
            return

    engine = LuaEngine(Quiet(), default_registry(), PatternLibrary())
    engine.attach_proxies([], {})
    return engine


def write_reference(path: Path = REFERENCE_PATH) -> None:
    path.write_text(reference_markdown(build_engine()))


if __name__ == "__main__":
    write_reference()
