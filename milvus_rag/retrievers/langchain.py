"""The LangChain retrievers' public path; they live in
:mod:`milvus_rag.integrations.langchain.retrievers`."""

from __future__ import annotations

from milvus_rag.integrations.langchain.expanding import ExpandingRetriever
from milvus_rag.integrations.langchain.retrievers import (
    FanOutRetriever,
    HybridRetriever,
    MilvusVectorStoreRetriever,
)

__all__ = [
    "ExpandingRetriever",
    "FanOutRetriever",
    "HybridRetriever",
    "MilvusVectorStoreRetriever",
]
