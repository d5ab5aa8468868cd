"""A collection whose text is a dynamic key (pymilvus's quick setup: an INT64 auto id, one
vector field, dynamic fields; llama-index-vector-stores-milvus reads such with ``text_key``),
opened with ``text_field`` naming that key, on every backend: searched, read, written."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from milvus_rag import AsyncMilvusStore, ConfigError, Record, SchemaMismatchError
from milvus_rag.client.config import CollectionConfig
from tests.conftest import new_name

pytestmark = pytest.mark.integration

DIM = 8


def vec(i: int) -> list[float]:
    v = np.random.default_rng(i).normal(size=DIM)
    return (v / np.linalg.norm(v)).tolist()


async def test_a_text_kept_in_a_dynamic_key_is_adopted_when_named(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    name = new_name("dt")
    maker = make_async_store(collection_name=name, dim=DIM)
    client = maker.pymilvus_client()
    client.create_collection(
        name, dimension=DIM, primary_field_name="id", vector_field_name="vec", auto_id=True
    )
    client.insert(name, [{"vec": vec(i), "body": f"body {i}", "tag": f"t{i}"} for i in range(3)])
    with pytest.raises(SchemaMismatchError, match="text_field"):  # which key holds the text?
        await make_async_store(collection_name=name, consistency_level="Strong").count()
    store = make_async_store(collection_name=name, text_field="body", consistency_level="Strong")
    hits = await store.search(vector=vec(1), mode="dense", k=1)
    assert [(h.record.text, h.record.metadata) for h in hits] == [("body 1", {"tag": "t1"})]
    assert store.config.dynamic_text and store.config.id_type == "int64"
    (new,) = await store.upsert(  # auto ids: Milvus assigns it
        [Record(id="", text="body new", vector=vec(9), metadata={"tag": "n"})]
    )
    got = await store.get([new])
    assert [(r.text, r.metadata) for r in got] == [("body new", {"tag": "n"})]
    rows = client.query(name, filter=f"id == {new}", output_fields=["body", "tag"])
    assert [(r["body"], r["tag"]) for r in rows] == [("body new", "n")]  # a dynamic key
    assert sorted([r.text async for r in store.iterate()]) == [
        "body 0",
        "body 1",
        "body 2",
        "body new",
    ]


def test_dynamic_text_needs_dynamic_fields_and_no_bm25() -> None:
    with pytest.raises(ConfigError, match="dynamic_field=True"):
        CollectionConfig(dynamic_text=True, enable_bm25=False)
    with pytest.raises(ConfigError, match="enable_bm25=False"):
        CollectionConfig(dynamic_text=True, dynamic_field=True, metadata_field=None)
