"""``mailers NAME`` sections and the ``email-alert`` keyword that sends server events to them.

A section lists ``mailer <name> <addr>:<port>`` lines and ``timeout mail``; a
backend (or defaults) says ``email-alert mailers <section>``, ``from``, ``to``,
and optionally ``level`` and ``myhostname``.  As in HAProxy, an ``email-alert``
without all of mailers, from and to is ignored with a warning; naming a
section that does not exist is an error.  The sending lives in
``worker.backend.mailers``.
"""

from __future__ import annotations

from typing import Any

from luaproxy.worker.backend.mailers import DEFAULT_TIMEOUT, EmailAlert, Mailer, MailersSection
from luaproxy.worker.log import LEVELS

from .addresses import expand_env, split_host_port
from .errors import ConfigError, did_you_mean
from .lexer import Line
from .model import ProxyConf
from .units import parse_time

EMAIL_ALERT_WORDS = ("mailers", "from", "to", "level", "myhostname")


def parse_section(header: Line, body: list[Line], errors: list[ConfigError]) -> MailersSection | None:
    """One ``mailers`` section; errors go to *errors*."""
    if len(header.words) != 2:
        errors.append(header.error("'mailers' expects exactly one name.", "Write 'mailers <name>'."))
        return None
    name, mailers, timeout = header.words[1], [], DEFAULT_TIMEOUT
    for line in body:
        word, args = line.words[0], line.words[1:]
        if word == "mailer":
            mailer = _mailer(line, args, mailers)
            if isinstance(mailer, ConfigError):
                errors.append(mailer)
            else:
                mailers.append(mailer)
        elif word == "timeout" and len(args) == 2 and args[0] == "mail":
            try:
                timeout = parse_time(args[1])
            except ValueError as exc:
                errors.append(line.error(f"'timeout mail': {exc}."))
        else:
            errors.append(line.error(f"unknown keyword '{word}' in 'mailers' section '{name}'.",
                                     "Expected 'mailer <name> <addr>:<port>' or 'timeout mail <time>'."))
    return MailersSection(name, tuple(mailers), timeout)


def _mailer(line: Line, args: tuple[str, ...], known: list[Mailer]) -> Mailer | ConfigError:
    if len(args) != 2:
        return line.error("'mailer' expects a name and an address.", "Write 'mailer <name> <addr>:<port>'.")
    if any(m.name == args[0] for m in known):
        return line.error(f"mailer '{args[0]}' is already declared in this section.")
    try:
        host, port = split_host_port(expand_env(args[1]))
    except ValueError as exc:
        return line.error(f"'mailer {args[0]}': {exc}.", "Write 'mailer <name> <addr>:<port>'.")
    if not port:
        return line.error(f"'mailer {args[0]}': missing port in '{args[1]}'.")
    return Mailer(args[0], host, port)


def check_email_alert(line: Line) -> None:
    """``email-alert <what> <value>`` as the proxy keyword reads it; raises ConfigError."""
    args = line.words[1:]
    if len(args) != 2 or args[0] not in EMAIL_ALERT_WORDS:
        raise line.error("'email-alert' expects 'mailers', 'from', 'to', 'level' or 'myhostname' and a value.")
    if args[0] == "level" and args[1] not in LEVELS:
        raise line.error(f"'email-alert level': unknown level '{args[1]}'.", f"Expected one of: {', '.join(LEVELS)}.")


def email_alert(conf: ProxyConf, sections: dict[str, MailersSection], warnings: list[str]) -> Any:
    """The backend's EmailAlert, None without one (or with an incomplete one, as a warning);
    raises ConfigError for an unknown mailers section."""
    lines = conf.settings.get("email-alert")
    if not lines or not conf.has_backend:
        return None
    values = {what: value for what, value in lines}
    if not all(key in values for key in ("mailers", "from", "to")):
        warnings.append(f"'email-alert' will be ignored for {conf.kind} '{conf.name}' (it needs each of "
                        "'email-alert from', 'email-alert mailers' and 'email-alert to').")
        return None
    section = sections.get(values["mailers"])
    if section is None:
        raise conf.line.error(f"{conf.kind} '{conf.name}': 'email-alert': no mailers section named "
                              f"'{values['mailers']}'.", did_you_mean(values["mailers"], sections))
    return EmailAlert(section, values["from"], values["to"], LEVELS.index(values.get("level", "alert")),
                      values.get("myhostname", ""))
