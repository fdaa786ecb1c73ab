"""HAProxy 2.6's management-socket texts, as Debian's haproxy 2.6 prints them.

Pure functions from values to text; every text ends with a newline and the
server adds the empty line that closes each response.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from luaproxy.worker.backend.state import CHECK_DESCRIPTIONS
from luaproxy.worker.samples import MatchReport, PatternRef
from luaproxy.worker.stats import frontend_status, listener_status

# --- help -----------------------------------------------------------------------------------------


def help_line(usage: str, text: str) -> str:
    """One help line; without a text, the usage alone (a Lua command's, as haproxy 2.6 prints it)."""
    return f"  {usage:<40}: {text}\n" if text else f"  {usage}\n"


# --- maps and ACLs --------------------------------------------------------------------------------


def ref_list(refs: Iterable[PatternRef]) -> str:
    """``show map`` / ``show acl`` without a name."""
    lines = ["# id (file) description\n"]
    for ref in refs:
        lines.append(f"{ref.id} ({ref.name}) {ref.display}. curr_ver={ref.curr_ver} next_ver={ref.next_ver} "
                     f"entry_cnt={ref.entry_count()}\n")
    return "".join(lines)


def ref_entries(ref: PatternRef, version: int | None, as_map: bool) -> str:
    """``show map <name>``: one ``0x<ref> key [value]`` line per entry of that version."""
    if as_map:
        return "".join(f"0x{e.ref_id:x} {e.key} {e.value or ''}\n" for e in ref.entries(version))
    return "".join(f"0x{e.ref_id:x} {e.key}\n" for e in ref.entries(version))


_SHORT_TYPES = {"boolean": "bool", "integer": "sint", "string": "str", "binary": "bin", "method": "meth"}


def match_reports(reports: Iterable[MatchReport], as_map: bool) -> str:
    """``get map`` / ``get acl``: one line per way the list is matched."""
    lines = []
    for report in reports:
        head = f"type={report.method}, case={'insensitive' if report.icase else 'sensitive'}"
        found = "found" if as_map else "match"
        if not report.found:
            lines.append(f"{head}, {found}=no\n")
            continue
        line = f'{head}, {found}=yes, idx={report.kind}, {"key" if as_map else "pattern"}="{report.key}"'
        if as_map and report.value is not None:
            line += f', value="{report.value}", type="{_value_type(report)}"'
        lines.append(line + "\n")
    return "".join(lines)


def _value_type(report: MatchReport) -> str:
    if report.value_type == "ip":
        return "ipv6" if ":" in (report.value or "") else "ipv4"
    return _SHORT_TYPES.get(report.value_type, report.value_type)


# --- show stat ------------------------------------------------------------------------------------

STAT_HEADER = (
    "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,"
    "act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,"
    "rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,"
    "hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,"
    "last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,"
    "check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,"
    "conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,"
    "src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,"
    "need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,"
    "ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,"
    "h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,"
    "h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,"
    "h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,"
    "h1_spliced_bytes_in,h1_spliced_bytes_out"
)
STAT_FIELDS = STAT_HEADER.split(",")

_HRSP = ("hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other")
_PROTOCOL_STATS = tuple(f for f in STAT_FIELDS if f.startswith(("ssl_", "h2_", "h1_")))
_HTTP_ONLY = {*_HRSP, "intercepted", "cache_lookups", "cache_hits"}
# The columns haproxy 2.6 fills (with 0 when nothing happened) on each kind of row; the others stay empty.
_FRONTEND = ("scur smax slim stot bin bout dreq dresp ereq status pid iid sid type rate rate_lim rate_max "
             f"{' '.join(_HRSP)} req_rate req_rate_max req_tot comp_in comp_out comp_byp comp_rsp mode conn_rate "
             "conn_rate_max conn_tot intercepted dcon dses wrew cache_lookups cache_hits eint -").split()
_SERVER = ("qcur qmax scur smax stot bin bout dresp econ eresp wretr wredis status weight act bck lastchg pid "
           f"iid sid lbtot type rate rate_max {' '.join(_HRSP)} req_tot cli_abrt srv_abrt lastsess qtime ctime "
           "rtime ttime addr mode wrew connect reuse srv_icur qtime_max ctime_max rtime_max ttime_max eint "
           "idle_conn_cur safe_conn_cur used_conn_cur need_conn_est uweight - ssl_sess ssl_reused_sess "
           "ssl_failed_handshake").split()
_BACKEND = ("qcur qmax scur smax slim stot bin bout dreq dresp econ eresp wretr wredis status weight act bck "
            f"chkdown lastchg downtime pid iid sid lbtot type rate rate_max {' '.join(_HRSP)} req_tot cli_abrt "
            "srv_abrt comp_in comp_out comp_byp comp_rsp lastsess qtime ctime rtime ttime mode algo wrew connect "
            "reuse cache_lookups cache_hits qtime_max ctime_max rtime_max ttime_max eint uweight agg_server_status "
            "agg_server_check_status agg_check_status -").split()


_LISTENER = ["scur", "smax", "slim", "stot", "bin", "bout", "dreq", "dresp", "ereq", "status", "pid", "iid", "sid",
             "type", "addr", "mode", "dcon", "dses", "wrew", "eint", "ssl_sess", "ssl_reused_sess",
             "ssl_failed_handshake", "-"]


StatRow = tuple[str, int, int, list[tuple[str, Any]]]
"""One ``show stat`` row: object type (F, B or S), proxy id, server id, the (field, value) pairs filled."""


def stat_rows(proxies: list[dict[str, Any]], maxconn: int, algorithms: dict[str, str], now: float) -> list[StatRow]:
    """Per proxy FRONTEND, each server, BACKEND, with the fields haproxy 2.6 fills on each."""
    rows: list[StatRow] = []
    for proxy in proxies:
        if proxy["frontend"]:
            rows.append(("F", proxy["id"], 0, frontend_cells(proxy, maxconn)))
            for number, name in enumerate(proxy.get("listeners") or (), start=1):
                rows.append(("L", proxy["id"], number, listener_cells(proxy, number, name)))
        if proxy["backend"]:
            for server in proxy["servers"]:
                rows.append(("S", proxy["id"], server["id"], server_cells(proxy, server, now)))
            rows.append(("B", proxy["id"], 0, backend_cells(proxy, algorithms.get(proxy["name"], "roundrobin"),
                                                            now, maxconn)))
    return rows


def frontend_cells(proxy: dict[str, Any], maxconn: int) -> list[tuple[str, Any]]:
    """A proxy's FRONTEND row (also Lua's Proxy:get_stats() for a frontend-only proxy)."""
    return _cells(_frontend(proxy, maxconn), _FRONTEND + list(_PROTOCOL_STATS), proxy["mode"] == "http")


def listener_cells(proxy: dict[str, Any], number: int, name: str) -> list[tuple[str, Any]]:
    """Listener *number*'s row (``option socket-stats``; also Lua's Listener:get_stats())."""
    return _cells(_listener(proxy, number, name), _LISTENER, proxy["mode"] == "http")


def server_cells(proxy: dict[str, Any], server: dict[str, Any], now: float) -> list[tuple[str, Any]]:
    """A server's row (also Lua's Server:get_stats())."""
    values = _server(proxy, server, now)
    extra = [name for name in ("slim", *_CHECK_CELLS) if name in values]
    return _cells(values, _SERVER, proxy["mode"] == "http", extra)


def backend_cells(proxy: dict[str, Any], algo: str, now: float, maxconn: int) -> list[tuple[str, Any]]:
    """A proxy's BACKEND row (also Lua's Proxy:get_stats() for a proxy with a backend)."""
    return _cells(_backend(proxy, algo, now, maxconn), _BACKEND + list(_PROTOCOL_STATS), proxy["mode"] == "http")


def stat_csv(proxies: list[dict[str, Any]], maxconn: int, algorithms: dict[str, str], now: float) -> str:
    """``show stat``: the CSV header, then per proxy FRONTEND, each server, BACKEND."""
    lines = [f"# {STAT_HEADER},\n"]
    for _, _, _, cells in stat_rows(proxies, maxconn, algorithms, now):
        filled = dict(cells)
        lines.append(",".join(str(filled[name]) if name in filled else "" for name in STAT_FIELDS) + ",\n")
    return "".join(lines)


def _cells(values: dict[str, Any], present: list[str], http: bool, extra: Iterable[str] = ()) -> list[tuple[str, Any]]:
    shown = {"pxname", "svname", *present, *extra}
    if not http:
        shown -= _HTTP_ONLY
        if values["svname"] != "FRONTEND":
            shown.discard("req_tot")
    return [(name, values.get(name, 0)) for name in STAT_FIELDS if name in shown]


def _counter_cells(c: dict[str, Any]) -> dict[str, Any]:
    cells = {"scur": c["current"], "smax": c["max"], "stot": c["total"], "bin": c["bytes_in"],
             "bout": c["bytes_out"], "dreq": c["denied_req"], "dresp": c["denied_resp"], "econ": c["conn_errors"],
             "eresp": c["resp_errors"], "wretr": c["retries"], "wredis": c["redispatches"], "lbtot": c["lb_total"],
             "req_tot": c["requests"], "dcon": c.get("denied_conn", 0), "rate": c.get("rate", 0),
             "rate_max": c.get("rate_max", 0), "req_rate": c.get("req_rate", 0),
             "req_rate_max": c.get("req_rate_max", 0),
             "h1_spliced_bytes_in": c.get("spliced_in", 0), "h1_spliced_bytes_out": c.get("spliced_out", 0)}
    for name in _HRSP:
        cells[name] = c["responses"].get(name[5:], 0)
    if c.get("response_count"):
        cells["ttime"] = int(1000 * c["response_time_total"] / c["response_count"])
    return cells


def _frontend(proxy: dict[str, Any], maxconn: int) -> dict[str, Any]:
    fe = proxy["fe"]
    cells = _counter_cells(fe)
    for name in ("econ", "eresp", "wretr", "wredis", "lbtot", "ttime"):
        cells.pop(name, None)
    return {**cells, "pxname": proxy["name"], "svname": "FRONTEND", "slim": proxy.get("maxconn") or maxconn,
            "ereq": fe["failed_req"], "pid": 1,
            "status": frontend_status(proxy.get("stopped"), proxy.get("paused")), "iid": proxy["id"], "sid": 0,
            "type": 0, "mode": proxy["mode"], "conn_tot": fe["total"], "conn_rate": cells["rate"],
            "conn_rate_max": cells["rate_max"], "-": "-"}


def _listener(proxy: dict[str, Any], number: int, name: str) -> dict[str, Any]:
    """A listener's row (``option socket-stats``).  Counters are kept per frontend, so a frontend's only
    listener shows them and several listeners show 0."""
    listeners = proxy.get("listeners") or []
    fe = proxy["fe"] if len(listeners) == 1 else {}
    addrs = proxy.get("listener_addrs") or []
    return {"pxname": proxy["name"], "svname": name, "scur": fe.get("current", 0), "smax": fe.get("max", 0),
            "slim": 0, "stot": fe.get("total", 0), "bin": fe.get("bytes_in", 0), "bout": fe.get("bytes_out", 0),
            "dreq": fe.get("denied_req", 0), "dresp": fe.get("denied_resp", 0), "ereq": fe.get("failed_req", 0),
            "status": listener_status(proxy.get("maxconn"), proxy["fe"].get("current", 0)),
            "pid": 1, "iid": proxy["id"], "sid": number, "type": 3,
            "addr": addrs[number - 1] if number <= len(addrs) else "", "mode": proxy["mode"],
            "dcon": fe.get("denied_conn", 0), "dses": 0, "wrew": 0, "eint": 0, "-": "-"}


def _addr_cell(state: dict[str, Any]) -> str:
    """host:port ([v6]:port); empty while a server with resolvers has no address."""
    host = state.get("host")
    if not host:
        return ""
    return f"[{host}]:{state.get('port')}" if ":" in str(host) else f"{host}:{state.get('port')}"


def _server_status(state: dict[str, Any]) -> str:
    if state.get("dns_maint") and state.get("admin_state") == "MAINT":
        return "MAINT (resolution)"
    if state.get("admin_state") in ("MAINT", "DRAIN"):
        return str(state["admin_state"])
    if state.get("op_state") != "UP":
        return "DOWN"
    return "UP" if state.get("check") else "no check"


def since_change(state: dict[str, Any]) -> int:
    """Seconds since a server's last state change, which workers stamp on the (system-wide) monotonic clock."""
    changed = state.get("last_change")
    return int(time.monotonic() - changed) if changed else 0


def _server(proxy: dict[str, Any], server: dict[str, Any], now: float) -> dict[str, Any]:
    state = server["state"]
    cells = _counter_cells(server["counters"])
    cells.pop("dreq", None)
    weight = state.get("weight") or 0
    backup = bool(state.get("backup"))
    cells.update({"pxname": proxy["name"], "svname": server["name"], "status": _server_status(state),
                  "weight": weight, "act": 0 if backup else 1, "bck": 1 if backup else 0,
                  "lastchg": since_change(state), "pid": 1, "iid": proxy["id"],
                  "sid": server["id"], "type": 2, "lastsess": -1, "addr": _addr_cell(state),
                  "mode": proxy["mode"], "uweight": weight, "-": "-"})
    if state.get("maxconn"):
        cells["slim"] = state["maxconn"]
    if state.get("check"):
        cells.update({"chkfail": state.get("check_failures") or 0, "chkdown": state.get("check_downs") or 0,
                      "downtime": 0, **_check_cells(state)})
    return cells


_CHECK_CELLS = ("chkfail", "chkdown", "downtime", "check_status", "check_code", "check_duration", "check_desc",
                "last_chk", "check_rise", "check_fall", "check_health")
_CODED = ("L7OK", "L7OKC", "L7STS")  # haproxy 2.6 reports an HTTP status code for these results only


def _check_cells(state: dict[str, Any]) -> dict[str, Any]:
    """A checked server's health-check columns; before its first result the status is INI, as in haproxy."""
    status = state.get("check_status") or "INI"
    cells = {"check_status": status, "check_desc": CHECK_DESCRIPTIONS.get(status, "Initializing"),
             "last_chk": state.get("check_info") or "", "check_rise": state.get("check_rise") or 0,
             "check_fall": state.get("check_fall") or 0, "check_health": state.get("check_health") or 0}
    if status in _CODED and state.get("check_code") is not None:
        cells["check_code"] = state["check_code"]
    if status != "INI" and state.get("check_duration") is not None:
        cells["check_duration"] = state["check_duration"]
    return cells


def _backend(proxy: dict[str, Any], algo: str, now: float, maxconn: int) -> dict[str, Any]:
    be = proxy["be"]
    up = [s["state"] for s in proxy["servers"] if _server_status(s["state"]) in ("UP", "no check")]
    active = [s for s in up if not s.get("backup")]
    cells = _counter_cells(be)
    cells.update({"pxname": proxy["name"], "svname": "BACKEND", "slim": proxy.get("fullconn") or 1,
                  "status": "UP" if up else "DOWN", "weight": sum(s.get("weight") or 0 for s in active),
                  "act": len(active), "bck": len(up) - len(active), "pid": 1, "iid": proxy["id"], "sid": 0,
                  "type": 1, "lastsess": -1, "mode": proxy["mode"], "algo": algo,
                  "uweight": sum(s.get("weight") or 0 for s in active), "-": "-"})
    return cells


# --- show info ------------------------------------------------------------------------------------


def uptime_info(seconds: float) -> str:
    """``show info``'s ``0d 0h00m52s``."""
    s = int(seconds)
    return f"{s // 86400}d {s % 86400 // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s"


def uptime_proc(seconds: float) -> str:
    """``show proc``'s ``0d00h01m04s``."""
    s = int(seconds)
    return f"{s // 86400}d{s % 86400 // 3600:02d}h{s % 3600 // 60:02d}m{s % 60:02d}s"


def info(facts: dict[str, Any], proxies: list[dict[str, Any]], now: float) -> str:
    """``show info``: haproxy 2.6's fields in its order."""
    return "".join(f"{name}: {value}\n" for name, value in info_values(facts, proxies, now))


def info_values(facts: dict[str, Any], proxies: list[dict[str, Any]], now: float) -> list[tuple[str, Any]]:
    """``show info``'s (field, value) pairs; what luaproxy does not have reads 0."""
    frontends = [p["fe"] for p in proxies if p["frontend"]]
    current = sum(f["current"] for f in frontends)
    uptime = now - facts["started"]
    known = {
        "Name": "luaproxy", "Version": facts["version"], "Release_date": "", "Nbthread": 1,
        "Nbproc": facts["nbproc"], "Process_num": 1, "Pid": facts["pid"], "Uptime": uptime_info(uptime),
        "Uptime_sec": int(uptime), "Ulimit-n": facts["ulimit"], "Maxsock": facts["ulimit"],
        "Maxconn": facts["maxconn"], "Hard_maxconn": facts["maxconn"], "CurrConns": current,
        "CumConns": sum(f["total"] for f in frontends), "CumReq": sum(f["requests"] for f in frontends),
        "Idle_pct": 100, "node": facts["node"], "Stopping": facts["stopping"],
        "Jobs": current + facts["listeners"] + facts.get("cli_connections", 0),
        "Listeners": facts["listeners"], "TotalBytesOut": sum(f["bytes_out"] for f in frontends),
        "Build info": facts["version"], "Start_time_sec": int(facts["started"]),
        **facts.get("ssl", {}),
    }
    return [(name, known.get(name, 0)) for name in INFO_FIELDS]


INFO_FIELDS = (
    "Name", "Version", "Release_date", "Nbthread", "Nbproc", "Process_num", "Pid", "Uptime", "Uptime_sec",
    "Memmax_MB", "PoolAlloc_MB", "PoolUsed_MB", "PoolFailed", "Ulimit-n", "Maxsock", "Maxconn", "Hard_maxconn",
    "CurrConns", "CumConns", "CumReq", "MaxSslConns", "CurrSslConns", "CumSslConns", "Maxpipes", "PipesUsed",
    "PipesFree", "ConnRate", "ConnRateLimit", "MaxConnRate", "SessRate", "SessRateLimit", "MaxSessRate", "SslRate",
    "SslRateLimit", "MaxSslRate", "SslFrontendKeyRate", "SslFrontendMaxKeyRate", "SslFrontendSessionReuse_pct",
    "SslBackendKeyRate", "SslBackendMaxKeyRate", "SslCacheLookups", "SslCacheMisses", "CompressBpsIn",
    "CompressBpsOut", "CompressBpsRateLim", "Tasks", "Run_queue", "Idle_pct", "node", "Stopping", "Jobs",
    "Unstoppable Jobs", "Listeners", "ActivePeers", "ConnectedPeers", "DroppedLogs", "BusyPolling",
    "FailedResolutions", "TotalBytesOut", "TotalSplicdedBytesOut", "BytesOutRate", "DebugCommandsIssued",
    "CumRecvLogs", "Build info", "Memmax_bytes", "PoolAlloc_bytes", "PoolUsed_bytes", "Start_time_sec", "Tainted",
)


# --- show servers state ---------------------------------------------------------------------------

SERVERS_STATE_HEADER = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
    "srv_check_addr srv_agent_addr srv_agent_port\n"
)
_OP_STATE = {"DOWN": 0, "STARTING": 1, "UP": 2, "STOPPING": 3}
_ADMIN_STATE = {"READY": 0, "MAINT": 5, "DRAIN": 8}
_CHECK_STATUS = {"L4OK": 6, "L4TOUT": 7, "L4CON": 8, "L6OK": 9, "L6TOUT": 10, "L6RSP": 11, "L7TOUT": 12,
                 "L7RSP": 13, "L7OK": 15, "L7OKC": 16, "L7STS": 17}
"""HAProxy's HCHK_STATUS_* numbers; 1 (initializing) before the first check."""


def servers_state(proxies: list[dict[str, Any]], now: float) -> str:
    lines = [SERVERS_STATE_HEADER]
    for proxy in proxies:
        if not proxy["backend"]:
            continue
        for server in proxy["servers"]:
            s = server["state"]
            checked = bool(s.get("check"))
            admin = _ADMIN_STATE.get(str(s.get("admin_state")), 0)
            if admin == _ADMIN_STATE["MAINT"] and not s.get("disabled"):
                admin = 1  # forced at run time (haproxy's FMAINT); 5 is the configuration's "disabled"
            if s.get("dns_maint"):
                admin = 32 if admin == 1 else admin | 32  # no address from DNS: haproxy's RMAINT
            maint = admin in (1, _ADMIN_STATE["MAINT"]) or bool(admin & 32)  # in maintenance: STOPPED for haproxy
            health = 0 if admin or s.get("op_state") != "UP" else s.get("check_rise", 2)
            status = _CHECK_STATUS.get(str(s.get("check_status")), 1)
            result = 0 if status == 1 else (3 if status in (6, 9, 15, 16) else 2)
            if checked and not maint:
                health = s.get("check_health") or 0
            paused = 8 if admin == _ADMIN_STATE["MAINT"] else 0  # haproxy 2.6 pauses a disabled line's checks
            check_state = 14 if checked and admin else (6 if checked else paused)
            weight = s.get("weight") or 0
            lines.append(
                f"{proxy['id']} {proxy['name']} {server['id']} {server['name']} {s.get('host') or '-'} "
                f"{0 if maint else _OP_STATE.get(str(s.get('op_state')), 2)} {admin} {weight} "
                f"{s.get('iweight', weight)} "
                f"{since_change(s)} {status} {result} {health} {check_state} 0 0 0 {s.get('fqdn') or '-'} "
                f"{s.get('port')} - {s.get('use_ssl') or 0} {s.get('check_port') or 0} - - 0\n")
    return "".join(lines)


# --- show proc (master CLI) -----------------------------------------------------------------------


def proc_table(master: tuple[int, int, int, float], workers: list[tuple[int, int, float]],
               old: list[tuple[int, int, float]], version: str, now: float | None = None,
               programs: list[tuple[int, str, int, float]] = ()) -> str:
    """``show proc``: master (pid, reloads, failed reloads, start), workers and old workers (pid, reloads, start)."""
    now = time.time() if now is None else now
    pid, reloads, failed, started = master
    lines = [f"{'#<PID>':<15} {'<type>':<15} {'<reloads>':<15} {'<uptime>':<15} {'<version>':<15}\n",
             f"{pid:<15} {'master':<15} {f'{reloads} [failed: {failed}]':<15} {uptime_proc(now - started):<15} "
             f"{version}\n", "# workers\n"]
    lines += [f"{w_pid:<15} {'worker':<15} {w_reloads:<15} {uptime_proc(now - w_start):<15} {version}\n"
              for w_pid, w_reloads, w_start in workers]
    if old:
        lines.append("# old workers\n")
        lines += [f"{w_pid:<15} {'worker':<15} {w_reloads:<15} {uptime_proc(now - w_start):<15} {version}\n"
                  for w_pid, w_reloads, w_start in old]
    lines.append("# programs\n")
    lines += [f"{p_pid:<15} {name:<15} {p_reloads:<15} {uptime_proc(now - p_start):<15} -\n"
              for p_pid, name, p_reloads, p_start in programs]
    return "".join(lines)
