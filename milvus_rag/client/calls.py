"""One backend call of a store: a pooled client, bounded retries of transient failures,
one recovery from a collection dropped (or released) behind the store's back, and the
call's deadline.

Example:
    >>> # rows = await call(pool, connection, "docs", "query", lambda c: c.query(...), ensure)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from milvus_rag.client.config import ConnectionConfig
from milvus_rag.client.errors import BackendError, is_missing_collection, is_released_collection
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


async def within(aw: Awaitable[T], timeout: float | None, operation: str, collection: str) -> T:
    """``await aw``, cancelled after ``timeout`` seconds (``None``: no deadline) with a
    :class:`BackendError` that says so (not retried: as pymilvus's own time-out).

    Python 3.11+: ``asyncio.timeout``'s way (one timer that cancels the running task; the
    task's cancel count tells the deadline's cancellation from another), without its
    context manager's objects and coroutines (every backend call has a deadline)."""
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
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        handle = task.get_loop().call_later(timeout, expire)
        try:
            result = await aw
        except asyncio.CancelledError:
            handle.cancel()
            if not (expired and task.uncancel() <= cancelling):
                raise  # cancelled by someone else (too)
        except BaseException:
            handle.cancel()
            if expired:
                task.uncancel()
            raise
        else:
            handle.cancel()
            if expired:
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
