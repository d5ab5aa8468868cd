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
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

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


class PerLoop(Generic[T]):
    """asyncio primitives bind to one loop: one ``make()`` per running loop, kept while the
    loop lives.

    Example:
        >>> locks = PerLoop(asyncio.Lock)
        >>> async def main() -> bool:
        ...     return locks.get() is locks.get()
        >>> asyncio.run(main())
        True
    """

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._items: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T]
        self._items = weakref.WeakKeyDictionary()
        #: the last loop asked for (weakly) and its item: every search asks, from one loop
        self._last: tuple[weakref.ref[asyncio.AbstractEventLoop], T] | None = None

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last[0]() is loop:
            return last[1]
        item = self._items.get(loop)
        if item is None:
            item = self._items[loop] = self._make()
        self._last = (weakref.ref(loop), item)
        return item
