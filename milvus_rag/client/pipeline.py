"""The write pipeline: batch k+1 is prepared (embedded) while up to ``concurrency`` earlier
batches are being written. Knows nothing of Milvus: the store passes the two steps in.

Example:
    >>> import asyncio
    >>> async def write(batch: list[str]) -> list[str]:
    ...     return batch
    >>> asyncio.run(run_pipeline([["a"], ["b"]], None, write, 2))
    (['a', 'b'], None)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

B = TypeVar("B")
T = TypeVar("T")


async def off_loop(big: bool, fn: Callable[..., T], *args: Any) -> T:
    """Run CPU work of a large call (validating, planning batches) in a worker thread, a
    small one inline."""
    return await asyncio.to_thread(fn, *args) if big else fn(*args)


async def run_pipeline(
    batches: Sequence[B],
    prepare: Callable[[B], Awaitable[B]] | None,
    write: Callable[[B], Awaitable[list[str]]],
    concurrency: int,
) -> tuple[list[str], Exception | None]:
    """Prepare and write every batch; stop at the first failure.

    Returns the ids written (by batches that succeeded, including those in flight when the
    failure happened, which are awaited) and the first error, or None. Cancellation cancels
    the writes in flight and propagates.
    """
    written: list[str] = []
    pending: set[asyncio.Future[list[str]]] = set()
    error: Exception | None = None

    async def drain(until: int) -> None:
        nonlocal pending, error
        while len(pending) > until:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is None:
                    written.extend(task.result())
                elif error is None:
                    error = exc if isinstance(exc, Exception) else RuntimeError(str(exc))

    try:
        for batch in batches:
            if prepare is not None:
                try:
                    batch = await prepare(batch)
                except Exception as e:  # an embedder failure: keep what is in flight
                    error = error or e
                    break
            await drain(max(0, concurrency - 1))
            if error is not None:
                break
            pending.add(asyncio.ensure_future(write(batch)))
        await drain(0)
    except BaseException:
        for task in pending:
            task.cancel()
        raise
    return written, error
