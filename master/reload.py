"""Loading a configuration generation: the start-up steps, shared by the first start and every reload.

Parse the global sections, run the Lua body context, parse and compile the
proxies, read the ``stats socket`` lines, then run the Lua init functions.
Any failure raises ConfigErrors naming file:line; on a reload the caller
keeps the running generation.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from typing import Any

from luaproxy.lua_api.engine import LuaEngine
from luaproxy.worker.proxy import Proxy
from luaproxy.worker.samples import PatternLibrary, Sample, SampleRegistry, default_registry

from . import lua_boot
from .compile import compile_config
from .config import loader
from .config.errors import ConfigError, ConfigErrors
from .config.keywords_global import configure_logger
from .config.model import Bind, GlobalSettings
from .management import addresses
from .management.addresses import SocketSpec
from .map_store import MapStore
from .proc_vars import initial_proc_vars
from .sockets import BindError, Listening, open_listener
from .stick_tables import TableStore


@dataclass(slots=True)
class Generation:
    """One loaded configuration and everything built from it in the master."""

    files: list[str]
    settings: GlobalSettings
    config: Any
    engine: LuaEngine
    library: PatternLibrary
    proxies: list[Proxy]
    stats_sockets: list[SocketSpec]
    proc_vars: dict[str, Sample | None]
    """The ``proc.`` variables of global ``set-var`` lines, each worker's starting values."""
    tables: TableStore
    registry: SampleRegistry | None = None
    """The sample registry the configuration was compiled with (``set var`` on the CLI uses it)."""

    @property
    def frontends(self) -> list[tuple[Proxy, list[Bind]]]:
        by_name = dict(zip([c.name for c in self.config.proxies], self.proxies, strict=True))
        return [(by_name[c.name], c.binds) for c in self.config.frontends()]

    def map_store(self) -> MapStore:
        return MapStore(self.library, persist=self.settings.map_persist)


def load(paths: list[str], logger: object, previous: Generation | None = None) -> Generation:
    """Everything but the Lua init functions (``-c`` stops before them); stick tables whose
    declaration did not change are kept from *previous*.

    Each step goes on after errors where it can, so one run reports every error
    of the configuration (as haproxy -c does); they are raised together at the end.
    """
    errors: list[ConfigError] = []
    files, sections, settings = loader.load(paths, errors)
    if not files:
        raise ConfigErrors(errors)
    registry = default_registry()
    library = PatternLibrary(lua_boot.base_directory(settings, files[0]))
    engine = _collect(errors, lambda: lua_boot.boot(settings, logger, registry, library))
    if engine is None:
        engine = lua_boot.boot(settings.without_lua(), logger, registry, library)
    proc_vars = _collect(errors, lambda: initial_proc_vars(
        settings, (line for section in sections for line in section.body), registry, library))
    config = loader.parse_proxies(files, sections, settings, errors)
    tables = TableStore(previous.tables if previous is not None else None, columns=2 * settings.nbproc)
    proxies = _collect(errors, lambda: compile_config(config, engine, registry, library, tables))
    tables.forget_previous()
    sockets = _collect(errors, lambda: stats_sockets(settings))
    if errors:
        raise ConfigErrors(errors, [text for level, text in settings.messages if level == "warning"]
                           + config.warnings)
    generation = Generation(files, settings, config, engine, library, proxies, sockets, proc_vars, tables, registry)
    engine.attach_proxies(proxies, {p.name: len(binds) for p, binds in generation.frontends}, settings.maxconn)
    return generation


def _collect(errors: list[ConfigError], step: Any) -> Any:
    """Run one loading step; its ConfigErrors join *errors* and the step gives None."""
    try:
        return step()
    except ConfigErrors as exc:
        errors.extend(exc.errors)
        return None


def load_and_init(paths: list[str], logger: object, previous: Generation | None = None) -> Generation:
    """A reload's whole loading step."""
    generation = load(paths, logger, previous)
    configure_logger(logger, generation.settings)
    lua_boot.run_inits(generation.engine)
    return generation


def rebind(frontends: list[tuple[Proxy, list[Bind]]], workers: int,
           previous: list[Listening]) -> tuple[list[Listening], list[socket.socket]]:
    """A reload's listeners: sockets already bound to an address are kept, new addresses are bound.

    Returns the listeners and the sockets no longer needed, which the caller
    closes once the old workers stopped accepting.  On a BindError nothing changed.
    """
    spare = {item.label: list(item.sockets) for item in previous}
    fresh: list[socket.socket] = []
    listening: list[Listening] = []
    try:
        for proxy, binds in frontends:
            for so_id, address in enumerate(binds, start=1):
                sockets = spare.pop(address.label, [])
                wanted = 1 if address.fd is not None or address.path is not None else workers
                try:
                    while len(sockets) < wanted:
                        new = open_listener(address, 1)
                        fresh.extend(new)
                        sockets += new
                except BindError as exc:
                    kind = "frontend" if proxy.has_frontend and not proxy.has_backend else "proxy"
                    raise BindError(f"Starting {kind} {proxy.name}: {exc}") from None
                spare[f"{address.label} (unused)"] = sockets[wanted:]
                listening.append(Listening(proxy, so_id, sockets[:wanted], address.label))
    except BindError:
        for sock in fresh:
            sock.close()
        raise
    return listening, [sock for sockets in spare.values() for sock in sockets]


def retire(sock: socket.socket) -> None:
    """Stop listening everywhere (the old workers hold copies), so the kernel sends no more connections here."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)
    sock.close()


def stats_sockets(settings: GlobalSettings) -> list[SocketSpec]:
    specs, errors = [], []
    for line in settings.stats_sockets:
        try:
            specs.append(addresses.parse(list(line.words[2:])))
        except addresses.AddressError as exc:
            errors.append(ConfigError(line.file, line.number, f"'stats socket' : {exc}."))
    if errors:
        raise ConfigErrors(errors)
    return specs
