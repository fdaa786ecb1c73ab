"""The last invalid request each frontend received, for ``show errors``.

Like haproxy, a worker keeps one capture per proxy (the newest) and counts
every event; the master gathers them from every worker.  A capture is plain
data so it can cross the control socket.
"""

from __future__ import annotations

import time
from typing import Any

MAX_CAPTURE = 16384


class ErrorCaptures:
    def __init__(self) -> None:
        self.events = 0
        self.last: dict[str, dict[str, Any]] = {}

    def record(self, frontend: Any, src: str, data: bytes) -> None:
        """An invalid request on *frontend* from *src*: what the client had sent, as far as it was read."""
        self.last[frontend.name] = {"when": time.time(), "proxy": frontend.name, "id": frontend.id,
                                    "event": self.events, "src": src,
                                    "data": data[:MAX_CAPTURE].decode("latin-1")}
        self.events += 1

    def snapshot(self) -> dict[str, Any]:
        return {"events": self.events, "captures": list(self.last.values())}
