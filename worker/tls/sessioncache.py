"""A TLS session cache shared by the workers, as haproxy's threads share one (``nbproc`` > 1).

OpenSSL keeps sessions per process: a client resuming by session ID (or,
under ``no-tls-tickets``, by a TLS 1.3 stateful ticket) that reaches another
worker would get a full handshake.  Every new session is also written here,
in memory mapped before the fork, and a worker whose own cache misses
looks here (``worker.tls.openssl.share_sessions`` wires OpenSSL's callbacks).

The cache is direct-mapped: a session's slot is a hash of its key (the
listener's namespace and the session ID), a newer session takes the slot of
an older one, and a session larger than a slot stays in its worker only.
There is no lock: each slot carries a checksum of its key and data, so a slot
read while another worker writes it is a miss, never a wrong session.
"""

from __future__ import annotations

import mmap
import struct

import xxhash

SLOT_SIZE = 1024
"""A session of a plain handshake is about 150 bytes in DER; one with a client certificate may not fit."""
_HEADER = struct.Struct("!QHH")  # checksum, key length, data length


class SharedSessionCache:
    """*slots* sessions in anonymous shared memory, made in the master so that every worker maps it."""

    def __init__(self, slots: int) -> None:
        self.slots = max(slots, 1)
        self.memory = mmap.mmap(-1, self.slots * SLOT_SIZE, flags=mmap.MAP_SHARED)

    def _offset(self, key: bytes) -> int:
        return xxhash.xxh64_intdigest(key) % self.slots * SLOT_SIZE

    def store(self, key: bytes, data: bytes) -> bool:
        """Keep *data* (a session in DER) under *key*; False when it does not fit in a slot."""
        if _HEADER.size + len(key) + len(data) > SLOT_SIZE:
            return False
        offset = self._offset(key)
        body = key + data
        self.memory[offset : offset + _HEADER.size] = b"\0" * _HEADER.size  # readers miss while it changes
        self.memory[offset + _HEADER.size : offset + _HEADER.size + len(body)] = body
        self.memory[offset : offset + _HEADER.size] = _HEADER.pack(xxhash.xxh64_intdigest(body), len(key), len(data))
        return True

    def find(self, key: bytes) -> bytes | None:
        """The session stored under *key*, or None (not there, replaced, or being written)."""
        offset = self._offset(key)
        checksum, key_size, data_size = _HEADER.unpack_from(self.memory, offset)
        start = offset + _HEADER.size
        if key_size != len(key) or key_size + data_size > SLOT_SIZE - _HEADER.size:
            return None
        body = self.memory[start : start + key_size + data_size]
        if body[:key_size] != key or xxhash.xxh64_intdigest(body) != checksum:
            return None
        return body[key_size:]

    def remove(self, key: bytes) -> None:
        """Forget the session under *key* (OpenSSL dropped it: a failed or unclean connection)."""
        if self.find(key) is not None:
            offset = self._offset(key)
            self.memory[offset : offset + _HEADER.size] = b"\0" * _HEADER.size
