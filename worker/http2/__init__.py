"""HTTP/2 on both sides, built on the sans-I/O ``h2`` library (framing, HPACK, flow control).

A client connection is one :class:`~.session.H2Session`: a greenlet that owns the
socket and the h2 state machine.  Each request stream is an
:class:`~.stream.H2Stream`, the HTTP/1 :class:`~..http.stream.HttpStream` with
its client I/O replaced by a :class:`~.front.StreamFront`, so every stream runs
the same transaction path (rules, Lua, backends, logs) as an HTTP/1 request.
Towards servers, :class:`~.backend.H2ServerHttp` takes the place of the HTTP/1
client ``Connection`` of a ``ServerConnection``.
"""
