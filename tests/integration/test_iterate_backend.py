"""Reads without a ceiling, on both backends: ``iterate`` returns each row exactly once
(with a filter, exactly the matching ones), ``get`` takes 20,000 ids, ``count`` and
``delete(filter)`` are exact at 20,000 matching rows, and the LangChain / LlamaIndex reads
built on them pass Milvus's 16,384-row query window."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from milvus_rag import AsyncMilvusStore, MilvusStore, Record
from milvus_rag.client.errors import ConfigError
from tests.backends import Backend
from tests.conftest import new_name

pytestmark = pytest.mark.integration

DIM = 4


def make_rows(n: int, *, a: int, seed: int = 0) -> list[Record]:
    """``n`` rows with random ids; the first ``a`` have metadata grp "a", the rest "b"."""
    rng = random.Random(seed)
    ids = rng.sample(range(10**9), n)
    vecs = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return [
        Record(
            id=f"id-{ids[i]:09d}",
            text=f"t{i}",
            vector=vecs[i],
            metadata={"grp": "a" if i < a else "b", "n": i},
        )
        for i in range(n)
    ]


# --- small: many pages, both APIs --------------------------------------------------------


def test_iterate_walks_many_pages_each_row_once(
    make_store: Callable[..., MilvusStore],
) -> None:
    store = make_store(dim=DIM, enable_bm25=False)
    data = make_rows(2500, a=900)
    store.upsert(data)
    want = {r.id: r for r in data}
    got = list(store.iterate(batch_size=100))
    assert len(got) == len(data) and {r.id for r in got} == set(want)
    assert [r.id for r in got] == sorted(want)  # id order
    assert all(r.text == want[r.id].text and r.metadata == want[r.id].metadata for r in got)
    assert all(r.vector is None for r in got)
    ids = list(store.iterate({"grp": "a"}, batch_size=128, output="ids"))
    assert sorted(ids) == sorted(r.id for r in data[:900])
    with_vec = next(iter(store.iterate(batch_size=7, with_vectors=True)))
    assert np.allclose(with_vec.vector, want[with_vec.id].vector, atol=1e-6)


def test_sync_iterate_stops_cleanly_and_the_store_works_after(
    make_store: Callable[..., MilvusStore],
) -> None:
    store = make_store(dim=DIM, enable_bm25=False)
    store.upsert(make_rows(300, a=300))
    it = store.iterate(batch_size=50)
    first = [next(it) for _ in range(60)]
    it.close()  # type: ignore[attr-defined]
    assert len({r.id for r in first}) == 60
    assert store.count() == 300
    assert sum(1 for _ in store.iterate(batch_size=50)) == 300


async def test_async_iterate_and_pages(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    store = make_async_store(dim=DIM, enable_bm25=False)
    data = make_rows(700, a=200)
    await store.upsert(data)
    got = [r.id async for r in store.iterate({"grp": "b"}, batch_size=64)]
    assert sorted(got) == sorted(r.id for r in data[200:])
    sizes = [len(p) async for p in store.iterate_pages(batch_size=300, output="ids")]
    assert sum(sizes) == 700 and max(sizes) <= 300
    assert [r async for r in store.iterate({"grp": "none"})] == []


async def test_iterate_pages_resumes_after_an_id(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    store = make_async_store(dim=DIM, enable_bm25=False)
    data = make_rows(400, a=150)
    await store.upsert(data)
    ids = sorted(r.id for r in data)
    after = ids[123]
    got = [
        i async for p in store.iterate_pages(batch_size=50, output="ids", after=after) for i in p
    ]
    assert got == ids[124:]
    a_ids = sorted(r.id for r in data[:150])
    got_a = [
        r.id async for p in store.iterate_pages({"grp": "a"}, batch_size=7, after=after) for r in p
    ]
    assert got_a == [i for i in a_ids if i > after]
    assert [p async for p in store.iterate_pages(after=ids[-1])] == []


def test_iterate_on_an_empty_collection_and_bad_arguments(
    make_store: Callable[..., MilvusStore],
) -> None:
    store = make_store(dim=DIM)
    assert list(store.iterate()) == []
    with pytest.raises(ConfigError, match="batch_size"):
        list(store.iterate(batch_size=0))
    with pytest.raises(ConfigError, match="output"):
        list(store.iterate(output="rows"))  # type: ignore[call-overload]


# --- past the query window ---------------------------------------------------------------

# Every count below is past Milvus's 16,384-row query window (a query without a cursor stops
# at 16,383 rows on a Milvus Lite 2.5 file), and a walk takes several pages.
N_ROWS, N_MATCH = 25_000, 20_000
BIG_BATCH = 10_000  # three pages: the Lite 3 server scans every row per query


@pytest.fixture(scope="module")
def big(backend: Backend) -> Iterator[tuple[MilvusStore, list[Record]]]:
    store = MilvusStore(
        backend.uri,
        token=backend.token or None,
        collection_name=new_name("big"),
        dim=DIM,
        enable_bm25=False,
    )
    data = make_rows(N_ROWS, a=N_MATCH, seed=3)
    store.upsert(data)
    store.flush()
    try:
        yield store, data
    finally:
        try:
            store.drop()
        finally:
            store.close()


@pytest.mark.slow
def test_iterate_25000_rows_each_once_and_the_filter_exactly(
    big: tuple[MilvusStore, list[Record]],
) -> None:
    store, data = big
    ids = list(store.iterate(batch_size=BIG_BATCH, output="ids"))
    assert len(ids) == N_ROWS and set(ids) == {r.id for r in data}
    matching = [r.id for r in store.iterate({"grp": "a"}, batch_size=BIG_BATCH)]
    assert len(matching) == N_MATCH and set(matching) == {r.id for r in data[:N_MATCH]}


@pytest.mark.slow
def test_count_is_exact_at_20000_matching_rows(big: tuple[MilvusStore, list[Record]]) -> None:
    store, _ = big
    assert store.count() == N_ROWS
    assert store.count({"grp": "a"}) == N_MATCH
    assert store.count({"grp": "b"}) == N_ROWS - N_MATCH


@pytest.mark.slow
def test_get_with_20000_ids_in_the_order_asked(big: tuple[MilvusStore, list[Record]]) -> None:
    store, data = big
    asked = [r.id for r in random.Random(1).sample(data, 20_000)] + ["missing"]
    got = store.get(asked)
    assert [r.id for r in got] == asked[:-1]


@pytest.mark.slow
def test_langchain_get_by_ids_past_the_query_window(
    big: tuple[MilvusStore, list[Record]],
) -> None:
    from milvus_rag.integrations.langchain import MilvusVectorStore
    from tests.fakes import FakeLangChainEmbeddings

    store, data = big
    lc = MilvusVectorStore(FakeLangChainEmbeddings(dim=DIM), store=store, retrieval_mode="dense")
    asked = [r.id for r in data[1000:21000]]
    docs = lc.get_by_ids(asked)
    assert [d.id for d in docs] == asked
    assert docs[0].metadata["n"] == 1000


@pytest.mark.slow
def test_llama_index_get_nodes_with_filters_past_the_query_window(
    big: tuple[MilvusStore, list[Record]],
) -> None:
    from llama_index.core.vector_stores.types import ExactMatchFilter, MetadataFilters

    from milvus_rag.integrations.llama_index import MilvusVectorStore

    store, data = big
    li = MilvusVectorStore(store=store)
    nodes = li.get_nodes(filters=MetadataFilters(filters=[ExactMatchFilter(key="grp", value="a")]))
    assert len(nodes) == N_MATCH
    assert {n.node_id for n in nodes} == {r.id for r in data[:N_MATCH]}


@pytest.mark.slow
def test_a_client_evaluated_filter_is_exact_past_the_query_window(
    big: tuple[MilvusStore, list[Record]],
) -> None:
    """``$exists`` and a negated range: Milvus Lite 2.5 cannot express them, so the store
    sends a superset and checks each row client-side, reading every candidate page by page
    (25,000 here, past the 16,384-row window); servers evaluate the same filter themselves."""
    store, data = big
    flt = {"$and": [{"n": {"$exists": True}}, {"$not": {"n": {"$lt": 5_000}}}]}
    want = {r.id for r in data if r.metadata["n"] >= 5_000}
    assert store.count(flt) == len(want) == N_ROWS - 5_000
    assert {r.id for r in store.iterate(flt, batch_size=BIG_BATCH)} == want
    got = store.query(flt, limit=10)
    assert len(got) == 10 and all(r.id in want and r.text for r in got)


@pytest.mark.slow
def test_delete_by_a_filter_matching_20000_rows_leaves_none(
    big: tuple[MilvusStore, list[Record]],
) -> None:
    """Last in the module: it empties the shared collection's "a" rows."""
    store, _ = big
    assert store.delete(filter={"grp": "a"}) == N_MATCH
    assert store.count({"grp": "a"}) == 0
    assert store.count() == N_ROWS - N_MATCH
    assert list(store.iterate({"grp": "a"}, batch_size=BIG_BATCH)) == []


def test_async_iterate_runs_in_two_event_loops(backend: Backend) -> None:
    store = AsyncMilvusStore(
        backend.uri, token=backend.token or None, collection_name=new_name(), dim=DIM
    )

    async def fill() -> None:
        await store.upsert(make_rows(120, a=0))

    async def walk() -> int:
        return len([r async for r in store.iterate(batch_size=50)])

    try:
        asyncio.run(fill())
        assert asyncio.run(walk()) == 120
    finally:

        async def cleanup() -> None:
            await store.drop()
            await store.aclose()

        asyncio.run(cleanup())
