"""Searching with a client-side residual filter: fetch deeper until enough rows pass.

Where a backend cannot express part of a filter (NOT / EXISTS on Milvus Lite 2.5), the
search is sent with a relaxed expression (a superset) and each hit is checked with the
reference evaluator (:meth:`~milvus_rag.client.tenancy.Scope.admits`). :func:`deepen` asks
for ``start`` hits, then four times as many, until ``want`` hits pass, the backend returns
fewer than asked (the candidates ran out) or the 16,384-hit limit is reached. Hybrid RRF with
a residual fuses client-side over the filtered legs (see :mod:`milvus_rag.client.search`), so
that each leg ranks the same rows the server would rank under an exact filter.

Example:
    >>> import asyncio
    >>> from milvus_rag.client.records import Hit, Record
    >>> rows = [Hit(str(i), 1.0, 1.0, Record(str(i), "t")) for i in range(10)]
    >>> async def fetch(n: int) -> list[Hit]:
    ...     return rows[:n]
    >>> odd = lambda r: int(r.id) % 2 == 1
    >>> [h.id for h in asyncio.run(deepen(fetch, 3, odd, start=2))]
    ['1', '3', '5']
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from milvus_rag.client.records import Hit, Record

MAX_HITS = 16384
GROWTH = 4


async def deepen(
    fetch: Callable[[int], Awaitable[list[Hit]]],
    want: int,
    admits: Callable[[Record], bool],
    *,
    start: int,
    limit: int = MAX_HITS,
) -> list[Hit]:
    """The first ``want`` hits (in ``fetch``'s order) that ``admits``; ``fetch(n)`` returns
    the top ``n`` hits of the relaxed search."""
    n = max(1, min(limit, start))
    while True:
        hits = await fetch(n)
        passing = [h for h in hits if admits(h.record)]
        if len(passing) >= want or len(hits) < n or n >= limit:
            return passing[:want]
        n = min(limit, n * GROWTH)
