"""What a peers agent tells the master about its sessions: a snapshot board in shared memory.

The master makes one board per ``peers`` section before it forks the agent.
The agent publishes a JSON snapshot of its peers (state, addresses, counters,
what each table pushed and learnt) a few times a second; ``show peers`` and the
peers metrics read the latest one on demand, so the master never waits for the
agent and nothing queues up when nobody asks.  A sequence word around each
write (odd while writing) lets the reader detect a torn copy and retry.
"""

from __future__ import annotations

import json
import mmap
import struct
from typing import Any

SIZE = 1 << 18
_HEAD = struct.Struct("<QI")  # sequence, length
READ_TRIES = 50


class StatusBoard:
    def __init__(self, size: int = SIZE) -> None:
        self.mem = mmap.mmap(-1, size)
        self.capacity = size - _HEAD.size

    def publish(self, snapshot: dict[str, Any]) -> bool:
        """Write *snapshot* (the agent's side); False when it does not fit (the board keeps the last one)."""
        data = json.dumps(snapshot, separators=(",", ":")).encode()
        if len(data) > self.capacity:
            return False
        seq = _HEAD.unpack_from(self.mem, 0)[0]
        _HEAD.pack_into(self.mem, 0, seq + 1, 0)
        self.mem[_HEAD.size:_HEAD.size + len(data)] = data
        _HEAD.pack_into(self.mem, 0, seq + 2, len(data))
        return True

    def read(self) -> dict[str, Any] | None:
        """The latest snapshot (the master's side), or None before the first one."""
        for _ in range(READ_TRIES):
            seq, length = _HEAD.unpack_from(self.mem, 0)
            if seq == 0:
                return None
            if seq % 2:
                continue
            data = self.mem[_HEAD.size:_HEAD.size + length]
            if _HEAD.unpack_from(self.mem, 0)[0] == seq:
                return json.loads(data)
        return None
