"""The common async layer: knows Milvus, knows no framework.

The store classes are imported on first use (PEP 562), so that importing the configs, errors
and records (the ``milvus-rag mcp`` server does, before it answers ``initialize``) does not
import pymilvus.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
from milvus_rag.client.records import Hit, Record
from milvus_rag.client.request import Leg, RetrievalMode, SearchRequest
from milvus_rag.client.vector_fields import VectorField

if TYPE_CHECKING:
    from milvus_rag.client.store import AsyncMilvusStore
    from milvus_rag.client.sync import MilvusStore

_LAZY = {"AsyncMilvusStore": "milvus_rag.client.store", "MilvusStore": "milvus_rag.client.sync"}

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
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
