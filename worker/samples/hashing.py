"""HAProxy's 32-bit hash functions (hash.c), bit-exact, for converters and balancing.

All results are unsigned 32-bit ints; ``full_hash`` is Bob Jenkins' avalanche
step applied when a converter's ``avalanche`` argument is 1.
"""

from __future__ import annotations

import zlib

_M32 = 0xFFFFFFFF


def djb2(data: bytes) -> int:
    h = 5381
    for c in data:
        h = (h * 33 + c) & _M32
    return h


def sdbm(data: bytes) -> int:
    h = 0
    for c in data:
        h = (c + (h << 6) + (h << 16) - h) & _M32
    return h


def wt6(data: bytes) -> int:
    h0 = 0xA53C965A
    h1 = 0x5CA6953A
    step0 = 6
    step1 = 18
    for c in data:
        h0 = ~(h0 ^ c) & _M32
        h1 = ~(h1 + c) & _M32
        t = ((h1 << step0) | (h1 >> (32 - step0))) & _M32
        h1 = ((h0 << step1) | (h0 >> (32 - step1))) & _M32
        h0 = t
        t = ((h0 >> 16) ^ h1) & 0xFFFF
        step0 = t & 0x1F
        step1 = t >> 11
    return h0 ^ h1


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & _M32


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = _M32
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ _M32


def full_hash(a: int) -> int:
    """Avalanche a 32-bit hash (HAProxy's full_hash, including its final multiply)."""
    a = ((a + 0x7ED55D16) + (a << 12)) & _M32
    a = ((a ^ 0xC761C23C) ^ (a >> 19)) & _M32
    a = ((a + 0x165667B1) + (a << 5)) & _M32
    a = ((a + 0xD3A2646C) ^ (a << 9)) & _M32
    a = ((a + 0xFD7046C5) + (a << 3)) & _M32
    a = ((a ^ 0xB55A4F09) ^ (a >> 16)) & _M32
    return (a * 3221225473) & _M32  # spread over the tree: a prime close to 3/4 of 2^32
