"""``program NAME`` sections: an external command the master runs beside its workers (master-worker mode)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import ConfigError
from .lexer import Line


@dataclass(slots=True)
class ProgramConf:
    name: str
    line: Line
    command: list[str] = field(default_factory=list)
    user: str | None = None
    group: str | None = None
    start_on_reload: bool = True
    """``option start-on-reload`` (the default): a reload starts a new instance and stops the old one."""


def parse_section(header: Line, body: list[Line], errors: list[ConfigError]) -> ProgramConf | None:
    if len(header.words) != 2:
        errors.append(header.error("'program' expects a name.", "Write 'program <name>'."))
        return None
    conf = ProgramConf(header.words[1], header)
    for line in body:
        keyword, args = line.words[0], list(line.words[1:])
        if keyword == "command" and args:
            conf.command = args
        elif keyword in ("user", "group") and len(args) == 1:
            setattr(conf, keyword, args[0])
        elif keyword in ("option", "no") and args[-1:] == ["start-on-reload"] and (
                args == ["start-on-reload"] or args == ["option", "start-on-reload"]):
            conf.start_on_reload = keyword == "option"
        else:
            errors.append(line.error(f"unknown keyword '{keyword}' in 'program' section, or wrong arguments.",
                                     "It takes 'command <cmd> [args]', 'user', 'group' and "
                                     "'[no] option start-on-reload'."))
    if not conf.command:
        errors.append(header.error(f"program '{conf.name}' has no 'command'."))
        return None
    return conf
