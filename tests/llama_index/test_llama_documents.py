"""LlamaIndex: grouped search through query keywords, and :class:`ExpandingRetriever`
reassembling documents (or windows) from nodes a ``SentenceSplitter`` wrote (their
``start_char_idx`` and ``ref_doc_id``). Both backends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core import Document
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

from milvus_rag import ConfigError
from milvus_rag.integrations.llama_index import MilvusVectorStore
from milvus_rag.retrievers.llama_index import ExpandingRetriever

pytestmark = pytest.mark.integration

TEXTS = {
    "cats": " ".join(f"Cats purr and sleep {i} times a day in the warm sun." for i in range(12)),
    "dogs": " ".join(f"Dogs bark and run {i} miles a day in the cold park." for i in range(12)),
    "fish": " ".join(f"Fish swim and glide {i} laps a day in the blue tank." for i in range(12)),
}


@pytest.fixture
def chunked(make_li_store: Callable[..., MilvusVectorStore], emb: Any) -> MilvusVectorStore:
    splitter = SentenceSplitter(chunk_size=40, chunk_overlap=10)
    nodes = splitter.get_nodes_from_documents([Document(text=t, id_=d) for d, t in TEXTS.items()])
    assert all(n.start_char_idx is not None for n in nodes) and len(nodes) > 3 * len(TEXTS)
    for n in nodes:
        n.embedding = emb.get_text_embedding(n.get_content())
    store = make_li_store()
    store.add(nodes)
    return store


def test_query_keywords_group(chunked: MilvusVectorStore, emb: Any) -> None:
    q = VectorStoreQuery(
        query_embedding=emb.get_query_embedding("cats purr"),
        query_str="cats purr",
        similarity_top_k=3,
        mode=VectorStoreQueryMode.HYBRID,
    )
    res = chunked.query(q, group_by=True)
    assert sorted(n.ref_doc_id or "" for n in res.nodes or []) == sorted(TEXTS)
    res = chunked.query(q, group_size=2)
    assert len(res.nodes or []) == 6
    mmr = VectorStoreQuery(
        query_embedding=q.query_embedding, similarity_top_k=2, mode=VectorStoreQueryMode.MMR
    )
    with pytest.raises(ConfigError, match="MMR does not group"):
        chunked.query(mmr, group_by=True)


async def test_expanding_retriever(chunked: MilvusVectorStore, emb: Any) -> None:
    parents = ExpandingRetriever(chunked, emb, similarity_top_k=2)
    got = await parents.aretrieve("dogs bark in the cold park")
    assert len(got) == 2
    for n in got:
        assert n.node.get_content() == TEXTS[n.node.node_id]  # whole, overlaps removed
        assert n.node.metadata["matched_id"] in n.node.metadata["chunk_ids"]
    (w,) = ExpandingRetriever(chunked, None, similarity_top_k=1, window=1, mode="sparse").retrieve(
        "glide laps blue tank"
    )
    assert w.node.get_content() in TEXTS["fish"]
    assert 2 <= len(w.node.metadata["chunk_ids"]) <= 3
    with pytest.raises(ConfigError, match="embed_model"):
        ExpandingRetriever(chunked, None)
