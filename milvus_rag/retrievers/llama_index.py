"""The LlamaIndex retrievers' public path; they live in
:mod:`milvus_rag.integrations.llama_index.retrievers`."""

from __future__ import annotations

from milvus_rag.integrations.llama_index.expanding import ExpandingRetriever
from milvus_rag.integrations.llama_index.retrievers import FanOutRetriever, HybridRetriever

__all__ = ["ExpandingRetriever", "FanOutRetriever", "HybridRetriever"]
