"""The common async layer: knows Milvus, knows no framework."""

from milvus_rag.client import compat  # noqa: F401  (first: before pymilvus is imported)
from milvus_rag.client.config import CollectionConfig, ConnectionConfig
from milvus_rag.client.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    FilterError,
    InvalidInputError,
    MilvusRAGError,
    SchemaMismatchError,
)
from milvus_rag.client.records import Hit, Record, RetrievalMode, SearchRequest
from milvus_rag.client.store import AsyncMilvusStore
from milvus_rag.client.sync import MilvusStore

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
]
