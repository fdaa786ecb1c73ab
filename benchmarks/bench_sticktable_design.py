"""The measurements behind the stick table's design (run by hand): µs per operation.

    python benchmarks/bench_sticktable_design.py

Compares what a cross-process exact counter could cost: a POSIX semaphore
(``multiprocessing.Lock``), ``fcntl`` record locks and ``flock`` around an
update of shared memory, per-worker columns summed by readers (no lock), and
asking an owner process over a socketpair (the master-owned design).
"""

from __future__ import annotations

import fcntl
import mmap
import multiprocessing
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable

WORKERS = 8


def per_call(fn: Callable[[], object], rounds: int = 100_000, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(rounds):
            fn()
        best = min(best, (time.process_time() - start) / rounds * 1e6)
    return best


def main() -> int:
    shared = mmap.mmap(-1, 1 << 16, flags=mmap.MAP_SHARED)
    words = memoryview(shared).cast("q")
    lock = multiprocessing.Lock()

    def semaphore() -> None:
        lock.acquire(True, 1.0)
        words[5] += 1
        lock.release()

    with tempfile.NamedTemporaryFile(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as handle:
        fd = handle.fileno()

        def record_lock() -> None:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            words[5] += 1
            fcntl.lockf(fd, fcntl.LOCK_UN)

        def whole_file_lock() -> None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            words[5] += 1
            fcntl.flock(fd, fcntl.LOCK_UN)

        print(f"semaphore (multiprocessing.Lock) + update: {per_call(semaphore):.2f} us")
        print(f"fcntl.lockf + update:                      {per_call(record_lock):.2f} us")
        print(f"flock + update:                            {per_call(whole_file_lock):.2f} us")

    def column_write() -> None:
        words[64 + 3] += 1

    def column_sum() -> int:
        return sum(words[64 : 64 + WORKERS])

    print(f"per-worker column: write {per_call(column_write):.2f} us, sum of {WORKERS} {per_call(column_sum):.2f} us "
          "(the key index still needs a lock)")
    ours, owner = socket.socketpair()

    def serve() -> None:
        while data := owner.recv(64):
            owner.send(data)

    threading.Thread(target=serve, daemon=True).start()

    def round_trip() -> None:
        ours.send(b"inc 127.0.0.1 http_req")
        ours.recv(64)

    start = time.perf_counter()
    for _ in range(20_000):
        round_trip()
    print(f"ask the owner over a socketpair: {(time.perf_counter() - start) / 20_000 * 1e6:.2f} us (wall)")
    ours.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
