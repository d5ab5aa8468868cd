"""The public surface, pinned: what ``milvus_rag`` and each adapter module export, and a
sync store with exactly the async store's API (same methods, same parameters)."""

from __future__ import annotations

import importlib
import inspect

import pytest

from milvus_rag import AsyncMilvusStore, MilvusStore

SURFACE: dict[str, list[str]] = {
    "milvus_rag": [
        "AsyncMilvusStore",
        "BackendError",
        "BackendUnavailableError",
        "CollectionConfig",
        "ConfigError",
        "ConnectionConfig",
        "FilterError",
        "Hit",
        "InvalidInputError",
        "Leg",
        "MilvusRAGError",
        "MilvusStore",
        "Record",
        "RetrievalMode",
        "SchemaMismatchError",
        "SearchRequest",
        "VectorField",
        "__version__",
    ],
    "milvus_rag.client": [
        "AsyncMilvusStore",
        "BackendError",
        "BackendUnavailableError",
        "CollectionConfig",
        "ConfigError",
        "ConnectionConfig",
        "FilterError",
        "Hit",
        "InvalidInputError",
        "Leg",
        "MilvusRAGError",
        "MilvusStore",
        "Record",
        "RetrievalMode",
        "SchemaMismatchError",
        "SearchRequest",
        "VectorField",
    ],
    "milvus_rag.integrations.langchain": [
        "BM25BuiltInFunction",
        "Milvus",
        "MilvusVectorStore",
        "MilvusVectorStoreRetriever",
        "doc_id_of",
        "document_to_record",
        "record_to_document",
    ],
    "milvus_rag.integrations.llama_index": [
        "BM25BuiltInFunction",
        "IndexManagement",
        "MilvusVectorStore",
        "metadata_filters_to_dict",
        "node_to_record",
        "record_to_node",
    ],
    "milvus_rag.integrations.mcp": [
        "MCPSettings",
        "MilvusMCPState",
        "TOKEN_ENV",
        "build_server",
        "serve",
    ],
    "milvus_rag.retrievers.langchain": [
        "ExpandingRetriever",
        "FanOutRetriever",
        "HybridRetriever",
        "MilvusVectorStoreRetriever",
    ],
    "milvus_rag.retrievers.llama_index": [
        "ExpandingRetriever",
        "FanOutRetriever",
        "HybridRetriever",
    ],
    "milvus_rag.embeddings": ["Encoder", "SentenceTransformerEncoder"],
    "milvus_rag.cli": ["main"],
    "milvus_rag.ingest": [
        "DEFAULT_CHUNK_OVERLAP",
        "DEFAULT_CHUNK_SIZE",
        "Discovery",
        "PDF_SUFFIXES",
        "SOURCE_KEY",
        "SUPPORTED_SUFFIXES",
        "TEXT_SUFFIXES",
        "canonical_filter",
        "canonical_source",
        "chunk_id",
        "chunk_text",
        "discover",
        "discover_files",
        "file_doc_id",
        "file_records",
        "looks_like_text",
        "read_pages",
        "source_doc_id",
    ],
    "milvus_rag.evaluation": [
        "BeirDataset",
        "DEFAULT_METRICS",
        "EVAL_COLLECTION",
        "MODES",
        "ModeSpec",
        "STOPWORDS",
        "aevaluate_modes",
        "aingest",
        "arun_eval",
        "evaluate",
        "fanout_variants",
        "format_table",
        "load_beir",
        "mrr_at_k",
        "ndcg_at_k",
        "parse_mode",
        "rank_scores",
        "recall_at_k",
        "remove_stopwords",
        "run_eval",
    ],
    "milvus_rag.embeddings.langchain": ["SentenceTransformerEmbeddings"],
    "milvus_rag.embeddings.llama_index": ["SentenceTransformerEmbedding"],
}


@pytest.mark.parametrize("module", sorted(SURFACE))
def test_module_exports_are_pinned(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(SURFACE[module]), (
        f"{module}.__all__ changed: update SURFACE (and the README) on purpose"
    )
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert not missing


ASYNC_ONLY = {"aclose", "share_handles"}  # close() is the same call; share_handles: fronts
SYNC_ONLY = {"from_async", "aio"}  # wraps an existing async store


def _public(obj: object) -> dict[str, object]:
    """Public attributes of an instance: methods (as defined on the class), properties and
    attributes set in ``__init__``."""
    return {n: inspect.getattr_static(obj, n) for n in dir(obj) if not n.startswith("_")}


def test_sync_and_async_stores_have_the_same_api() -> None:
    kw = {"uri": "http://127.0.0.1:9", "collection_name": "x", "dim": 2}  # no I/O in __init__
    a = {n: v for n, v in _public(AsyncMilvusStore(**kw)).items() if n not in ASYNC_ONLY}
    s = {n: v for n, v in _public(MilvusStore(**kw)).items() if n not in SYNC_ONLY}
    assert sorted(a) == sorted(s)
    for name, member in a.items():
        other = s[name]
        if not callable(member) or isinstance(member, property):
            assert not callable(other) or isinstance(other, property), name
            continue
        sig_a, sig_s = inspect.signature(member), inspect.signature(other)  # type: ignore[arg-type]
        assert list(sig_a.parameters.values()) == list(sig_s.parameters.values()), name
        a_async = inspect.iscoroutinefunction(member)
        assert not inspect.iscoroutinefunction(other), f"MilvusStore.{name} must be sync"
        if a_async:  # same result type: the sync call returns what the coroutine returns
            assert sig_a.return_annotation == sig_s.return_annotation, name
