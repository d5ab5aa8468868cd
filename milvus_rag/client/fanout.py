"""Fan-out retrieval: several query strings for one question, searched concurrently with
one search value and fused client-side by RRF. Both frameworks' ``FanOutRetriever`` (and
LangChain's ``fanout_search``) run this one implementation.

The rule for the query strings (:func:`fanout_queries`): the question itself first (when
``include_original``), then the queries given, then those a generator made; blank strings
are dropped and repeats keep their first place. No string left is an error.

Example:
    >>> fanout_queries("What is BM25?", given=["bm25 ranking"], generated=["What is BM25?", " "])
    ['What is BM25?', 'bm25 ranking']
    >>> fanout_queries("q", include_original=False, generated="a\\nb")
    ['a', 'b']
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from milvus_rag.client.errors import InvalidInputError
from milvus_rag.client.records import Hit
from milvus_rag.client.request import SearchRequest

if TYPE_CHECKING:
    from milvus_rag.client.store import AsyncMilvusStore

QueryGenerator = Callable[[str], Any]
"""A function or async function of the question returning query strings (a list, or one
string with one query per line)."""
EmbedQuery = Callable[[str], Awaitable[Sequence[float]]]
FillLegs = Callable[[SearchRequest, str], Awaitable[SearchRequest]]


def _strings(value: object, what: str) -> list[str]:
    if isinstance(value, str):  # one query per line (an LLM's raw output)
        return [line.strip() for line in value.splitlines()]
    if not isinstance(value, Sequence):
        raise InvalidInputError(f"{what} must be a list of str, got {type(value).__name__}")
    for q in value:
        if not isinstance(q, str):
            raise InvalidInputError(f"{what} must be str, got {type(q).__name__}: {q!r}")
    return list(value)


def fanout_queries(
    question: str,
    *,
    include_original: bool = True,
    given: Sequence[str] | None = None,
    generated: Sequence[str] | str = (),
) -> list[str]:
    """The distinct query strings searched for ``question`` (see the module docs)."""
    if isinstance(given, str):
        raise InvalidInputError("queries must be a list of str, not one str")
    strings = [question] if include_original else []
    strings += _strings(given or [], "queries")
    strings += _strings(generated, "generated queries")
    out = [q for q in dict.fromkeys(strings) if q.strip()]
    if not out:
        raise InvalidInputError(
            "no query strings: pass queries=, a query_generator, or include_original=True"
        )
    return out


async def generate_queries(generator: QueryGenerator | None, question: str) -> list[str] | str:
    """What ``generator`` makes of ``question``; a sync one runs in a worker thread."""
    if generator is None:
        return []
    if inspect.iscoroutinefunction(generator):
        out = await generator(question)
    else:
        out = await asyncio.to_thread(generator, question)
        if inspect.isawaitable(out):
            out = await out
    return out if isinstance(out, str) else _strings(out, "generated queries")


async def fanout_search(
    store: AsyncMilvusStore,
    template: SearchRequest,
    queries: Sequence[str],
    embed_query: EmbedQuery,
    *,
    k: int,
    rrf_k: int | None = None,
    fill: FillLegs | None = None,
) -> list[Hit]:
    """Search each of ``queries`` with ``template`` (its ``k`` per query; prepared, so the
    filter is compiled once), embedding them concurrently when the mode needs vectors, and
    fuse the lists by RRF into the top ``k``. ``fill(request, query)``: the request with its
    other legs' queries (a front's embedders of further vector fields)."""
    template = store.prepare(template)
    vectors: list[Sequence[float] | None] = [None] * len(queries)
    if template.needs_vector:
        vectors = list(await asyncio.gather(*(embed_query(q) for q in queries)))
    requests = [template.for_query(q, v) for q, v in zip(queries, vectors, strict=True)]
    if fill is not None:
        requests = list(await asyncio.gather(*(fill(r, q) for r, q in zip(requests, queries))))
    return await store.fanout_search(requests, k=k, rrf_k=rrf_k)
