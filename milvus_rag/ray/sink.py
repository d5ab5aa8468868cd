"""MilvusDatasink: Ray Data writes embedded rows into Milvus through the core store.

Each write task upserts its rows with :class:`~milvus_rag.client.sync.MilvusStore` (one store
per worker process, reused across tasks): validated as a whole before anything is written,
batched by bytes, BM25 computed by the server, the schema the LangChain and LlamaIndex
stores read. Upserts by id make a retried task harmless: with content-hash ids a row
written twice is still one row.

Example:
    >>> sink = MilvusDatasink("http://localhost:19530", collection_name="docs")  # doctest: +SKIP
    >>> embed_documents(ds).write_datasink(sink)  # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ray.data import Datasink
from ray.data.block import BlockAccessor

from milvus_rag.client.config import CollectionConfig, ConnectionConfig, make_configs
from milvus_rag.client.errors import ConfigError
from milvus_rag.client.records import Record
from milvus_rag.client.sync import MilvusStore
from milvus_rag.ray.rows import VECTOR_COLUMN, to_records

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["MilvusDatasink", "Target"]

_STORES: dict[tuple[object, ...], MilvusStore] = {}
_STORES_LOCK = threading.Lock()
DEFAULT_ROWS_PER_WRITE = 2000


@dataclass(frozen=True)
class Target:
    """Where rows go: a Milvus server or cluster and one collection (picklable)."""

    connection: ConnectionConfig
    collection: CollectionConfig

    @classmethod
    def of(
        cls,
        uri: str | None,
        token: str | None,
        collection_name: str | None,
        dim: int | None,
        connection: ConnectionConfig | None,
        collection: CollectionConfig | None,
        options: dict[str, Any],
    ) -> Target:
        conn, coll = make_configs(uri, token, collection_name, dim, connection, collection, options)
        if conn.is_local:
            raise ConfigError(
                f"{conn.uri!r} is a Milvus Lite file: its engine runs inside one process, so "
                "Ray workers cannot write to it. Give the uri of a Milvus server or cluster "
                "('http://host:19530'; locally: `milvus-lite server` or Milvus standalone), "
                "or ingest in one process with `milvus-rag ingest` / AsyncMilvusStore.upsert"
            )
        return cls(conn, coll)

    def store(self) -> MilvusStore:
        """This process's store of the target (created once, reused by every task)."""
        key = (self.connection.key, repr(self.collection))  # the analyzer may be a dict
        with _STORES_LOCK:
            store = _STORES.get(key)
            if store is None:
                store = _STORES[key] = MilvusStore(
                    connection=self.connection, collection=self.collection
                )
            return store

    def count(self) -> int:
        """Rows in the collection (0 when it does not exist yet)."""
        store = self.store()
        return store.count() if store.exists() else 0


def dim_of_schema(schema: pa.Schema | None, column: str = VECTOR_COLUMN) -> int | None:
    """The vector width of a dataset's schema (Ray's tensor type or a fixed-size list)."""
    if schema is None or column not in schema.names:
        return None
    kind = schema.field(column).type
    shape = getattr(kind, "shape", None)
    if shape is not None and len(shape) == 1 and shape[0]:
        return int(shape[0])
    size = getattr(kind, "list_size", None)
    return int(size) if size else None


class MilvusDatasink(Datasink[int]):
    """A Ray Data sink writing embedded rows (``id``, ``text``, ``doc_id``, ``metadata``,
    ``vector``) into a Milvus server or cluster, through the core store.

    Takes the arguments of :class:`~milvus_rag.AsyncMilvusStore` (``uri``, ``token``,
    ``collection_name``, ``dim``, collection options...). A Milvus Lite file is refused with
    :class:`ConfigError`. The collection is created (or checked) on the driver when the first
    rows are ready, with the dim of their vectors. Each write task gets at least
    ``rows_per_write`` rows and upserts them in one call: a bad row fails the task before
    any row of it is written. After the job, :attr:`rows_upserted` holds how many rows the
    tasks that succeeded upserted.

    Example:
        >>> from milvus_rag.ray import MilvusDatasink, embed_documents
        >>> sink = MilvusDatasink("http://localhost:19530", collection_name="docs")  # doctest: +SKIP
        >>> embed_documents(ds).write_datasink(sink); sink.rows_upserted  # doctest: +SKIP
        20000
    """

    def __init__(
        self,
        uri: str | None = None,
        *,
        token: str | None = None,
        collection_name: str | None = None,
        dim: int | None = None,
        connection: ConnectionConfig | None = None,
        collection: CollectionConfig | None = None,
        rows_per_write: int = DEFAULT_ROWS_PER_WRITE,
        **options: Any,
    ) -> None:
        if isinstance(rows_per_write, bool) or not isinstance(rows_per_write, int):
            raise ConfigError(f"rows_per_write must be an integer, got {rows_per_write!r}")
        if rows_per_write < 1:
            raise ConfigError("rows_per_write must be >= 1")
        self.target = Target.of(uri, token, collection_name, dim, connection, collection, options)
        self.rows_per_write = rows_per_write
        self.rows_upserted: int | None = None

    def __repr__(self) -> str:
        return (
            f"MilvusDatasink({self.target.connection!r}, "
            f"collection={self.target.collection.name!r})"
        )

    def get_name(self) -> str:
        return "Milvus"

    @property
    def min_rows_per_write(self) -> int:
        return self.rows_per_write

    def on_write_start(self, schema: pa.Schema | None = None) -> None:
        """Create or check the collection, on the driver, before any write task runs."""
        self.rows_upserted = None
        store = self.target.store()
        dim = dim_of_schema(schema)
        if store.config.dim is None and dim is not None and not store.exists():
            store.set_dim(dim)
        store.ensure_collection()
        if dim is not None and store.config.dim != dim:
            raise ConfigError(
                f"the rows' vectors have dim {dim}, the collection {store.name!r} has "
                f"{store.config.dim}: use another collection or the encoder it was built with"
            )

    def write(self, blocks: Iterable[Any], ctx: Any) -> int:
        """Upsert the rows of one write task (validated as a whole first)."""
        records: list[Record] = []
        for block in blocks:
            batch = BlockAccessor.for_block(block).to_batch_format("numpy")
            records.extend(to_records(batch))
        return self.write_records(records)

    def write_records(self, records: list[Record]) -> int:
        """Upsert ``records`` (the last of several with one id wins); returns their count."""
        unique = list({r.id: r for r in records}.values())
        if unique:
            self.target.store().upsert(unique)
        return len(unique)

    def on_write_complete(self, write_result: Any) -> None:
        """Flush the collection (sealed data searches faster) and record the rows upserted."""
        self.rows_upserted = int(sum(write_result.write_returns))
        store = self.target.store()
        if store.exists():
            store.flush()
