"""``Milvus`` (langchain-milvus 0.4's vocabulary) with several vector fields, on every
backend: ``embedding_function`` as a list (dense ``Embeddings`` and sparse embedders),
``vector_field`` / ``index_params`` / ``search_params`` lists, a BM25 function beside them or
alone, searches over every field fused by RRF or by a weighted reranker whose weights follow
the fields' order, ``*_by_vector`` on one field, ``add_embeddings`` with one embedding per
function, and a second store mapping the collection when it reopens it. Written from the
behaviours langchain-milvus's integration suite checks, not copied from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from milvus_rag import ConfigError, InvalidInputError, SchemaMismatchError
from milvus_rag.integrations.langchain import BM25BuiltInFunction, Milvus
from tests.backends import Backend
from tests.conftest import new_name
from tests.fakes import HashSparseEmbeddings

pytestmark = pytest.mark.integration

TEXTS = ["apple pie", "banana bread", "cherry tart", "damson jam"]


class PointEmbeddings(Embeddings):
    """Document i (of one call) at the point (i+1, i+1, i+1, i+1); every query at
    (``at``+1, ...): with metric L2 the nearest document is the one numbered ``at``."""

    def __init__(self, at: float) -> None:
        self.at = at

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(i + 1)] * 4 for i in range(len(texts))]

    def embed_query(self, text: str) -> list[float]:
        return [float(self.at + 1)] * 4


@pytest.fixture
def make_milvus(backend: Backend) -> Iterator[Callable[..., Milvus]]:
    made: list[Milvus] = []

    def build(*, from_texts: list[str] | None = None, **kwargs: Any) -> Milvus:
        kwargs.setdefault("collection_name", new_name("lcmf"))
        args = {"uri": backend.uri, **({"token": backend.token} if backend.token else {})}
        kwargs.setdefault("connection_args", args)
        kwargs.setdefault("consistency_level", "Strong")
        if from_texts is not None:
            store = Milvus.from_texts(from_texts, kwargs.pop("embedding_function"), **kwargs)
        else:
            store = Milvus(**kwargs)
        made.append(store)
        return store

    yield build
    for store in made:
        try:
            store.drop()
        finally:
            store.close()


def texts(docs: list[Document]) -> list[str]:
    return [d.page_content for d in docs]


def test_two_dense_fields_with_their_index_params(make_milvus: Callable[..., Milvus]) -> None:
    store = make_milvus(
        from_texts=TEXTS,
        embedding_function=[PointEmbeddings(0), PointEmbeddings(3)],
        vector_field=["near_first", "near_last"],
        index_params=[
            {"metric_type": "L2", "index_type": "AUTOINDEX"},
            {"metric_type": "COSINE", "index_type": "AUTOINDEX"},
        ],
    )
    assert store.vector_fields == ["near_first", "near_last"]
    assert [p["metric_type"] for p in store.index_params] == ["L2", "COSINE"]
    assert [p["metric_type"] for p in store.search_params] == ["L2", "COSINE"]
    assert {f.name: f.metric for f in store.store.config.vector_fields} == {
        "near_first": "L2",
        "near_last": "COSINE",
    }
    assert len(store.similarity_search("q", k=4)) == 4  # every field searched, fused
    col = store.col  # langchain-milvus's collection view, through the pymilvus client
    assert col is not None and col.name == store.collection_name
    assert {i.field_name: i.params["metric_type"] for i in col.indexes} == {
        "near_first": "L2",
        "near_last": "COSINE",
    }
    assert {"pk", "text", "near_first", "near_last"} <= {f.name for f in col.schema.fields}
    assert make_milvus(embedding_function=PointEmbeddings(0)).col is None  # not created yet


def test_weighted_reranker_weights_follow_the_fields(make_milvus: Callable[..., Milvus]) -> None:
    class Weighted:  # a pymilvus RERANK Function's shape: params name the reranker
        def __init__(self, weights: list[float]) -> None:
            self.params = {"reranker": "weighted", "weights": weights}

    store = make_milvus(
        from_texts=TEXTS,
        embedding_function=[PointEmbeddings(0), PointEmbeddings(3)],
        index_params=[{"metric_type": "L2"}, {"metric_type": "L2"}],
    )
    assert store.vector_fields == ["vector", "vector_2"]  # langchain-milvus's generated names
    assert texts(store.similarity_search("q", k=1, reranker=Weighted([1.0, 0.0]))) == [TEXTS[0]]
    assert texts(store.similarity_search("q", k=1, reranker=Weighted([0.0, 1.0]))) == [TEXTS[3]]
    legacy = store.similarity_search(
        "q", k=1, ranker_type="weighted", ranker_params={"weights": [0.0, 1.0]}
    )
    assert texts(legacy) == [TEXTS[3]]
    rrf = store.similarity_search_with_score("q", k=4, ranker_type="rrf", ranker_params={"k": 60})
    assert sorted(texts([d for d, _ in rrf])) == sorted(TEXTS)
    assert rrf[0][1] == pytest.approx(1 / 61 + 1 / 64)  # first in one leg, last in the other
    with pytest.raises(ConfigError, match="one per vector field"):
        store.similarity_search("q", k=1, reranker=Weighted([1.0, 0.0, 0.0]))
    with pytest.raises(ConfigError, match="use similarity_search"):
        store.similarity_search_by_vector([1.0] * 4, k=1)  # two dense fields: which one?
    with pytest.raises(ConfigError, match="one embedding function"):
        store.max_marginal_relevance_search("q", k=1)


def test_dense_sparse_and_bm25_fields(make_milvus: Callable[..., Milvus]) -> None:
    sparse = HashSparseEmbeddings()
    store = make_milvus(
        embedding_function=[PointEmbeddings(1), sparse],
        builtin_function=BM25BuiltInFunction(output_field_names="bm25"),
        vector_field=["dense", "splade", "bm25"],
        index_params=[{"metric_type": "L2"}, {"metric_type": "IP"}, {"metric_type": "BM25"}],
        auto_id=True,
    )
    store.add_texts(TEXTS, [{"n": i} for i in range(len(TEXTS))])
    assert store.vector_fields == ["dense", "splade", "bm25"]
    only_sparse = Weights([0.0, 1.0, 0.0])
    assert texts(store.similarity_search("cherry", k=1, reranker=only_sparse)) == ["cherry tart"]
    only_bm25 = Weights([0.0, 0.0, 1.0])
    assert texts(store.similarity_search("damson", k=1, reranker=only_bm25)) == ["damson jam"]
    only_dense = Weights([1.0, 0.0, 0.0])
    assert texts(store.similarity_search("damson", k=1, reranker=only_dense)) == ["banana bread"]
    got = store.similarity_search("apple", k=4, expr="n >= 2")
    assert sorted(texts(got)) == ["cherry tart", "damson jam"]
    # by vector: a dense vector searches the dense field, a sparse one the sparse field
    assert texts(store.similarity_search_by_vector([3.0] * 4, k=1)) == ["cherry tart"]
    by_sparse = store.similarity_search_by_vector(sparse.embed_query("banana"), k=1)
    assert texts(by_sparse) == ["banana bread"]
    assert texts(store.max_marginal_relevance_search("q", k=1, fetch_k=4)) == ["banana bread"]


class Weights:
    def __init__(self, weights: list[float]) -> None:
        self.params = {"reranker": "weighted", "weights": weights}


def test_add_embeddings_takes_one_embedding_per_function(
    make_milvus: Callable[..., Milvus],
) -> None:
    store = make_milvus(
        embedding_function=[PointEmbeddings(0), HashSparseEmbeddings()],
        auto_id=True,
    )
    rows = [[[9.0] * 4, {7: 1.0}], [[1.0] * 4, {8: 1.0}]]  # [dense, sparse] per text
    ids = store.add_embeddings(["far", "near"], rows)
    assert len(ids) == 2
    assert texts(store.similarity_search_by_vector({7: 1.0}, k=1)) == ["far"]
    assert texts(store.similarity_search_by_vector([1.0] * 4, k=1)) == ["near"]
    with pytest.raises(InvalidInputError, match="one per embedding function"):
        store.add_embeddings(["x"], [[[1.0] * 4]])


def test_bm25_only_and_sparse_embedder_only(make_milvus: Callable[..., Milvus]) -> None:
    bm25 = make_milvus(
        embedding_function=[],
        builtin_function=[BM25BuiltInFunction()],
        vector_field="sparse",
        auto_id=True,
        enable_dynamic_field=True,
    )
    bm25.add_texts(TEXTS, [{"page": i} for i in range(len(TEXTS))])
    got = bm25.similarity_search("banana", k=1)
    assert texts(got) == ["banana bread"] and got[0].metadata["page"] == 1
    sparse = make_milvus(embedding_function=HashSparseEmbeddings(), auto_id=True)
    sparse.add_texts(TEXTS)
    scored = sparse.similarity_search_with_score("cherry tart", k=1)
    assert texts([d for d, _ in scored]) == ["cherry tart"]
    assert scored[0][1] == pytest.approx(2.0)  # the raw inner product: two shared words


def test_reopened_collection_is_mapped(make_milvus: Callable[..., Milvus]) -> None:
    first = make_milvus(
        from_texts=TEXTS,
        embedding_function=[PointEmbeddings(0), HashSparseEmbeddings()],
        vector_field=["dense", "splade"],
        ids=[f"id{i}" for i in range(len(TEXTS))],
    )
    again = make_milvus(
        embedding_function=[PointEmbeddings(0), HashSparseEmbeddings()],
        vector_field=["dense", "splade"],
        collection_name=first.collection_name,
    )
    assert len(again.similarity_search("jam", k=10)) == len(TEXTS)
    assert texts(
        again.similarity_search_by_vector(HashSparseEmbeddings().embed_query("jam"), k=1)
    ) == ["damson jam"]


def test_reopened_without_index_params_takes_the_collection_s_metrics(
    make_milvus: Callable[..., Milvus],
) -> None:
    first = make_milvus(
        from_texts=TEXTS,
        embedding_function=[PointEmbeddings(0), PointEmbeddings(3)],
        vector_field=["a", "b"],
        index_params=[{"metric_type": "IP"}, {"metric_type": "COSINE"}],
        ids=[f"id{i}" for i in range(len(TEXTS))],
    )
    name = first.collection_name
    again = make_milvus(
        embedding_function=[PointEmbeddings(0), PointEmbeddings(3)],
        vector_field=["a", "b"],
        collection_name=name,
    )
    assert len(again.similarity_search("q", k=10)) == len(TEXTS)
    assert {f.name: f.metric for f in again.store.config.vector_fields} == {
        "a": "IP",
        "b": "COSINE",
    }
    assert [p["metric_type"] for p in again.search_params] == ["IP", "COSINE"]
    clash = make_milvus(
        embedding_function=[PointEmbeddings(0), PointEmbeddings(3)],
        vector_field=["a", "b"],
        collection_name=name,
        index_params=[{"metric_type": "L2"}, {"metric_type": "COSINE"}],
    )
    with pytest.raises(SchemaMismatchError, match="metric: expected 'L2', found 'IP'"):
        clash.similarity_search("q", k=1)


async def test_async_forms(make_milvus: Callable[..., Milvus], backend: Backend) -> None:
    store = make_milvus(
        embedding_function=[PointEmbeddings(0), PointEmbeddings(3)],
        index_params=[{"metric_type": "L2"}, {"metric_type": "L2"}],
    )
    await store.aadd_texts(TEXTS, ids=[f"a{i}" for i in range(len(TEXTS))])
    got = await store.asimilarity_search("q", k=1, reranker=Weights([0.0, 1.0]))
    assert texts(got) == [TEXTS[3]]
    scored = await store.asimilarity_search_with_score("q", k=4)
    assert len(scored) == 4
