"""llama-index-vector-stores-milvus's quickstart (LlamaIndex's and Milvus's docs), run with
only the import changed: VectorStoreIndex.from_documents, a query engine, metadata filters,
delete by ref_doc_id, and hybrid search with enable_sparse (BM25BuiltInFunction)."""

from __future__ import annotations

import difflib
import textwrap
from typing import Any

import pytest

from tests.backends import Backend
from tests.conftest import new_name

pytestmark = pytest.mark.integration

ORIGINAL = (
    "from llama_index.vector_stores.milvus import MilvusVectorStore\n"
    "from llama_index.vector_stores.milvus.utils import BM25BuiltInFunction\n"
)
OURS = (
    "from milvus_rag.integrations.llama_index import MilvusVectorStore\n"
    "from milvus_rag.integrations.llama_index import BM25BuiltInFunction\n"
)

# The quickstart as its users write it; a hash embedding and MockLLM stand in for OpenAI.
QUICKSTART = ORIGINAL + textwrap.dedent(
    '''
    import hashlib

    from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.core.llms import MockLLM
    from llama_index.core.vector_stores import ExactMatchFilter, MetadataFilters


    class HashEmbedding(BaseEmbedding):
        """Words hashed into 16 buckets (stands for OpenAIEmbedding)."""

        def _embed(self, text: str) -> list[float]:
            v = [0.0] * 16
            for w in text.lower().replace(".", " ").split():
                v[hashlib.md5(w.encode()).digest()[0] % 16] += 1.0
            n = sum(x * x for x in v) ** 0.5 or 1.0
            return [x / n for x in v]

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._embed(text)

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._embed(query)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._embed(query)


    Settings.embed_model = HashEmbedding()
    Settings.llm = MockLLM()

    documents = [
        Document(text="Uber's revenue grew in 2021 as rides recovered.",
                 metadata={"file_name": "uber_2021.pdf"}, id_="uber"),
        Document(text="Lyft reported rides and revenue for 2021.",
                 metadata={"file_name": "lyft_2021.pdf"}, id_="lyft"),
        Document(text="Paul Graham wrote essays about painting and programming.",
                 metadata={"file_name": "paul_graham_essay.txt"}, id_="pg"),
    ]

    # Quickstart: a Milvus Lite file (or a server uri), dim of the embedding, overwrite
    vector_store = MilvusVectorStore(uri=URI, token=TOKEN, collection_name=NAME, dim=16,
                                     overwrite=True)
    storage_context = StorageContext.from_defaults(vector_store=vector_store)
    index = VectorStoreIndex.from_documents(documents, storage_context=storage_context)

    query_engine = index.as_query_engine()
    res = query_engine.query("What did the author write about painting?")
    RESULTS["plain"] = [n.node.ref_doc_id for n in res.source_nodes]

    # Metadata filtering
    filters = MetadataFilters(filters=[ExactMatchFilter(key="file_name", value="uber_2021.pdf")])
    query_engine = index.as_query_engine(filters=filters)
    res = query_engine.query("How did revenue change in 2021?")
    RESULTS["filtered"] = [n.node.metadata["file_name"] for n in res.source_nodes]

    # Delete a document by its ref_doc_id
    index.delete_ref_doc("lyft")
    res = index.as_retriever(similarity_top_k=5).retrieve("rides and revenue in 2021")
    RESULTS["after_delete"] = sorted({n.node.ref_doc_id for n in res})

    # Hybrid search: dense + BM25 (Milvus's built-in function), RRF
    hybrid_store = MilvusVectorStore(
        uri=URI,
        token=TOKEN,
        collection_name=NAME + "_hybrid",
        dim=16,
        overwrite=True,
        enable_sparse=True,
        sparse_embedding_function=BM25BuiltInFunction(
            analyzer_params={"tokenizer": "standard", "filter": ["lowercase"]},
        ),
        hybrid_ranker="RRFRanker",
        hybrid_ranker_params={"k": 60},
    )
    storage_context = StorageContext.from_defaults(vector_store=hybrid_store)
    index = VectorStoreIndex.from_documents(documents, storage_context=storage_context)
    query_engine = index.as_query_engine(vector_store_query_mode="hybrid", similarity_top_k=2)
    res = query_engine.query("essays about painting")
    RESULTS["hybrid"] = [n.node.ref_doc_id for n in res.source_nodes]
    retriever = index.as_retriever(vector_store_query_mode="text_search", similarity_top_k=1)
    RESULTS["text_search"] = [n.node.ref_doc_id for n in retriever.retrieve("Lyft")]
    hybrid_store.clear()
    vector_store.clear()
    '''
)


def test_only_the_import_changes(backend: Backend) -> None:
    script = QUICKSTART.replace(ORIGINAL, OURS)
    changed = [
        line
        for line in difflib.unified_diff(QUICKSTART.splitlines(), script.splitlines(), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == ["-" + line for line in ORIGINAL.splitlines()] + [
        "+" + line for line in OURS.splitlines()
    ]
    results: dict[str, Any] = {}
    namespace = {
        "URI": backend.uri,
        "TOKEN": backend.token,
        "NAME": new_name("qs"),
        "RESULTS": results,
        "__name__": "quickstart",
    }
    from llama_index.core import Settings

    saved = (Settings._embed_model, Settings._llm)
    try:
        exec(compile(script, "quickstart.py", "exec"), namespace)
    finally:
        Settings._embed_model, Settings._llm = saved
    # llama-index-vector-stores-milvus 1.2 itself (its own venv, Milvus Lite 2.5.1) returned
    # exactly these for the script with its original import (checked by hand, 2026-12-01)
    assert results == {
        "plain": ["pg", "lyft"],
        "filtered": ["uber_2021.pdf"],
        "after_delete": ["pg", "uber"],
        "hybrid": ["pg", "lyft"],
        "text_search": ["lyft"],
    }
