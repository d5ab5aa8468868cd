"""LangChain: grouped search through the store's search methods and a retriever's
``search_kwargs``, and :class:`ExpandingRetriever` reassembling whole documents (or windows)
from chunks a LangChain text splitter wrote with ``add_start_index=True``. Both backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter

from milvus_rag import ConfigError
from milvus_rag.integrations.langchain import MilvusVectorStore
from milvus_rag.retrievers.langchain import ExpandingRetriever
from tests.backends import Backend
from tests.conftest import drop_and_close, store_factory
from tests.fakes import FakeLangChainEmbeddings

pytestmark = pytest.mark.integration

TEXTS = {
    "cats": " ".join(f"cats purr and sleep {i} times a day in the warm sun" for i in range(8)),
    "dogs": " ".join(f"dogs bark and run {i} miles a day in the cold park" for i in range(8)),
    "fish": " ".join(f"fish swim and glide {i} laps a day in the blue tank" for i in range(8)),
}


@pytest.fixture
def make_lc(backend: Backend) -> Iterator[Callable[..., MilvusVectorStore]]:
    def build(**kwargs: Any) -> MilvusVectorStore:
        kwargs.setdefault("embedding", FakeLangChainEmbeddings(16))
        return MilvusVectorStore(uri=backend.uri, token=backend.token or None, **kwargs)

    with store_factory(build, drop_and_close, prefix="lcdoc") as factory:
        yield factory


@pytest.fixture
def chunked(make_lc: Callable[..., MilvusVectorStore]) -> MilvusVectorStore:
    splitter = RecursiveCharacterTextSplitter(chunk_size=80, chunk_overlap=25, add_start_index=True)
    docs = [Document(page_content=t, metadata={"doc_id": d}) for d, t in TEXTS.items()]
    chunks = splitter.split_documents(docs)
    assert all("start_index" in c.metadata for c in chunks) and len(chunks) > 3 * len(TEXTS)
    store = make_lc()
    store.add_documents(chunks, ids=[f"{c.metadata['doc_id']}-{i}" for i, c in enumerate(chunks)])
    return store


def test_grouped_search_in_search_methods_and_retrievers(chunked: MilvusVectorStore) -> None:
    plain = chunked.similarity_search("cats purr sleep", k=6)
    assert len({d.metadata["doc_id"] for d in plain}) < 6
    for mode in ("dense", "sparse", "hybrid"):
        grouped = chunked.similarity_search(
            "cats purr day", k=3, group_by=True, retrieval_mode=mode
        )
        assert sorted(d.metadata["doc_id"] for d in grouped) == sorted(TEXTS)
    two = chunked.similarity_search_with_score("dogs bark", k=2, group_size=2)
    docs = [d.metadata["doc_id"] for d, _ in two]
    assert len(two) == 4 and docs[0] == docs[1] and docs[2] == docs[3] and docs[0] != docs[2]
    for search_type in ("similarity", "hybrid"):
        retriever = chunked.as_retriever(
            search_type=search_type, search_kwargs={"k": 2, "group_by": "doc_id"}
        )
        got = retriever.invoke("fish swim")
        assert len({d.metadata["doc_id"] for d in got}) == 2 == len(got)
    with pytest.raises(ConfigError, match="group_size"):
        chunked.similarity_search("x", k=2, group_size=0)


async def test_expanding_retriever_returns_parents_and_windows(
    chunked: MilvusVectorStore,
) -> None:
    parents = ExpandingRetriever(vectorstore=chunked, k=2)
    docs = await parents.ainvoke("dogs bark in the cold park")
    assert len(docs) == 2 and len({d.id for d in docs}) == 2
    for d in docs:
        assert d.page_content == TEXTS[d.id]  # the whole document, overlaps removed
        a, b = d.metadata["matched_span"]
        assert d.metadata["matched_id"] in d.metadata["chunk_ids"]
        assert d.page_content[a:b] in TEXTS[d.id]
    windows = ExpandingRetriever(
        vectorstore=chunked, k=1, window=1, search_kwargs={"retrieval_mode": "sparse"}
    ).invoke("glide laps")
    (w,) = windows
    assert w.metadata["doc_id"] == "fish" and w.page_content in TEXTS["fish"]
    assert 2 <= len(w.metadata["chunk_ids"]) <= 3
    with pytest.raises(ValueError, match="window must be"):  # pydantic wraps the ConfigError
        ExpandingRetriever(vectorstore=chunked, window=-1)
