"""LlamaIndex: the per-call search options as query keywords (``aquery(q, **kw)``,
``as_retriever(vector_store_kwargs=...)``) and on both retrievers, reaching the request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

from milvus_rag import ConfigError
from milvus_rag.integrations.llama_index import MilvusVectorStore
from milvus_rag.retrievers.llama_index import FanOutRetriever, HybridRetriever
from tests.spies import RequestSpy

pytestmark = pytest.mark.integration
OPTS: dict[str, Any] = {"search_params": {"ef": 24}, "consistency_level": "Session", "timeout": 6}
TEXTS = {
    "a": "Milvus is a vector database.",
    "b": "Tomato sauce simmers for twenty minutes.",
    "c": "A vector index answers nearest neighbour queries.",
}


def test_query_keywords_reach_the_request(
    make_li_store: Callable[..., MilvusVectorStore],
    emb: Any,
    request_spy: RequestSpy,
) -> None:
    store = make_li_store()
    store.add(
        [TextNode(id_=i, text=t, embedding=emb.get_text_embedding(t)) for i, t in TEXTS.items()]
    )
    q = emb.get_query_embedding("vector database")
    request_spy.clear()
    for mode in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.HYBRID):
        query = VectorStoreQuery(
            query_embedding=q, query_str="vector database", similarity_top_k=2, mode=mode
        )
        assert store.query(query, **OPTS).ids[0] == "a"
    mmr = VectorStoreQuery(query_embedding=q, similarity_top_k=1, mode=VectorStoreQueryMode.MMR)
    store.query(mmr, mmr_prefetch_k=3, **OPTS)
    index = VectorStoreIndex.from_vector_store(store, embed_model=emb)
    index.as_retriever(similarity_top_k=1, vector_store_kwargs=OPTS).retrieve("vector")
    HybridRetriever(store, emb, similarity_top_k=1, vector_store_kwargs=OPTS).retrieve("vector")
    FanOutRetriever(store, emb, 1, queries=["db"], vector_store_kwargs=OPTS).retrieve("vector")
    sent = [(s.params, s.consistency_level) for s in request_spy.dense()]
    assert sent == [({"ef": 24}, "Session")] * 7
    assert set(request_spy.timeouts) == {6.0}

    dense = VectorStoreQuery(query_embedding=q, similarity_top_k=3)
    assert store.query(dense, radius=0.5, range_filter=1.0).ids == ["a"]
    with pytest.raises(ConfigError, match="unknown query keyword"):
        store.query(dense, nprobe=4)  # not accepted and ignored: refused
    hybrid = VectorStoreQuery(
        query_embedding=q, query_str="x", similarity_top_k=3, mode=VectorStoreQueryMode.HYBRID
    )
    with pytest.raises(ConfigError, match="mode='dense'"):
        store.query(hybrid, radius=0.5)
