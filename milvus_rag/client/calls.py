"""One backend call of a store: a pooled client, bounded retries of transient failures,
one recovery from a collection dropped (or released) behind the store's back, and the
call's deadline.

Example:
    >>> # rows = await call(pool, connection, "docs", "query", lambda c: c.query(...), ensure)
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from milvus_rag.client.config import ConnectionConfig
from milvus_rag.client.errors import BackendError, is_missing_collection, is_released_collection
from milvus_rag.client.locks import PerLoop
from milvus_rag.client.pool import ClientPool
from milvus_rag.client.retry import retry_delay, with_retries
from milvus_rag.client.schema import SCHEMA_CACHE

Fn = Callable[[Any], Awaitable[Any]]
T = TypeVar("T")
#: Python 3.11+: a deadline cancels the running task (``asyncio.timeout``'s way), no task of
#: its own; 3.10: ``asyncio.wait_for``
_UNCANCEL = hasattr(asyncio.Task, "uncancel")


async def call(
    pool: ClientPool,
    connection: ConnectionConfig,
    name: str,
    operation: str,
    fn: Fn,
    ensure: Callable[[], Awaitable[object]],
    *,
    timeout: float | None = None,
) -> Any:
    """``fn(client)`` on collection ``name``, errors mapped and transient ones retried.

    Dropped behind our back (another process or client): forget the cached schema,
    ``ensure()`` (recreate or re-check the collection), and try once more. ``timeout``
    (seconds): each try's deadline, enforced here (see :func:`within`) for an ``fn`` that
    gives pymilvus none (pymilvus runs a call with a ``timeout=`` in a task of its own).
    """
    try:
        client = pool.current()
        if client is None:  # the loop's first call: connect within the retries
            return await _once(pool, connection, name, operation, fn, timeout)
        # the first try here, not in nested coroutines (every call awaits through each)
        try:
            if timeout is None:
                return await fn(client)
            return await within(fn(client), timeout, operation, name)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            delay = retry_delay(
                e,
                0,
                operation=operation,
                collection=name,
                retries=connection.retries,
                backoff=connection.retry_backoff,
            )
        await asyncio.sleep(delay)
        return await _once(pool, connection, name, operation, fn, timeout, attempt=1)
    except BackendError as e:
        if operation == "ensure_collection" or not (
            is_missing_collection(e) or is_released_collection(e)
        ):
            raise
        SCHEMA_CACHE.invalidate(connection.key, name)
        await ensure()
        return await _once(pool, connection, name, operation, fn, timeout)


class _Deadlines:
    """The deadlines of one event loop's calls in flight, with one timer for the earliest.

    A call adds its entry (``[when, task, expired]``) and removes it when done: a dict
    insert and pop, where a timer of its own cost a ``TimerHandle`` made and cancelled per
    call (the connection's 60 s deadline is on every call; they end long before). When the
    timer fires it cancels the tasks whose deadline has passed and is set for the next
    deadline. Holds nothing of the loop (``PerLoop`` keeps one per loop, weakly).
    """

    __slots__ = ("calls", "timer_at")

    def __init__(self) -> None:
        self.calls: dict[int, list[Any]] = {}
        #: when the earliest timer set is due (``inf``: none)
        self.timer_at = math.inf

    def add(self, entry: list[Any], loop: asyncio.AbstractEventLoop) -> None:
        self.calls[id(entry)] = entry
        when = entry[0]
        if when < self.timer_at:  # (a timer set for later stays: it finds nothing due)
            self.timer_at = when
            loop.call_at(when, self._fire, when)

    def _fire(self, at: float) -> None:
        if at >= self.timer_at:  # the earliest timer (a later one may still be set)
            self.timer_at = math.inf
        due = max(at, asyncio.get_running_loop().time())
        later = math.inf
        for key, entry in list(self.calls.items()):
            if entry[0] <= due:
                del self.calls[key]
                entry[2] = True
                entry[1].cancel()
            elif entry[0] < later:
                later = entry[0]
        if later < self.timer_at:
            self.timer_at = later
            asyncio.get_running_loop().call_at(later, self._fire, later)


_DEADLINES: PerLoop[_Deadlines] = PerLoop(_Deadlines)


async def within(aw: Awaitable[T], timeout: float | None, operation: str, collection: str) -> T:
    """``await aw``, cancelled after ``timeout`` seconds (``None``: no deadline) with a
    :class:`BackendError` that says so (not retried: as pymilvus's own time-out).

    Python 3.11+: ``asyncio.timeout``'s way (a timer cancels the running task; the task's
    cancel count tells the deadline's cancellation from another), with one timer per
    loop for every call in flight (:class:`_Deadlines`) and no context manager."""
    if timeout is None:
        return await aw
    task: Any = asyncio.current_task() if _UNCANCEL else None  # (3.10 typing: no uncancel)
    if task is None:  # Python 3.10 (no Task.uncancel), or not in a task
        try:
            return await asyncio.wait_for(aw, timeout)
        except asyncio.TimeoutError:
            pass
    else:
        cancelling = task.cancelling()
        loop = task.get_loop()
        entry = [loop.time() + timeout, task, False]  # when, task, expired
        deadlines = _DEADLINES.get()
        deadlines.add(entry, loop)
        try:
            result = await aw
        except asyncio.CancelledError:
            deadlines.calls.pop(id(entry), None)
            if not (entry[2] and task.uncancel() <= cancelling):
                raise  # cancelled by someone else (too)
        except BaseException:
            deadlines.calls.pop(id(entry), None)
            if entry[2]:
                task.uncancel()
            raise
        else:
            deadlines.calls.pop(id(entry), None)
            if entry[2]:
                task.uncancel()
            return result
    raise BackendError(
        f"no answer within the timeout of {timeout:g} s: pass a larger timeout= (to the "
        "call, or to the store for every call)",
        operation=operation,
        collection=collection,
    )


async def _once(
    pool: ClientPool,
    connection: ConnectionConfig,
    name: str,
    operation: str,
    fn: Fn,
    timeout: float | None,
    attempt: int = 0,
) -> Any:
    """``fn(client)`` with the retries left after ``attempt`` tries."""

    async def run() -> Any:
        client = pool.current() or await pool.get()
        if timeout is None:
            return await fn(client)
        return await within(fn(client), timeout, operation, name)

    return await with_retries(
        run,
        operation=operation,
        collection=name,
        retries=connection.retries,
        backoff=connection.retry_backoff,
        attempt=attempt,
    )
