"""OpenSSL contexts for listeners (with SNI selection) and for servers, built from TlsOptions.

A listener gets one context per certificate, as haproxy 2.6 does.  The
first certificate's context is the one every handshake starts on (and the
one a client without SNI gets); its SNI callback moves the connection to the
context of the certificate the client asked for.  When the listener holds
several key types, the ClientHello peeked before the handshake says which
one the client can use (ECDSA first, then RSA, as haproxy picks them), and
each certificate staples its own OCSP response.  Session tickets and the session cache
stay on that first context (OpenSSL keeps the initial context for sessions),
so resumption works whatever certificate was chosen, and contexts built in
the master before the fork share their ticket keys across workers.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import cafiles, ocsp, openssl
from .certs import Certificate, certificate_names, key_algorithm, load_certificate, name_matches
from .clienthello import ClientHello
from .errors import HostMismatch
from .generate import Signer
from .options import CrtListLine, TlsError, TlsOptions
from .tlssocket import TlsContext

NIST_CURVES = {"P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1"}
SKIPPED_SUFFIXES = (".key", ".ocsp", ".issuer", ".sctl", ".crt-list")
BUNDLE_SUFFIXES = (".dsa", ".ecdsa", ".rsa")
"""haproxy's order: the first one found is the listener's default when the bundle comes first."""
OPENSSL_DEFAULT_CIPHERS = "DEFAULT"
"""OpenSSL's own list, which haproxy keeps when no ``ciphers`` is set (Python's is narrower: no RSA key
exchange, so a server limited to ``kRSA`` would share no cipher with luaproxy)."""


def configure(ctx: ssl.SSLContext, options: TlsOptions, default_verify: str, warnings: list[str]) -> None:
    """Apply versions, ciphers, curves, ALPN, tickets and client-certificate checks to *ctx*."""
    low, high = options.version_range()
    if low is not None:
        ctx.minimum_version = low
    if high is not None:
        ctx.maximum_version = high
    ciphers = options.get("ciphers")
    try:
        ctx.set_ciphers(ciphers or OPENSSL_DEFAULT_CIPHERS)
    except ssl.SSLError:
        raise TlsError(f"'ciphers' : unable to set the cipher list '{ciphers}'.") from None
    suites = options.get("ciphersuites")
    if suites and not openssl.set_ciphersuites(ctx, suites):
        if openssl.available(ctx):
            raise TlsError(f"'ciphersuites' : unable to set TLS 1.3 cipher suites to '{suites}'.")
        warnings.append("'ciphersuites' is not applied: this Python's ssl module cannot set TLS 1.3 cipher suites")
    curves = options.get("curves") or options.get("ecdhe")
    if curves and not openssl.set_groups(ctx, curves):
        if openssl.available(ctx):
            raise TlsError(f"'curves' : unable to set the curves list '{curves}'.")
        _first_curve(ctx, curves, warnings)
    protocols = options.alpn()
    if protocols:
        ctx.set_alpn_protocols(protocols)
    if "no-tls-tickets" in options.flags and "tls-tickets" not in options.flags:
        ctx.options |= ssl.OP_NO_TICKET
    if "prefer-client-ciphers" in options.flags:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    ca_file = options.get("ca-file")
    for name, kind in (("ca-file", "ca"), ("ca-verify-file", "ca"), ("crl-file", "crl")):
        path = options.get(name)
        if path:
            cafiles.STORE.load(path, kind).load_into(ctx)
    if options.get("crl-file"):
        if not ca_file:
            raise TlsError("'crl-file' needs a 'ca-file'.")
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
    if ctx.check_hostname:
        ctx.check_hostname = False
    ctx.verify_mode = options.verify(default_verify)
    if ctx.verify_mode != ssl.CERT_NONE and ctx.protocol == ssl.PROTOCOL_TLS_SERVER and not ca_file:
        raise TlsError("verify is enabled but no CA file specified.")
    ignores = options.get("ca-ignore-err"), options.get("crt-ignore-err")
    checks_clients = ctx.verify_mode != ssl.CERT_NONE and ctx.protocol == ssl.PROTOCOL_TLS_SERVER
    if (any(ignores) or checks_clients) and not openssl.install_verify_callback(ctx, *ignores) and any(ignores):
        warnings.append("'ca-ignore-err'/'crt-ignore-err' not applied (no access to OpenSSL's context)")


def _first_curve(ctx: ssl.SSLContext, curves: str, warnings: list[str]) -> None:
    """Without a groups list, Python's own setter: one curve."""
    names = curves.split(":")
    if len(names) > 1:
        warnings.append(f"'curves {curves}': only the first curve ({names[0]}) is offered: this Python's ssl "
                        "module sets a single group")
    try:
        ctx.set_ecdh_curve(NIST_CURVES.get(names[0], names[0]))
    except (ValueError, ssl.SSLError):
        raise TlsError(f"'curves' : unknown curve '{names[0]}'.") from None


def load_crt(path: str, del_ext: bool = False, warnings: list[str] | None = None) -> list[Certificate]:
    """``crt PATH``: a file, a directory (every certificate in it, by name) or a bundle (``.rsa``, ``.ecdsa``…),
    each with the OCSP response beside it (``PATH.ocsp``) if there is one (one left out goes to *warnings*)."""
    if os.path.isdir(path):
        files = sorted(f for f in os.listdir(path) if not f.startswith(".") and not f.endswith(SKIPPED_SUFFIXES))
        paths = [os.path.join(path, f) for f in files if os.path.isfile(os.path.join(path, f))]
    else:
        bundle = [] if os.path.exists(path) else [path + s for s in BUNDLE_SUFFIXES if os.path.exists(path + s)]
        paths, del_ext = (bundle, False) if bundle else ([path], del_ext)
    loaded = []
    for file in paths:
        cert = load_certificate(file, del_ext=del_ext)
        warning = ocsp.load_beside(cert, file)
        if warning is not None and warnings is not None:
            warnings.append(warning)
        loaded.append(cert)
    return loaded


@dataclass(slots=True)
class CrtEntry:
    """One certificate of a listener: from ``crt`` or one line of a crt-list (its options and SNI filters)."""

    name: str
    options: TlsOptions
    filters: tuple[str, ...] = ()
    crt_list: str | None = None
    """The crt-list file this entry came from (``add/del/show ssl crt-list`` name it)."""
    line: CrtListLine | None = None


@dataclass(eq=False)
class ListenerTls:
    """A ``bind … ssl`` listener's contexts and SNI table; rebuilt when one of its certificates changes."""

    entries: list[CrtEntry]
    options: TlsOptions
    certs: dict[str, Certificate]
    strict_sni: bool = False
    name: str = ""
    """The bind's ``name`` (HAProxy's logs show it, else the listener id)."""
    session_cache: tuple[int | None, int | None] = (None, None)
    """``tune.ssl.cachesize`` and ``tune.ssl.lifetime`` (seconds); None keeps OpenSSL's default."""
    warnings: list[str] = field(default_factory=list)
    dh_file: str | None = None
    """``ssl-dh-param-file``: the DH parameters of every certificate that has none of its own."""
    default_dh_param: int | None = None
    """``tune.ssl.default-dh-param`` (bits): predefined groups when there are no DH parameters at all."""
    signer: Signer | None = None
    """``generate-certificates``: the CA that signs a certificate for a name no certificate covers."""
    default: Any = None
    exact: dict[str, list[Any]] = field(default_factory=dict)
    wildcards: dict[str, list[tuple[Any, frozenset[str]]]] = field(default_factory=dict)
    served: dict[Any, Certificate] = field(default_factory=dict)
    """The certificate of each context: what the ssl_f_* fetches describe."""
    shared_sessions: Any = None
    """The workers' shared session cache (worker.tls.sessioncache), when there are several workers."""
    session_namespace: bytes = field(default_factory=lambda: os.urandom(8))
    """This listener's part of the shared cache's keys, drawn in the master (every worker has the same)."""
    keylog: bool = False
    """``tune.ssl.keylog on``: each handshake's TLS 1.3 secrets are kept for the ``ssl_fc_*_secret`` fetches."""
    capture_size: int = 0
    """``tune.ssl.capture-buffer-size``: the bytes of ClientHello lists kept for ``ssl_fc_cipherlist_*`` & co."""
    mixed_keys: bool = False
    """Certificates of several key types: the handshake first peeks at the ClientHello to choose."""

    def build(self) -> None:
        """Make every context from the current certificates (CertError/TlsError on a bad one)."""
        exact: dict[str, list[Any]] = {}
        served: dict[Any, Certificate] = {}
        wildcards: dict[str, list[tuple[Any, frozenset[str]]]] = {}
        for entry in self.entries:
            cert = self.certs[entry.name]
            positive = tuple(f.lower() for f in entry.filters if not f.startswith("!"))
            negative = frozenset(f[1:].lower() for f in entry.filters if f.startswith("!"))
            ctx = self._server_context(entry.options, self.warnings)
            cert.load_into(ctx)
            self._load_dh(ctx, cert, self.warnings)
            if cert.ocsp is not None and not openssl.staple_ocsp(ctx, cert):
                self.warnings.append(f"the OCSP response of '{cert.name}' is not stapled (no access to OpenSSL's "
                                     "context)")
            served[ctx] = cert
            for name in positive or cert.names:
                if name.startswith("*."):
                    wildcards.setdefault(name[2:], []).append((ctx, negative))
                else:
                    exact.setdefault(name, []).append(ctx)
        if not served:
            raise TlsError("no certificate: 'ssl' needs 'crt' or 'crt-list'.")
        default = next(iter(served))
        default.sni_callback = self._select
        self.default, self.exact, self.wildcards, self.served = default, exact, wildcards, served
        if self.signer is not None:
            self.signer.forget()
        self.mixed_keys = len({cert.key_type for cert in served.values()}) > 1

    def _load_dh(self, ctx: Any, cert: Certificate, warnings: list[str]) -> None:
        """DH parameters for DHE, as haproxy picks them: the certificate file's, else ``ssl-dh-param-file``'s,
        else with ``tune.ssl.default-dh-param`` a predefined group; else DHE is off."""
        if cert.load_dh_into(ctx):
            return
        if self.dh_file is not None:
            try:
                ctx.load_dh_params(self.dh_file)
            except (OSError, ssl.SSLError) as exc:
                raise TlsError(f"unable to load the DH parameters file '{self.dh_file}' ({exc})") from None
        elif self.default_dh_param is not None:
            self._default_dh(ctx, cert, warnings)

    def _default_dh(self, ctx: Any, cert: Certificate, warnings: list[str]) -> None:
        """haproxy 2.6 on OpenSSL 3: the group follows the size of an RSA or DSA key, capped by the tunable (4096
        bits and more: ffdhe4096, 2048 and more: ffdhe2048); a smaller one (1024 bits) fails OpenSSL's security
        level, so DHE stays off, with a warning when the tunable itself asks for 1024 bits."""
        if self.default_dh_param <= 1024:
            warnings.append(f"unable to load default 1024 bits DH parameter for certificate '{cert.name}', DH "
                            "ciphers won't be available")
            return
        kind, key_bits = key_algorithm(cert.key)
        bits = min(key_bits if kind in ("rsa", "dsa") else 0, self.default_dh_param)
        group = 4096 if bits >= 4096 else 2048 if bits >= 2048 else None
        if group is not None and not openssl.set_dh_group(ctx, group):
            warnings.append("'tune.ssl.default-dh-param' not applied (no access to OpenSSL's context)")

    def uses(self, name: str) -> bool:
        return any(e.name == name for e in self.entries)

    def replace(self, name: str, cert: Certificate) -> None:
        """A certificate changed at runtime: new contexts for new connections (the old ones finish)."""
        old = self.certs.get(name)
        self.certs[name] = cert
        try:
            self.build()
        except Exception:
            if old is not None:
                self.certs[name] = old
            raise

    def lookup(self, server_name: str) -> list[Any]:
        """The contexts for a client's SNI, best first: the exact name's, then the wildcards'."""
        name = server_name.lower().rstrip(".")
        found = list(self.exact.get(name, ()))
        _, _, parent = name.partition(".")
        for candidate, excluded in self.wildcards.get(parent, ()):
            if name not in excluded and candidate not in found:
                found.append(candidate)
        return found

    def _usable(self, sock: Any, candidates: list[Any]) -> Any:
        """Among the certificates for the name, the one haproxy 2.6 serves: the first ECDSA one if the client
        can use it, else the first RSA one if it can, else the first of another type, else ECDSA, else RSA."""
        hello = getattr(sock, "hello", None)
        if len(candidates) < 2 or hello is None:
            return candidates[0] if candidates else None
        first: dict[str, Any] = {}
        for ctx in candidates:
            kind = self.served[ctx].key_type
            first.setdefault(kind if kind in ("ecdsa", "rsa") else "other", ctx)
        has_ecdsa, has_rsa = hello.signatures()
        order = ("ecdsa",) * has_ecdsa + ("rsa",) * has_rsa + ("other", "ecdsa", "rsa")
        return next(first[kind] for kind in order if kind in first)

    def _select(self, sock: Any, server_name: str | None, ctx: Any) -> int | None:
        sock.sni = server_name
        chosen = self._usable(sock, self.lookup(server_name)) if server_name else None
        served = self.served.get(chosen)
        if chosen is None and server_name and self.signer is not None:
            chosen, served = self.signer.context_for(server_name, self.served[self.default], self._generated_context)
        if chosen is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME if self.strict_sni else None
        if chosen is not ctx:
            sock.context = chosen
            sock.local_cert = served
            if not openssl.follow_context(sock):
                return ssl.ALERT_DESCRIPTION_PROTOCOL_VERSION
        return None

    def _server_context(self, options: TlsOptions, warnings: list[str]) -> Any:
        """A context of this listener: its options, session cache and key log."""
        ctx = TlsContext(ssl.PROTOCOL_TLS_SERVER)
        configure(ctx, options, "none", warnings)
        if self.session_cache != (None, None) and not openssl.set_session_cache(ctx, *self.session_cache):
            warnings.append("tune.ssl.cachesize/lifetime not applied (no access to OpenSSL's context)")
        if self.keylog and not openssl.install_keylog(ctx):
            warnings.append("'tune.ssl.keylog' not applied (no access to OpenSSL's context)")
        if self.shared_sessions is not None and not openssl.share_sessions(ctx, self.shared_sessions,
                                                                           self.session_namespace):
            warnings.append("the session cache is not shared by the workers (no access to OpenSSL's context)")
        return ctx

    def _generated_context(self, cert: Certificate) -> Any:
        """A context like the listener's for a certificate made on the fly (``generate-certificates``)."""
        ignored: list[str] = []  # the listener's build gave these warnings already
        ctx = self._server_context(self.options, ignored)
        cert.load_into(ctx)
        self._load_dh(ctx, cert, ignored)
        return ctx

    def wrap(self, sock: Any, hello: ClientHello | None = None) -> Any:
        tls = self.default.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        tls.local_cert = self.served.get(self.default)
        tls.hello = hello
        return tls


@dataclass(eq=False)
class ServerTls:
    """A ``server … ssl`` side: one client context, the SNI expression, the last session per SNI for reuse."""

    context: Any
    sni: Callable[[Any], str | None] | None = None
    verifyhost: str | None = None
    reuse: bool = True
    sessions: dict[str | None, Any] = field(default_factory=dict)
    cert_name: str | None = None
    """The client certificate (``crt``), which ``set ssl cert`` may replace."""
    client_cert: Certificate | None = None
    epoch: int = 0
    """Bumped when the certificate changes: pooled connections made before are not reused."""
    rebuild: Callable[[Certificate], Any] | None = None
    ca_files: tuple[str, ...] = ()
    """The ca-file and crl-file names its context loads (``commit ssl ca-file`` rebuilds it)."""

    def uses(self, name: str) -> bool:
        return self.cert_name == name

    def replace(self, name: str, cert: Certificate) -> None:
        if self.rebuild is not None:
            self.context = self.rebuild(cert)
            self.client_cert = cert
            self.sessions.clear()
            self.epoch += 1

    def wrap(self, sock: Any, txn: Any) -> Any:
        name = self.sni(txn) if self.sni is not None and txn is not None else None
        session = self.sessions.get(name) if self.reuse else None
        tls = self.context.wrap_socket(sock, server_hostname=name or None, do_handshake_on_connect=False,
                                       session=session)
        if getattr(txn, "server_alpn", None):  # a WebSocket's connection offers http/1.1 alone (ws auto|h1)
            openssl.set_alpn(tls, txn.server_alpn)
        tls.sni = name
        tls.local_cert = self.client_cert
        if self.verifyhost is not None and self.context.verify_mode != ssl.CERT_NONE:
            tls.host_checked = openssl.check_host_in_handshake(tls, self.verifyhost)
        tls.on_close = self.remember
        tls.owner, tls.epoch = self, self.epoch
        return tls

    def verify_host(self, tls: Any) -> None:
        """``verifyhost NAME``: the certificate must be for NAME (checked once the chain is verified)."""
        if self.verifyhost is None or self.context.verify_mode == ssl.CERT_NONE or tls.host_checked:
            return
        from cryptography import x509  # imported here: cryptography is big, most workers never use it

        der = tls.getpeercert(binary_form=True)
        names = certificate_names(x509.load_der_x509_certificate(der)) if der else ()
        if not any(name_matches(n, self.verifyhost) for n in names):
            raise HostMismatch(f"certificate is not for '{self.verifyhost}'")

    def remember(self, tls: Any) -> None:
        """Keep the session of a connection for the next one to this server (TLS 1.3 tickets come late)."""
        if not self.reuse or tls.epoch != self.epoch or tls.version() is None:
            return
        try:
            session = tls.session
        except (OSError, ValueError):  # a handshake that failed has no session to keep
            return
        if session is not None and (session.has_ticket or tls.version() != "TLSv1.3"):
            self.sessions[tls.sni] = session


def client_context(options: TlsOptions, default_verify: str, warnings: list[str],
                   client_cert: Certificate | None) -> Any:
    ctx = TlsContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    configure(ctx, options, default_verify, warnings)
    openssl.no_auto_chain(ctx)
    if client_cert is not None:
        client_cert.load_into(ctx)
    return ctx
