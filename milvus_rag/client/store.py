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
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import fields as dc_fields
from typing import Any, TypeVar

import numpy as np
from pymilvus import AnnSearchRequest, RRFRanker

from milvus_rag.client.config import CollectionConfig, ConnectionConfig
from milvus_rag.client.connection import ClientPool, is_unimplemented, map_error, with_retries
from milvus_rag.client.errors import BackendError, ConfigError, InvalidInputError
from milvus_rag.client.filters import FieldNames, compile_filter, ids_expr
from milvus_rag.client.fusion import (
    dense_relevance,
    dense_score,
    mmr_select,
    relative_relevance,
    rrf_fuse,
    rrf_max,
    weighted_fuse,
)
from milvus_rag.client.records import (
    Hit,
    Limits,
    Ranker,
    Record,
    RetrievalMode,
    SearchRequest,
    check_alpha,
    check_k,
    plan_batches,
    validate_records,
)
from milvus_rag.client.schema import (
    SCHEMA_CACHE,
    CollectionInfo,
    analyzer_params,
    build_schema,
    check_compatible,
    index_specs,
    parse_description,
)

log = logging.getLogger("milvus_rag")
EmbedFn = Callable[[list[str]], Awaitable[Sequence[Sequence[float]] | np.ndarray]]
QUERY_WINDOW = 16384
T = TypeVar("T")
L = TypeVar("L")
_COLLECTION_KEYS = {f.name for f in dc_fields(CollectionConfig)}


def _make_configs(
    uri: str | None,
    token: str | None,
    collection_name: str | None,
    dim: int | None,
    connection: ConnectionConfig | None,
    collection: CollectionConfig | None,
    options: dict[str, Any],
) -> tuple[ConnectionConfig, CollectionConfig]:
    conn_keys = {
        "user",
        "password",
        "db_name",
        "timeout",
        "connect_timeout",
        "retries",
        "retry_backoff",
    }
    unknown = set(options) - _COLLECTION_KEYS - conn_keys
    if unknown:
        raise ConfigError(
            f"unknown option(s) {sorted(unknown)}; collection options are "
            f"{sorted(_COLLECTION_KEYS)}"
        )
    conn_opts = {k: v for k, v in options.items() if k in conn_keys}
    if connection is None:
        connection = ConnectionConfig(uri=uri or "./milvus_rag.db", token=token or "", **conn_opts)
    elif uri or token or conn_opts:
        raise ConfigError("pass either connection= or uri=/token=/connection options, not both")
    coll_opts = {k: v for k, v in options.items() if k in _COLLECTION_KEYS}
    if collection_name is not None:
        coll_opts["name"] = collection_name
    if dim is not None:
        coll_opts["dim"] = dim
    if collection is None:
        collection = CollectionConfig(**coll_opts)
    elif coll_opts:
        raise ConfigError("pass either collection= or collection options, not both")
    return connection, collection


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
        **options: Any,
    ) -> None:
        self.connection, self.config = _make_configs(
            uri, token, collection_name, dim, connection, collection, options
        )
        self._pool = ClientPool(self.connection)
        cfg = self.config
        self._fields = FieldNames(
            id=cfg.id_field, doc_id=cfg.doc_id_field, metadata=cfg.metadata_field
        )
        self._read_sems: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._read_sems = weakref.WeakKeyDictionary()
        self._ensure_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
        self._ensure_locks = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.connection!r}, collection={self.config.name!r}, "
            f"dim={self.config.dim!r})"
        )

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

    def compile_filter(self, filter: Any) -> str | None:
        """The Milvus expression for ``filter`` on this backend (validated, no I/O)."""
        return compile_filter(filter, dialect=self._pool.dialect, fields=self._fields)

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
            text = str(e).lower()
            missing = "collection not found" in text or (
                "collection" in text and "does not exist" in text
            )
            if operation == "ensure_collection" or not missing:
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
                    info = await self._call("ensure_collection", self._ensure)
                    SCHEMA_CACHE.put(self.connection.key, info)
        check_compatible(self.config, info)
        if self.config.dim is None:  # remember it: a later drop() must be able to recreate
            self.config = self.config.with_dim(info.dim)
        return info

    async def _ensure(self, client: Any) -> CollectionInfo:
        t = self._timeout
        if not await client.has_collection(self.name, timeout=t):
            await self._create(client)
        desc = await client.describe_collection(self.name, timeout=t)
        indexes: dict[str, dict[str, Any]] = {}
        for index_name in await client.list_indexes(self.name, timeout=t):
            d = await client.describe_index(self.name, index_name, timeout=t)
            indexes[str(d.get("field_name", index_name))] = d
        info = parse_description(desc, indexes, self.config)
        check_compatible(self.config, info)
        state = await client.get_load_state(self.name, timeout=t)
        if "Loaded" not in str(state.get("state")):
            await self._create_missing_indexes(client, indexes)
            await client.load_collection(self.name, timeout=t)
        return info

    async def _create(self, client: Any) -> None:
        cfg = self.config
        analyzers = (
            [analyzer_params(cfg)]
            if cfg.analyzer is not None
            else [{"type": "english"}, {"type": "standard"}]
        )
        last: Exception | None = None
        for analyzer in analyzers:
            schema = build_schema(cfg, analyzer)
            try:
                await client.create_collection(
                    self.name,
                    schema=schema,
                    consistency_level=cfg.consistency_level,
                    timeout=self._timeout,
                )
            except Exception as e:
                if await client.has_collection(self.name, timeout=self._timeout):
                    return  # created concurrently by another store
                last = e
                if cfg.enable_bm25 and ("analyzer" in str(e).lower() or "english" in str(e)):
                    log.info("backend refused analyzer %s; trying the next", analyzer)
                    continue
                raise
            await self._create_missing_indexes(client, {})
            await client.load_collection(self.name, timeout=self._timeout)
            return
        assert last is not None
        raise last

    async def _create_missing_indexes(self, client: Any, existing: dict[str, Any]) -> None:
        for spec in index_specs(self.config):
            if spec.field in existing:
                continue
            params = client.prepare_index_params()
            params.add_index(
                spec.field,
                index_type=spec.index_type,
                metric_type=spec.metric_type,
                params=spec.params,
            )
            try:
                await client.create_index(self.name, params, timeout=self._timeout)
            except Exception as e:
                # Milvus Lite 3 servers create the index, then cannot answer the
                # AllocTimestamp call that pymilvus uses to wait for it: poll instead.
                if not is_unimplemented(e):
                    raise
                await self._wait_index(client, spec.field)

    async def _wait_index(self, client: Any, field: str) -> None:
        for _ in range(600):
            names = await client.list_indexes(self.name, timeout=self._timeout)
            for n in names:
                d = await client.describe_index(self.name, n, timeout=self._timeout)
                if d.get("field_name") == field and str(d.get("state", "Finished")) in (
                    "Finished",
                    "IndexState.Finished",
                    "3",
                ):
                    return
            await asyncio.sleep(0.05)
        raise BackendError(
            f"index on {field} was not built in time",
            operation="create_index",
            collection=self.name,
        )

    async def drop(self) -> None:
        """Drop the collection (all rows); the next operation recreates it."""
        SCHEMA_CACHE.invalidate(self.connection.key, self.name)

        async def op(c: Any) -> None:
            if await c.has_collection(self.name, timeout=self._timeout):
                await c.drop_collection(self.name, timeout=self._timeout)

        await self._call("drop", op)
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
            "count": await self.count(),
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

    def _row(self, r: Record) -> dict[str, Any]:
        cfg = self.config
        return {
            cfg.id_field: r.id,
            cfg.text_field: r.text,
            cfg.vector_field: r.vector,
            cfg.doc_id_field: r.doc_id,
            cfg.metadata_field: r.metadata,
        }

    async def upsert(self, records: Sequence[Record], *, embed: EmbedFn | None = None) -> list[str]:
        """Insert or replace rows by id. Returns the ids written, in order.

        Every record is validated before anything is written. With ``embed``, records
        without a vector are embedded batch by batch while earlier batches are written.
        On failure, :class:`BackendError.written_ids` lists the ids that were stored.
        """
        records = list(records)
        if not records:
            return []
        info = await self.ensure_collection()
        limits = Limits(
            dim=info.dim,
            id_max_length=info.id_max_length,
            text_max_length=info.text_max_length,
            doc_id_max_length=info.id_max_length,
        )
        valid, batches = await _off_loop(
            len(records) > 200, self._plan, records, limits, embed is None
        )
        written: list[str] = []
        pending: set[asyncio.Task[list[str]]] = set()
        error: BaseException | None = None

        async def drain(until: int) -> None:
            nonlocal pending, error
            while len(pending) > until:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is not None:
                        error = error or task.exception()
                    else:
                        written.extend(task.result())

        try:
            for batch in batches:
                if embed is not None:
                    batch = await self._embed(batch, embed, info.dim)
                await drain(self.write_concurrency - 1)
                if error is not None:
                    break
                pending.add(asyncio.ensure_future(self._write(batch)))
            await drain(0)
        except BaseException:
            for task in pending:
                task.cancel()
            raise
        if error is not None:
            err = map_error(error, "upsert", self.name)
            if isinstance(err, BackendError):
                err.written_ids = list(written)
                raise type(err)(
                    err.detail,
                    operation="upsert",
                    collection=self.name,
                    written_ids=written,
                    code=err.code,
                ) from error
            raise err from error
        threshold = self.config.auto_flush_rows
        if threshold is not None and not self.is_local and len(valid) >= threshold:
            await self._call("flush", lambda c: c.flush(self.name, timeout=self._timeout))
        order = {r.id: i for i, r in enumerate(valid)}
        return sorted(written, key=order.__getitem__)

    def _plan(
        self, records: list[Record], limits: Limits, require_vectors: bool
    ) -> tuple[list[Record], list[list[Record]]]:
        valid = validate_records(records, limits, require_vectors=require_vectors)
        return valid, plan_batches(
            valid, limits.dim, self.config.batch_size, self.config.max_batch_bytes
        )

    async def _embed(self, batch: list[Record], embed: EmbedFn, dim: int) -> list[Record]:
        todo = [i for i, r in enumerate(batch) if r.vector is None]
        if not todo:
            return batch
        vectors = await embed([batch[i].text for i in todo])
        arr = np.asarray(vectors, dtype=np.float32)
        if arr.ndim != 2 or arr.shape != (len(todo), dim):
            raise InvalidInputError(
                f"the embedding function returned shape {arr.shape}, expected "
                f"({len(todo)}, {dim}): does the embedder match the collection's dim?"
            )
        if not np.isfinite(arr).all():
            raise InvalidInputError("the embedding function returned NaN or inf")
        out = list(batch)
        for j, i in enumerate(todo):
            r = batch[i]
            out[i] = Record(
                id=r.id, text=r.text, vector=arr[j].tolist(), metadata=r.metadata, doc_id=r.doc_id
            )
        return out

    async def _write(self, batch: list[Record]) -> list[str]:
        rows = [self._row(r) for r in batch]
        await self._call("upsert", lambda c: c.upsert(self.name, rows, timeout=self._timeout))
        return [r.id for r in batch]

    async def delete(self, ids: Sequence[str] | None = None, *, filter: Any = None) -> int:
        """Delete rows by id and/or filter. Returns the count Milvus reports."""
        if ids is None and filter is None:
            raise ConfigError("delete needs ids= or filter= (use drop() to remove everything)")
        expr = self.compile_filter(filter) if filter is not None else None
        if filter is not None and expr is None:
            raise ConfigError("delete with an empty filter would remove every row; use drop()")
        id_list = _check_ids(ids) if ids is not None else []
        await self.ensure_collection()
        total = 0
        for start in range(0, len(id_list), 1000):
            chunk = id_list[start : start + 1000]
            res = await self._call("delete", functools.partial(self._delete_ids, chunk))
            total += int(res.get("delete_count", len(chunk)) if isinstance(res, dict) else 0)
        if expr is not None:
            res = await self._call(
                "delete", lambda c: c.delete(self.name, filter=expr, timeout=self._timeout)
            )
            total += int(res.get("delete_count", 0)) if isinstance(res, dict) else 0
        return total

    # --- reads ------------------------------------------------------------------------

    def _output_fields(self, with_vectors: bool) -> list[str]:
        cfg = self.config
        out = [cfg.id_field, cfg.text_field, cfg.doc_id_field, cfg.metadata_field]
        return [*out, cfg.vector_field] if with_vectors else out

    def _record(self, entity: dict[str, Any]) -> Record:
        cfg = self.config
        vec = entity.get(cfg.vector_field)
        return Record(
            id=str(entity.get(cfg.id_field, "")),
            text=str(entity.get(cfg.text_field) or ""),
            vector=[float(x) for x in vec] if vec is not None else None,
            metadata=dict(entity.get(cfg.metadata_field) or {}),
            doc_id=str(entity.get(cfg.doc_id_field) or ""),
        )

    async def get(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[Record]:
        """Rows by id, in the order asked; ids not found are left out."""
        id_list = _check_ids(ids)
        if not id_list:
            return []
        await self.ensure_collection()
        found: dict[str, Record] = {}
        for start in range(0, len(id_list), 1000):
            chunk = id_list[start : start + 1000]
            rows = await self._read_rows(
                "get", functools.partial(self._get_ids, chunk, with_vectors)
            )
            for row in rows:
                rec = self._record(row)
                found[rec.id] = rec
        return [found[i] for i in dict.fromkeys(id_list) if i in found]

    async def query(
        self, filter: Any = None, *, limit: int = 1000, offset: int = 0, with_vectors: bool = False
    ) -> list[Record]:
        """Rows matching ``filter`` (no ranking), at most ``limit``."""
        expr = self.compile_filter(filter)
        if limit < 1 or offset < 0 or limit + offset > QUERY_WINDOW:
            raise ConfigError(f"need 1 <= limit and 0 <= offset, limit + offset <= {QUERY_WINDOW}")
        await self.ensure_collection()
        rows = await self._read_rows(
            "query",
            lambda c: c.query(
                self.name,
                filter=expr or "",
                output_fields=self._output_fields(with_vectors),
                limit=limit,
                offset=offset,
                timeout=self._timeout,
            ),
        )
        return [self._record(r) for r in rows]

    async def _read_rows(self, operation: str, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        try:
            return await self._call(operation, fn)
        except BackendError as e:
            if _empty_collection_error(e) and await self.count() == 0:
                return []
            raise

    async def _get_ids(self, ids: list[str], with_vectors: bool, client: Any) -> Any:
        return await client.query(
            self.name,
            filter=ids_expr(ids, self._fields, dialect=self._pool.dialect),
            output_fields=self._output_fields(with_vectors),
            timeout=self._timeout,
        )

    async def _delete_ids(self, ids: list[str], client: Any) -> Any:
        return await client.delete(
            self.name,
            filter=ids_expr(ids, self._fields, dialect=self._pool.dialect),
            timeout=self._timeout,
        )

    async def count(self, filter: Any = None) -> int:
        """Number of rows, or of rows matching ``filter``."""
        expr = self.compile_filter(filter)
        await self.ensure_collection()
        rows = await self._call(
            "count",
            lambda c: c.query(
                self.name, filter=expr or "", output_fields=["count(*)"], timeout=self._timeout
            ),
        )
        return int(rows[0]["count(*)"]) if rows else 0

    async def search(
        self,
        text: str | None = None,
        vector: Sequence[float] | np.ndarray | None = None,
        *,
        k: int = 4,
        mode: RetrievalMode | str = RetrievalMode.HYBRID,
        filter: Any = None,
        ranker: Ranker | None = None,
        alpha: float | None = None,
        candidates: int | None = None,
        with_vectors: bool = False,
    ) -> list[Hit]:
        """Top ``k`` hits, best first. DENSE needs ``vector``, SPARSE ``text``, HYBRID both.

        HYBRID fuses by RRF server-side (one ``hybrid_search``), or with ``ranker="weighted"``
        (default when ``alpha`` is given) by ``alpha * dense + (1 - alpha) * bm25`` over
        min-max-normalised scores of both legs.
        """
        m = RetrievalMode.parse(mode)
        check_k(k)
        alpha = check_alpha(alpha)
        rk: Ranker = ranker or ("weighted" if alpha is not None else "rrf")
        if rk not in ("rrf", "weighted"):
            raise ConfigError(f"ranker must be 'rrf' or 'weighted', got {ranker!r}")
        expr = self.compile_filter(filter)
        vec = self._check_query_vector(vector) if m is not RetrievalMode.SPARSE else None
        if m is not RetrievalMode.DENSE and (not isinstance(text, str) or not text.strip()):
            raise InvalidInputError(f"{m.value} search needs a non-empty query text")
        if m is RetrievalMode.DENSE and vec is None:
            raise InvalidInputError("dense search needs a query vector")
        info = await self.ensure_collection()
        if vec is not None and len(vec) != info.dim:
            raise InvalidInputError(
                f"query vector has dim {len(vec)}, the collection's is {info.dim}"
            )
        if m is not RetrievalMode.DENSE and not info.has_bm25:
            raise ConfigError(f"collection {self.name!r} has no BM25 field: use mode='dense'")
        n_cand = max(k, candidates or self.config.hybrid_candidates)
        try:
            return await self._search(m, rk, text, vec, k, n_cand, expr, alpha, with_vectors)
        except BackendError as e:
            # Milvus Lite 2.5 fails BM25 on an empty collection ("Invalid sparse row: NaN")
            # and vector reads on one never written to: an empty collection has no hits.
            if _empty_collection_error(e) and await self.count() == 0:
                return []
            raise

    async def _search(
        self,
        m: RetrievalMode,
        rk: Ranker,
        text: str | None,
        vec: Any,
        k: int,
        n_cand: int,
        expr: str | None,
        alpha: float | None,
        with_vectors: bool,
    ) -> list[Hit]:
        async with self._read_sem():
            if m is RetrievalMode.DENSE:
                return await self._dense(vec, k, expr, with_vectors)
            if m is RetrievalMode.SPARSE:
                return await self._sparse(str(text), k, expr, with_vectors)
            if rk == "rrf":
                return await self._hybrid_rrf(str(text), vec, k, n_cand, expr, with_vectors)
            legs = await asyncio.gather(
                self._dense(vec, n_cand, expr, with_vectors),
                self._sparse(str(text), n_cand, expr, with_vectors),
            )
        return _weighted(legs[0], legs[1], 0.5 if alpha is None else alpha, k)

    def _check_query_vector(self, vector: Any) -> list[float] | None:
        if vector is None:
            return None
        arr = np.asarray(vector, dtype=np.float32)
        if arr.ndim != 1 or not np.isfinite(arr).all():
            raise InvalidInputError("query vector must be one finite vector")
        out: list[float] = arr.tolist()
        return out

    def _hits(self, result: Any) -> list[tuple[dict[str, Any], float]]:
        rows = result[0] if result else []
        out = []
        for h in rows:
            entity = dict(h.get("entity") or {})
            entity.setdefault(self.config.id_field, h.get("id"))
            out.append((entity, float(h.get("distance", 0.0))))
        return out

    async def _dense(self, vec: Any, k: int, expr: str | None, with_vectors: bool) -> list[Hit]:
        metric = self.config.metric
        res = await self._call(
            "search",
            lambda c: c.search(
                self.name,
                data=[vec],
                anns_field=self.config.vector_field,
                limit=k,
                filter=expr or "",
                output_fields=self._output_fields(with_vectors),
                search_params={"metric_type": metric},
                timeout=self._timeout,
            ),
        )
        return [
            Hit(
                id=str(e[self.config.id_field]),
                score=dense_score(metric, d),
                distance=d,
                record=self._record(e),
                relevance=dense_relevance(metric, d),
            )
            for e, d in self._hits(res)
        ]

    async def _sparse(self, text: str, k: int, expr: str | None, with_vectors: bool) -> list[Hit]:
        res = await self._call(
            "search",
            lambda c: c.search(
                self.name,
                data=[text],
                anns_field=self.config.sparse_field,
                limit=k,
                filter=expr or "",
                output_fields=self._output_fields(with_vectors),
                search_params={"metric_type": "BM25"},
                timeout=self._timeout,
            ),
        )
        pairs = self._hits(res)
        # Backends disagree on the sign of BM25 distances; the score is the magnitude.
        scores = [abs(d) for _, d in pairs]
        rel = relative_relevance(scores)
        return [
            Hit(
                id=str(e[self.config.id_field]),
                score=s,
                distance=d,
                record=self._record(e),
                relevance=r,
            )
            for (e, d), s, r in zip(pairs, scores, rel, strict=True)
        ]

    async def _hybrid_rrf(
        self, text: str, vec: Any, k: int, n_cand: int, expr: str | None, with_vectors: bool
    ) -> list[Hit]:
        cfg = self.config
        reqs = [
            AnnSearchRequest(
                data=[vec],
                anns_field=cfg.vector_field,
                param={"metric_type": cfg.metric},
                limit=n_cand,
                expr=expr or None,
            ),
            AnnSearchRequest(
                data=[text],
                anns_field=cfg.sparse_field,
                param={"metric_type": "BM25"},
                limit=n_cand,
                expr=expr or None,
            ),
        ]
        res = await self._call(
            "hybrid_search",
            lambda c: c.hybrid_search(
                self.name,
                reqs,
                RRFRanker(cfg.rrf_k),
                limit=k,
                output_fields=self._output_fields(with_vectors),
                timeout=self._timeout,
            ),
        )
        top = rrf_max(2, cfg.rrf_k)
        return [
            Hit(
                id=str(e[cfg.id_field]),
                score=d,
                distance=d,
                record=self._record(e),
                relevance=min(1.0, d / top),
            )
            for e, d in self._hits(res)
        ]

    async def search_many(self, requests: Sequence[SearchRequest]) -> list[list[Hit]]:
        """Run many searches concurrently (at most ``read_concurrency`` in flight)."""
        tasks: list[asyncio.Task[list[Hit]]] = []
        try:
            for i, r in enumerate(requests):
                if i and i % 16 == 0:
                    await asyncio.sleep(0)  # start tasks in slices: no long loop step
                tasks.append(
                    asyncio.ensure_future(
                        self.search(
                            r.text,
                            r.vector,
                            k=r.k,
                            mode=r.mode,
                            filter=r.filter,
                            ranker=r.ranker,
                            alpha=r.alpha,
                            candidates=r.candidates,
                        )
                    )
                )
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            raise

    async def fanout_search(
        self, requests: Sequence[SearchRequest], *, k: int = 4, rrf_k: int | None = None
    ) -> list[Hit]:
        """Several searches (e.g. rewrites of one question) run concurrently and fused
        client-side by RRF; ``relevance`` is the fused score over its maximum."""
        check_k(k)
        if not requests:
            return []
        kk = rrf_k or self.config.rrf_k
        results = await self.search_many(requests)
        by_id: dict[str, Hit] = {}
        for hits in results:
            for h in hits:
                by_id.setdefault(h.id, h)
        fused = rrf_fuse([[h.id for h in hits] for hits in results], k=kk)
        top = rrf_max(len(results), kk)
        return [
            Hit(id=i, score=s, distance=s, record=by_id[i].record, relevance=min(1.0, s / top))
            for i, s in fused[:k]
        ]

    async def mmr_search(
        self,
        vector: Sequence[float] | np.ndarray,
        *,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
    ) -> list[Hit]:
        """Maximal marginal relevance over the ``fetch_k`` nearest dense candidates."""
        check_k(k)
        check_k(fetch_k, "fetch_k")
        if not 0.0 <= lambda_mult <= 1.0:
            raise ConfigError("lambda_mult must be in [0, 1]")
        hits = await self.search(
            vector=vector,
            k=max(k, fetch_k),
            mode=RetrievalMode.DENSE,
            filter=filter,
            with_vectors=True,
        )
        if not hits:
            return []
        cands = np.asarray([h.record.vector for h in hits], dtype=np.float32)
        chosen = mmr_select(np.asarray(vector, dtype=np.float32), cands, k, lambda_mult)
        return [hits[i] for i in chosen]


def _empty_collection_error(e: BaseException) -> bool:
    text = str(e)
    return "Invalid sparse row" in text or "HasRawData" in text or "raw data" in text


async def _off_loop(big: bool, fn: Callable[..., T], *args: Any) -> T:
    """Run CPU work of a large call in a worker thread, a small one inline."""
    return await asyncio.to_thread(fn, *args) if big else fn(*args)


def _check_ids(ids: Sequence[str]) -> list[str]:
    if isinstance(ids, str):
        raise InvalidInputError("ids must be a list of str, not one str")
    out = list(ids)
    for i in out:
        if not isinstance(i, str):
            raise InvalidInputError(f"ids must be str, got {type(i).__name__}: {i!r}")
    return out


def _weighted(dense: list[Hit], sparse: list[Hit], alpha: float, k: int) -> list[Hit]:
    by_id = {h.id: h for h in sparse}
    by_id.update({h.id: h for h in dense})
    fused = weighted_fuse(
        [(h.id, h.score) for h in dense], [(h.id, h.score) for h in sparse], alpha
    )
    return [
        Hit(id=i, score=s, distance=s, record=by_id[i].record, relevance=min(1.0, s))
        for i, s in fused[:k]
    ]
