"""The LlamaIndex store over several vector fields, on every backend: a client-side
``sparse_embedding_function`` (llama-index-vector-stores-milvus's vocabulary), sparse-only
collections, and milvus-rag's own ``vector_fields=`` + ``embed_models=`` searched over
``fields=``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from milvus_rag import ConfigError, SearchRequest
from milvus_rag.client.request import Leg
from milvus_rag.client.sync import run_sync
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.integrations.llama_index import MilvusVectorStore
from tests.backends import Backend
from tests.conftest import new_name
from tests.fakes import FakeLlamaIndexEmbedding, FakeSparseFunction
from tests.llama_index.conftest import DIM

pytestmark = pytest.mark.integration

M = VectorStoreQueryMode
TEXTS = {
    "zebra": "Zebras have black and white stripes and graze on the savanna grass.",
    "cat": "Cats purr, sleep all day and chase mice around the house.",
    "rocket": "Rockets burn fuel to lift satellites into orbit around the earth.",
    "bread": "Bread is baked from flour, water, yeast and salt in a hot oven.",
    "river": "Rivers carry water from mountains down to the sea through valleys.",
}
QUESTION = "zebra stripes on the savanna"
EMB = FakeLlamaIndexEmbedding(dim=DIM)
SMALL = FakeLlamaIndexEmbedding(dim=8)


def nodes(embedded: bool = True) -> list[TextNode]:
    return [
        TextNode(
            id_=k,
            text=t,
            metadata={"n": i},
            embedding=EMB.get_text_embedding(t) if embedded else None,
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"doc-{k}")},
        )
        for i, (k, t) in enumerate(TEXTS.items())
    ]


def ip(a: dict[int, float], b: dict[int, float]) -> float:
    return sum(v * b.get(i, 0.0) for i, v in a.items())


@pytest.fixture
def stores(backend: Backend) -> Iterator[Any]:
    made: list[MilvusVectorStore] = []

    def build(**kwargs: Any) -> MilvusVectorStore:
        kwargs.setdefault("collection_name", new_name("lf"))
        store = MilvusVectorStore(backend.uri, token=backend.token or None, **kwargs)
        made.append(store)
        return store

    yield build
    for store in made:
        try:
            run_sync(store.store.drop())
        finally:
            store.close()


def test_a_sparse_embedding_function_fills_a_sparse_field_searched_in_every_mode(
    stores: Any,
) -> None:
    fn = FakeSparseFunction()
    store = stores(
        dim=DIM,
        overwrite=True,
        enable_sparse=True,
        sparse_embedding_function=fn,
        consistency_level="Strong",
    )
    assert store.sparse_embedding_function is fn
    assert store.add(nodes()) == list(TEXTS)
    assert fn.calls == [("async_encode_documents", len(TEXTS))]  # one call for the write
    name = store.store.name
    rows = store.client.query(name, filter='id != ""', output_fields=["sparse_embedding"])
    assert {r["id"]: r["sparse_embedding"] for r in rows} == {
        k: fn.encode(t) for k, t in TEXTS.items()
    }
    assert sorted(store.client.list_indexes(name)) == ["embedding", "sparse_embedding"]

    sparse = store.query(VectorStoreQuery(query_str=QUESTION, similarity_top_k=2, mode=M.SPARSE))
    want = sorted(TEXTS, key=lambda k: -ip(fn.encode(QUESTION), fn.encode(TEXTS[k])))
    assert sparse.ids == want[:2] and sparse.ids[0] == "zebra"
    assert (
        sparse.similarities
        == pytest.approx(  # Milvus's inner products, as llama returns
            [ip(fn.encode(QUESTION), fn.encode(TEXTS[k])) for k in want[:2]], rel=1e-5
        )
    )
    text = store.query(VectorStoreQuery(query_str=QUESTION, similarity_top_k=2, mode=M.TEXT_SEARCH))
    assert text.ids == sparse.ids
    qv = EMB.get_query_embedding(QUESTION)
    dense = store.query(VectorStoreQuery(query_embedding=qv, similarity_top_k=1))
    assert dense.ids == ["zebra"]
    hybrid = store.query(
        VectorStoreQuery(query_str=QUESTION, query_embedding=qv, similarity_top_k=3, mode=M.HYBRID)
    )
    legs = (Leg("embedding", qv), Leg("sparse_embedding", fn.encode(QUESTION)))
    core = run_sync(store.store.search(SearchRequest(legs=legs, k=3, text=QUESTION)))
    assert hybrid.ids == [h.id for h in core] and hybrid.ids[0] == "zebra"
    flt = MetadataFilters(filters=[MetadataFilter(key="n", value=2)])
    only = store.query(
        VectorStoreQuery(query_str=QUESTION, similarity_top_k=3, mode=M.SPARSE, filters=flt)
    )
    assert only.ids == ["rocket"]


async def test_async_calls_use_the_functions_async_methods_or_a_thread(stores: Any) -> None:
    fn = FakeSparseFunction(with_async=False)
    store = stores(
        dim=DIM,
        overwrite=True,
        enable_sparse=True,
        sparse_embedding_function=fn,
        hybrid_ranker="WeightedRanker",
        hybrid_ranker_params={"weights": [0.2, 0.8]},
        consistency_level="Strong",
    )
    await store.async_add(nodes()[:3])
    await store.async_add(nodes()[3:])
    q = VectorStoreQuery(
        query_str="savanna river", query_embedding=EMB.get_query_embedding("x"), mode=M.HYBRID
    )
    res = await store.aquery(q)
    assert fn.calls == [("encode_documents", 3), ("encode_documents", 2), ("encode_queries", 1)]
    legs = (
        Leg("embedding", q.query_embedding, weight=0.2),
        Leg("sparse_embedding", fn.encode("savanna river"), weight=0.8),
    )
    core = await store.store.search(SearchRequest(legs=legs, k=q.similarity_top_k, text="x"))
    assert res.ids == [h.id for h in core]
    assert res.similarities == pytest.approx([h.distance for h in core])


def test_sparse_only_collections_need_no_embeddings(stores: Any) -> None:
    fn = FakeSparseFunction()
    store = stores(
        overwrite=True,
        enable_dense=False,
        enable_sparse=True,
        sparse_embedding_function=fn,
        consistency_level="Strong",
    )
    written = nodes(embedded=False)
    store.add(written)
    assert [f.name for f in store.store.config.vector_fields] == ["sparse_embedding"]
    res = store.query(VectorStoreQuery(query_str=QUESTION, similarity_top_k=1, mode=M.SPARSE))
    assert res.ids == ["zebra"]
    assert store.get_nodes(node_ids=["cat", "zebra"]) == [written[1], written[0]]
    with pytest.raises(ConfigError, match="no dense field"):
        store.query(VectorStoreQuery(query_embedding=[0.1] * DIM, similarity_top_k=1))
    bm25 = stores(overwrite=True, enable_dense=False, enable_sparse=True)
    bm25.add(nodes(embedded=False))
    got = bm25.query(VectorStoreQuery(query_str="zebras stripes", mode=M.TEXT_SEARCH))
    assert (got.ids or [])[0] == "zebra"
    assert [f.name for f in bm25.store.config.vector_fields] == ["sparse_embedding"]


FIELDS = [
    VectorField.dense("dense", dim=DIM),
    VectorField.sparse("sparse", bm25=True),
    VectorField.dense("small", dim=8, metric="IP"),
    VectorField.sparse("words"),
]


async def test_own_vocabulary_one_embedder_per_field_searched_over_fields(stores: Any) -> None:
    words = FakeSparseFunction()
    store = stores(
        vector_fields=FIELDS,
        embed_models={"small": SMALL, "words": words},
        consistency_level="Strong",
    )
    written = nodes()
    store.add(written[:2])
    await store.async_add(written[2:])
    assert words.calls == [("async_encode_documents", 2), ("async_encode_documents", 3)]
    got = await store.aget_nodes(node_ids=list(TEXTS))
    assert got == written  # the nodes stored, their embedding (the "dense" field) included
    rows = store.client.query(store.store.name, filter='id == "cat"', output_fields=["small"])
    assert rows[0]["small"] == pytest.approx(SMALL.get_text_embedding(TEXTS["cat"]), rel=1e-6)

    qv = EMB.get_query_embedding(QUESTION)
    q = VectorStoreQuery(query_str=QUESTION, query_embedding=qv, similarity_top_k=3, mode=M.HYBRID)
    every = await store.aquery(q)  # every field: 4 legs, RRF
    assert (every.ids or [])[0] == "zebra"
    assert all(0.0 <= s <= 1.0 for s in every.similarities or [])  # relevance
    legs = (
        Leg("dense", qv),
        Leg("sparse"),
        Leg("small", SMALL.get_query_embedding(QUESTION)),
        Leg("words", words.encode(QUESTION)),
    )
    core = await store.store.search(SearchRequest(legs=legs, k=3, text=QUESTION, vector=qv))
    assert every.ids == [h.id for h in core]
    small = await store.aquery(q, fields=["small"])
    core_small = await store.store.search(SearchRequest(legs=legs[2:3], k=3))
    assert small.ids == [h.id for h in core_small]
    two = store.query(q, fields=["words", "sparse"], weights={"sparse": 0.7, "words": 0.3})
    assert (two.ids or [])[0] == "zebra"
    with pytest.raises(ConfigError, match="no vector field 'title'"):
        store.query(q, fields=["title"])
    retriever = VectorStoreIndex.from_vector_store(store, embed_model=EMB).as_retriever(
        similarity_top_k=2,
        vector_store_query_mode="hybrid",
        vector_store_kwargs={"fields": ["dense", "words"]},
    )
    assert [n.node.node_id for n in retriever.retrieve(QUESTION)][0] == "zebra"


def test_own_vocabulary_refuses_a_field_without_its_embedder(backend: Backend) -> None:
    with pytest.raises(ConfigError, match=r"\['words'\] have no embedder"):
        MilvusVectorStore(
            backend.uri,
            token=backend.token or None,
            collection_name=new_name("lf"),
            vector_fields=FIELDS,
            embed_models={"small": SMALL},
        )
