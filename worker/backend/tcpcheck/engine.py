"""Runs one tcp-check rule set against a server, as HAProxy's tcp-check engine does.

Connect, send and expect rules run in order over one gevent socket.  The
input buffer empties at each connect and send; an expect reads only when the
rule before it sent something (or connected), and then waits for more while
its pattern does not match yet, until the check's timeout.  Reports use
HAProxy's statuses and texts ("... at step 2 of tcp-check (expect regex)").
"""

from __future__ import annotations

import time
from typing import Any

from ...tls.handshake import failure_reason
from ..dial import connect_error_text, open_connection
from ..http_expect import CheckContext
from ..state import CheckResult
from .pki import tls_connect
from .rules import Comment, Connect, Expect, Message, Rule, RuleSet, Send, SetVar, Verdict

BUFFER_LIMIT = 16384
"""HAProxy's check buffer: a full buffer counts as the last read."""
_WAIT = object()
_CODED = ("L7OK", "L7OKC", "L7STS")


def run_rules(proxy: Any, server: Any, ruleset: RuleSet, connect_timeout: float,
              read_timeout: float | None) -> CheckResult:
    run = _Run(proxy, server, ruleset, connect_timeout, read_timeout)
    try:
        return run.go()
    finally:
        run.close()


class _Run:
    """One check's state: the socket, what it read, where it is in the rules."""

    def __init__(self, proxy: Any, server: Any, ruleset: RuleSet, connect_timeout: float,
                 read_timeout: float | None) -> None:
        self.server = server
        self.ruleset = ruleset
        self.connect_timeout = connect_timeout
        self.started = time.monotonic()
        self.deadline = self.started + (server.check_inter if read_timeout is None else connect_timeout + read_timeout)
        self.read_timeout = read_timeout
        self.sock: Any = None
        self.buffer = bytearray()
        self.eof = False
        self.tls = False
        self.ctx = CheckContext(proxy, server)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def go(self) -> CheckResult:
        last: Rule | None = None
        must_read = True
        for rule in self.ruleset.rules:
            if isinstance(rule, Comment):
                continue
            if isinstance(rule, SetVar):  # an action: it runs, but the step before it stays the last one
                self.ctx.body = bytes(self.buffer)
                if rule.action is not None:
                    rule.action(self.ctx)
                continue
            last = rule
            if isinstance(rule, Connect):
                failed = self.connect(rule)
                must_read = True
            elif isinstance(rule, Send):
                failed = self.send(rule)
                must_read = True
            else:
                failed = self.expect(rule, must_read)
                must_read = False
            if failed is not None:
                return failed
        return self.passed(last)

    # --- rules ---------------------------------------------------------------------------------

    def connect(self, rule: Connect) -> CheckResult | None:
        self.close()
        self.buffer.clear()
        self.eof = False
        server = self.server
        port = rule.port or server.check_port or server.port
        address = (rule.addr or server.check_addr or server.host, port)
        try:
            via = server.check_via_socks4 or rule.via_socks4
            self.sock = open_connection(server.socks4 if via else None, address, self.connect_timeout)
        except TimeoutError:
            return self.result("L4TOUT", rule)
        except OSError as exc:
            return self.result("L4CON", rule, connect_error_text(exc))
        if self.read_timeout is not None:
            self.deadline = time.monotonic() + self.read_timeout
        if rule.send_proxy:
            try:
                self.sock.sendall(proxy_line(self.sock))
            except OSError as exc:
                return self.result("SOCKERR", rule, exc.strerror or str(exc))
        if rule.ssl or (rule.uses_server_settings and server.check_tls is not None):
            try:
                self.sock = tls_connect(server, rule, self.sock, self.connect_timeout)
            except TimeoutError:
                return self.result("L6TOUT", rule)
            except (OSError, ValueError) as exc:
                return self.result("L6RSP", rule, failure_reason(exc))
            self.tls = True
        return None

    def send(self, rule: Send) -> CheckResult | None:
        self.ctx.body = bytes(self.buffer)  # a send-lf may quote the last reply
        data = rule.payload(self.ctx)
        self.buffer.clear()
        try:
            self.sock.settimeout(max(self.deadline - time.monotonic(), 0.001))
            self.sock.sendall(data)
        except TimeoutError:
            return self.result("L7TOUT", rule)
        except OSError as exc:
            return self.result("SOCKERR", rule, exc.strerror or str(exc))
        return None

    def expect(self, rule: Expect, must_read: bool) -> CheckResult | None:
        if must_read:
            failed = self.read(rule)
            if failed is not None:
                return failed
        while True:
            outcome = self.evaluate(rule)
            if outcome is not _WAIT:
                return outcome  # type: ignore[return-value]
            failed = self.read(rule)
            if failed is not None:
                return failed

    def read(self, rule: Expect) -> CheckResult | None:
        if self.eof or len(self.buffer) >= BUFFER_LIMIT:
            return None
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return self.result(rule.tout_status, rule)
        try:
            self.sock.settimeout(remaining)
            data = self.sock.recv(BUFFER_LIMIT - len(self.buffer))
        except TimeoutError:
            return self.result(rule.tout_status, rule)
        except OSError:
            data = b""  # a reset ends the reply, as a close does: the rule judges what came
        if not data:
            self.eof = True
        self.buffer += data
        return None

    def evaluate(self, rule: Expect) -> object:
        """_WAIT for more data, None when the rule passed, or the failed check's result."""
        data = bytes(self.buffer)
        last_read = self.eof or len(data) >= BUFFER_LIMIT
        if not last_read:
            if rule.kind in ("string", "binary") and len(data) < len(rule.pattern):
                return _WAIT
            if rule.min_recv > 0 and len(data) < rule.min_recv:
                return _WAIT
        if rule.custom is not None:
            if data:
                return self.custom(rule, data, last_read)
            if not last_read:
                return _WAIT
            match = False
        else:
            match = rule.matches(data)
            if not match and not last_read and rule.min_recv == -1:
                return _WAIT
            if match != rule.negate:
                return None
        return self.failed(rule, data, match)

    def custom(self, rule: Expect, data: bytes, last_read: bool) -> object:
        verdict = rule.custom(data, last_read) if rule.custom is not None else Verdict("L7RSP")
        if verdict is None:
            return _WAIT
        if verdict.status is None:
            if verdict.final and self._is_last(rule):
                return CheckResult(rule.ok_status, _code(rule.ok_status, None), verdict.info, self.elapsed())
            return None
        info = verdict.info if verdict.info else self._error_text(rule, data, False)
        return CheckResult(verdict.status, _code(verdict.status, verdict.code), info, self.elapsed())

    def failed(self, rule: Expect, data: bytes, match: bool) -> CheckResult:
        code = rule.status_code(data) if rule.status_code is not None else None
        return CheckResult(rule.error_status, _code(rule.error_status, code), self._error_text(rule, data, match),
                           self.elapsed())

    def _error_text(self, rule: Expect, data: bytes, match: bool) -> str:
        text = _message(rule.on_error, data)
        if text is None:
            if not data:
                text = f"TCPCHK got an empty response at step {rule.step}"
            elif self.ruleset.kind not in ("tcp", "http"):
                text = ""
            else:
                text = ("TCPCHK matched unwanted content" if match else "TCPCHK did not match content") + \
                    _what(rule)
        return text + (f" comment: {rule.comment}" if rule.comment else "")

    def _is_last(self, rule: Expect) -> bool:
        rules = [r for r in self.ruleset.rules if not isinstance(r, Comment | SetVar)]
        return rules[-1] is rule

    # --- outcomes ------------------------------------------------------------------------------

    def passed(self, last: Rule | None) -> CheckResult:
        if isinstance(last, Expect):
            info = _message(last.on_success, bytes(self.buffer))
            if info is None:
                info = "(tcp-check)" if self.ruleset.kind == "tcp" else ""
            code = last.status_code(bytes(self.buffer)) if last.status_code is not None else None
            return CheckResult(last.ok_status, _code(last.ok_status, code), info, self.elapsed())
        if isinstance(last, Connect):
            return CheckResult("L6OK" if self.tls else "L4OK", None, "" if last.implicit else "(tcp-check)",
                               self.elapsed())
        return CheckResult("L7OK", 0, "(tcp-check)", self.elapsed())

    def result(self, status: str, rule: Rule, error: str = "") -> CheckResult:
        """A connection-level failure: the error, then (for tcp-check rules) where it happened."""
        return CheckResult(status, _code(status, None), error + self._where(rule), self.elapsed())

    def _where(self, rule: Rule) -> str:
        if self.ruleset.kind != "tcp":
            return ""
        if isinstance(rule, Connect) and rule.implicit:
            return " at initial connection step of tcp-check"
        text = f" at step {rule.step} of tcp-check"
        if isinstance(rule, Connect):
            text += f" (connect port {rule.port})" if rule.port else " (connect)"
        elif isinstance(rule, Expect):
            text += rule.describe()
        elif isinstance(rule, Send):
            text += " (send)"
        comment = getattr(rule, "comment", "")
        return text + (f" comment: '{comment}'" if comment else "")

    def elapsed(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


def proxy_line(sock: Any) -> bytes:
    """The PROXY protocol v1 line of a check connection (``connect send-proxy``): its own two ends."""
    local, remote = sock.getsockname(), sock.getpeername()
    family = "TCP6" if ":" in local[0] else "TCP4"
    return f"PROXY {family} {local[0]} {remote[0]} {local[1]} {remote[1]}\r\n".encode("ascii")


def _code(status: str, code: int | None) -> int | None:
    """HAProxy prints a code only with layer-7 data statuses; it is 0 unless the rule set one."""
    return (code or 0) if status in _CODED else None


def _message(message: Message, data: bytes) -> str | None:
    """The rule's text; a reply's bytes end at the first NUL, as HAProxy's C strings do."""
    if message is None:
        return None
    return message(data).split("\0")[0] if callable(message) else message


def _what(rule: Expect) -> str:
    if rule.kind == "string":
        return f" '{rule.pattern.decode('latin-1')}' at step {rule.step}"
    names = {"binary": " (binary)", "rstring": " (regex)", "rbinary": " (binary regex)"}
    return f"{names.get(rule.kind, ' (custom function)')} at step {rule.step}"
