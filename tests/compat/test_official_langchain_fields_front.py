"""Collections of several vector fields that langchain-milvus 0.4 created itself (two dense
fields; two dense fields and BM25, the second dense field indexed with IP), opened by
milvus-rag's langchain-milvus-compatible ``Milvus`` with the same arguments minus
``index_params``: each field keeps the collection's metric, every field is searched, a
weighted reranker picks fields in langchain-milvus's order, and rows written through the
front are found there (both backends)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from milvus_rag.integrations.langchain import BM25BuiltInFunction, Milvus
from tests.backends import Backend
from tests.compat.capture_vector_fields import TEXTS, vector
from tests.compat.test_official_vector_fields import create

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Salted(Embeddings):
    """The embeddings langchain-milvus wrote the collection with (capture_vector_fields)."""

    def __init__(self, salt: str) -> None:
        self.salt = salt

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [vector(t, self.salt) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return vector(text, self.salt)


class Weights:  # a pymilvus weighted RERANK Function's shape
    def __init__(self, *weights: float) -> None:
        self.params = {"reranker": "weighted", "weights": list(weights)}


def test_langchain_milvus_multi_vector_collections_open_in_the_front(
    backend: Backend, tmp_path: Path
) -> None:
    uri = backend.uri if not backend.is_local else str(tmp_path / "official.db")
    create("langchain", uri, tmp_path / "langchain")
    for name, bm25 in (("lc_two_dense", False), ("lc_two_dense_bm25", True)):
        kwargs: dict[str, Any] = {"builtin_function": BM25BuiltInFunction()} if bm25 else {}
        store = Milvus(
            embedding_function=[Salted("title"), Salted("body")],
            vector_field=["title", "body", *(["sparse"] if bm25 else [])],
            collection_name=name,
            connection_args={"uri": uri},
            consistency_level="Strong",
            auto_id=True,
            **kwargs,
        )
        try:
            assert len(store.similarity_search("cats and dogs", k=10)) == len(TEXTS), name
            metrics = {f.name: f.metric for f in store.store.config.vector_fields}
            assert metrics["title"] == "L2" and metrics["body"] == ("IP" if bm25 else "L2")
            weights = (1.0, 0.0, 0.0) if bm25 else (1.0, 0.0)
            got = store.similarity_search("birds fly", k=1, reranker=Weights(*weights))
            assert [d.page_content for d in got] == ["birds fly"], name
            assert got[0].metadata["source"] == "s1"
            if bm25:
                only_bm25 = store.similarity_search("fish", k=1, reranker=Weights(0, 0, 1))
                assert [d.page_content for d in only_bm25] == ["fish swim"]
            store.add_texts(["new words here"], [{"source": "mine"}])
            mine = store.search_by_metadata("source == 'mine'")
            assert [d.page_content for d in mine] == ["new words here"], name
        finally:
            store.drop()
            store.close()
