"""llama-index-vector-stores-milvus 1.2's vocabulary on every backend: each keyword of the
shared case table whose effect needs a database, once (what the store then does)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from milvus_rag import SearchRequest
from milvus_rag.client.sync import run_sync
from milvus_rag.integrations.llama_index import BM25BuiltInFunction, MilvusVectorStore
from tests.backends import Backend
from tests.cases.llama_vocabulary import CONSTRUCTOR, QUERY, WRITE
from tests.conftest import new_name
from tests.fakes import FakeLlamaIndexEmbedding
from tests.llama_index.conftest import DIM, drop_and_close
from tests.spies import RequestSpy

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
EVERY = MetadataFilters(filters=[])  # get_nodes(): llama's vocabulary takes ids or filters
EMB = FakeLlamaIndexEmbedding(dim=DIM)


def nodes() -> list[TextNode]:
    out = []
    for i, (key, text) in enumerate(TEXTS.items()):
        node = TextNode(
            id_=key,
            text=text,
            metadata={"topic": key, "year": i, "tags": [key[0], "all"]},
            embedding=EMB.get_text_embedding(text),
        )
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"doc-{key}")
        out.append(node)
    return out


def dense(k: int = 3, **kw: Any) -> VectorStoreQuery:
    return VectorStoreQuery(
        query_embedding=EMB.get_query_embedding(QUESTION), similarity_top_k=k, **kw
    )


def hybrid(k: int = 3, mode: VectorStoreQueryMode = M.HYBRID) -> VectorStoreQuery:
    return dense(k, query_str=QUESTION, mode=mode)


@pytest.fixture
def llama_store(backend: Backend) -> Any:
    made: list[MilvusVectorStore] = []

    def build(**kwargs: Any) -> MilvusVectorStore:
        kwargs.setdefault("collection_name", new_name("lv"))
        kwargs.setdefault("dim", DIM)
        store = MilvusVectorStore(uri=backend.uri, token=backend.token or "", **kwargs)
        made.append(store)
        return store

    yield build
    for store in made:
        drop_and_close(store)


def _filled(build: Callable[..., MilvusVectorStore], keyword: str) -> MilvusVectorStore:
    store = build(**CONSTRUCTOR[keyword].kwargs)
    store.add(nodes())
    return store


def test_overwrite(llama_store: Callable[..., MilvusVectorStore]) -> None:
    first = _filled(llama_store, "overwrite")  # overwrite=True on a new collection
    name = first.collection_name
    kept = llama_store(collection_name=name, overwrite=False)
    assert len(kept.get_nodes(filters=EVERY)) == len(TEXTS)
    again = llama_store(collection_name=name, overwrite=True)
    assert again.get_nodes(filters=EVERY) == []  # dropped before its first operation
    assert first.query(dense()).ids == []


def test_similarity_metric_and_raw_similarities(
    llama_store: Callable[..., MilvusVectorStore],
) -> None:
    store = _filled(llama_store, "similarity_metric")  # euclidean -> L2
    assert run_sync(store.store.describe())["metric"] == "L2"
    res = store.query(dense(3))
    assert (res.ids or [])[0] == "zebra"
    sims = res.similarities or []
    assert sims == sorted(sims) and sims[0] >= 0.0  # raw L2 distances, as llama returns them
    ip = _filled(llama_store, "upsert_mode")  # llama's default metric: IP, raw inner products
    got = ip.query(dense(3))
    assert run_sync(ip.store.describe())["metric"] == "IP"
    assert (got.similarities or [])[0] == pytest.approx(
        sum(
            a * b
            for a, b in zip(
                EMB.get_query_embedding(QUESTION), nodes()[0].embedding or [], strict=True
            )
        ),
        abs=1e-4,
    )


def test_enable_sparse_hybrid_and_text_search(
    llama_store: Callable[..., MilvusVectorStore],
) -> None:
    store = _filled(llama_store, "enable_sparse")
    assert run_sync(store.store.describe())["bm25"] is True
    for mode in (M.HYBRID, M.SPARSE, M.TEXT_SEARCH):
        assert (store.query(hybrid(2, mode)).ids or [])[0] == "zebra", mode
    assert (asyncio.run(store.aquery(hybrid(2))).ids or [])[0] == "zebra"


def test_sparse_embedding_function_and_field(llama_store: Callable[..., MilvusVectorStore]) -> None:
    store = llama_store(
        enable_sparse=True,
        sparse_embedding_field="bm25",
        sparse_embedding_function=BM25BuiltInFunction(
            output_field_names="bm25",
            analyzer_params={"tokenizer": "standard", "filter": ["lowercase"]},
        ),
        sparse_index_config={"bm25_k1": 1.5, "bm25_b": 0.6},
    )
    store.add(nodes())
    info = run_sync(store.store.describe())
    assert "bm25" in info["fields"] and info["analyzer"]["filter"] == ["lowercase"]
    assert (store.query(hybrid(1, M.SPARSE)).ids or []) == ["zebra"]


@pytest.mark.parametrize("keyword", ["hybrid_ranker", "hybrid_ranker_params"])
def test_weighted_ranker_is_weighted_fusion(
    llama_store: Callable[..., MilvusVectorStore], keyword: str
) -> None:
    store = _filled(llama_store, keyword)
    alpha = CONSTRUCTOR[keyword].store["_alpha"]
    got = store.query(hybrid(4))
    want = run_sync(
        store.store.search(
            SearchRequest(text=QUESTION, vector=EMB.get_query_embedding(QUESTION), k=4, alpha=alpha)
        )
    )
    assert got.ids == [h.id for h in want]
    assert got.similarities == pytest.approx([h.distance for h in want])


def test_rrf_k(llama_store: Callable[..., MilvusVectorStore]) -> None:
    store = llama_store(
        enable_sparse=True, hybrid_ranker="RRFRanker", hybrid_ranker_params={"k": 5}
    )
    store.add(nodes())
    got = store.query(hybrid(4))
    # RRF with k=5: the best fused score of two legs is at most 2 / (5 + 1)
    assert (got.ids or [])[0] == "zebra"
    assert (got.similarities or [0])[0] == pytest.approx(2 / 6, rel=1e-3)


def test_field_names(llama_store: Callable[..., MilvusVectorStore]) -> None:
    store = llama_store(text_key="body", embedding_field="vec", doc_id_field="source")
    store.add(nodes())
    fields = run_sync(store.store.describe())["fields"]
    assert {"id", "body", "vec", "source"} <= set(fields)
    assert (store.query(dense(1)).nodes or [])[0].text == TEXTS["zebra"]
    store.delete("doc-zebra")
    assert "zebra" not in {n.node_id for n in store.get_nodes(filters=EVERY)}
    store.delete(["doc-cat", "doc-river"])  # llama also takes a list of ref_doc_ids
    assert {n.node_id for n in store.get_nodes(filters=EVERY)} == {"rocket", "bread"}


def test_output_fields(llama_store: Callable[..., MilvusVectorStore]) -> None:
    store = _filled(llama_store, "output_fields")
    node = (store.query(dense(1)).nodes or [])[0]
    assert node.metadata == {"topic": "zebra"} and node.text == TEXTS["zebra"]
    per_query = store.query(dense(1, output_fields=["year"]))
    assert (per_query.nodes or [])[0].metadata == {"year": 0}


def test_index_and_search_config(
    llama_store: Callable[..., MilvusVectorStore], request_spy: RequestSpy
) -> None:
    store = _filled(llama_store, "search_config")  # IVF_FLAT nlist 16, nprobe 4
    request_spy.clear()
    assert (store.query(dense(1)).ids or []) == ["zebra"]
    assert request_spy.dense()[-1].params.get("nprobe") == 4
    kwargs, _ = QUERY["milvus_search_config"]
    assert (store.query(dense(1), **kwargs).ids or []) == ["zebra"]
    assert request_spy.dense()[-1].params.get("nprobe") == 2


def test_scalar_fields_are_typed_columns(llama_store: Callable[..., MilvusVectorStore]) -> None:
    store = _filled(llama_store, "scalar_field_names")  # year INT64
    assert "year" in run_sync(store.store.describe())["fields"]
    flt = MetadataFilters(filters=[MetadataFilter(key="year", value=2, operator=">=")])
    assert {n.node_id for n in store.get_nodes(filters=flt)} == {"rocket", "bread", "river"}


def test_query_keywords(llama_store: Callable[..., MilvusVectorStore]) -> None:
    store = _filled(llama_store, "use_async_client")  # False: both APIs still work
    kwargs, _ = QUERY["milvus_scalar_filters"]  # tags contains "b"
    assert (store.query(dense(5), **kwargs).ids or []) == ["bread"]
    kwargs, _ = QUERY["string_expr"]
    assert set(asyncio.run(store.aquery(dense(5), **kwargs)).ids or []) == {"zebra", "cat"}
    assert len(store.query(dense(5), **QUERY["milvus_partition_names"][0]).ids or []) == 5
    mmr = store.query(dense(2, mode=M.MMR), **QUERY["mmr_prefetch_k"][0])
    assert (mmr.ids or [])[0] == "zebra"


def test_write_keywords_upsert_and_batches(llama_store: Callable[..., MilvusVectorStore]) -> None:
    store = llama_store(**CONSTRUCTOR["batch_size"].kwargs)  # 2 rows a batch
    for operation, kwargs in WRITE.values():
        assert operation == "add"
        store.add(nodes(), **kwargs)  # the same ids again: replaced (upserts)
    assert run_sync(store.store.count()) == len(TEXTS)
    assert len(store.query(dense(10)).ids or []) == len(TEXTS)


def test_existing_collections_are_adopted_not_redefined(
    llama_store: Callable[..., MilvusVectorStore],
) -> None:
    """llama's defaults are for new collections: an existing one keeps its metric, layout and
    BM25 (as llama-index-vector-stores-milvus searches what it finds)."""
    cosine = llama_store(similarity_metric="cosine", enable_sparse=True)
    cosine.add(nodes())
    again = llama_store(collection_name=cosine.collection_name, overwrite=False)  # IP, no BM25
    res = again.query(dense(1))
    assert res.ids == ["zebra"] and run_sync(again.store.describe())["metric"] == "COSINE"
    assert (again.query(hybrid(1)).ids or []) == ["zebra"]  # its BM25 function is kept
    plain = MilvusVectorStore(cosine.uri, collection_name=new_name("lv"), dim=DIM)  # our words
    try:
        plain.add(nodes())
        reopened = llama_store(collection_name=plain.collection_name, overwrite=False)
        assert {n.node_id for n in reopened.get_nodes(filters=EVERY)} == set(
            TEXTS
        )  # (first operation)
        assert run_sync(reopened.store.describe())["layout"] == "milvus_rag"
        assert (reopened.query(dense(1)).ids or []) == ["zebra"]
    finally:
        drop_and_close(plain)
