"""LlamaIndex HybridRetriever and FanOutRetriever on every backend, sync and async."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from milvus_rag import ConfigError
from milvus_rag.integrations.llama_index import MilvusVectorStore
from milvus_rag.retrievers.llama_index import FanOutRetriever, HybridRetriever
from tests.backends import Backend
from tests.fakes import FakeLlamaIndexEmbedding
from tests.llama_index.conftest import DIM, drop_and_close, open_store
from tests.llama_index.test_store import QUESTION, TOPICS, documents

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def store(backend: Backend) -> Iterator[MilvusVectorStore]:
    s = open_store(backend, dim=DIM)
    VectorStoreIndex.from_documents(
        documents(),
        storage_context=StorageContext.from_defaults(vector_store=s),
        embed_model=FakeLlamaIndexEmbedding(dim=DIM),
    )
    yield s
    drop_and_close(s)


@pytest.mark.parametrize("alpha", [None, 0.3, 1.0])
async def test_hybrid_retriever(store: MilvusVectorStore, emb: Any, alpha: float | None) -> None:
    r = HybridRetriever(store, emb, similarity_top_k=3, alpha=alpha)
    for hits in (r.retrieve(QUESTION), await r.aretrieve(QUESTION)):
        assert len(hits) == 3 and hits[0].node.ref_doc_id == "zebra"
        assert all(0.0 <= (h.score or 0) <= 1.0 for h in hits)
    filtered = HybridRetriever(
        store,
        emb,
        similarity_top_k=3,
        alpha=alpha,
        filters=MetadataFilters(
            filters=[MetadataFilter(key="topic", value=["cat", "piano"], operator="in")]
        ),
    )
    hits = await filtered.aretrieve(QUESTION)
    assert {h.node.ref_doc_id for h in hits} == {"cat", "piano"}
    engine = RetrieverQueryEngine.from_args(r, llm=MockLLM())
    assert engine.query(QUESTION).source_nodes[0].node.ref_doc_id == "zebra"


async def test_fanout_retriever_given_queries(store: MilvusVectorStore, emb: Any) -> None:
    # one hit per query string: the fused result is exactly the union of the top hits
    r = FanOutRetriever(
        store,
        emb,
        similarity_top_k=2,
        queries=["piano keys hammers"],
        include_original=True,
        per_query_top_k=1,
    )
    assert await r.query_strings(QUESTION) == [QUESTION, "piano keys hammers"]
    for hits in (r.retrieve(QUESTION), await r.aretrieve(QUESTION)):
        assert {h.node.ref_doc_id for h in hits} == {"zebra", "piano"}
        assert all(0.0 < (h.score or 0) <= 1.0 for h in hits)


async def test_fanout_retriever_with_generators(store: MilvusVectorStore, emb: Any) -> None:
    def sync_gen(q: str) -> list[str]:
        return ["rockets orbit satellites", "bread flour oven", q]

    async def async_gen(q: str) -> list[str]:
        return ["river water mountains"]

    r1 = FanOutRetriever(
        store,
        emb,
        similarity_top_k=3,
        query_generator=sync_gen,
        include_original=False,
        per_query_top_k=1,
    )
    assert await r1.query_strings(QUESTION) == [
        "rockets orbit satellites",
        "bread flour oven",
        QUESTION,
    ]
    assert {h.node.ref_doc_id for h in r1.retrieve(QUESTION)} == {"rocket", "bread", "zebra"}
    r2 = FanOutRetriever(
        store,
        emb,
        similarity_top_k=2,
        query_generator=async_gen,
        mode="dense",
        per_query_top_k=1,
        filters=MetadataFilters(filters=[MetadataFilter(key="topic", value="cat", operator="!=")]),
    )
    hits = await r2.aretrieve(QUESTION)
    assert {h.node.ref_doc_id for h in hits} == {"zebra", "river"}
    r3 = FanOutRetriever(
        store, emb, similarity_top_k=2, queries=["cats purr"], alpha=0.5, per_query_top_k=1
    )
    assert {h.node.ref_doc_id for h in await r3.aretrieve(QUESTION)} == {"zebra", "cat"}


async def test_retrievers_on_empty_collection(make_li_store, emb: Any) -> None:
    empty = make_li_store()
    assert await HybridRetriever(empty, emb).aretrieve("anything") == []
    assert FanOutRetriever(empty, emb, queries=["x y"]).retrieve("anything") == []


def test_retriever_arguments_are_checked(store: MilvusVectorStore, emb: Any) -> None:
    with pytest.raises(ConfigError):
        HybridRetriever(store, emb, similarity_top_k=0)
    with pytest.raises(ConfigError):
        HybridRetriever(store, emb, alpha=1.5)
    with pytest.raises(ConfigError):
        FanOutRetriever(store, emb, queries="one string")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        HybridRetriever(object(), emb)  # type: ignore[arg-type]
    assert len(TOPICS) == 6
