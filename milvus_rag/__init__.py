"""milvus-rag: one Milvus vector store for LangChain and LlamaIndex, on one async client.

Example:
    >>> from milvus_rag import MilvusStore, Record, RetrievalMode
    >>> store = MilvusStore(uri="./x.db", collection_name="docs", dim=384)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from milvus_rag.client import (
    BackendError,
    BackendUnavailableError,
    CollectionConfig,
    ConfigError,
    ConnectionConfig,
    FilterError,
    Hit,
    InvalidInputError,
    Leg,
    MilvusRAGError,
    Record,
    RetrievalMode,
    SchemaMismatchError,
    SearchRequest,
    VectorField,
)

if TYPE_CHECKING:
    from milvus_rag.client import AsyncMilvusStore, MilvusStore

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
    "Leg",
    "MilvusRAGError",
    "MilvusStore",
    "Record",
    "RetrievalMode",
    "SchemaMismatchError",
    "SearchRequest",
    "VectorField",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # The stores import pymilvus: on first use only (see milvus_rag.client).
    if name in ("AsyncMilvusStore", "MilvusStore"):
        import milvus_rag.client as client

        value = getattr(client, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
