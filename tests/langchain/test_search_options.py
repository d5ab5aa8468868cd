"""LangChain: the per-call search options as call keywords and as a retriever's
``search_kwargs``, on every search path, reaching the request (protobuf, via the spy)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.documents import Document

from milvus_rag import ConfigError
from milvus_rag.integrations.langchain import MilvusVectorStore
from milvus_rag.retrievers.langchain import FanOutRetriever, HybridRetriever
from tests.langchain.test_langchain_store import make_lc  # noqa: F401  (fixture)
from tests.spies import RequestSpy

pytestmark = pytest.mark.integration
OPTS: dict[str, Any] = {"search_params": {"ef": 40}, "consistency_level": "Bounded", "timeout": 8}
DOCS = [
    Document(id="a", page_content="Milvus is a vector database."),
    Document(id="b", page_content="Tomato sauce simmers for twenty minutes."),
    Document(id="c", page_content="A vector index answers nearest neighbour queries."),
]


def _sent(spy: RequestSpy) -> list[tuple[dict[str, Any], str]]:
    return [(s.params, s.consistency_level) for s in spy.dense()]


def test_call_keywords_and_search_kwargs_reach_the_request(
    make_lc: Callable[..., MilvusVectorStore],  # noqa: F811
    request_spy: RequestSpy,
) -> None:
    store = make_lc(search_params={"nprobe": 3})
    store.add_documents(DOCS)
    merged = ({"ef": 40, "nprobe": 3}, "Bounded")
    request_spy.clear()
    assert store.similarity_search("vector database", k=2, **OPTS)[0].id == "a"
    store.similarity_search_with_score("vector", k=2, retrieval_mode="dense", **OPTS)
    store.similarity_search_by_vector(store.embeddings.embed_query("vector"), k=2, **OPTS)
    store.max_marginal_relevance_search("vector", k=2, fetch_k=3, **OPTS)
    store.fanout_search(["vector database", "vector index"], k=2, **OPTS)
    assert _sent(request_spy) == [merged] * 6
    assert set(request_spy.timeouts) == {8.0}

    request_spy.clear()
    retriever = store.as_retriever(search_type="hybrid", search_kwargs={"k": 1, **OPTS})
    assert [d.id for d in retriever.invoke("vector database")] == ["a"]
    store.as_retriever(search_type="mmr", search_kwargs={"k": 1, "fetch_k": 3, **OPTS}).invoke("x")
    HybridRetriever(vectorstore=store, k=1, search_kwargs=OPTS).invoke("vector")
    FanOutRetriever(vectorstore=store, k=1, search_kwargs=OPTS).invoke("vector")
    assert _sent(request_spy) == [merged] * 4

    request_spy.clear()
    q = store.embeddings.embed_query("vector database")
    ranged = store.similarity_search_by_vector(q, k=3, radius=0.5, range_filter=1.0)
    assert [d.id for d in ranged] == ["a"]  # the others are below 0.5 cosine
    assert request_spy.dense()[0].params == {"nprobe": 3, "radius": 0.5, "range_filter": 1.0}
    with pytest.raises(ConfigError, match="mode='dense'"):
        store.similarity_search("vector", k=2, radius=0.5)  # hybrid by default
    with pytest.raises(ConfigError, match="consistency_level"):
        store.similarity_search("vector", k=2, consistency_level="Weak")
    with pytest.raises(ConfigError, match="unexpected keyword"):
        store.similarity_search_by_vector(q, k=2, alpha=0.5)  # dense: no fusion options
