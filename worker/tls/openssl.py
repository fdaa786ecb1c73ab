"""OpenSSL settings Python 3.11's ssl module has no setter for, set through ctypes.

TLS 1.3 cipher suites (``ciphersuites``), a list of key-exchange groups
(``curves X25519:P-256``) and the session cache's size and lifetime
(``tune.ssl.cachesize``, ``tune.ssl.lifetime``) are plain ``SSL_CTX``
settings, but ``SSLContext`` offers none of them.  CPython keeps the ``SSL_CTX`` pointer as the first field of
an ``SSLContext``; the pointer is used only after a check that the options
OpenSSL reports through it are the ones Python reports, and the functions
come from the very libssl the ``_ssl`` module uses.  When anything does not
fit, ``available()`` is False and the caller says the setting is not applied.
"""

from __future__ import annotations

import ctypes
import ssl
import sys
import weakref
from typing import Any

SSL_CTRL_SET_GROUPS_LIST = 92
SSL_CTRL_SET_SESS_CACHE_SIZE = 42


def _library() -> Any:
    if sys.implementation.name != "cpython":
        return None
    try:
        import _ssl

        lib = ctypes.CDLL(_ssl.__file__)
        lib.SSL_CTX_get_options.restype = ctypes.c_uint64
        lib.SSL_CTX_get_options.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_set_ciphersuites.restype = ctypes.c_int
        lib.SSL_CTX_set_ciphersuites.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.SSL_CTX_ctrl.restype = ctypes.c_long
        lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
        lib.SSL_CTX_set_timeout.restype = ctypes.c_long
        lib.SSL_CTX_set_timeout.argtypes = [ctypes.c_void_p, ctypes.c_long]
    except (OSError, AttributeError, ImportError):
        return None
    return lib


_LIB = _library()


def _pointer(ctx: ssl.SSLContext) -> int | None:
    """The SSL_CTX* of *ctx*, or None unless OpenSSL confirms it."""
    if _LIB is None:
        return None
    pointer = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    if not pointer or _LIB.SSL_CTX_get_options(pointer) != int(ctx.options):
        return None
    return pointer


def available(ctx: ssl.SSLContext) -> bool:
    return _pointer(ctx) is not None


def set_ciphersuites(ctx: ssl.SSLContext, suites: str) -> bool:
    """TLS 1.3 cipher suites (``TLS_AES_128_GCM_SHA256:…``); False when OpenSSL refuses the list."""
    pointer = _pointer(ctx)
    return pointer is not None and _LIB.SSL_CTX_set_ciphersuites(pointer, suites.encode()) == 1


def set_groups(ctx: ssl.SSLContext, groups: str) -> bool:
    """Key-exchange groups in order (``X25519:P-256``); False when OpenSSL refuses the list."""
    pointer = _pointer(ctx)
    return pointer is not None and _LIB.SSL_CTX_ctrl(pointer, SSL_CTRL_SET_GROUPS_LIST, 0,
                                                    ctypes.c_char_p(groups.encode())) == 1


FFDHE_NIDS = {2048: 1126, 4096: 1128}
"""OpenSSL's NID_ffdhe2048 and NID_ffdhe4096: the RFC 7919 groups haproxy 2.6 uses with OpenSSL 3."""


def _declare_dh(lib: Any) -> bool:
    try:
        lib.EVP_PKEY_CTX_new_from_name.restype = ctypes.c_void_p
        lib.EVP_PKEY_CTX_new_from_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        lib.EVP_PKEY_paramgen_init.restype = ctypes.c_int
        lib.EVP_PKEY_paramgen_init.argtypes = [ctypes.c_void_p]
        lib.EVP_PKEY_CTX_set_dh_nid.restype = ctypes.c_int
        lib.EVP_PKEY_CTX_set_dh_nid.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.EVP_PKEY_paramgen.restype = ctypes.c_int
        lib.EVP_PKEY_paramgen.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
        lib.EVP_PKEY_CTX_free.restype = None
        lib.EVP_PKEY_CTX_free.argtypes = [ctypes.c_void_p]
        lib.EVP_PKEY_free.restype = None
        lib.EVP_PKEY_free.argtypes = [ctypes.c_void_p]
        lib.SSL_CTX_set0_tmp_dh_pkey.restype = ctypes.c_int
        lib.SSL_CTX_set0_tmp_dh_pkey.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    except AttributeError:
        return False
    return True


_DH_OK = _LIB is not None and _declare_dh(_LIB)


def set_dh_group(ctx: ssl.SSLContext, bits: int) -> bool:
    """DHE with the RFC 7919 group of *bits* (2048 or 4096), as haproxy's ``tune.ssl.default-dh-param`` sets it;
    False when OpenSSL cannot be reached or refuses it."""
    pointer = _pointer(ctx)
    if pointer is None or not _DH_OK:
        return False
    pctx = _LIB.EVP_PKEY_CTX_new_from_name(None, b"DH", None)
    if not pctx:
        return False
    pkey = ctypes.c_void_p()
    try:
        made = (_LIB.EVP_PKEY_paramgen_init(pctx) == 1 and _LIB.EVP_PKEY_CTX_set_dh_nid(pctx, FFDHE_NIDS[bits]) == 1
                and _LIB.EVP_PKEY_paramgen(pctx, ctypes.byref(pkey)) == 1)
    finally:
        _LIB.EVP_PKEY_CTX_free(pctx)
    if not made or not pkey.value:
        return False
    if _LIB.SSL_CTX_set0_tmp_dh_pkey(pointer, pkey) != 1:
        _LIB.EVP_PKEY_free(pkey)
        return False
    return True


SSL_CTRL_MODE = 33
SSL_MODE_NO_AUTO_CHAIN = 0x8


def no_auto_chain(ctx: ssl.SSLContext) -> bool:
    """Send the certificate with the chain its PEM holds, never one OpenSSL completes from the CA store (as
    haproxy does: a ``server … crt`` with ``ca-file`` must not hand the peer the intermediates it lacks)."""
    pointer = _pointer(ctx)
    return pointer is not None and bool(_LIB.SSL_CTX_ctrl(pointer, SSL_CTRL_MODE, SSL_MODE_NO_AUTO_CHAIN, None))


def set_session_cache(ctx: ssl.SSLContext, size: int | None, lifetime: int | None) -> bool:
    """``tune.ssl.cachesize`` (sessions kept) and ``tune.ssl.lifetime`` (seconds) of the session cache."""
    pointer = _pointer(ctx)
    if pointer is None:
        return False
    if size is not None:
        _LIB.SSL_CTX_ctrl(pointer, SSL_CTRL_SET_SESS_CACHE_SIZE, size, None)
    if lifetime is not None:
        _LIB.SSL_CTX_set_timeout(pointer, lifetime)
    return True


# Client-certificate errors HAProxy can ignore (ca-ignore-err, crt-ignore-err) and report (ssl_c_verify…).

VerifyCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)
_VERIFY_STATE: dict[int, list[int]] = {}
"""SSL* → [first CA error, its depth, certificate error], filled during a handshake, taken just after."""
_REJECTED_CERT: dict[int, bytes] = {}
"""SSL* → the DER of a client certificate that failed verification: OpenSSL keeps no peer certificate
after a failed handshake, and error-log-format may print it (ssl_c_s_dn…), as haproxy keeps it."""


def _declare_verify(lib: Any) -> bool:
    try:
        lib.SSL_CTX_set_verify.restype = None
        lib.SSL_CTX_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, VerifyCallback]
        lib.SSL_CTX_get_verify_mode.restype = ctypes.c_int
        lib.SSL_CTX_get_verify_mode.argtypes = [ctypes.c_void_p]
        lib.X509_STORE_CTX_get_error.restype = ctypes.c_int
        lib.X509_STORE_CTX_get_error.argtypes = [ctypes.c_void_p]
        lib.X509_STORE_CTX_get_error_depth.restype = ctypes.c_int
        lib.X509_STORE_CTX_get_error_depth.argtypes = [ctypes.c_void_p]
        lib.X509_STORE_CTX_get_ex_data.restype = ctypes.c_void_p
        lib.X509_STORE_CTX_get_ex_data.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.SSL_get_ex_data_X509_STORE_CTX_idx.restype = ctypes.c_int
        lib.SSL_get_ex_data_X509_STORE_CTX_idx.argtypes = []
        lib.SSL_get_SSL_CTX.restype = ctypes.c_void_p
        lib.SSL_get_SSL_CTX.argtypes = [ctypes.c_void_p]
        lib.SSL_get_verify_result.restype = ctypes.c_long
        lib.SSL_get_verify_result.argtypes = [ctypes.c_void_p]
        lib.ERR_clear_error.restype = None
        lib.ERR_clear_error.argtypes = []
        lib.SSL_CTX_get_verify_callback.restype = ctypes.c_void_p
        lib.SSL_CTX_get_verify_callback.argtypes = [ctypes.c_void_p]
        lib.SSL_set_verify.restype = None
        lib.SSL_set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        lib.SSL_CTX_get0_param.restype = ctypes.c_void_p
        lib.SSL_CTX_get0_param.argtypes = [ctypes.c_void_p]
        lib.SSL_set1_param.restype = ctypes.c_int
        lib.SSL_set1_param.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.SSL_set1_host.restype = ctypes.c_int
        lib.SSL_set1_host.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.SSL_get_version.restype = ctypes.c_char_p
        lib.SSL_get_version.argtypes = [ctypes.c_void_p]
        lib.SSL_version.restype = ctypes.c_int
        lib.SSL_version.argtypes = [ctypes.c_void_p]
        lib.SSL_set_alpn_protos.restype = ctypes.c_int
        lib.SSL_set_alpn_protos.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_uint]
        lib.X509_STORE_CTX_get0_cert.restype = ctypes.c_void_p
        lib.X509_STORE_CTX_get0_cert.argtypes = [ctypes.c_void_p]
        lib.i2d_X509.restype = ctypes.c_int
        lib.i2d_X509.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p)]
    except AttributeError:
        return False
    return True


_VERIFY_OK = _LIB is not None and _declare_verify(_LIB)


def _ignores(spec: str | None) -> Any:
    """``all`` or a comma-separated list of X509_V_ERR numbers, as a predicate on an error code."""
    if not spec:
        return lambda err: False
    if spec == "all":
        return lambda err: True
    codes = {int(c) for c in spec.split(",") if c.strip().isdigit()}
    return codes.__contains__


def _der_of(store: int) -> bytes | None:
    """The DER of the certificate a verification is about (the leaf)."""
    cert = _LIB.X509_STORE_CTX_get0_cert(store)
    if not cert:
        return None
    size = _LIB.i2d_X509(cert, None)
    if size <= 0:
        return None
    buffer = ctypes.create_string_buffer(size)
    cursor = ctypes.c_char_p(ctypes.addressof(buffer))
    return buffer.raw if _LIB.i2d_X509(cert, ctypes.byref(cursor)) == size else None


def install_verify_callback(ctx: ssl.SSLContext, ca_ignore: str | None, crt_ignore: str | None) -> bool:
    """Record each handshake's verification errors (and the rejected certificate) and let through those
    the listener ignores.

    Python's ``verify_mode`` setter keeps the callback OpenSSL already has, so
    this may run before or after it.  False when OpenSSL cannot be reached.
    """
    pointer = _pointer(ctx)
    if pointer is None or not _VERIFY_OK:
        return False
    ignore_ca, ignore_crt = _ignores(ca_ignore), _ignores(crt_ignore)
    index = _LIB.SSL_get_ex_data_X509_STORE_CTX_idx()

    def verify(ok: int, store: int) -> int:
        if ok:
            return 1
        ssl_pointer = _LIB.X509_STORE_CTX_get_ex_data(store, index)
        state = _VERIFY_STATE.setdefault(ssl_pointer or 0, [0, 0, 0])
        err, depth = _LIB.X509_STORE_CTX_get_error(store), _LIB.X509_STORE_CTX_get_error_depth(store)
        if depth > 0:
            if not state[0]:
                state[0], state[1] = err, depth
            ignored = ignore_ca(err)
        else:
            if not state[2]:
                state[2] = err
            ignored = ignore_crt(err)
        if ignored:
            _LIB.ERR_clear_error()
            return 1
        der = _der_of(store)
        if der is not None and ssl_pointer:
            _REJECTED_CERT[ssl_pointer] = der
        return 0

    callback = VerifyCallback(verify)
    ctx._luaproxy_verify = callback  # type: ignore[attr-defined]  # OpenSSL keeps a pointer: keep it alive
    _LIB.SSL_CTX_set_verify(pointer, _LIB.SSL_CTX_get_verify_mode(pointer), callback)
    return True


def _ssl_pointer(tls: Any) -> int | None:
    """The SSL* of a TLS socket (checked: its SSL_CTX must be its context's)."""
    sslobj = getattr(tls, "_sslobj", None)
    if sslobj is None or not _VERIFY_OK:
        return None
    pointer = ctypes.c_void_p.from_address(id(sslobj) + object.__basicsize__ + ctypes.sizeof(ctypes.c_void_p)).value
    if not pointer or _LIB.SSL_get_SSL_CTX(pointer) != _pointer(tls.context):
        return None
    return pointer


def set_alpn(tls: Any, protocols: list[str]) -> bool:
    """Offer *protocols* by ALPN on this connection only, whatever its context offers."""
    pointer = _ssl_pointer(tls)
    if pointer is None:
        return False
    wire = b"".join(bytes([len(name)]) + name.encode("ascii") for name in protocols)
    return _LIB.SSL_set_alpn_protos(pointer, wire, len(wire)) == 0


SSL_CTRL_GET_MIN_PROTO_VERSION, SSL_CTRL_GET_MAX_PROTO_VERSION = 130, 131


def follow_context(tls: Any) -> bool:
    """After the SNI callback moved *tls* to another context: verify as that context says (mode, callback,
    CRL flags), as haproxy does for a crt-list line's ``verify``, ``ca-file`` and ``crl-file``; OpenSSL only
    switches the certificate and the CA store.  False when the version already negotiated is outside the
    context's ``ssl-min-ver``/``ssl-max-ver`` (haproxy applies a crt-list line's before OpenSSL picks it, so
    the handshake fails there too)."""
    pointer = _ssl_pointer(tls)
    if pointer is None:
        return True
    ctx = _LIB.SSL_get_SSL_CTX(pointer)
    _LIB.SSL_set1_param(pointer, _LIB.SSL_CTX_get0_param(ctx))
    _LIB.SSL_set_verify(pointer, _LIB.SSL_CTX_get_verify_mode(ctx), _LIB.SSL_CTX_get_verify_callback(ctx))
    version = _LIB.SSL_version(pointer)
    low = _LIB.SSL_CTX_ctrl(ctx, SSL_CTRL_GET_MIN_PROTO_VERSION, 0, None)
    high = _LIB.SSL_CTX_ctrl(ctx, SSL_CTRL_GET_MAX_PROTO_VERSION, 0, None)
    return not ((low and version < low) or (high and version > high))


def take_verify_result(tls: Any) -> tuple[int, int, int, int] | None:
    """(verify result, CA error, its depth, certificate error) of a finished handshake, forgotten here."""
    pointer = _ssl_pointer(tls)
    if pointer is None:
        return None
    ca_err, ca_depth, crt_err = _VERIFY_STATE.pop(pointer, (0, 0, 0))
    return int(_LIB.SSL_get_verify_result(pointer)), ca_err, ca_depth, crt_err


def forget_verify_state(tls: Any) -> bytes | None:
    """A handshake that failed: drop what its callback recorded; the DER of the certificate it rejected."""
    pointer = _ssl_pointer(tls)
    if pointer is None:
        return None
    _VERIFY_STATE.pop(pointer, None)
    return _REJECTED_CERT.pop(pointer, None)


def _declare_secrets(lib: Any) -> bool:
    try:
        for name in ("SSL_get_client_random", "SSL_get_server_random", "SSL_SESSION_get_master_key"):
            getattr(lib, name).restype = ctypes.c_size_t
            getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.SSL_get_session.restype = ctypes.c_void_p
        lib.SSL_get_session.argtypes = [ctypes.c_void_p]
    except AttributeError:
        return False
    return True


_SECRETS_OK = _VERIFY_OK and _declare_secrets(_LIB)


def handshake_secret(tls: Any, which: str) -> bytes | None:
    """``client_random``, ``server_random`` or ``session_key`` (the session's master key) of a TLS socket, as
    ``ssl_fc_client_random`` & co. give them; None when there is none (or OpenSSL cannot be reached)."""
    pointer = _ssl_pointer(tls)
    if pointer is None or not _SECRETS_OK:
        return None
    buffer = ctypes.create_string_buffer(64)
    if which == "session_key":
        session = _LIB.SSL_get_session(pointer)
        size = _LIB.SSL_SESSION_get_master_key(session, buffer, len(buffer)) if session else 0
    else:
        getter = _LIB.SSL_get_client_random if which == "client_random" else _LIB.SSL_get_server_random
        size = getter(pointer, buffer, len(buffer))
    return buffer.raw[:size] or None


def check_host_in_handshake(tls: Any, name: str) -> bool:
    """``verifyhost NAME``: OpenSSL checks the server's certificate against NAME while it verifies the chain,
    so a mismatch fails the handshake itself and the server sees the alert, as with haproxy."""
    pointer = _ssl_pointer(tls)
    return pointer is not None and _LIB.SSL_set1_host(pointer, name.encode()) == 1


def protocol_version(tls: Any) -> str | None:
    """The protocol version negotiated so far (``TLSv1.2``), even when the handshake failed after the
    ServerHello (Python's ``version()`` answers only once it succeeded)."""
    pointer = _ssl_pointer(tls)
    if pointer is None:
        return None
    version = _LIB.SSL_get_version(pointer)
    return version.decode() if version else None


# OCSP stapling: Python's ssl module has no API for it (neither side; python/cpython#88946 asks for the client one).

SSL_CTRL_SET_TLSEXT_STATUS_REQ_CB = 63
SSL_CTRL_SET_TLSEXT_STATUS_REQ_OCSP_RESP = 71
SSL_TLSEXT_ERR_OK, SSL_TLSEXT_ERR_NOACK = 0, 3
StatusCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_STAPLED: dict[int, Any] = {}
"""SSL_CTX* → the Certificate whose OCSP response its handshakes staple (read at each handshake, so
``set ssl ocsp-response`` takes effect at once); an entry leaves with its context."""


def _declare_stapling(lib: Any) -> bool:
    try:
        lib.SSL_CTX_callback_ctrl.restype = ctypes.c_long
        lib.SSL_CTX_callback_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        lib.SSL_ctrl.restype = ctypes.c_long
        lib.SSL_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
        lib.CRYPTO_malloc.restype = ctypes.c_void_p
        lib.CRYPTO_malloc.argtypes = [ctypes.c_size_t, ctypes.c_char_p, ctypes.c_int]
        lib.CRYPTO_free.restype = None
        lib.CRYPTO_free.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    except AttributeError:
        return False
    return True


_STAPLING_OK = _VERIFY_OK and _declare_stapling(_LIB)


def _status(ssl_pointer: int, arg: int) -> int:
    """OpenSSL asks for the response to staple (the client sent status_request): a copy in memory OpenSSL
    allocated, since it frees it after the handshake."""
    cert = _STAPLED.get(_LIB.SSL_get_SSL_CTX(ssl_pointer) or 0)
    response = getattr(cert, "ocsp", None)
    if response is None:
        return SSL_TLSEXT_ERR_NOACK
    der = response.der
    buffer = _LIB.CRYPTO_malloc(len(der), b"ocsp", 0)
    if not buffer:
        return SSL_TLSEXT_ERR_NOACK
    ctypes.memmove(buffer, der, len(der))
    if _LIB.SSL_ctrl(ssl_pointer, SSL_CTRL_SET_TLSEXT_STATUS_REQ_OCSP_RESP, len(der), buffer) != 1:
        _LIB.CRYPTO_free(buffer, b"ocsp", 0)
        return SSL_TLSEXT_ERR_NOACK
    return SSL_TLSEXT_ERR_OK


_STATUS_CALLBACK = StatusCallback(_status)


def staple_ocsp(ctx: ssl.SSLContext, cert: Any) -> bool:
    """Staple *cert*'s OCSP response (its ``ocsp`` attribute, when set) in the handshakes *ctx* serves;
    False when OpenSSL cannot be reached."""
    pointer = _pointer(ctx)
    if pointer is None or not _STAPLING_OK:
        return False
    _LIB.SSL_CTX_callback_ctrl(pointer, SSL_CTRL_SET_TLSEXT_STATUS_REQ_CB,
                               ctypes.cast(_STATUS_CALLBACK, ctypes.c_void_p))
    _STAPLED[pointer] = cert
    weakref.finalize(ctx, _STAPLED.pop, pointer, None)
    return True


# Key logging (``tune.ssl.keylog on``): Python's ssl module only writes a key-log file, for every context alike.

KeylogCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
_KEYLOG: dict[int, dict[str, str]] = {}
"""SSL* → label → secret (hex) of a handshake in progress, taken when it ends."""


def _keylog(ssl_pointer: int, line: bytes) -> None:
    label, _, rest = line.decode("ascii", "replace").partition(" ")
    _KEYLOG.setdefault(ssl_pointer, {})[label] = rest.rpartition(" ")[2]


_KEYLOG_CALLBACK = KeylogCallback(_keylog)


def _declare_keylog(lib: Any) -> bool:
    try:
        lib.SSL_CTX_set_keylog_callback.restype = None
        lib.SSL_CTX_set_keylog_callback.argtypes = [ctypes.c_void_p, KeylogCallback]
    except AttributeError:
        return False
    return True


_KEYLOG_OK = _VERIFY_OK and _declare_keylog(_LIB)


def install_keylog(ctx: ssl.SSLContext) -> bool:
    """Keep the TLS secrets of *ctx*'s handshakes for ``ssl_fc_*_secret``; False when OpenSSL cannot be reached."""
    pointer = _pointer(ctx)
    if pointer is None or not _KEYLOG_OK:
        return False
    _LIB.SSL_CTX_set_keylog_callback(pointer, _KEYLOG_CALLBACK)
    return True


def take_keylog(tls: Any) -> dict[str, str]:
    """The secrets logged during *tls*'s handshake, by SSLKEYLOGFILE label, forgotten here."""
    pointer = _ssl_pointer(tls)
    return _KEYLOG.pop(pointer, {}) if pointer is not None else {}


# A session cache shared by the workers (worker.tls.sessioncache), through OpenSSL's external cache callbacks.

NewSessionCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
RemoveSessionCallback = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
GetSessionCallback = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_char), ctypes.c_int,
                                      ctypes.POINTER(ctypes.c_int))


def _declare_sessions(lib: Any) -> bool:
    try:
        lib.SSL_CTX_sess_set_new_cb.restype = None
        lib.SSL_CTX_sess_set_new_cb.argtypes = [ctypes.c_void_p, NewSessionCallback]
        lib.SSL_CTX_sess_set_remove_cb.restype = None
        lib.SSL_CTX_sess_set_remove_cb.argtypes = [ctypes.c_void_p, RemoveSessionCallback]
        lib.SSL_CTX_sess_set_get_cb.restype = None
        lib.SSL_CTX_sess_set_get_cb.argtypes = [ctypes.c_void_p, GetSessionCallback]
        lib.i2d_SSL_SESSION.restype = ctypes.c_int
        lib.i2d_SSL_SESSION.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p)]
        lib.d2i_SSL_SESSION.restype = ctypes.c_void_p
        lib.d2i_SSL_SESSION.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]
        lib.SSL_SESSION_get_id.restype = ctypes.POINTER(ctypes.c_char)
        lib.SSL_SESSION_get_id.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint)]
    except AttributeError:
        return False
    return True


_SESSIONS_OK = _LIB is not None and _declare_sessions(_LIB)


def _session_id(session: int) -> bytes:
    size = ctypes.c_uint()
    data = _LIB.SSL_SESSION_get_id(session, ctypes.byref(size))
    return ctypes.string_at(data, size.value) if data else b""


def _session_der(session: int) -> bytes | None:
    size = _LIB.i2d_SSL_SESSION(session, None)
    if size <= 0:
        return None
    buffer = ctypes.create_string_buffer(size)
    cursor = ctypes.c_char_p(ctypes.addressof(buffer))
    return buffer.raw if _LIB.i2d_SSL_SESSION(session, ctypes.byref(cursor)) == size else None


def share_sessions(ctx: ssl.SSLContext, cache: Any, namespace: bytes) -> bool:
    """Write *ctx*'s new sessions to *cache* (a SharedSessionCache) under *namespace* (the listener's, so that
    a session never resumes on another listener) and look there when OpenSSL's own cache misses; False when
    OpenSSL cannot be reached."""
    pointer = _pointer(ctx)
    if pointer is None or not _SESSIONS_OK:
        return False

    def new(ssl_pointer: int, session: int) -> int:
        der = _session_der(session)
        if der is not None:
            cache.store(namespace + _session_id(session), der)
        return 0  # OpenSSL keeps its reference

    def get(ssl_pointer: int, data: Any, size: int, copy: Any) -> int | None:
        der = cache.find(namespace + ctypes.string_at(data, size))
        if der is None:
            return None
        buffer = ctypes.create_string_buffer(der, len(der))
        cursor = ctypes.c_char_p(ctypes.addressof(buffer))
        copy[0] = 0  # the new session's only reference goes to OpenSSL
        return _LIB.d2i_SSL_SESSION(None, ctypes.byref(cursor), len(der)) or None

    def remove(ctx_pointer: int, session: int) -> None:
        cache.remove(namespace + _session_id(session))

    callbacks = (NewSessionCallback(new), GetSessionCallback(get), RemoveSessionCallback(remove))
    ctx._luaproxy_sessions = callbacks  # type: ignore[attr-defined]  # OpenSSL keeps pointers: keep them alive
    _LIB.SSL_CTX_sess_set_new_cb(pointer, callbacks[0])
    _LIB.SSL_CTX_sess_set_get_cb(pointer, callbacks[1])
    _LIB.SSL_CTX_sess_set_remove_cb(pointer, callbacks[2])
    return True
