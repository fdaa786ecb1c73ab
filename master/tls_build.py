"""The TLS side of a configuration: each ``bind … ssl`` listener and ``server … ssl`` gets its contexts.

Runs in the master with the other compile steps, so a missing or unreadable
certificate, a key that does not match, an expired CA file or a bad cipher
list is a config error naming its line.  Certificates are loaded once per
path and shared by every listener that names them (``set ssl cert`` replaces
them by that name).
"""

from __future__ import annotations

import os
import ssl
from typing import Any

from luaproxy.worker.proxy import Proxy, Server
from luaproxy.worker.samples import PatternLibrary, SampleError, SampleRegistry, parse_expr, to_text
from luaproxy.worker.tls.cafiles import SYSTEM_CA
from luaproxy.worker.tls.certs import CertError, Certificate, load_certificate
from luaproxy.worker.tls.contexts import CrtEntry, ListenerTls, ServerTls, client_context, load_crt
from luaproxy.worker.tls.generate import DEFAULT_CACHE_SIZE, GeneratedContexts, Signer, load_signer
from luaproxy.worker.tls.options import DEFAULT, SERVER, TlsError, TlsOptions, parse_crt_list_line
from luaproxy.worker.tls.runtime import ca_names
from luaproxy.worker.tls.sessioncache import SharedSessionCache

from .config.errors import ConfigError
from .config.keywords_proxy import SERVER_VALUE_OPTIONS
from .config.lexer import Line
from .config.model import Bind, Config, ProxyConf, ServerConf
from .config.units import parse_time

DEFAULT_SHARED_SESSIONS = 20000
"""haproxy's default tune.ssl.cachesize: the sessions the workers' shared cache holds."""


class _Builder:
    def __init__(self, config: Config, registry: SampleRegistry, library: PatternLibrary) -> None:
        self.ssl = config.global_.ssl
        self.registry = registry
        self.library = library
        self.warnings = config.warnings
        self.certs: dict[str, Certificate] = {}
        self.bind_defaults = self._defaults("bind")
        self.session_cache = _session_cache(config.global_.tune)
        slots = self.session_cache[0] or DEFAULT_SHARED_SESSIONS
        shared = config.global_.nbproc > 1 and "tune.ssl.force-private-cache" not in config.global_.tune
        self.shared_sessions = SharedSessionCache(slots) if shared else None
        self.dh_file = self.ssl.get("ssl-dh-param-file")
        self.default_dh_param = _default_dh_param(config.global_.tune)
        cache_size = config.global_.tune.get("tune.ssl.ssl-ctx-cache-size")
        if cache_size is not None and not cache_size.isdigit():
            raise TlsError(f"'tune.ssl.ssl-ctx-cache-size' : expects a number, got '{cache_size}'.")
        self.generated = GeneratedContexts(int(cache_size) if cache_size is not None else DEFAULT_CACHE_SIZE)
        self.capture_size = _capture_size(config.global_.tune)
        keylog = config.global_.tune.get("tune.ssl.keylog", "off")
        if keylog not in ("on", "off"):
            raise TlsError(f"'tune.ssl.keylog' : expects 'on' or 'off', got '{keylog}'.")
        self.keylog = keylog == "on"
        self.server_defaults = self._defaults("server")

    def _defaults(self, side: str) -> TlsOptions:
        options = TlsOptions()
        words = self.ssl.get(f"ssl-default-{side}-options", "").split()
        while words:
            word = words.pop(0)
            if not options.take(word, words, DEFAULT):
                raise TlsError(f"'ssl-default-{side}-options' : unknown option '{word}'.")
        for name in ("ciphers", "ciphersuites", "curves"):
            value = self.ssl.get(f"ssl-default-{side}-{name}")
            if value:
                options.values[name] = [value]
        return options

    def path(self, base: str, path: str) -> str:
        prefix = self.ssl.get(base)
        return os.path.join(prefix, path) if prefix and not os.path.isabs(path) else path

    def crt(self, path: str) -> list[str]:
        """Load ``crt PATH`` (once per path); the names of its certificates."""
        full = self.path("crt-base", path)
        if full in self.certs:
            return [full]
        loaded = load_crt(full, "ssl-load-extra-del-ext" in self.ssl, self.warnings)
        for cert in loaded:
            self.certs[cert.name] = cert
        return [cert.name for cert in loaded]

    def ca_paths(self, options: TlsOptions) -> TlsOptions:
        for name in ("ca-file", "crl-file"):
            if name in options.values:
                options.values[name] = [v if v == SYSTEM_CA else self.path("ca-base", v) for v in options.values[name]]
        return options

    def listener(self, bind: Bind) -> ListenerTls:
        options = self.ca_paths(bind.tls.merged(self.bind_defaults))
        entries: list[CrtEntry] = []
        for path in options.values.get("crt", []):
            entries += [CrtEntry(name, options) for name in self.crt(path)]
        for path in options.values.get("crt-list", []):
            entries += self.crt_list(self.path("crt-base", path), options)
        listener = ListenerTls(entries, options, self.certs, strict_sni="strict-sni" in options.flags,
                               name=bind.name, session_cache=self.session_cache, dh_file=self.dh_file,
                               default_dh_param=self.default_dh_param, capture_size=self.capture_size,
                               keylog=self.keylog, shared_sessions=self.shared_sessions)
        listener.signer = self.signer(options)
        listener.build()
        self._warn(f"bind {bind.label}", options, listener.warnings)
        return listener

    def signer(self, options: TlsOptions) -> Signer | None:
        """``generate-certificates`` with ``ca-sign-file`` (and ``ca-sign-pass``)."""
        path = options.get("ca-sign-file")
        if "generate-certificates" not in options.flags:
            return None
        if not path:
            raise TlsError("'generate-certificates' needs 'ca-sign-file', the CA that signs the certificates")
        return load_signer(self.path("ca-base", path), options.get("ca-sign-pass"), self.generated)

    def crt_list(self, path: str, bind_options: TlsOptions) -> list[CrtEntry]:
        """``crt-list FILE``: one certificate a line, ``[options]`` and SNI filters after it."""
        try:
            with open(path, encoding="utf-8") as file:
                lines = file.read().splitlines()
        except OSError as exc:
            raise CertError(f"unable to load crt-list '{path}' : {exc.strerror}") from None
        entries = []
        for number, text in enumerate(lines, start=1):
            text = text.strip()
            if not text or text.startswith("#"):
                continue
            try:
                entries += self._crt_list_line(text, bind_options, path)
            except (CertError, TlsError, ValueError) as exc:
                raise CertError(f"crt-list '{path}' line {number}: {exc}") from None
        return entries

    def _crt_list_line(self, text: str, bind_options: TlsOptions, crt_list: str) -> list[CrtEntry]:
        line = parse_crt_list_line(text)
        options = self.ca_paths(line.options()).merged(bind_options) if line.words else bind_options
        return [CrtEntry(name, options, line.filters, crt_list, line) for name in self.crt(line.crt)]

    def server(self, server: Server, conf: ServerConf, defaults: TlsOptions) -> None:
        options = self.ca_paths(conf.tls.merged(defaults.merged(self.server_defaults)))
        ssl_on = "ssl" in options.flags and "no-ssl" not in options.flags
        default_verify = self.ssl.get("ssl-server-verify", "required")
        server.use_ssl = -1 if "no-ssl" in options.flags else int(ssl_on)
        if "ssl" in options.flags:
            server.ssl_tls = self._server_tls(options, default_verify, options.get("sni"), conf)
            server.alpn = tuple(options.alpn())
        if ssl_on:
            server.tls = server.ssl_tls
        # haproxy 2.6: checks inherit 'ssl' on their server's own port, except for a server added at run
        # time, which needs an explicit check-ssl
        inherits = ssl_on and "port" not in conf.options and "addr" not in conf.options and not server.dynamic
        check_ssl = "check-ssl" in options.flags or inherits
        if check_ssl and conf.check and "no-check-ssl" not in options.flags:
            check_options = TlsOptions(dict(options.values), set(options.flags))
            if options.get("check-alpn"):
                check_options.values["alpn"] = [options.get("check-alpn") or ""]
            sni = options.get("check-sni")
            server.check_tls = self._server_tls(check_options, default_verify,
                                                f"str({sni})" if sni else None, conf)

    def _server_tls(self, options: TlsOptions, default_verify: str, sni: str | None,
                    conf: ServerConf) -> ServerTls:
        if options.verify(default_verify) != ssl.CERT_NONE and not options.get("ca-file"):
            raise TlsError("verify is enabled by default but no CA file specified. If the server's certificate "
                           "can be trusted without it, add 'verify none' to the server line, or "
                           "'ssl-server-verify none' to the global section.")
        crt = options.get("crt")
        path = self.path("crt-base", crt) if crt else None
        # the stored one first: 'set ssl cert' may have replaced it since ('add server ... crt')
        cert = (self.certs.get(path) or load_certificate(path)) if path else None
        if cert is not None:
            self.certs.setdefault(cert.name, cert)
        warnings: list[str] = []

        def rebuild(new_cert: Certificate | None) -> Any:
            return client_context(options, default_verify, warnings, new_cert)

        tls = ServerTls(rebuild(cert), self._sni(sni), options.get("verifyhost"),
                        reuse="no-ssl-reuse" not in options.flags, cert_name=cert.name if cert else None,
                        rebuild=rebuild, client_cert=cert, ca_files=ca_names(options))
        self._warn(f"server {conf.name}", options, warnings)
        return tls

    def _sni(self, text: str | None) -> Any:
        if not text:
            return None
        try:
            expr = parse_expr(text, self.registry, self.library)
        except SampleError as exc:
            raise TlsError(f"'sni' : failed to parse sample expression '{text}' : {exc}.") from None

        def sni(txn: Any) -> str | None:
            return to_text(expr.evaluate(txn)) or None

        return sni

    def _warn(self, where: str, options: TlsOptions, warnings: list[str]) -> None:
        for name in options.ignored():
            self.warnings.append(f"'{where}': '{name}' is accepted but not applied (not available through "
                                 "Python's ssl module).")
        for text in dict.fromkeys(warnings):
            self.warnings.append(f"'{where}': {text}.")


def attach(config: Config, proxies: list[Proxy], registry: SampleRegistry,
           library: PatternLibrary) -> list[ConfigError]:
    """Give every TLS listener and server its contexts; the errors, each naming its line."""
    errors: list[ConfigError] = []
    try:
        builder = _Builder(config, registry, library)
    except TlsError as exc:
        return [ConfigError("global", 0, str(exc))]
    for conf, proxy in zip(config.proxies, proxies, strict=True):
        for so_id, bind in enumerate(conf.binds, start=1):
            if not bind.tls.enabled:
                continue
            try:
                proxy.tls_binds[so_id] = builder.listener(bind)
            except (CertError, TlsError, ssl.SSLError, ValueError) as exc:
                errors.append(_error(bind.line, f"'bind {bind.label}' : {exc}"))
        try:
            _default_server(conf, None)
        except TlsError as exc:
            errors.append(conf.line.error(f"'default-server' : {exc}"))
            continue
        if proxy.server_factory is not None:
            proxy.server_factory.tls = builder  # 'add server ... ssl' builds with the same certificates
        if len(proxy.servers) != len(conf.servers):
            continue  # the proxy could not be built: its error is already reported
        for server, server_conf in zip(proxy.servers, conf.servers, strict=True):
            try:
                builder.server(server, server_conf, _default_server(conf, server_conf.defaults_seen))
            except (CertError, TlsError, ssl.SSLError, ValueError) as exc:
                errors.append(_error(server_conf.line, f"'server {server.name}' : {exc}"))
    return errors


def _session_cache(tune: dict[str, str]) -> tuple[int | None, int | None]:
    """``tune.ssl.cachesize`` (0 turns the cache off in haproxy; OpenSSL's 0 means unlimited: 1 is kept)
    and ``tune.ssl.lifetime`` in seconds."""
    size, lifetime = tune.get("tune.ssl.cachesize"), tune.get("tune.ssl.lifetime")
    try:
        return (max(int(size), 1) if size is not None else None,
                max(int(parse_time(lifetime, "s")), 1) if lifetime is not None else None)
    except ValueError as exc:
        raise TlsError(f"tune.ssl.cachesize/lifetime : {exc}.") from None


def _default_dh_param(tune: dict[str, str]) -> int | None:
    """``tune.ssl.default-dh-param``: the largest predefined DH group DHE may use (bits, 1024 or more)."""
    value = tune.get("tune.ssl.default-dh-param")
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1024:
        raise TlsError(f"'tune.ssl.default-dh-param' : expects a number of bits of 1024 or more, got '{value}'.")
    return int(value)


def _capture_size(tune: dict[str, str]) -> int:
    """``tune.ssl.capture-buffer-size`` (or its old name ``tune.ssl.capture-cipherlist-size``): 0, the default,
    captures nothing."""
    for name in ("tune.ssl.capture-buffer-size", "tune.ssl.capture-cipherlist-size"):
        value = tune.get(name)
        if value is not None:
            if not value.isdigit():
                raise TlsError(f"'{name}' : expects a positive numeric value, got '{value}'.")
            return int(value)
    return 0


def _default_server(conf: ProxyConf, upto: int | None) -> TlsOptions:
    """The TLS words of the proxy's first *upto* ``default-server`` lines (all with None; the others are read
    elsewhere)."""
    options = TlsOptions()
    for words in conf.settings.get("default-server", ())[:upto]:
        rest = list(words)
        while rest:
            word = rest.pop(0)
            if not options.take(word, rest, SERVER) and rest and word in SERVER_VALUE_OPTIONS:
                rest.pop(0)
    return options


def _error(line: Line, message: str) -> ConfigError:
    return line.error(message if message.endswith(".") else message + ".")
