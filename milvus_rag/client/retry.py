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


async def with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    operation: str,
    collection: str,
    retries: int,
    backoff: float,
) -> T:
    """Run ``fn``; errors are mapped (:func:`map_backend_error`), unavailable ones retried."""
    attempt = 0
    while True:
        try:
            return await fn()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            err = map_backend_error(e, operation, collection)
            if (
                not isinstance(err, BackendUnavailableError)
                or not err.retryable
                or attempt >= retries
            ):
                raise err from (None if err is e else e)
            delay = min(2.0, backoff * (2**attempt)) * (0.5 + random.random() / 2)
            log.debug(
                "%s on %r failed (%s); retry %d in %.2f s",
                operation,
                collection,
                type(e).__name__,
                attempt + 1,
                delay,
            )
            attempt += 1
            await asyncio.sleep(delay)
