"""AsyncMilvusStore: every I/O operation of milvus-rag, async, on ``AsyncMilvusClient``.

The store is the public façade and the collection's lifecycle (connection, ensure, drop,
close, tenant views); its work is done by three components, each behind a narrow port:
:class:`~milvus_rag.client.reads.Reader` (get, query, count, iterate),
:class:`~milvus_rag.client.writes.Writer` (upsert, delete) and
:class:`~milvus_rag.client.search.Searcher` (every search).

Example:
    >>> import asyncio
    >>> from milvus_rag import AsyncMilvusStore, Record
    >>> async def main() -> None:
    ...     store = AsyncMilvusStore(uri="./x.db", collection_name="docs", dim=2)
    ...     await store.upsert([Record(id="a", text="hello", vector=[1.0, 0.0])])
    ...     hits = await store.search(text="hello", vector=[1.0, 0.0], k=1)
    ...     await store.aclose()
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Literal, overload

from milvus_rag.client import calls, collection, vector_schema
from milvus_rag.client.adoption import LayoutAdoption
from milvus_rag.client.analyzers import check_lite25
from milvus_rag.client.config import CollectionConfig, ConnectionConfig, make_configs
from milvus_rag.client.errors import ConfigError
from milvus_rag.client.filters import Dialect, plan_filter
from milvus_rag.client.handles import HandleAccess, PymilvusHandles
from milvus_rag.client.index import Backend
from milvus_rag.client.iterate import DEFAULT_BATCH
from milvus_rag.client.locks import PerLoop, process_lock
from milvus_rag.client.pool import ClientPool
from milvus_rag.client.reads import ID_CHUNK, QUERY_WINDOW, Reader, ReadPort
from milvus_rag.client.records import Record
from milvus_rag.client.request import (
    Target,
)
from milvus_rag.client.schema import (
    SCHEMA_CACHE,
    CollectionInfo,
    analyzer_params,
    check_compatible,
)
from milvus_rag.client.search import Searcher, SearchPort
from milvus_rag.client.store_search import SearchAccess
from milvus_rag.client.tenancy import Scope, resolve, scope
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.client.vector_schema import check_builds, dims_from, with_field_dim
from milvus_rag.client.writes import EmbedFn, WritePort, Writer

__all__ = ["ID_CHUNK", "QUERY_WINDOW", "AsyncMilvusStore", "EmbedFn"]


class AsyncMilvusStore(LayoutAdoption, HandleAccess, SearchAccess):
    """Async store over one Milvus collection; created, indexed and loaded on first use.

    Example:
        >>> store = AsyncMilvusStore(uri="./x.db", collection_name="docs", dim=384)
        >>> # await store.upsert([...]); await store.search(text="q", vector=v, k=5)
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
        tenant: str | None = None,
        **options: Any,
    ) -> None:
        self.connection, self.config = make_configs(
            uri, token, collection_name, dim, connection, collection, options
        )
        self._pool = ClientPool(self.connection)
        self._handles = PymilvusHandles(self.connection)
        if self.connection.is_local:  # known without a request: what the embedded engine builds
            lite = Backend.LITE25 if self._pool.dialect is Dialect.LITE25 else Backend.LITE3
            check_builds(self.config, lite)
            if lite is Backend.LITE25 and self.config.enable_bm25 and self.config.analyzer:
                check_lite25(analyzer_params(self.config))  # its analyzers, measured
        self._derive()
        self._tenant: str | None = None
        if tenant is not None:
            resolve(self._tenancy, tenant, False, "the store")
            self._tenant = tenant
        self._read_sems = PerLoop(lambda: asyncio.Semaphore(self.config.read_concurrency))
        self._ensure_locks = PerLoop(asyncio.Lock)
        self._checked: tuple[CollectionConfig, CollectionInfo] | None = None
        self._bind()

    def _bind(self) -> None:
        """Build the components, bound to this store (view): its tenant scopes their calls."""
        read = ReadPort(
            name=self.config.name,
            config=lambda: self.config,
            call=self._call,
            ensure=self.ensure_collection,
            timeout=self.connection.timeout,
            scope=lambda f, t, a, op: self.scope(f, tenant=t, all_tenants=a, operation=op),
            dialect=self._pool.dialect,
            fields=self._fields,
            tenancy=self._tenancy,
        )
        self._reader = Reader(read)
        write = WritePort.extending(read, self.connection, self.exists, self.set_dim)
        self._writer = Writer(write, self._reader)
        self._searcher = self._make_searcher()

    def _make_searcher(self) -> Searcher:
        return Searcher(
            SearchPort(
                name=self.config.name,
                config=lambda: self.config,
                call=self._call,
                ensure=self.ensure_collection,
                read_slot=self._read_sems.get,
                count=lambda: self.count(all_tenants=True),
                timeout=self.connection.timeout,
                scope=lambda f, t, a: self.scope(f, tenant=t, all_tenants=a),
                schema_read=lambda: self._schema_read,
                known=self._known,
            ),
            Target(
                dialect=self._pool.dialect,
                fields=self._fields,
                metric=self.config.metric,
                tenant=self._tenant,
                scope_key=(self._tenancy, self._columns),
                vector_fields=self.config.vector_fields,
                primary=self.config.vector_field if self.config.enable_dense else None,
            ),
        )

    def __repr__(self) -> str:
        bound = f", tenant={self._tenant!r}" if self._tenant is not None else ""
        return (
            f"{type(self).__name__}({self.connection!r}, collection={self.config.name!r}, "
            f"dim={self.config.dim!r}{bound})"
        )

    # --- tenants ----------------------------------------------------------------------

    @property
    def tenant(self) -> str | None:
        """The tenant this store (view) is bound to, if any."""
        return self._tenant

    def for_tenant(self, tenant: str) -> AsyncMilvusStore:
        """A view of this store bound to ``tenant``: same connection, collection and caches;
        every data call defaults to that tenant (an explicit ``tenant=`` still overrides)."""
        resolve(self._tenancy, tenant, False, "for_tenant")
        view = copy.copy(self)
        view._tenant = tenant
        view._bind()
        return view

    def with_batch_size(self, batch_size: int | None) -> AsyncMilvusStore:
        """A view of this store whose writes send at most ``batch_size`` rows a request
        (still split by ``max_batch_bytes``); ``None``: this store. For callers that size
        their own writes (LangChain's ``add_documents(batch_size=)``)."""
        if batch_size is None or batch_size == self.config.batch_size:
            return self
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        view = copy.copy(self)
        view.config = dataclasses.replace(self.config, batch_size=batch_size)
        view._bind()
        return view

    def scope(
        self,
        filter: Any = None,
        *,
        tenant: str | None = None,
        all_tenants: bool = False,
        operation: str = "search",
    ) -> Scope:
        """What one data call sends (tenant clause AND the pushed-down filter) and the
        residual it checks client-side; validated, no I/O. Every read, count, delete, search
        and iteration goes through it."""
        if tenant is None and not all_tenants:
            tenant = self._tenant
        return scope(
            self._tenancy,
            tenant,
            all_tenants,
            filter,
            dialect=self._pool.dialect,
            fields=self._fields,
            columns=self._columns,
            operation=operation,
        )

    async def drop_tenant(self, tenant: str) -> int:
        """Delete every row of ``tenant``; returns how many there were."""
        await self._ready()
        return await self._writer.drop_tenant(tenant)

    # --- plumbing ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def is_local(self) -> bool:
        return self.connection.is_local

    @property
    def write_concurrency(self) -> int:
        return self._writer.concurrency

    def set_dim(self, dim: int, field: str | None = None) -> None:
        """Give a store opened without ``dim`` its embedding dimension (before first use);
        ``field``: the dim of that dense field (an extra one declared with ``dim=None``)."""
        self.config = with_field_dim(self.config, dim, field)

    async def ensure_dim(self, probe: Callable[[], Awaitable[int]] | None = None) -> int | None:
        """The embedding dim, learnt once by a store opened without ``dim``: from ``probe``
        (e.g. the embedder's dim) when given, else from the existing collection. ``None``
        when neither knows it yet: the first upsert with vectors sets it."""
        if self.config.dim is None and self.config.enable_dense:
            if probe is not None:
                dim = await probe()
            elif await self.exists():
                dim = (await self.ensure_collection()).dim
            else:
                return None
            if self.config.dim is None:
                self.set_dim(dim)
        return self.config.dim

    @property
    def dialect(self) -> Dialect:
        """The expression dialect of this backend (for raw expressions built by callers)."""
        return self._pool.dialect

    def compile_filter(self, filter: Any) -> str | None:
        """The Milvus expression sent for ``filter`` on this backend (validated, no I/O;
        FilterError only for a filter invalid everywhere). Where the backend cannot express a
        part, this is a superset and the rest is checked client-side: :meth:`scope` says
        both, with the tenant clause."""
        return plan_filter(
            filter, dialect=self._pool.dialect, fields=self._fields, columns=self._columns
        ).expr

    def _call(
        self,
        operation: str,
        fn: Callable[[Any], Awaitable[Any]],
        timeout: float | None = None,
    ) -> Awaitable[Any]:
        """``fn(client)`` with retries, recovering once from a drop behind our back; each try
        within ``timeout`` seconds where given (see :func:`calls.call`). The coroutine of
        ``calls.call`` itself (no frame of its own: every data call awaits through it)."""
        return calls.call(
            self._pool,
            self.connection,
            self.name,
            operation,
            fn,
            self.ensure_collection,
            timeout=timeout,
        )

    @property
    def _timeout(self) -> float | None:
        return self.connection.timeout

    # --- collection -------------------------------------------------------------------

    async def ensure_collection(self, *, fresh: bool = False) -> CollectionInfo:
        """Create (schema, indexes, load) if missing, else check and load it. Idempotent.
        ``fresh``: read the collection again (after a change made through the pymilvus
        handles, e.g. a dropped index, which this process's cached schema does not see)."""
        if fresh:
            SCHEMA_CACHE.invalidate(self.connection.key, self.name)
        info = SCHEMA_CACHE.get(self.connection.key, self.name)
        if info is None:
            async with self._ensure_locks.get():
                info = SCHEMA_CACHE.get(self.connection.key, self.name)
                if info is None:
                    async with process_lock("ensure", self.connection.key, self.name):
                        info = await self._call("ensure_collection", self._ensure)
                    SCHEMA_CACHE.put(self.connection.key, info)
        self._adopt(info)
        seen = self._checked  # every search comes here: check a (config, schema) pair once
        if seen is None or seen[0] is not self.config or seen[1] is not info:
            check_compatible(self.config, info)
            # remember the dims: a later drop() must be able to recreate
            self.config = dims_from(self.config, info)
            self._checked = (self.config, info)
        return info

    def _known(self) -> CollectionInfo | None:
        """The collection's description when :meth:`ensure_collection` (and ``_ready``)
        would do nothing: cached, adopted and checked for this config (no I/O); else
        ``None``. Every search asks, to skip awaiting them."""
        info = SCHEMA_CACHE.get(self.connection.key, self.config.name)
        if info is None:
            return None
        checked, adopted, cfg = self._checked, self._adopted, self.config
        if (
            checked is not None
            and adopted is not None
            and checked[1] is info
            and adopted[0] is info
            and checked[0] is cfg
            and adopted[1] is cfg
        ):
            return info
        return None

    async def existing_vector_fields(self) -> tuple[VectorField, ...] | None:
        """The collection's vector fields as they are (dim, metric, index), read without
        checking them against this store's config; ``None`` if it does not exist. A front
        adopting what its caller left unset reads them here (no collection is created)."""

        async def op(c: Any) -> tuple[VectorField, ...] | None:
            return await collection.existing_vector_fields(c, self.name, self._timeout)

        result: tuple[VectorField, ...] | None = await self._call("describe_collection", op)
        return result

    async def _ensure(self, client: Any) -> CollectionInfo:
        return await collection.ensure(client, self.config, self._timeout, self._pool.dialect)

    async def drop(self) -> None:
        """Drop the collection (all rows); the next operation recreates it."""
        SCHEMA_CACHE.invalidate(self.connection.key, self.name)

        async def op(c: Any) -> None:
            if await c.has_collection(self.name, timeout=self._timeout):
                await c.drop_collection(self.name, timeout=self._timeout)

        try:
            await self._call("drop", op)
        finally:
            self._writer.wrote()
        SCHEMA_CACHE.invalidate(self.connection.key, self.name)

    async def exists(self) -> bool:
        return bool(
            await self._call(
                "has_collection", lambda c: c.has_collection(self.name, timeout=self._timeout)
            )
        )

    async def list_collections(self) -> list[str]:
        return list(
            await self._call(
                "list_collections", lambda c: c.list_collections(timeout=self._timeout)
            )
        )

    async def list_databases(self) -> list[str]:
        """The databases of this Milvus server (BackendError on Milvus Lite 2.5, which has
        none: measured, it answers UNIMPLEMENTED)."""
        return list(
            await self._call("list_databases", lambda c: c.list_databases(timeout=self._timeout))
        )

    async def describe(self) -> dict[str, Any]:
        """Schema summary and row count of the collection."""
        info = await self.ensure_collection()
        return {
            "layout": info.layout.name if info.layout is not None else None,
            "layout_fields": info.layout.to_dict() if info.layout is not None else None,
            "name": info.name,
            "dim": info.dim,
            "metric": info.metric,
            "bm25": info.has_bm25,
            "vector_fields": [vector_schema.to_dict(f) for f in info.vector_fields or ()],
            "fields": list(info.field_names),
            "analyzer": info.analyzer,
            "tenant_field": self.config.tenant_field,
            "metadata_fields": dict(self.config.metadata_fields),
            "count": await self.count(all_tenants=True),
        }

    async def flush(self) -> None:
        """Seal written data (Milvus Lite 3 searches sealed data about 10x faster)."""
        await self.ensure_collection()
        await self._call("flush", lambda c: c.flush(self.name, timeout=self._timeout))

    async def aclose(self) -> None:
        """Close every client this store opened (the pymilvus handles too), and the embedded
        engine's file lock."""
        try:
            await self._pool.aclose()
        finally:
            await self._handles.aclose()

    close = aclose

    async def __aenter__(self) -> AsyncMilvusStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- writes (executed by the Writer component) ------------------------------------

    async def upsert(
        self,
        records: Sequence[Record],
        *,
        embed: EmbedFn | None = None,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[str]:
        """Insert or replace rows by id. Returns the ids written, in order.

        Every record is validated before anything is written. With ``embed``, records
        without a vector are embedded batch by batch while earlier batches are written.
        On failure, :class:`BackendError.written_ids` lists the ids that were stored.
        On a tenant collection the rows are stamped with ``tenant`` (with ``all_tenants=True``
        each row names its tenant in ``metadata[tenant_field]``); an id already used by
        another tenant's row raises InvalidInputError and nothing is written.
        """
        await self._ready()
        return await self._writer.upsert(records, embed, tenant, all_tenants)

    async def delete(
        self,
        ids: Sequence[str] | None = None,
        *,
        filter: Any = None,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> int:
        """Delete the rows whose id is in ``ids`` or that match ``filter`` (either), of the
        call's tenant only on a tenant collection.

        Returns how many rows matched just before deleting (Milvus Lite reports 0 itself).
        """
        await self._ready()
        return await self._writer.delete(ids, filter, tenant, all_tenants)

    # --- reads (executed by the Reader component) -------------------------------------

    async def get(
        self,
        ids: Sequence[str],
        *,
        with_vectors: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[Record]:
        """Rows by id, in the order asked; ids not found (or of another tenant) are left out."""
        await self._ready()
        return await self._reader.get(ids, with_vectors, tenant, all_tenants)

    async def query(
        self,
        filter: Any = None,
        *,
        limit: int = 1000,
        offset: int = 0,
        with_vectors: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[Record]:
        """Rows matching ``filter`` (no ranking), at most ``limit``."""
        await self._ready()
        return await self._reader.query(filter, limit, offset, with_vectors, tenant, all_tenants)

    async def count(
        self, filter: Any = None, *, tenant: str | None = None, all_tenants: bool = False
    ) -> int:
        """Number of rows, or of rows matching ``filter`` (of the call's tenant)."""
        await self._ready()
        return await self._reader.count(filter, tenant, all_tenants)

    @overload
    def iterate(
        self,
        filter: Any = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        output: Literal["records"] = "records",
        with_vectors: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> AsyncIterator[Record]: ...

    @overload
    def iterate(
        self,
        filter: Any = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        output: Literal["ids"],
        with_vectors: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> AsyncIterator[str]: ...

    async def iterate(
        self,
        filter: Any = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        output: Literal["records", "ids"] = "records",
        with_vectors: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> AsyncIterator[Record | str]:
        """Every row matching ``filter`` (of the call's tenant), each once, in id order, with
        no 16,384-row ceiling.

        ``output="ids"`` yields the ids only. ``batch_size`` rows are read per request.
        Example: ``async for rec in store.iterate({"lang": "en"}): ...``
        """
        async for page in self.iterate_pages(
            filter,
            batch_size=batch_size,
            output=output,
            with_vectors=with_vectors,
            tenant=tenant,
            all_tenants=all_tenants,
        ):
            for item in page:
                yield item

    async def iterate_pages(
        self,
        filter: Any = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        output: Literal["records", "ids"] = "records",
        with_vectors: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
        after: str | None = None,
    ) -> AsyncIterator[list[Any]]:
        """:meth:`iterate` a page at a time: lists of records (or of ids). ``after``: start
        past that id (the last id of an earlier page), to resume a walk in a later call."""
        await self._ready()
        async for page in self._reader.iterate_pages(
            filter, batch_size, output, with_vectors, tenant, all_tenants, after
        ):
            yield page
