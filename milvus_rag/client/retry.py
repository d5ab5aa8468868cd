"""A bounded retry of transient (unavailable) failures, with capped exponential backoff."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from milvus_rag.client.errors import BackendUnavailableError, map_backend_error

log = logging.getLogger("milvus_rag")
T = TypeVar("T")


def retry_delay(
    e: Exception, attempt: int, *, operation: str, collection: str, retries: int, backoff: float
) -> float:
    """Seconds to wait before trying again after try ``attempt`` (from 0) failed with ``e``;
    raises ``e`` mapped (:func:`map_backend_error`) where it is not retried: not an
    unavailable error, not retryable, or ``retries`` spent. Call it in ``e``'s handler."""
    err = map_backend_error(e, operation, collection)
    if not isinstance(err, BackendUnavailableError) or not err.retryable or attempt >= retries:
        raise err from (None if err is e else e)
    delay = min(2.0, backoff * 2.0**attempt) * (0.5 + random.random() / 2)
    log.debug(
        "%s on %r failed (%s); retry %d in %.2f s",
        operation,
        collection,
        type(e).__name__,
        attempt + 1,
        delay,
    )
    return delay


async def with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    operation: str,
    collection: str,
    retries: int,
    backoff: float,
    attempt: int = 0,
) -> T:
    """Run ``fn``; errors are mapped (:func:`map_backend_error`), unavailable ones retried.
    ``attempt``: tries already made (a caller that made the first itself)."""
    while True:
        try:
            return await fn()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            delay = retry_delay(
                e,
                attempt,
                operation=operation,
                collection=collection,
                retries=retries,
                backoff=backoff,
            )
        attempt += 1
        await asyncio.sleep(delay)
