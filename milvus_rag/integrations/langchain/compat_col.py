"""langchain-milvus's ``Milvus.col``: a read-only view of the collection, described through
the store's pymilvus ``MilvusClient`` (``col.schema.fields``, ``col.indexes``, ``col.name``),
the attributes langchain-milvus code reads off it.

Example:
    >>> col = store.col  # doctest: +SKIP
    >>> sorted(i.field_name for i in col.indexes)  # doctest: +SKIP
    ['vector_1', 'vector_2']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["CollectionView", "FieldView", "IndexView", "SchemaView"]


@dataclass(frozen=True)
class FieldView:
    """One field of the schema: its ``name``."""

    name: str


@dataclass(frozen=True)
class SchemaView:
    """The schema's ``fields``, in the collection's order."""

    fields: list[FieldView]


@dataclass(frozen=True)
class IndexView:
    """One index: ``field_name``, ``index_name`` and ``params`` (``metric_type``,
    ``index_type``)."""

    collection_name: str
    field_name: str
    index_name: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """As langchain-milvus's ``Milvus._get_index`` returns an index."""
        return {
            "collection": self.collection_name,
            "field": self.field_name,
            "index_name": self.index_name,
            "index_param": dict(self.params),
        }


class CollectionView:
    """The collection ``name`` described by the pymilvus ``client`` at each read."""

    def __init__(self, client: Any, name: str) -> None:
        self._client = client
        self.name = name

    @property
    def schema(self) -> SchemaView:
        info = self._client.describe_collection(self.name)
        return SchemaView([FieldView(f["name"]) for f in info.get("fields", [])])

    @property
    def indexes(self) -> list[IndexView]:
        out = []
        for index_name in self._client.list_indexes(self.name):
            info = self._client.describe_index(self.name, index_name)
            params = {k: info.get(k) for k in ("metric_type", "index_type")}
            out.append(IndexView(self.name, info["field_name"], index_name, params))
        return out

    def __repr__(self) -> str:
        return f"CollectionView({self.name!r})"
