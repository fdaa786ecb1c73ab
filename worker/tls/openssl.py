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
