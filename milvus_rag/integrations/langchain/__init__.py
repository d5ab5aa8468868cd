"""LangChain: the vector store (:mod:`.store`), its retrievers (:mod:`.retrievers`), the
``Document`` mapping (:mod:`.documents`) and the langchain-milvus-compatible front
(:mod:`.compat`, ``Milvus``).

Example:
    >>> from milvus_rag.integrations.langchain import MilvusVectorStore
"""

from __future__ import annotations

# first: without the framework installed, its ImportError says what to install
from milvus_rag.integrations.langchain.store import MilvusVectorStore

# isort: split

from milvus_rag.integrations.langchain.compat import Milvus
from milvus_rag.integrations.langchain.compat_settings import BM25BuiltInFunction
from milvus_rag.integrations.langchain.documents import (
    doc_id_of,
    document_to_record,
    record_to_document,
)
from milvus_rag.integrations.langchain.retrievers import MilvusVectorStoreRetriever

__all__ = [
    "BM25BuiltInFunction",
    "Milvus",
    "MilvusVectorStore",
    "MilvusVectorStoreRetriever",
    "doc_id_of",
    "document_to_record",
    "record_to_document",
]
