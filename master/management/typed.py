"""``show stat typed|json`` and ``show info typed|json``: each field with haproxy 2.6's position, tags and type.

The tags (origin, nature, scope: ``MCP`` = Metric, Counter, Process) and
types were read from Debian's haproxy 2.6 output for the same fields; a field
haproxy did not print there gets the tags of its kind (a counter, a string).
"""

from __future__ import annotations

import json
from typing import Any

from .formats import STAT_FIELDS, StatRow

ORIGINS = {"K": "Key", "M": "Metric", "C": "Config", "S": "Status", "P": "Product"}
NATURES = {"N": "Name", "G": "Gauge", "M": "Max", "L": "Limit", "C": "Counter", "R": "Rate", "a": "Avg", "A": "Age",
           "O": "Output", "D": "Duration"}
SCOPES = {"S": "Service", "P": "Process"}
OBJECTS = {"F": "Frontend", "B": "Backend", "S": "Server", "L": "Listener"}

INFO_TAGS = {
    "Name": (0, "POS", "str"), "Version": (1, "POS", "str"), "Release_date": (2, "POS", "str"),
    "Nbthread": (3, "CGS", "u32"), "Nbproc": (4, "CGS", "u32"), "Process_num": (5, "KGP", "u32"),
    "Pid": (6, "SGP", "u32"), "Uptime": (7, "MDP", "str"), "Uptime_sec": (8, "MDP", "u32"),
    "Memmax_MB": (9, "CLP", "u32"), "PoolAlloc_MB": (10, "MGP", "u32"), "PoolUsed_MB": (11, "MGP", "u32"),
    "PoolFailed": (12, "MCP", "u32"), "Ulimit-n": (13, "CLP", "u32"), "Maxsock": (14, "CLP", "u32"),
    "Maxconn": (15, "CLP", "u32"), "Hard_maxconn": (16, "CLP", "u32"), "CurrConns": (17, "MGP", "u32"),
    "CumConns": (18, "MCP", "u32"), "CumReq": (19, "MCP", "u32"), "MaxSslConns": (20, "MMP", "u32"),
    "CurrSslConns": (21, "MGP", "u32"), "CumSslConns": (22, "MCP", "u32"), "Maxpipes": (23, "CLP", "u32"),
    "PipesUsed": (24, "MGP", "u32"), "PipesFree": (25, "MGP", "u32"), "ConnRate": (26, "MRP", "u32"),
    "ConnRateLimit": (27, "CLP", "u32"), "MaxConnRate": (28, "MMP", "u32"), "SessRate": (29, "MRP", "u32"),
    "SessRateLimit": (30, "CLP", "u32"), "MaxSessRate": (31, "MRP", "u32"), "SslRate": (32, "MRP", "u32"),
    "SslRateLimit": (33, "CLP", "u32"), "MaxSslRate": (34, "MMP", "u32"), "SslFrontendKeyRate": (35, "MGP", "u32"),
    "SslFrontendMaxKeyRate": (36, "MMP", "u32"), "SslFrontendSessionReuse_pct": (37, "MGP", "u32"),
    "SslBackendKeyRate": (38, "MRP", "u32"), "SslBackendMaxKeyRate": (39, "MMP", "u32"),
    "SslCacheLookups": (40, "MCP", "u32"), "SslCacheMisses": (41, "MCP", "u32"), "CompressBpsIn": (42, "MRP", "u32"),
    "CompressBpsOut": (43, "MRP", "u32"), "CompressBpsRateLim": (44, "CLP", "u32"), "Tasks": (47, "MGP", "u32"),
    "Run_queue": (48, "MGP", "u32"), "Idle_pct": (49, "MaP", "u32"), "node": (50, "COS", "str"),
    "Stopping": (52, "MGP", "u32"), "Jobs": (53, "MGP", "u32"), "Unstoppable Jobs": (54, "MGP", "u32"),
    "Listeners": (55, "MGP", "u32"), "ActivePeers": (56, "MGP", "u32"), "ConnectedPeers": (57, "MGP", "u32"),
    "DroppedLogs": (58, "MGP", "u32"), "BusyPolling": (59, "MGP", "u32"), "FailedResolutions": (60, "MGP", "u32"),
    "TotalBytesOut": (61, "MGP", "u64"), "TotalSplicdedBytesOut": (62, "MGP", "u64"),
    "BytesOutRate": (63, "MRP", "u64"), "DebugCommandsIssued": (64, "MGP", "u32"), "CumRecvLogs": (65, "MCP", "u32"),
    "Build info": (66, "POS", "str"), "Memmax_bytes": (67, "CLP", "u32"), "PoolAlloc_bytes": (68, "MGP", "u64"),
    "PoolUsed_bytes": (69, "MGP", "u64"), "Start_time_sec": (70, "MDP", "u32"), "Tainted": (71, "SGP", "str"),
}
STAT_TAGS = {
    "pxname": "KNS:str", "svname": "KNS:str", "scur": "MGP:u32", "smax": "MMP:u32", "slim": "CLP:u32",
    "stot": "MCP:u64", "bin": "MCP:u64", "bout": "MCP:u64", "dreq": "MCP:u64", "dresp": "MCP:u64", "ereq": "MCP:u64",
    "status": "SGP:str", "pid": "KGP:u32", "iid": "KGS:u32", "sid": "KGS:u32", "type": "CGS:u32",
    "rate": {"B": "MGP:u32", "F": "MRP:u32", "S": "MRP:u32"}, "rate_lim": "CLP:u32",
    "rate_max": {"B": "MGP:u32", "F": "MMP:u32", "S": "MMP:u32"}, "hrsp_1xx": "MCP:u64", "hrsp_2xx": "MCP:u64",
    "hrsp_3xx": "MCP:u64", "hrsp_4xx": "MCP:u64", "hrsp_5xx": "MCP:u64", "hrsp_other": "MCP:u64",
    "req_rate": "MRP:u32", "req_rate_max": "MMP:u32", "req_tot": "MCP:u64", "comp_in": "MCP:u64",
    "comp_out": "MCP:u64", "comp_byp": "MCP:u64", "comp_rsp": "MCP:u64", "mode": "CGS:str", "conn_rate": "MRP:u32",
    "conn_rate_max": "MMP:u32", "conn_tot": "MCP:u64", "intercepted": "MCP:u64", "dcon": "MCP:u64", "dses": "MCP:u64",
    "wrew": "MCP:u64", "cache_lookups": "MCP:u64", "cache_hits": "MCP:u64", "eint": "MCP:u64", "ssl_sess": "MCP:u64",
    "ssl_reused_sess": "MCP:u64", "ssl_failed_handshake": "MCP:u64", "h2_headers_rcvd": "MCP:u64",
    "h2_data_rcvd": "MCP:u64", "h2_settings_rcvd": "MCP:u64", "h2_rst_stream_rcvd": "MCP:u64",
    "h2_goaway_rcvd": "MCP:u64", "h2_detected_conn_protocol_errors": "MCP:u64",
    "h2_detected_strm_protocol_errors": "MCP:u64", "h2_rst_stream_resp": "MCP:u64", "h2_goaway_resp": "MCP:u64",
    "h2_open_connections": "MGP:u64", "h2_backend_open_streams": "MGP:u64", "h2_total_connections": "MCP:u64",
    "h2_backend_total_streams": "MCP:u64", "h1_open_connections": "MGP:u64", "h1_open_streams": "MGP:u64",
    "h1_total_connections": "MCP:u64", "h1_total_streams": "MCP:u64", "h1_bytes_in": "MCP:u64",
    "h1_bytes_out": "MCP:u64", "h1_spliced_bytes_in": "MCP:u64", "h1_spliced_bytes_out": "MCP:u64", "qcur": "MGP:u32",
    "qmax": "MMP:u32", "econ": "MCP:u64", "eresp": "MCP:u64", "wretr": "MCP:u64", "wredis": "MCP:u64",
    "weight": "MaP:u32", "act": {"B": "MGP:u32", "S": "SGP:u32"}, "bck": {"B": "MGP:u32", "S": "SGP:u32"},
    "lastchg": "MAP:u32", "lbtot": "MCP:u64", "cli_abrt": "MCP:u64", "srv_abrt": "MCP:u64", "lastsess": "MAP:s32",
    "qtime": "MaP:u32", "ctime": "MaP:u32", "rtime": "MaP:u32", "ttime": "MaP:u32", "addr": "CGS:str",
    "connect": "MCP:u64", "reuse": "MCP:u64", "srv_icur": "MGP:u32", "qtime_max": "MMP:u32", "ctime_max": "MMP:u32",
    "rtime_max": "MMP:u32", "ttime_max": "MMP:u32", "idle_conn_cur": "MGP:u32", "safe_conn_cur": "MGP:u32",
    "used_conn_cur": "MGP:u32", "need_conn_est": "MGP:u32", "uweight": "MaP:u32", "chkfail": "MCP:u64",
    "chkdown": "MCP:u64", "downtime": "MCP:u32", "check_status": "MOP:str", "check_code": "MOP:u32",
    "check_duration": "MDP:u64",
    "last_chk": "MOP:str", "check_desc": "MOP:str", "check_rise": "CGS:u32", "check_fall": "CGS:u32",
    "check_health": "CGS:u32", "algo": "CGS:str", "agg_server_status": "MGP:u32",
    "agg_server_check_status": "MGP:u32", "agg_check_status": "MGP:u32",
}
_SEPARATOR = STAT_FIELDS.index("-")


def _stat_position(name: str) -> int:
    """haproxy's field number: the CSV header's ``-`` column is not a field."""
    index = STAT_FIELDS.index(name)
    return index - 1 if index > _SEPARATOR else index


def _stat_tags(obj: str, name: str, value: Any) -> tuple[str, str]:
    known = STAT_TAGS.get(name)
    if isinstance(known, dict):
        known = known.get(obj) or next(iter(known.values()))
    if known is None:
        return ("MOP", "str") if isinstance(value, str) else ("MCP", "u64")
    tags, kind = known.split(":")
    return tags, kind


def _value(kind: str, value: Any) -> Any:
    if kind == "str":
        return str(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _tags_json(tags: str) -> dict[str, str]:
    return {"origin": ORIGINS[tags[0]], "nature": NATURES[tags[1]], "scope": SCOPES[tags[2]]}


def _stat_fields(obj: str, cells: list[tuple[str, Any]]) -> list[tuple[int, str, str, str, Any]]:
    fields = []
    for name, value in cells:
        if name == "-":
            continue
        tags, kind = _stat_tags(obj, name, value)
        fields.append((_stat_position(name), name, tags, kind, _value(kind, value)))
    return fields


def stat_values(obj: str, cells: list[tuple[str, Any]]) -> dict[str, Any]:
    """One row as Lua's get_stats() gives it: haproxy's stat fields (not the modules' ones after ``-``), each
    an integer or a string as its type says; a field the row leaves empty is absent."""
    return {name: value for pos, name, _, _, value in _stat_fields(obj, cells) if pos < _SEPARATOR}


def stat_typed(rows: list[StatRow]) -> str:
    """``F.2.0.4.scur.1:MGP:u32:0``: object, proxy id, server id, position, name, process, tags, type, value."""
    lines = []
    for obj, proxy_id, server_id, cells in rows:
        for pos, name, tags, kind, value in _stat_fields(obj, cells):
            lines.append(f"{obj}.{proxy_id}.{server_id}.{pos}.{name}.1:{tags}:{kind}:{value}\n")
    return "".join(lines)


def stat_json(rows: list[StatRow]) -> str:
    """One JSON list per row, one object per field."""
    document = [[{"objType": OBJECTS[obj], "proxyId": proxy_id, "id": server_id, "field": {"pos": pos, "name": name},
                  "processNum": 1, "tags": _tags_json(tags), "value": {"type": kind, "value": value}}
                 for pos, name, tags, kind, value in _stat_fields(obj, cells)]
                for obj, proxy_id, server_id, cells in rows]
    return json.dumps(document, separators=(",", ":")) + "\n"


def _info_fields(values: list[tuple[str, Any]]) -> list[tuple[int, str, str, str, Any]]:
    fields = []
    for name, value in values:
        pos, tags, kind = INFO_TAGS.get(name, (len(INFO_TAGS), "MGP", "u32"))
        fields.append((pos, name, tags, kind, _value(kind, value)))
    return fields


def info_typed(values: list[tuple[str, Any]]) -> str:
    """``6.Pid.1:SGP:u32:1234``: position, name, process, tags, type, value."""
    return "".join(f"{pos}.{name}.1:{tags}:{kind}:{value}\n" for pos, name, tags, kind, value in _info_fields(values))


def info_json(values: list[tuple[str, Any]]) -> str:
    document = [{"field": {"pos": pos, "name": name}, "processNum": 1, "tags": _tags_json(tags),
                 "value": {"type": kind, "value": value}} for pos, name, tags, kind, value in _info_fields(values)]
    return json.dumps(document, separators=(",", ":")) + "\n"
