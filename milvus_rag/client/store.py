"""AsyncMilvusStore: every I/O operation of milvus-rag, async, on ``AsyncMilvusClient``.

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
import contextlib
import copy
import functools
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar, overload

import numpy as np

from milvus_rag.client import collection, lite_ids, rows
from milvus_rag.client.config import CollectionConfig, ConnectionConfig, make_configs
from milvus_rag.client.errors import (
    BackendError,
    ConfigError,
    InvalidInputError,
    is_empty_collection,
    is_missing_collection,
    is_released_collection,
)
from milvus_rag.client.filters import (
    Column,
    Dialect,
    FieldNames,
    ids_expr,
    plan_filter,
    string_literal,
)
from milvus_rag.client.index import Backend, check_buildable
from milvus_rag.client.iterate import DEFAULT_BATCH, check_batch_size, pages
from milvus_rag.client.lite_ids import WRITES, StoredIds
from milvus_rag.client.locks import process_lock
from milvus_rag.client.pipeline import off_loop, run_pipeline
from milvus_rag.client.pool import ClientPool
from milvus_rag.client.records import (
    Hit,
    Limits,
    Record,
    plan_batches,
    validate_records,
)
from milvus_rag.client.request import (
    DEFAULT_K,
    Ranker,
    RetrievalMode,
    SearchRequest,
    Target,
    check_k,
)
from milvus_rag.client.retry import with_retries
from milvus_rag.client.schema import SCHEMA_CACHE, CollectionInfo, check_compatible, nullable_for
from milvus_rag.client.search import Searcher, SearchPort
from milvus_rag.client.tenancy import Scope, Tenancy, and_tenant, resolve, scope

log = logging.getLogger("milvus_rag")
EmbedFn = Callable[[list[str]], Awaitable[Sequence[Sequence[float]] | np.ndarray]]
QUERY_WINDOW = 16384
ID_CHUNK = 1000
"""Ids per request of a read or delete by id (an ``id in [...]`` expression)."""
L = TypeVar("L")


class AsyncMilvusStore:
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
        if self.connection.is_local:  # known without a request: what the embedded engine builds
            lite = Backend.LITE25 if self._pool.dialect is Dialect.LITE25 else Backend.LITE3
            check_buildable(self.config.built_index_type, lite)
        cfg = self.config
        self._fields = FieldNames(
            id=cfg.id_field, doc_id=cfg.doc_id_field, metadata=cfg.metadata_field
        )
        self._tenancy = Tenancy(cfg.tenant_field)
        self._columns = tuple(Column(f.name, f.element, f.array) for f in cfg.typed_fields)
        self._tenant: str | None = None
        if tenant is not None:
            resolve(self._tenancy, tenant, False, "the store")
            self._tenant = tenant
        self._read_sems: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._read_sems = weakref.WeakKeyDictionary()
        self._ensure_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
        self._ensure_locks = weakref.WeakKeyDictionary()
        self._searcher = self._make_searcher()

    def _make_searcher(self) -> Searcher:
        """The search component, bound to this store (view): its tenant scopes searches."""
        return Searcher(
            SearchPort(
                name=self.config.name,
                config=lambda: self.config,
                call=self._call,
                ensure=self.ensure_collection,
                read_slot=self._read_sem,
                count=lambda: self.count(all_tenants=True),
                timeout=self.connection.timeout,
                scope=lambda f, t, a: self.scope(f, tenant=t, all_tenants=a),
            ),
            Target(
                dialect=self._pool.dialect,
                fields=self._fields,
                metric=self.config.metric,
                tenant=self._tenant,
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
        view._searcher = view._make_searcher()
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
        resolve(self._tenancy, tenant, False, "drop_tenant")
        return await self._delete(None, None, tenant, False, whole_tenant=True)

    # --- plumbing ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def is_local(self) -> bool:
        return self.connection.is_local

    @property
    def write_concurrency(self) -> int:
        return self.config.write_concurrency or (1 if self.connection.is_local else 2)

    def set_dim(self, dim: int) -> None:
        """Give a store opened without ``dim`` its embedding dimension (before first use)."""
        if self.config.dim == dim:
            return
        if self.config.dim is not None:
            raise ConfigError(
                f"collection {self.name!r} is configured with dim {self.config.dim}, not {dim}"
            )
        self.config = self.config.with_dim(dim)

    async def ensure_dim(self, probe: Callable[[], Awaitable[int]] | None = None) -> int | None:
        """The embedding dim, learnt once by a store opened without ``dim``: from ``probe``
        (e.g. the embedder's dim) when given, else from the existing collection. ``None``
        when neither knows it yet: the first upsert with vectors sets it."""
        if self.config.dim is None:
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

    @staticmethod
    def _per_loop(
        table: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, L], make: Callable[[], L]
    ) -> L:
        """asyncio primitives bind to one loop: keep one per running loop."""
        loop = asyncio.get_running_loop()
        item = table.get(loop)
        if item is None:
            item = table[loop] = make()
        return item

    def _read_sem(self) -> asyncio.Semaphore:
        return self._per_loop(
            self._read_sems, lambda: asyncio.Semaphore(self.config.read_concurrency)
        )

    async def _call(self, operation: str, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        try:
            return await self._call_once(operation, fn)
        except BackendError as e:
            # Dropped behind our back (another process or client): forget the cached schema,
            # recreate or re-check the collection, and try once more.
            if operation == "ensure_collection" or not (
                is_missing_collection(e) or is_released_collection(e)
            ):
                raise
            SCHEMA_CACHE.invalidate(self.connection.key, self.name)
            await self.ensure_collection()
            return await self._call_once(operation, fn)

    async def _call_once(self, operation: str, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        async def run() -> Any:
            client = await self._pool.get()
            return await fn(client)

        return await with_retries(
            run,
            operation=operation,
            collection=self.name,
            retries=self.connection.retries,
            backoff=self.connection.retry_backoff,
        )

    @property
    def _timeout(self) -> float | None:
        return self.connection.timeout

    # --- collection -------------------------------------------------------------------

    async def ensure_collection(self) -> CollectionInfo:
        """Create (schema, indexes, load) if missing, else check and load it. Idempotent."""
        info = SCHEMA_CACHE.get(self.connection.key, self.name)
        if info is None:
            async with self._per_loop(self._ensure_locks, asyncio.Lock):
                info = SCHEMA_CACHE.get(self.connection.key, self.name)
                if info is None:
                    async with process_lock("ensure", self.connection.key, self.name):
                        info = await self._call("ensure_collection", self._ensure)
                    SCHEMA_CACHE.put(self.connection.key, info)
        check_compatible(self.config, info)
        if self.config.dim is None:  # remember it: a later drop() must be able to recreate
            self.config = self.config.with_dim(info.dim)
        return info

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
            self._wrote()
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

    async def describe(self) -> dict[str, Any]:
        """Schema summary and row count of the collection."""
        info = await self.ensure_collection()
        return {
            "name": info.name,
            "dim": info.dim,
            "metric": info.metric,
            "bm25": info.has_bm25,
            "fields": list(info.field_names),
            "analyzer": info.analyzer,
            "count": await self.count(all_tenants=True),
        }

    async def flush(self) -> None:
        """Seal written data (Milvus Lite 3 searches sealed data about 10x faster)."""
        await self.ensure_collection()
        await self._call("flush", lambda c: c.flush(self.name, timeout=self._timeout))

    async def aclose(self) -> None:
        """Close every client this store opened, and the embedded engine's file lock."""
        await self._pool.aclose()

    close = aclose

    async def __aenter__(self) -> AsyncMilvusStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- writes -----------------------------------------------------------------------

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
        bound = self.scope(tenant=tenant, all_tenants=all_tenants, operation="upsert").tenant
        records = list(records)
        if not records:
            return []
        if self.config.dim is None and not await self.exists():
            first = next((r.vector for r in records if r.vector is not None), None)
            if first is not None:  # a new collection takes the dim of the rows
                self.set_dim(len(first))
        info = await self.ensure_collection()
        limits = Limits(
            dim=info.dim,
            id_max_length=info.id_max_length,
            text_max_length=info.text_max_length,
            doc_id_max_length=info.id_max_length,
            id_forbidden=r"['\x00]|\r(?!\n)" if self._pool.dialect is Dialect.LITE25 else "",
        )
        valid, batches = await off_loop(
            len(records) > 200, self._plan, records, limits, embed is None, bound
        )
        if bound is not None:
            await self._refuse_foreign_ids([r.id for r in valid], bound)
        prepare = functools.partial(self._embed, embed=embed, dim=info.dim) if embed else None
        # Lite files: insert the batches whose ids are all new (see lite_ids)
        ids = [r.id for r in valid]
        known = StoredIds(ids, window=lite_ids.LOOKUP_WINDOW) if self.is_local else None
        write = functools.partial(self._write, known=known, tenant=bound)
        written, error = await run_pipeline(batches, prepare, write, self.write_concurrency)
        if isinstance(error, BackendError):  # writes are mapped by _call already
            raise error.with_written("upsert", self.name, written) from error
        if error is not None:  # the embedder failed (its own error, or InvalidInputError)
            log.warning(
                "upsert stopped by an embedding error after %d ids were written", len(written)
            )
            raise error
        threshold = self.config.auto_flush_rows
        # every engine but Lite 2.5 (servers, a Lite 3 file) searches sealed data faster
        flushes = self._pool.dialect is not Dialect.LITE25
        if threshold is not None and flushes and len(valid) >= threshold:
            await self._call("flush", lambda c: c.flush(self.name, timeout=self._timeout))
        order = {r.id: i for i, r in enumerate(valid)}
        return sorted(written, key=order.__getitem__)

    def _plan(
        self, records: list[Record], limits: Limits, require_vectors: bool, tenant: str | None
    ) -> tuple[list[Record], list[list[Record]]]:
        valid = validate_records(records, limits, require_vectors=require_vectors)
        rows.check_rows(self.config, valid, tenant, self._nullable)
        return valid, plan_batches(
            valid, limits.dim, self.config.batch_size, self.config.max_batch_bytes
        )

    async def _embed(self, batch: list[Record], *, embed: EmbedFn, dim: int) -> list[Record]:
        texts = [r.text for r in batch if r.vector is None]
        return rows.with_vectors(batch, await embed(texts), dim) if texts else batch

    @property
    def _nullable(self) -> bool:
        return nullable_for(self._pool.dialect)

    async def _refuse_foreign_ids(self, ids: list[str], tenant: str) -> None:
        """Ids are unique across the collection: writing one of another tenant would replace
        (and so delete) that tenant's row."""
        field = self.config.id_field
        other = f"{self.config.tenant_field} != {string_literal(tenant, self._pool.dialect)}"
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            expr = f"{other} and ({ids_expr(chunk, self._fields, dialect=self._pool.dialect)})"
            found = await self._read_rows(
                "upsert", functools.partial(self._query_expr, expr, [field])
            )
            if found:
                taken = sorted(str(r[field]) for r in found)[:5]
                raise InvalidInputError(
                    f"ids {taken} already belong to another tenant's rows (ids are unique "
                    f"across the collection): use other ids for tenant {tenant!r}; nothing "
                    "was written"
                )

    async def _write(
        self, batch: list[Record], known: StoredIds | None = None, tenant: str | None = None
    ) -> list[str]:
        data = [rows.to_row(self.config, r, tenant=tenant, nullable=self._nullable) for r in batch]
        ids = [r.id for r in batch]
        async with self._write_lock():
            op = "upsert"
            if known is not None:
                todo = known.to_look_up(ids, WRITES.get(self.connection.uri))
                if todo:
                    stored = await self._stored_among(todo)
                    known.found(todo, stored, WRITES.get(self.connection.uri))
                op = "upsert" if known.any_stored(ids) else "insert"
            try:
                await self._call(
                    "upsert", lambda c: getattr(c, op)(self.name, data, timeout=self._timeout)
                )
            finally:
                gen = self._wrote()
            if known is not None:
                known.wrote(ids, gen)
        return ids

    def _wrote(self) -> int:
        """Bump the Lite file's write generation (every write and delete does)."""
        return WRITES.bump(self.connection.uri) if self.is_local else 0

    async def _stored_among(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` are stored (strongly consistent: sees the last batch written)."""
        field = self.config.id_field
        found = await self._rows_by_id("upsert", ids, [field], strong=True)
        return {str(row[field]) for row in found}

    def _write_lock(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Milvus Lite is single-writer per file: serialise writes of every store, thread and
        loop of this process on one file (concurrent upserts of the same ids there left
        count() too high). Servers take concurrent writes."""
        if self.is_local:
            return process_lock("write", self.connection.uri)
        return contextlib.nullcontext()

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
        return await self._delete(ids, filter, tenant, all_tenants)

    async def _delete(
        self,
        ids: Sequence[str] | None,
        filter: Any,
        tenant: str | None,
        all_tenants: bool,
        *,
        whole_tenant: bool = False,
    ) -> int:
        if ids is None and filter is None and not whole_tenant:
            raise ConfigError("delete needs ids= or filter= (use drop() to remove everything)")
        sc = self.scope(filter, tenant=tenant, all_tenants=all_tenants, operation="delete")
        if filter is not None and sc.expr is None and sc.residual is None:
            raise ConfigError("delete with an empty filter would remove every row; use drop()")
        id_list = rows.check_ids(ids) if ids is not None else []
        await self.ensure_collection()
        dialect = self._pool.dialect
        exprs = [
            and_tenant(
                ids_expr(id_list[i : i + ID_CHUNK], self._fields, dialect=dialect),
                sc.tenant,
                self._tenancy,
                dialect,
            )
            for i in range(0, len(id_list), ID_CHUNK)
        ]
        if sc.residual is not None:  # delete exactly the candidates that pass, by id
            matched = [r.id for r in await self._scan("delete", sc)]
            exprs.extend(
                and_tenant(
                    ids_expr(matched[i : i + ID_CHUNK], self._fields, dialect=dialect),
                    sc.tenant,
                    self._tenancy,
                    dialect,
                )
                for i in range(0, len(matched), ID_CHUNK)
            )
        elif (filter is not None or whole_tenant) and sc.expr is not None:
            exprs.append(sc.expr)
        total = 0
        for e in exprs:
            n = await self._count_expr(e)
            if not n:
                continue
            total += n
            async with self._write_lock():
                try:
                    await self._call("delete", functools.partial(self._delete_expr, e))
                finally:
                    self._wrote()
        return total

    # --- reads ------------------------------------------------------------------------

    def _output_fields(self, with_vectors: bool) -> list[str]:
        return rows.output_fields(self.config, with_vectors)

    async def get(
        self,
        ids: Sequence[str],
        *,
        with_vectors: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[Record]:
        """Rows by id, in the order asked; ids not found (or of another tenant) are left out."""
        sc = self.scope(tenant=tenant, all_tenants=all_tenants, operation="get")
        id_list = rows.check_ids(ids)
        if not id_list:
            return []
        await self.ensure_collection()
        found: dict[str, Record] = {}
        fields = self._output_fields(with_vectors)
        for row in await self._rows_by_id("get", id_list, fields, tenant=sc.tenant):
            rec = rows.to_record(self.config, row)
            found[rec.id] = rec
        return [found[i] for i in dict.fromkeys(id_list) if i in found]

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
        sc = self.scope(filter, tenant=tenant, all_tenants=all_tenants, operation="query")
        if limit < 1 or offset < 0 or limit + offset > QUERY_WINDOW:
            raise ConfigError(
                f"need 1 <= limit and 0 <= offset, limit + offset <= {QUERY_WINDOW} (Milvus's "
                "query window); use iterate() to read every matching row"
            )
        await self.ensure_collection()
        if sc.residual is not None:
            passing = await self._scan("query", sc, with_vectors, with_text=True)
            return passing[offset : offset + limit]
        result = await self._read_rows(
            "query",
            lambda c: c.query(
                self.name,
                filter=sc.expr or "",
                output_fields=self._output_fields(with_vectors),
                limit=limit,
                offset=offset,
                timeout=self._timeout,
            ),
        )
        return [rows.to_record(self.config, r) for r in result]

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
    ) -> AsyncIterator[list[Any]]:
        """:meth:`iterate` a page at a time: lists of records (or of ids)."""
        if output not in ("records", "ids"):
            raise ConfigError(f"output must be 'records' or 'ids', got {output!r}")
        check_batch_size(batch_size)
        sc = self.scope(filter, tenant=tenant, all_tenants=all_tenants, operation="iterate")
        await self.ensure_collection()
        async for page in self._pages("iterate", sc, batch_size, output, with_vectors):
            yield page

    async def _pages(
        self,
        operation: str,
        sc: Scope,
        batch_size: int,
        output: Literal["records", "ids", "keys"],
        with_vectors: bool = False,
    ) -> AsyncIterator[list[Any]]:
        """The one walk over the rows of ``sc``: pages of the backend's candidates (primary-key
        cursor or query iterator, see :mod:`milvus_rag.client.iterate`) that pass the scope's
        client-side residual. ``keys``: records without their text (enough for the residual)."""
        id_field = self.config.id_field
        if output == "ids" and sc.residual is None:
            fields = [id_field]
        else:
            fields = self._output_fields(with_vectors)
            if output != "records":
                fields = [f for f in fields if f != self.config.text_field]

        async def query(flt: str, limit: int, options: dict[str, Any]) -> Any:
            return await self._read_rows(
                operation,
                lambda c: c.query(
                    self.name,
                    filter=flt,
                    output_fields=fields,
                    limit=limit,
                    timeout=self._timeout,
                    **options,
                ),
            )

        walk = pages(
            query,
            expr=sc.expr,
            id_field=id_field,
            batch_size=batch_size,
            dialect=self._pool.dialect,
        )
        async for page in walk:
            if output == "ids" and sc.residual is None:
                yield [str(row[id_field]) for row in page]
                continue
            recs = [rows.to_record(self.config, row) for row in page]
            if sc.residual is not None:
                recs = [r for r in recs if sc.admits(r)]
            yield [r.id for r in recs] if output == "ids" else recs

    async def _scan(
        self, operation: str, sc: Scope, with_vectors: bool = False, with_text: bool = False
    ) -> list[Record]:
        """Every row of ``sc`` that passes its client-side residual (NOT / EXISTS on Milvus
        Lite 2.5), read page by page: no query-window ceiling."""
        out: list[Record] = []
        kind: Literal["records", "keys"] = "records" if with_text or with_vectors else "keys"
        async for page in self._pages(operation, sc, DEFAULT_BATCH, kind, with_vectors):
            out.extend(page)
        return out

    async def _read_rows(self, operation: str, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        try:
            return await self._call(operation, fn)
        except BackendError as e:
            if is_empty_collection(e) and await self.count(all_tenants=True) == 0:
                return []
            raise

    async def _rows_by_id(
        self,
        operation: str,
        ids: list[str],
        fields: list[str],
        *,
        strong: bool = False,
        tenant: str | None = None,
    ) -> list[Any]:
        """The stored rows of ``ids`` (``fields`` only, of ``tenant`` if given), ``ID_CHUNK``
        ids a request."""
        found: list[Any] = []
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            call = functools.partial(self._query_ids, chunk, fields, strong, tenant)
            found.extend(await self._read_rows(operation, call))
        return found

    async def _query_ids(
        self, ids: list[str], fields: list[str], strong: bool, tenant: str | None, client: Any
    ) -> Any:
        extra = {"consistency_level": "Strong"} if strong else {}
        dialect = self._pool.dialect
        return await client.query(
            self.name,
            filter=and_tenant(
                ids_expr(ids, self._fields, dialect=dialect), tenant, self._tenancy, dialect
            ),
            output_fields=fields,
            timeout=self._timeout,
            **extra,
        )

    async def count(
        self, filter: Any = None, *, tenant: str | None = None, all_tenants: bool = False
    ) -> int:
        """Number of rows, or of rows matching ``filter`` (of the call's tenant)."""
        sc = self.scope(filter, tenant=tenant, all_tenants=all_tenants, operation="count")
        await self.ensure_collection()
        if sc.residual is not None:
            return len(await self._scan("count", sc))
        return await self._count_expr(sc.expr)

    async def _query_expr(self, expr: str, fields: list[str], client: Any) -> Any:
        return await client.query(
            self.name, filter=expr, output_fields=fields, timeout=self._timeout
        )

    async def _delete_expr(self, expr: str, client: Any) -> Any:
        return await client.delete(self.name, filter=expr, timeout=self._timeout)

    async def _count_expr(self, expr: str | None) -> int:
        counted = await self._call(
            "count",
            lambda c: c.query(
                self.name, filter=expr or "", output_fields=["count(*)"], timeout=self._timeout
            ),
        )
        return int(counted[0]["count(*)"]) if counted else 0

    # --- search (executed by the Searcher component) -------------------------------------

    def prepare(self, request: SearchRequest) -> SearchRequest:
        """``request`` ready for this store: its filter compiled for the backend, its range
        checked against the metric (no I/O). Validate a search before embedding its query."""
        return self._searcher.prepare(request)

    async def search(
        self,
        text: str | SearchRequest | None = None,
        vector: Sequence[float] | np.ndarray | None = None,
        *,
        k: int = DEFAULT_K,
        mode: RetrievalMode | str = RetrievalMode.HYBRID,
        filter: Any = None,
        ranker: Ranker | None = None,
        alpha: float | None = None,
        candidates: int | None = None,
        with_vectors: bool = False,
        rrf_k: int | None = None,
        search_params: dict[str, Any] | None = None,
        radius: float | None = None,
        range_filter: float | None = None,
        consistency_level: str | None = None,
        timeout: float | None = None,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[Hit]:
        """Top ``k`` hits, best first: ``search(SearchRequest(...))``, or the request's fields
        as arguments (see :class:`SearchRequest`). HYBRID fuses by RRF server-side, or with
        ``ranker="weighted"`` (default when ``alpha`` is given) by ``alpha * dense + (1 -
        alpha) * bm25`` over min-max-normalised scores of both legs, client-side."""
        if isinstance(text, SearchRequest):
            rest = (vector, filter, ranker, alpha, candidates, rrf_k, search_params, radius)
            if (
                k != DEFAULT_K
                or mode != RetrievalMode.HYBRID
                or with_vectors
                or all_tenants
                or any(
                    x is not None for x in (*rest, range_filter, consistency_level, timeout, tenant)
                )
            ):
                raise ConfigError("pass a SearchRequest alone, or the search's arguments")
            return await self._searcher.search(text)
        request = SearchRequest(
            text=text,
            vector=vector,
            k=k,
            mode=mode,
            filter=filter,
            ranker=ranker,
            alpha=alpha,
            candidates=candidates,
            rrf_k=rrf_k,
            search_params=search_params,
            radius=radius,
            range_filter=range_filter,
            consistency_level=consistency_level,
            timeout=timeout,
            with_vectors=with_vectors,
            tenant=tenant,
            all_tenants=all_tenants,
        )
        return await self._searcher.search(request)

    async def search_many(
        self,
        requests: Sequence[SearchRequest],
        *,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[list[Hit]]:
        """Run many searches concurrently (at most ``read_concurrency`` in flight); every
        request is checked before the first is sent. ``tenant`` / ``all_tenants`` apply to
        the requests that name no tenant themselves."""
        scoped = [r.for_tenant(tenant, all_tenants) for r in requests]
        return await self._searcher.search_many(scoped)

    async def fanout_search(
        self,
        requests: Sequence[SearchRequest],
        *,
        k: int = DEFAULT_K,
        rrf_k: int | None = None,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[Hit]:
        """Several searches (e.g. rewrites of one question) run concurrently and fused
        client-side by RRF; ``relevance`` is the fused score over its maximum."""
        scoped = [r.for_tenant(tenant, all_tenants) for r in requests]
        return await self._searcher.fanout(scoped, k, rrf_k)

    async def mmr_search(
        self,
        vector: Sequence[float] | np.ndarray,
        *,
        k: int = DEFAULT_K,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
        search_params: dict[str, Any] | None = None,
        radius: float | None = None,
        range_filter: float | None = None,
        consistency_level: str | None = None,
        timeout: float | None = None,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[Hit]:
        """Maximal marginal relevance over the ``fetch_k`` nearest dense candidates."""
        check_k(k)
        check_k(fetch_k, "fetch_k")
        request = SearchRequest(
            vector=vector,
            k=max(k, fetch_k),
            mode=RetrievalMode.DENSE,
            filter=filter,
            search_params=search_params,
            radius=radius,
            range_filter=range_filter,
            consistency_level=consistency_level,
            timeout=timeout,
            with_vectors=True,
            tenant=tenant,
            all_tenants=all_tenants,
        )
        return await self._searcher.mmr(request, k, lambda_mult)
