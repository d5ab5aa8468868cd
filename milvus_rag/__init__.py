"""milvus-rag: one Milvus vector store for LangChain and LlamaIndex, on one async client.

Example:
    >>> from milvus_rag import MilvusStore, Record, RetrievalMode
    >>> store = MilvusStore(uri="./x.db", collection_name="docs", dim=384)
"""

from milvus_rag.client import (
    AsyncMilvusStore,
    BackendError,
    BackendUnavailableError,
    CollectionConfig,
    ConfigError,
    ConnectionConfig,
    FilterError,
    Hit,
    InvalidInputError,
    MilvusRAGError,
    MilvusStore,
    Record,
    RetrievalMode,
    SchemaMismatchError,
    SearchRequest,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncMilvusStore",
    "BackendError",
    "BackendUnavailableError",
    "CollectionConfig",
    "ConfigError",
    "ConnectionConfig",
    "FilterError",
    "Hit",
    "InvalidInputError",
    "MilvusRAGError",
    "MilvusStore",
    "Record",
    "RetrievalMode",
    "SchemaMismatchError",
    "SearchRequest",
    "__version__",
]
