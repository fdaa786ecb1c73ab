"""Turn configuration files into a Config, section by section.

Parsing is split in two so that Lua can run in between, as in HAProxy: the
``global`` sections first (they name the Lua files whose body context
registers actions, fetches and converters), then the proxies.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from . import cache as cache_section
from . import keywords_global, keywords_process, keywords_proxy, keywords_stick  # noqa: F401  (they fill the keyword tables)
from . import mailers as mailers_section
from . import peers as peers_section
from . import programs as programs_section
from . import resolvers as resolvers_section
from .defaults_rules import check_defaults_rules
from .errors import ConfigError, ConfigErrors, did_you_mean
from .keywords import GLOBAL, PROXY, PROXY_SECTIONS
from .lexer import Line, config_files, read_file
from .model import Config, GlobalSettings, ProxyConf

SECTIONS = ("global", "http-errors", "peers", "cache", "program", "mailers", "resolvers", *PROXY_SECTIONS)
RULE_FAMILIES = ("tcp-request", "tcp-response", "http-request", "http-response", "http-after-response")
UNSUPPORTED_SECTIONS = ("userlist", "ring",
                        "fcgi-app", "dynamic-update", "crt-store", "traces")
UNUSED_SECTIONS = ("fcgi-app",)
"""Sections that only matter once a proxy refers to them (``use-fcgi-app``, which luaproxy refuses):
read and skipped with a warning rather than refused."""


@dataclass(slots=True)
class Section:
    header: Line
    body: list[Line] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.header.words[0]


def read_sections(paths: list[str], errors: list[ConfigError],
                  messages: list[tuple[str, str]]) -> tuple[list[str], list[Section]]:
    """Files and their sections in order; errors (lines before any section...) go to *errors*."""
    files = config_files(paths)
    if not files:
        errors.append(ConfigError("", 0, "no configuration file given (use -f FILE or -f DIR)"))
    sections: list[Section] = []
    for path in files:
        text = read_file(path, SECTIONS + UNSUPPORTED_SECTIONS)
        errors.extend(text.errors)
        messages.extend(text.messages)
        current: Section | None = None
        for line in text.lines:
            word = line.words[0]
            if word in SECTIONS:
                current = Section(line)
                sections.append(current)
            elif word in UNUSED_SECTIONS:
                messages.append(("warning", f"parsing [{line.file}:{line.number}] : section '{word}' ignored: "
                                            "luaproxy does not speak FastCGI."))
                current = Section(line)
            elif word in UNSUPPORTED_SECTIONS:
                errors.append(line.error(f"section '{word}' is not supported by luaproxy.",
                                         "Remove it or move what it configures elsewhere."))
                current = Section(line)
            elif current is None:
                errors.append(line.error(f"unknown keyword '{word}' out of section.",
                                         did_you_mean(word, SECTIONS)))
            else:
                current.body.append(line)
    return files, sections


def parse_global(sections: list[Section], errors: list[ConfigError]) -> GlobalSettings:
    """Merge every ``global`` section; errors go to *errors*."""
    settings = GlobalSettings()
    for section in sections:
        if section.kind != "global":
            continue
        if len(section.header.words) > 1:
            errors.append(section.header.error("'global' takes no argument."))
        for line in section.body:
            keyword = GLOBAL.lookup(line.words[0])
            if keyword is None:
                if PROXY.lookup(line.words[0]):
                    msg = f"'{line.words[0]}' belongs in a proxy section, not in 'global'."
                    errors.append(line.error(msg))
                else:
                    errors.append(line.error(f"unknown keyword '{line.words[0]}' in 'global' section.",
                                             GLOBAL.hint(line.words[0])))
                continue
            try:
                keyword.parse(settings, line)
            except ConfigError as exc:
                errors.append(exc)
    return settings


def parse_proxies(files: list[str], sections: list[Section], settings: GlobalSettings,
                  errors: list[ConfigError] | None = None) -> Config:
    """Every defaults/frontend/backend/listen section, with defaults inherited.

    With *errors*, problems are added to it; without, they are raised together."""
    collect = errors is not None
    errors = [] if errors is None else errors
    config = Config(files, settings)
    named_defaults: dict[str, ProxyConf] = {}
    defaults = ProxyConf("defaults", "", sections[0].header if sections else Line("", 0, ()))
    next_id = 2
    for section in sections:
        if section.kind == "global":
            continue
        if section.kind == "http-errors":
            _parse_http_errors(section, config, errors)
            continue
        if section.kind == "peers":
            _add_peers(config, section, errors)
            continue
        if section.kind == "cache":
            _add_named(config.caches, cache_section.parse_section(section.header, section.body, errors),
                       section, errors)
            continue
        if section.kind == "mailers":
            _add_named(config.mailers, mailers_section.parse_section(section.header, section.body, errors),
                       section, errors)
            continue
        if section.kind == "resolvers":
            _add_named(config.resolvers, resolvers_section.parse_section(section.header, section.body, errors,
                                                                         config.warnings), section, errors)
            continue
        if section.kind == "program":
            program = programs_section.parse_section(section.header, section.body, errors)
            if program is not None:
                config.programs.append(program)
            continue
        try:
            proxy = _new_proxy(section.header, defaults, named_defaults)
        except ConfigError as exc:
            errors.append(exc)
            continue
        except ConfigErrors as exc:
            errors.extend(exc.errors)
            continue
        for line in section.body:
            try:
                _parse_proxy_line(proxy, line)
            except ConfigError as exc:
                errors.append(exc)
        if proxy.kind == "defaults":
            defaults = proxy
            if proxy.name:
                named_defaults[proxy.name] = proxy
            continue
        explicit_id = proxy.setting("id")
        if explicit_id and explicit_id[0].isdigit():
            proxy.id = int(explicit_id[0])
        else:
            proxy.id = next_id
        next_id = max(next_id, proxy.id) + 1
        config.proxies.append(proxy)
    if "default" not in config.resolvers and (default := resolvers_section.default_section()) is not None:
        config.resolvers["default"] = default
    errors.extend(_check(config))
    if errors and not collect:
        raise ConfigErrors(errors)
    return config


def _parse_http_errors(section: Section, config: Config, errors: list[ConfigError]) -> None:
    """``http-errors NAME`` and its ``errorfile CODE FILE`` lines."""
    if len(section.header.words) != 2:
        errors.append(section.header.error("'http-errors' expects a name."))
        return
    pages = config.http_errors.setdefault(section.header.words[1], {})
    for line in section.body:
        if line.words[0] != "errorfile" or len(line.words) != 3 or not line.words[1].isdigit():
            errors.append(line.error(f"unknown keyword '{line.words[0]}' in 'http-errors' section.",
                                     "It only takes 'errorfile <code> <file>' lines."))
            continue
        pages[int(line.words[1])] = line.words[2]


def _add_peers(config: Config, section: Section, errors: list[ConfigError]) -> None:
    conf = peers_section.parse_section(section.header, section.body, errors)
    if conf is None:
        return
    if conf.name in config.peers:
        errors.append(section.header.error(f"peers section '{conf.name}' is already declared."))
        return
    if conf.local is None or conf.disabled:
        if conf.local is None:
            config.warnings.append(f"{section.header.file}:{section.header.number}: removing incomplete section "
                                   f"'peers {conf.name}' (no peer named '{conf.local_name}').")
        conf.disabled = True
    elif not conf.listen_address:
        errors.append(section.header.error(f"peers section '{conf.name}': the local peer '{conf.local_name}' "
                                           "has no address.", "Give it one, or add a 'bind' line."))
    config.peers[conf.name] = conf


def _add_named(table: dict[str, Any], settings: Any, section: Section, errors: list[ConfigError]) -> None:
    """A cache or mailers section, kept under its name; a second section of the same name is an error."""
    if settings is None:
        return
    if settings.name in table:
        errors.append(section.header.error(f"{section.kind} section '{settings.name}' is already declared."))
        return
    table[settings.name] = settings


def _new_proxy(header: Line, defaults: ProxyConf, named: dict[str, ProxyConf]) -> ProxyConf:
    kind, args = header.words[0], list(header.words[1:])
    base = defaults
    if "from" in args:
        i = args.index("from")
        if i + 1 >= len(args) or args[i + 1] not in named:
            raise header.error("'from' must name a defaults section defined above.")
        base = named[args[i + 1]]
        del args[i : i + 2]
    if kind != "defaults" and len(args) != 1:
        raise header.error(f"'{kind}' expects exactly one name.", f"Write '{kind} <name>'.")
    name = args[0] if args else ""
    if base.rules:
        _check_rules_inheritance(header, kind, base)
    proxy = ProxyConf(kind, name, header)
    for attr in ("mode", "timeouts", "options", "balance", "retries", "maxconn", "settings", "inspect_delay", "rules",
                 "where"):
        setattr(proxy, attr, copy.deepcopy(getattr(base, attr)))
    return proxy


def _check_rules_inheritance(header: Line, kind: str, base: ProxyConf) -> None:
    """A defaults section with TCP/HTTP rules may only init proxies of one side, as in haproxy 2.6."""
    side = "frontend" if kind == "frontend" else "backend"
    if kind in ("defaults", "listen"):
        raise header.error(f"{kind} section cannot inherit from defaults section '{base.name}' because it "
                           "defines TCP/HTTP rules.", "Move the rules into the proxies that need them.")
    users = base.settings.setdefault(" users", [])
    if users and users[0] != (side,):
        raise header.error(f"defaults section '{base.name}' defines TCP/HTTP rules and cannot init both "
                           "frontends and backends.", "Use one defaults section per side.")
    users[:] = [(side,)]
    wrong = ("tcp-request connection", "tcp-request session") if side == "backend" else ("tcp-response content",)
    for ruleset in wrong:
        if base.rules.get(ruleset):
            raise header.error(f"defaults section '{base.name}' defines '{ruleset}' rules, which a {side} "
                               "cannot have.")
    if not base.settings.setdefault(" rules checked", []):
        base.settings[" rules checked"].append(("yes",))
        implicit = check_defaults_rules(base)
        if implicit:
            raise ConfigErrors(implicit)


def _parse_proxy_line(proxy: ProxyConf, line: Line) -> None:
    word = line.words[0]
    keyword = PROXY.lookup(word)
    if keyword is None:
        if GLOBAL.lookup(word):
            raise line.error(f"'{word}' belongs in the 'global' section.")
        raise line.error(f"unknown keyword '{word}' in '{proxy.kind}' section.", PROXY.hint(word))
    if proxy.kind not in keyword.sections:
        where = ", ".join(keyword.sections)
        raise line.error(f"'{word}' is not allowed in a '{proxy.kind}' section.", f"It goes in: {where}.")
    keyword.parse(proxy, line)
    proxy.where[word] = line
    if word in ("option", "no") and len(line.words) > 1:
        proxy.where[" ".join(line.words[-2:]) if word == "no" else f"option {line.words[1]}"] = line
    if proxy.kind == "defaults" and not proxy.name and word in RULE_FAMILIES and proxy.rules:
        raise line.error(f"'{word}' rules are not allowed in an anonymous 'defaults' section.",
                         "Name the section (defaults NAME) and use 'from NAME' in the proxies.")


def _check(config: Config) -> list[ConfigError]:
    errors: list[ConfigError] = []
    seen: dict[tuple[bool, str], ProxyConf] = {}
    for proxy in config.proxies:
        for side, present in (("frontend", proxy.has_frontend), ("backend", proxy.has_backend)):
            if not present:
                continue
            key = (side == "frontend", proxy.name)
            if key in seen:
                other = seen[key].line
                errors.append(proxy.line.error(
                    f"{side} '{proxy.name}' has the same name as the {side} declared at "
                    f"{other.file}:{other.number}.", "Rename one of them."))
            seen[key] = proxy
    for proxy in config.frontends():
        if proxy.default_backend:
            backend = config.backend(proxy.default_backend)
            if backend is None:
                errors.append(proxy.line_of("default_backend").error(
                    f"{proxy.kind} '{proxy.name}' uses default_backend '{proxy.default_backend}', "
                    "which does not exist.", did_you_mean(proxy.default_backend,
                                                           [b.name for b in config.backends()])))
            elif backend.mode != proxy.mode and proxy.mode == "http":
                errors.append(proxy.line_of("default_backend").error(
                    f"{proxy.kind} '{proxy.name}' is in mode http but backend '{backend.name}' is in "
                    "mode tcp.", "Use the same mode on both."))
        if not proxy.binds:
            config.warnings.append(f"{proxy.kind} '{proxy.name}' has no 'bind' line and will not accept "
                                   f"connections ({proxy.line.file}:{proxy.line.number}).")
    return errors


def load(paths: list[str], errors: list[ConfigError] | None = None
         ) -> tuple[list[str], list[Section], GlobalSettings]:
    """First half of loading: the files, their sections and the merged global settings.

    With *errors*, problems are added to it; without, they are raised together."""
    found: list[ConfigError] = [] if errors is None else errors
    messages: list[tuple[str, str]] = []
    files, sections = read_sections(paths, found, messages)
    settings = parse_global(sections, found)
    settings.messages = messages
    if found and errors is None:
        raise ConfigErrors(found)
    return files, sections, settings
