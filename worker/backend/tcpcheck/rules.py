"""tcp-check rules: what each ``tcp-check connect|send|send-binary|expect|comment`` line means.

A rule set is plain data built once from the configuration (or by
:mod:`.protocols` for ``option redis-check`` and the other protocol checks);
:mod:`.engine` runs it.  Numbering follows HAProxy: each line is a step
(comments too), counted from 1, and a set that does not start with a connect
gets an implicit one, reported as the "initial connection step".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

STATUSES = ("L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7OK", "L7OKC", "L7TOUT", "L7RSP", "L7STS",
            "SOCKERR")
EXPECT_KINDS = ("string", "rstring", "binary", "rbinary")


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a custom expectation decided: None status means "passed, go on"."""

    status: str | None = None
    info: str = ""
    code: int | None = None
    final: bool = False
    """A pass that ends the check here with this info (MySQL's version string)."""


@dataclass(frozen=True, slots=True)
class Connect:
    port: int | None = None
    addr: str | None = None
    ssl: bool = False
    send_proxy: bool = False
    sni: str | None = None
    alpn: str | None = None
    comment: str = ""
    implicit: bool = False
    via_socks4: bool = False
    default: bool = False
    """``connect default`` (and the implicit connect): the server's check settings (``check-ssl``...)."""
    step: int = 0

    @property
    def uses_server_settings(self) -> bool:
        return self.implicit or self.default


@dataclass(frozen=True, slots=True)
class Send:
    data: bytes = b""
    build: Callable[[Any], bytes] | None = None
    """Data made at each check from its context (``send-lf``; the SSL hello carries the time)."""
    comment: str = ""
    step: int = 0
    fmt_text: str = ""
    """A ``send-lf`` / ``send-binary-lf`` log-format still to compile."""
    binary: bool = False

    def payload(self, ctx: Any) -> bytes:
        return self.build(ctx) if self.build is not None else self.data


Custom = Callable[[bytes, bool], Verdict | None]
"""A protocol's own judgement of the bytes read so far (and whether more may come); None: need more."""
Message = str | Callable[[bytes], str] | None


@dataclass(frozen=True, slots=True)
class Expect:
    kind: str
    pattern: bytes = b""
    regex: re.Pattern[bytes] | None = None
    negate: bool = False
    min_recv: int = -1
    comment: str = ""
    ok_status: str = "L7OK"
    error_status: str = "L7RSP"
    tout_status: str = "L7TOUT"
    on_success: Message = None
    on_error: Message = None
    status_code: Callable[[bytes], int | None] | None = None
    custom: Custom | None = None
    step: int = 0

    def matches(self, data: bytes) -> bool:
        if self.kind in ("string", "binary"):
            return self.pattern in data
        if self.kind == "rbinary":
            return self.regex is not None and self.regex.search(data.hex().upper().encode()) is not None
        return self.regex is not None and self.regex.search(data) is not None

    def describe(self) -> str:
        """The words HAProxy adds after "at step N of tcp-check" for this rule."""
        if self.kind == "string":
            return f" (expect string '{self.pattern.decode('latin-1')}')"
        if self.kind == "binary":
            return f" (expect binary '{self.pattern.hex().upper()}')"
        return {"rstring": " (expect regex)", "rbinary": " (expect binary regex)"}.get(self.kind,
                                                                                       " (expect custom function)")


@dataclass(frozen=True, slots=True)
class Comment:
    text: str
    step: int = 0
    comment: str = ""


@dataclass(frozen=True, slots=True)
class SetVar:
    """``tcp-check set-var(<name>) <expr>`` or ``unset-var(<name>)``: run in order, on the reply read so far."""

    name: str
    text: str = ""
    action: Callable[[Any], Any] | None = None
    step: int = 0
    comment: str = ""


Rule = Connect | Send | Expect | Comment | SetVar


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules of one backend's checks; *kind* is "tcp" for ``tcp-check`` lines, else the protocol's name."""

    rules: tuple[Rule, ...]
    kind: str = "tcp"


def parse_rules(lines: Iterable[tuple[str, ...]], kind: str = "tcp") -> RuleSet:
    """The ``tcp-check`` lines (arguments after the keyword) as a rule set; raises ValueError."""
    rules: list[Rule] = []
    for step, words in enumerate(lines, 1):
        if not words:
            raise ValueError("'tcp-check' expects connect, send, send-binary, expect or comment.")
        action, args = words[0], list(words[1:])
        if action == "comment":
            if len(args) != 1:
                raise ValueError("'tcp-check comment' expects one string.")
            rules.append(Comment(args[0], step))
        elif action == "connect":
            rules.append(parse_connect(args, step))
        elif action in ("send", "send-binary", "send-lf", "send-binary-lf"):
            rules.append(_send(action, args, step))
        elif re.fullmatch(r"(set|unset)-var\([^)]+\)", action):
            rules.append(_set_var(action, args, step))
        elif action == "expect":
            rules.append(_expect(args, step))
        else:
            raise ValueError(f"'tcp-check {action}' is not supported; luaproxy supports connect, send, "
                             "send-binary, send-lf, send-binary-lf, expect, set-var, unset-var and comment.")
    return RuleSet(with_implicit_connect(_apply_comments(rules)), kind)


def with_implicit_connect(rules: list[Rule]) -> tuple[Rule, ...]:
    first = next((r for r in rules if not isinstance(r, Comment | SetVar)), None)
    if not isinstance(first, Connect):
        rules = [Connect(implicit=True), *rules]
    return tuple(rules)


def _apply_comments(rules: list[Rule]) -> list[Rule]:
    """``tcp-check comment X`` names the rule after it (the one a failure report quotes)."""
    out: list[Rule] = []
    pending = ""
    for rule in rules:
        if isinstance(rule, Comment):
            pending = rule.text
        elif pending and not rule.comment:
            rule = replace(rule, comment=pending)
            pending = ""
        out.append(rule)
    return out


def parse_connect(args: list[str], step: int = 0) -> Connect:
    """``connect [port P] [addr A[:P]] [ssl] [sni S] [alpn A] [send-proxy] [default] [linger] [comment C]``."""
    values: dict[str, object] = {}
    while args:
        word = args.pop(0)
        if word in ("ssl", "send-proxy", "default", "via-socks4"):
            values[word.replace("-", "_")] = True
        elif word == "linger":
            continue
        elif word in ("port", "addr", "sni", "alpn", "comment", "proto"):
            if not args:
                raise ValueError(f"'tcp-check connect {word}' expects a value.")
            value = args.pop(0)
            if word == "port":
                if not value.isdigit() or not 0 < int(value) < 65536:
                    raise ValueError(f"'tcp-check connect port' expects a port number, got '{value}'.")
                values["port"] = int(value)
            elif word == "proto":
                if value not in ("none", "h1"):
                    raise ValueError(f"'connect proto {value}': luaproxy checks speak HTTP/1 only.")
            else:
                values[word] = value
        else:
            raise ValueError(f"'tcp-check connect' does not know '{word}'; expected port, addr, ssl, "
                             "send-proxy, sni, alpn, linger or comment.")
    addr = values.get("addr")
    if isinstance(addr, str) and addr.count(":") == 1:
        host, _, port = addr.partition(":")
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"'connect addr' expects an address with an optional port, got '{addr}'.")
        values["addr"] = host
        values.setdefault("port", int(port))
    return Connect(step=step, **values)  # type: ignore[arg-type]


def _send(action: str, args: list[str], step: int) -> Send:
    if not args:
        raise ValueError(f"'tcp-check {action}' expects the data to send.")
    text, rest = args[0], args[1:]
    comment = ""
    if rest[:1] == ["comment"] and len(rest) == 2:
        comment = rest[1]
    elif rest:
        raise ValueError(f"'tcp-check {action}': unexpected '{rest[0]}' after the data.")
    if action.endswith("-lf"):
        return Send(fmt_text=text, binary=action == "send-binary-lf", comment=comment, step=step)
    return Send(hex_bytes(text) if action == "send-binary" else text.encode("latin-1"), comment=comment, step=step)


def _set_var(action: str, args: list[str], step: int) -> SetVar:
    name = action[action.index("(") + 1:-1]
    if action.startswith("set-var") and len(args) != 1:
        raise ValueError(f"'tcp-check {action}' expects one sample expression.")
    if action.startswith("unset-var") and args:
        raise ValueError(f"'tcp-check {action}' takes no argument.")
    return SetVar(name, args[0] if args else "", step=step)


def compile_rules(ruleset: RuleSet, log_format: Callable[[str], Any], set_var: Callable[[str, str], Any],
                  unset_var: Callable[[str], Any]) -> RuleSet:
    """*ruleset* with its log-formats and variable actions compiled by the configuration's compilers."""
    rules: list[Rule] = []
    for rule in ruleset.rules:
        if isinstance(rule, Send) and rule.fmt_text:
            rule = replace(rule, build=_formatted(log_format(rule.fmt_text), rule.binary), fmt_text="")
        elif isinstance(rule, SetVar) and rule.action is None:
            rule = replace(rule, action=set_var(rule.name, rule.text) if rule.text else unset_var(rule.name))
        rules.append(rule)
    return replace(ruleset, rules=tuple(rules))


def _formatted(fmt: Any, binary: bool) -> Callable[[Any], bytes]:
    def build(ctx: Any) -> bytes:
        text = fmt.render(ctx)
        try:
            return bytes.fromhex(text) if binary else text.encode("latin-1", "replace")
        except ValueError:
            return b""  # a log-format that is not hexadecimal sends nothing, as HAProxy's parse_binary fails

    return build


def hex_bytes(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a hexadecimal string.") from None


def _expect(args: list[str], step: int) -> Expect:
    values: dict[str, object] = {}
    kind = None
    while args:
        word = args.pop(0)
        if word == "!":
            values["negate"] = True
            continue
        if word.startswith("!") and word[1:] in EXPECT_KINDS:
            values["negate"], word = True, word[1:]
        if word in EXPECT_KINDS:
            if not args:
                raise ValueError(f"'tcp-check expect {word}' expects a pattern.")
            kind, pattern = word, args.pop(0)
            values.update(_pattern(kind, pattern))
        elif word in ("min-recv", "comment", "ok-status", "error-status", "tout-status", "on-success", "on-error",
                      "status-code"):
            if not args:
                raise ValueError(f"'tcp-check expect {word}' expects a value.")
            value = args.pop(0)
            if word == "min-recv":
                if not value.lstrip("-").isdigit():
                    raise ValueError(f"'tcp-check expect min-recv' expects a number, got '{value}'.")
                values["min_recv"] = int(value)
            elif word.endswith("-status"):
                if value not in STATUSES:
                    raise ValueError(f"'tcp-check expect {word}' expects one of {', '.join(STATUSES)}, got '{value}'.")
                values[word.replace("-", "_")] = value
            elif word != "status-code":
                values[word.replace("-", "_")] = value
        else:
            raise ValueError(f"'tcp-check expect' does not know '{word}'; expected [!] string, rstring, binary or "
                             "rbinary with a pattern, min-recv, comment, ok-status, error-status, tout-status, "
                             "on-success or on-error.")
    if kind is None:
        raise ValueError("'tcp-check expect' expects a pattern: [!] string, rstring, binary or rbinary.")
    return Expect(kind, step=step, **values)  # type: ignore[arg-type]


def _pattern(kind: str, pattern: str) -> dict[str, object]:
    if kind == "string":
        return {"pattern": pattern.encode("latin-1")}
    if kind == "binary":
        return {"pattern": hex_bytes(pattern)}
    try:
        return {"regex": re.compile(pattern.encode("latin-1"))}
    except re.error as exc:
        raise ValueError(f"'tcp-check expect {kind}': invalid regex '{pattern}': {exc}.") from None
