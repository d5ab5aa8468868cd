"""One backend call of a store: a pooled client, bounded retries of transient failures,
and one recovery from a collection dropped (or released) behind the store's back.

Example:
    >>> # rows = await call(pool, connection, "docs", "query", lambda c: c.query(...), ensure)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from milvus_rag.client.config import ConnectionConfig
from milvus_rag.client.errors import BackendError, is_missing_collection, is_released_collection
from milvus_rag.client.pool import ClientPool
from milvus_rag.client.retry import with_retries
from milvus_rag.client.schema import SCHEMA_CACHE

Fn = Callable[[Any], Awaitable[Any]]


async def call(
    pool: ClientPool,
    connection: ConnectionConfig,
    name: str,
    operation: str,
    fn: Fn,
    ensure: Callable[[], Awaitable[object]],
) -> Any:
    """``fn(client)`` on collection ``name``, errors mapped and transient ones retried.

    Dropped behind our back (another process or client): forget the cached schema,
    ``ensure()`` (recreate or re-check the collection), and try once more.
    """
    try:
        return await _once(pool, connection, name, operation, fn)
    except BackendError as e:
        if operation == "ensure_collection" or not (
            is_missing_collection(e) or is_released_collection(e)
        ):
            raise
        SCHEMA_CACHE.invalidate(connection.key, name)
        await ensure()
        return await _once(pool, connection, name, operation, fn)


async def _once(
    pool: ClientPool, connection: ConnectionConfig, name: str, operation: str, fn: Fn
) -> Any:
    async def run() -> Any:
        client = await pool.get()
        return await fn(client)

    return await with_retries(
        run,
        operation=operation,
        collection=name,
        retries=connection.retries,
        backoff=connection.retry_backoff,
    )
