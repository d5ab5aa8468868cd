"""Issue 27: both fronts prepare a search once per call shape and serve every later query of
that shape from it (``integrations.templates``). Proven equal to preparing every call: the
same calls (modes, filters, sizes, options, repeated and interleaved) return the same
documents, scores and similarities with the cache as without it, on every backend; and a
caller's filter changed after a call is read again, not served from the cache."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from milvus_rag.integrations.langchain import MilvusVectorStore as LcStore
from milvus_rag.integrations.langchain import store as lc_module
from milvus_rag.integrations.llama_index import MilvusVectorStore as LiStore
from milvus_rag.integrations.llama_index import store as li_module
from tests.backends import Backend
from tests.fakes import FakeLangChainEmbeddings
from tests.langchain.test_langchain_store import CORPUS, _docs

pytestmark = pytest.mark.integration

LC_CALLS: list[tuple[str, int, dict[str, Any]]] = [
    ("vector database search", 3, {"retrieval_mode": "dense"}),
    ("cat dog pets", 3, {"retrieval_mode": "dense"}),
    ("rank fusion bm25", 4, {"retrieval_mode": "hybrid"}),
    ("coffee bread", 4, {"retrieval_mode": "hybrid"}),
    ("coffee bread", 4, {"retrieval_mode": "hybrid", "alpha": 0.5}),
    ("lava moon", 2, {"retrieval_mode": "sparse"}),
    ("vector database search", 3, {"retrieval_mode": "dense", "filter": {"topic": "db"}}),
    ("cat dog pets", 3, {"retrieval_mode": "dense", "filter": {"topic": "pets"}}),
    ("cat dog pets", 3, {"retrieval_mode": "dense", "filter": {"n": {"$gte": 2}}}),
    ("cat dog pets", 3, {"retrieval_mode": "dense", "filter": {"n": {"$gte": 2.5}}}),
    ("cat dog pets", 3, {"retrieval_mode": "hybrid", "expr": 'metadata["n"] < 5'}),
    ("search", 5, {"search_params": {"ef": 32}, "timeout": 9}),
    ("vector database search", 3, {"retrieval_mode": "dense"}),
    ("rank fusion bm25", 2, {"retrieval_mode": "hybrid"}),
]


def _no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lc_module, "shape_key", lambda *parts: None)
    monkeypatch.setattr(li_module, "shape_key", lambda *parts: None)


@pytest.fixture
def lc(backend: Backend) -> Iterator[Callable[[], LcStore]]:
    made: list[LcStore] = []
    name = f"tpl_lc_{id(made)}"

    def open_() -> LcStore:
        store = LcStore(
            FakeLangChainEmbeddings(dim=32),
            uri=backend.uri,
            token=backend.token or None,
            collection_name=name,
        )
        made.append(store)
        return store

    yield open_
    made[0].drop()
    for s in made:
        s.close()


def _lc_results(store: LcStore) -> list[Any]:
    out = []
    for query, k, kwargs in LC_CALLS * 2:
        got = store.similarity_search_with_score(query, k=k, **kwargs)
        out.append([(d.id, d.page_content, d.metadata, round(s, 5)) for d, s in got])
        rel = store.similarity_search_with_relevance_scores(query, k=k, **kwargs)
        out.append([(d.id, round(s, 5)) for d, s in rel])
    return out


def test_langchain_serves_a_shape_as_it_prepares_every_call(
    lc: Callable[[], LcStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = lc()
    cached.add_documents(_docs())
    with_cache = _lc_results(cached)
    assert len(cached._templates._by_key) > 5  # the cache served the repeated shapes
    _no_cache(monkeypatch)
    assert _lc_results(lc()) == with_cache
    assert all(with_cache)  # every call found documents


def test_langchain_reads_a_changed_filter_again(lc: Callable[[], LcStore]) -> None:
    store = lc()
    store.add_documents(_docs())
    flt: dict[str, Any] = {"topic": "pets"}
    first = store.similarity_search("x", k=10, retrieval_mode="dense", filter=flt)
    flt["topic"] = "geo"  # the caller's own dict, changed
    second = store.similarity_search("x", k=10, retrieval_mode="dense", filter=flt)
    assert {d.id for d in first} == {"c01", "c02"}
    assert {d.id for d in second} == {"c07", "c08"}
    flt["topic"] = "pets"
    assert store.similarity_search("x", k=10, retrieval_mode="dense", filter=flt) == first


@pytest.fixture
def li(backend: Backend) -> Iterator[Callable[[], LiStore]]:
    made: list[LiStore] = []
    name = f"tpl_li_{id(made)}"

    def open_() -> LiStore:
        store = LiStore(backend.uri, token=backend.token or None, collection_name=name, dim=32)
        made.append(store)
        return store

    yield open_
    made[0].clear()
    for s in made:
        s.close()


def _li_queries() -> list[tuple[VectorStoreQuery, dict[str, Any]]]:
    emb = FakeLangChainEmbeddings(dim=32)
    pets = MetadataFilters(filters=[MetadataFilter(key="topic", value="pets")])
    big = MetadataFilters(filters=[MetadataFilter(key="n", value=4, operator=">")])
    out = []
    for text in ("vector database", "cat dog pets", "rank fusion bm25"):
        v = emb.embed_query(text)
        for mode in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.HYBRID):
            for filters in (None, pets, big):
                q = VectorStoreQuery(
                    query_embedding=v,
                    query_str=text,
                    similarity_top_k=3,
                    mode=mode,
                    filters=filters,
                )
                out.append((q, {}))
        sparse = VectorStoreQuery(
            query_str=text, similarity_top_k=2, mode=VectorStoreQueryMode.SPARSE
        )
        out.append((sparse, {}))
        out.append(
            (VectorStoreQuery(query_embedding=v, similarity_top_k=4), {"search_params": {"ef": 16}})
        )
    return out


def _li_results(store: LiStore) -> list[Any]:
    out = []
    for q, kwargs in _li_queries() * 2:
        res = store.query(q, **kwargs)
        sims = [round(s, 5) for s in res.similarities or []]
        out.append(([(n.node_id, n.get_content(), n.metadata) for n in res.nodes or []], sims))
    return out


def test_llama_index_serves_a_shape_as_it_prepares_every_call(
    li: Callable[[], LiStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    emb = FakeLangChainEmbeddings(dim=32)
    cached = li()
    cached.add(
        [TextNode(id_=i, text=t, metadata=m, embedding=emb.embed_query(t)) for i, t, m in CORPUS]
    )
    with_cache = _li_results(cached)
    assert len(cached._privates()["_templates"]._by_key) > 5
    _no_cache(monkeypatch)
    assert _li_results(li()) == with_cache
    assert all(nodes for nodes, _ in with_cache)
