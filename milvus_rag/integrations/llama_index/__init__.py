"""LlamaIndex: the vector store (:mod:`.store`), its retrievers (:mod:`.retrievers`), the node
mapping (:mod:`.nodes`), ``MetadataFilters`` (:mod:`.filters`) and the
llama-index-vector-stores-milvus-compatible settings (:mod:`.compat`).

Example:
    >>> from milvus_rag.integrations.llama_index import MilvusVectorStore
"""

from __future__ import annotations

# first: without the framework installed, its ImportError says what to install
from milvus_rag.integrations.llama_index.store import MilvusVectorStore

# isort: split

from milvus_rag.integrations.llama_index.compat import BM25BuiltInFunction, IndexManagement
from milvus_rag.integrations.llama_index.filters import metadata_filters_to_dict
from milvus_rag.integrations.llama_index.nodes import node_to_record, record_to_node

__all__ = [
    "BM25BuiltInFunction",
    "IndexManagement",
    "MilvusVectorStore",
    "metadata_filters_to_dict",
    "node_to_record",
    "record_to_node",
]
