"""The TLS socket the streams get: gevent's SSLSocket made to fail like a plain socket.

The streams catch OSError around every socket call; gevent's SSLSocket raises
ValueError once closed, and its ``shutdown`` drops the TLS layer (a later
read would return raw records).  Here a closed socket raises OSError and
``shutdown(SHUT_WR)`` half-closes TCP while reads stay decrypted.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from typing import Any

from gevent import ssl as gssl

from . import openssl


class TlsSocket(gssl.SSLSocket):
    sni: str | None = None
    """The server name: what the client asked for (listener side) or what we sent (server side)."""
    local_cert: Any = None
    """The Certificate this side presented (worker.tls.certs), if any."""
    peer_x509: Any = None
    """The peer's certificate, parsed once on first use."""
    verify: tuple[int, int, int, int] | None = None
    """(verify result, first CA error, its depth, certificate error) of the client's certificate."""
    hello: Any = None
    """The peeked ClientHello, when the listener chooses among certificates of several key types."""
    capture: Any = None
    """What ``tune.ssl.capture-buffer-size`` kept of the ClientHello (worker.tls.clienthello.Capture)."""
    keylog: dict[str, str] | None = None
    """The handshake's secrets by SSLKEYLOGFILE label (``tune.ssl.keylog on``)."""
    owner: Any = None
    """The ServerTls that made this server connection, and its epoch then."""
    epoch: int = 0
    on_close: Any = None
    """Called with this socket before it closes (a server connection keeps its TLS 1.3 session then)."""
    handshake_error: Any = None
    """Why the handshake failed (worker.tls.errors.HandshakeError), for ``fc_err`` & co. and error-log-format."""
    host_checked: bool = False
    """OpenSSL checks ``verifyhost`` during the handshake (worker.tls.openssl.check_host_in_handshake)."""
    closed_info: tuple[Any, Any] = (None, None)
    """The version and cipher when it closed: a log line written after the close still prints them."""

    @property
    def stale(self) -> bool:
        """A server connection made with a certificate replaced since: not to be reused."""
        return self.owner is not None and self.owner.epoch != self.epoch

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        try:
            return super().recv(buflen, flags)
        except ValueError:
            raise OSError(errno.EBADF, "TLS socket closed") from None

    def sendall(self, data: Any, flags: int = 0) -> None:
        try:
            super().sendall(data, flags)
        except ValueError:
            raise OSError(errno.EBADF, "TLS socket closed") from None

    def version(self) -> str | None:
        return self.closed_info[0] if self._sslobj is None else self._sslobj.version()

    def cipher(self) -> Any:
        return self.closed_info[1] if self._sslobj is None else self._sslobj.cipher()

    def close(self) -> None:
        """Send close_notify first: OpenSSL drops from its session cache a session not shut down."""
        sslobj = self._sslobj
        if sslobj is not None:
            if self.on_close is not None:
                self.on_close(self)
            self._keep_info(sslobj)
            with contextlib.suppress(OSError, ValueError):
                sslobj.shutdown()
        super().close()

    def shutdown(self, how: int) -> None:
        if how == socket.SHUT_WR and self._sslobj is not None:
            gssl.socket.shutdown(self, how)
            return
        if self._sslobj is not None:
            self._keep_info(self._sslobj)
        super().shutdown(how)

    def _keep_info(self, sslobj: Any) -> None:
        """Python's ``version()`` answers only while OpenSSL says the handshake is finished, which a
        TLS 1.3 connection the peer is closing no longer is; OpenSSL's own answer still holds."""
        self.closed_info = (sslobj.version() or openssl.protocol_version(self), sslobj.cipher())


class TlsContext(gssl.SSLContext):
    sslsocket_class = TlsSocket
