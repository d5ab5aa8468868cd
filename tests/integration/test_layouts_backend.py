"""Collections in the langchain-milvus and llama-index-vector-stores-milvus field layouts,
created by milvus-rag (the adapters' vocabulary maps onto these settings) and reopened by a
store that names none of them: the layout is adopted, contradictions and unmappable schemas
are refused with the fix. (Collections the libraries create themselves: tests/compat.)"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymilvus import AsyncMilvusClient, DataType

from milvus_rag import AsyncMilvusStore, Record
from milvus_rag.client.errors import ConfigError, InvalidInputError, SchemaMismatchError
from milvus_rag.client.fusion import dense_relevance
from tests.backends import Backend

pytestmark = pytest.mark.integration

TYPED = {"source": "varchar", "year": "int64"}
LAYOUTS: dict[str, dict[str, Any]] = {
    "langchain-typed": dict(
        layout="langchain",
        id_field="pk",
        id_type="int64",
        auto_id=True,
        vector_field="vector",
        doc_id_field=None,
        metadata_field=None,
        metadata_fields=TYPED,
        metric="L2",
        enable_bm25=False,
    ),
    "langchain-dynamic": dict(
        layout="langchain",
        id_field="pk",
        vector_field="vector",
        doc_id_field=None,
        metadata_field=None,
        dynamic_field=True,
        metric="L2",
        enable_bm25=False,
    ),
    "langchain-json-bm25": dict(
        layout="langchain",
        id_field="pk",
        doc_id_field=None,
        metric="L2",
    ),
    "llama_index": dict(
        layout="llama_index",
        vector_field="embedding",
        metadata_field=None,
        dynamic_field=True,
        metric="IP",
        sparse_field="sparse_embedding",
    ),
}


def _records(auto: bool) -> list[Record]:
    return [
        Record(
            id="" if auto else f"r{i}",
            text=f"text {i} about {'cats' if i % 2 else 'dogs'}",
            vector=[1.0 - i / 10, i / 10, 0.0, 0.5],
            metadata={"source": f"s{i % 2}", "year": 2000 + i},
        )
        for i in range(6)
    ]


@pytest.mark.parametrize("name", list(LAYOUTS))
async def test_created_in_a_layout_then_adopted_on_reopen(
    name: str, make_async_store: Callable[..., AsyncMilvusStore], backend: Backend
) -> None:
    opts = LAYOUTS[name]
    made = make_async_store(dim=4, **opts)
    ids = await made.upsert(_records(bool(opts.get("auto_id"))))
    assert len(set(ids)) == 6
    await made.aclose()
    store = make_async_store(collection_name=made.name)  # no layout settings at all
    described = await store.describe()
    assert described["layout"] == opts["layout"] and described["count"] == 6
    cfg = store.config
    for key, value in opts.items():
        if key != "metadata_fields":
            assert getattr(cfg, key) == value, key
    query = [1.0, 0.0, 0.0, 0.5]
    hits = await store.search(vector=query, k=3, mode="dense", filter={"source": "s0"})
    assert [h.record.text for h in hits] == [
        "text 0 about dogs",
        "text 2 about dogs",
        "text 4 about dogs",
    ]
    for h in hits:
        assert h.relevance == pytest.approx(dense_relevance(cfg.metric, h.distance))
        assert h.record.metadata["year"] == 2000 + int(h.record.text.split()[1])
    assert await store.count({"year": {"$gt": 2002}}) == 3
    got = await store.get([ids[1], ids[3]])
    assert [r.text for r in got] == ["text 1 about cats", "text 3 about cats"]
    assert await store.delete([ids[0]]) == 1
    assert sorted([i async for i in store.iterate(output="ids")]) == sorted(ids[1:])
    assert await store.count() == 5
    if cfg.enable_bm25:
        hybrid = await store.search("cats", query, k=2)
        assert all("cats" in h.record.text for h in hybrid)
    else:
        with pytest.raises(ConfigError, match="no BM25"):
            await store.search("cats", query, k=2)


async def test_int64_ids_written_and_read(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    store = make_async_store(dim=4, **{**LAYOUTS["langchain-typed"], "auto_id": False})
    await store.upsert(
        [Record(id="7", text="seven", vector=[0.1] * 4, metadata={"source": "a", "year": 1})]
    )
    assert [r.id for r in await store.get([7])] == ["7"]
    assert (await store.search(vector=[0.1] * 4, k=1, mode="dense", filter={"id": "7"}))[
        0
    ].id == "7"
    with pytest.raises(InvalidInputError, match="int64"):
        await store.upsert(
            [Record(id="x", text="t", vector=[0.1] * 4, metadata={"source": "a", "year": 1})]
        )
    with pytest.raises(InvalidInputError, match="cannot be empty"):
        await store.upsert([Record(id="8", text="t", vector=[0.1] * 4, metadata={"year": 1})])


async def test_a_contradicting_setting_is_refused(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    made = make_async_store(dim=4, **LAYOUTS["langchain-dynamic"])
    await made.upsert(_records(False)[:1])
    await made.aclose()
    store = make_async_store(collection_name=made.name, metric="IP")
    with pytest.raises(SchemaMismatchError) as e:
        await store.count()
    assert e.value.field == "metric" and "leave metric out" in str(e.value)


async def test_an_unmappable_collection_says_how_to_migrate(
    make_async_store: Callable[..., AsyncMilvusStore], backend: Backend, collection_name: str
) -> None:
    client = AsyncMilvusClient(uri=backend.uri, token=backend.token)
    try:
        schema = AsyncMilvusClient.create_schema(auto_id=False)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
        schema.add_field("text", DataType.VARCHAR, max_length=256)
        schema.add_field("a", DataType.FLOAT_VECTOR, dim=4)
        schema.add_field("b", DataType.FLOAT_VECTOR, dim=4)  # several vector fields map
        schema.add_field("j1", DataType.JSON)
        schema.add_field("j2", DataType.JSON)
        # no index: the schema alone is refused (a server's index build is not awaited here)
        await client.create_collection(collection_name, schema=schema)
    finally:
        await client.close()
    store = make_async_store(collection_name=collection_name)
    with pytest.raises(SchemaMismatchError) as e:
        await store.count()
    assert f"milvus-rag migrate --from {collection_name} --to" in str(e.value)
    assert "several places for metadata" in str(e.value)
