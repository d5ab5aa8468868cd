"""Process-wide named locks, usable from any thread and any event loop.

Example:
    >>> import asyncio
    >>> async def main() -> str:
    ...     async with process_lock("write", "/tmp/x.db"):
    ...         return "held"
    >>> asyncio.run(main())
    'held'
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

_named_locks: dict[tuple[object, ...], threading.Lock] = {}
_named_guard = threading.Lock()


@contextlib.asynccontextmanager
async def process_lock(*key: object) -> AsyncIterator[None]:
    """Hold the process-wide lock ``key`` without blocking the event loop.

    Polls (every 2 ms) rather than waiting in a worker thread, so a cancelled waiter never
    leaves the lock held. Used to serialise writes to one Milvus Lite file (single writer)
    and collection creation across stores, threads and loops.
    """
    with _named_guard:
        lock = _named_locks.setdefault(key, threading.Lock())
    while not lock.acquire(blocking=False):
        await asyncio.sleep(0.002)
    try:
        yield
    finally:
        lock.release()
