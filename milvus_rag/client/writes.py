"""Writing rows: upsert (validated whole, then embedded and written batch by batch) and
delete (by id, by filter, a whole tenant).

:class:`Writer` is a component of the store, given a narrow :class:`WritePort` (the read
port plus the connection, ``exists`` and ``set_dim``) and the store's
:class:`~milvus_rag.client.reads.Reader` (writes read stored ids and count what they
delete); it knows nothing else of the store.

Example:
    >>> # writer = Writer(port, reader)           (AsyncMilvusStore builds its own)
    >>> # ids = await writer.upsert(records, None, None, False)
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from milvus_rag.client import lite_ids, rows
from milvus_rag.client.config import ConnectionConfig
from milvus_rag.client.errors import BackendError, ConfigError, InvalidInputError
from milvus_rag.client.filters import Dialect, ids_expr, string_literal
from milvus_rag.client.lite_ids import WRITES, StoredIds
from milvus_rag.client.locks import process_lock
from milvus_rag.client.pipeline import off_loop, run_pipeline
from milvus_rag.client.reads import ID_CHUNK, Reader, ReadPort
from milvus_rag.client.record_vectors import VectorLimits, check_vectors
from milvus_rag.client.records import Limits, Record, plan_batches, validate_records
from milvus_rag.client.schema import nullable_for
from milvus_rag.client.tenancy import and_tenant, resolve

log = logging.getLogger("milvus_rag")
EmbedFn = Callable[[list[str]], Awaitable[Sequence[Sequence[float]] | np.ndarray]]


class SetDim(Protocol):
    """``set_dim(dim, field=None)``: a new collection's dense field (the primary one when
    ``field`` is ``None``) takes the dim of its first vectors."""

    def __call__(self, dim: int, field: str | None = None) -> None: ...


@dataclass(frozen=True)
class WritePort(ReadPort):
    """What writing needs from the store: the :class:`ReadPort`, plus ``connection`` (the
    Lite file's single-writer lock and write generation), ``exists()`` and ``set_dim(dim,
    field=None)`` (a new collection takes the dims of its first rows)."""

    connection: ConnectionConfig
    exists: Callable[[], Awaitable[bool]]
    set_dim: SetDim

    @classmethod
    def extending(
        cls,
        read: ReadPort,
        connection: ConnectionConfig,
        exists: Callable[[], Awaitable[bool]],
        set_dim: SetDim,
    ) -> WritePort:
        """The write port of the store whose read port is ``read``."""
        shared = {f.name: getattr(read, f.name) for f in dataclasses.fields(ReadPort)}
        return cls(**shared, connection=connection, exists=exists, set_dim=set_dim)


class Writer:
    """Writes and deletes rows of one collection through a :class:`WritePort`."""

    def __init__(self, port: WritePort, reader: Reader) -> None:
        self.port = port
        self.reader = reader

    @property
    def is_local(self) -> bool:
        return self.port.connection.is_local

    @property
    def concurrency(self) -> int:
        """Batches written at once (1 on a Lite file unless configured)."""
        return self.port.config().write_concurrency or (1 if self.is_local else 2)

    @property
    def _nullable(self) -> bool:
        return nullable_for(self.port.dialect)

    # --- upsert ------------------------------------------------------------------------------

    async def upsert(
        self,
        records: Sequence[Record],
        embed: EmbedFn | None,
        tenant: str | None,
        all_tenants: bool,
    ) -> list[str]:
        """Insert or replace rows by id; the ids written, in order (see
        :meth:`AsyncMilvusStore.upsert <milvus_rag.client.store.AsyncMilvusStore.upsert>`)."""
        port = self.port
        bound = port.scope(None, tenant, all_tenants, "upsert").tenant
        records = list(records)
        if not records:
            return []
        await self._learn_dims(records)
        info = await port.ensure()
        config = port.config()
        limits = Limits(
            dim=info.dim,
            id_max_length=info.id_max_length,
            text_max_length=info.text_max_length,
            doc_id_max_length=info.id_max_length,
            id_forbidden=r"['\x00]|\r(?!\n)" if port.dialect is Dialect.LITE25 else "",
            id_type=config.id_type,
            auto_id=config.auto_id,
            dense=config.enable_dense,
        )
        others = VectorLimits.of(config, info.vector_fields)
        valid, batches = await off_loop(
            len(records) > 200, self._plan, records, limits, others, embed is None, bound
        )
        if bound is not None:
            await self._refuse_foreign_ids([r.id for r in valid], bound)
        # a sparse-only collection has no vector to embed
        prepare = None
        if embed is not None and config.enable_dense:
            prepare = functools.partial(self._embed, embed=embed, dim=info.dim)
        # Lite files: insert the batches whose ids are all new (see lite_ids)
        ids = [r.id for r in valid]
        auto_id = port.config().auto_id
        lookup = self.is_local and not auto_id  # auto_id: every row is new
        known = StoredIds(ids, window=lite_ids.LOOKUP_WINDOW) if lookup else None
        write = functools.partial(self._write, known=known, tenant=bound)
        # auto_id: the ids Milvus assigns come back batch by batch, kept in order
        concurrency = 1 if auto_id else self.concurrency
        written, error = await run_pipeline(batches, prepare, write, concurrency)
        if isinstance(error, BackendError):  # writes are mapped by call already
            raise error.with_written("upsert", port.name, written) from error
        if error is not None:  # the embedder failed (its own error, or InvalidInputError)
            log.warning(
                "upsert stopped by an embedding error after %d ids were written", len(written)
            )
            raise error
        threshold = port.config().auto_flush_rows
        # every engine but Lite 2.5 (servers, a Lite 3 file) searches sealed data faster
        flushes = port.dialect is not Dialect.LITE25
        if threshold is not None and flushes and len(valid) >= threshold:
            await port.call("flush", lambda c: c.flush(port.name, timeout=port.timeout))
        if auto_id:
            return written
        order = {r.id: i for i, r in enumerate(valid)}
        return sorted(written, key=order.__getitem__)

    async def _learn_dims(self, records: list[Record]) -> None:
        """A collection not created yet takes each dense field's dim left open from the
        first record that has a vector for it."""
        port = self.port
        config = port.config()
        primary = config.enable_dense and config.dim is None
        open_ = [f.name for f in config.extra_vector_fields if f.is_dense and f.dim is None]
        if not (primary or open_) or await port.exists():
            return
        if primary:
            first = next((r.vector for r in records if r.vector is not None), None)
            if first is not None:
                port.set_dim(len(first))
        for name in open_:
            found = next(
                (r.vectors[name] for r in records if r.vectors.get(name) is not None), None
            )
            if found is not None and not isinstance(found, dict):
                port.set_dim(len(found), name)

    def _plan(
        self,
        records: list[Record],
        limits: Limits,
        others: VectorLimits,
        require_vectors: bool,
        tenant: str | None,
    ) -> tuple[list[Record], list[list[Record]]]:
        config = self.port.config()
        valid = validate_records(records, limits, require_vectors=require_vectors)
        valid = check_vectors(valid, others)
        rows.check_rows(config, valid, tenant, self._nullable)
        return valid, plan_batches(valid, limits.dim, config.batch_size, config.max_batch_bytes)

    async def _embed(self, batch: list[Record], *, embed: EmbedFn, dim: int) -> list[Record]:
        texts = [r.text for r in batch if r.vector is None]
        return rows.with_vectors(batch, await embed(texts), dim) if texts else batch

    async def _refuse_foreign_ids(self, ids: list[str], tenant: str) -> None:
        """Ids are unique across the collection: writing one of another tenant would replace
        (and so delete) that tenant's row."""
        port = self.port
        config = port.config()
        field = config.id_field
        other = f"{config.tenant_field} != {string_literal(tenant, port.dialect)}"
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            expr = f"{other} and ({ids_expr(chunk, port.fields, dialect=port.dialect)})"
            found = await self.reader.read_rows(
                "upsert", functools.partial(self.reader.query_expr, expr, [field])
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
        port = self.port
        config = port.config()
        data = [rows.to_row(config, r, tenant=tenant, nullable=self._nullable) for r in batch]
        ids = [r.id for r in batch]
        uri = port.connection.uri
        async with self.write_lock():
            op = "upsert"
            if known is not None:
                todo = known.to_look_up(ids, WRITES.get(uri))
                if todo:
                    stored = await self._stored_among(todo)
                    known.found(todo, stored, WRITES.get(uri))
                op = "upsert" if known.any_stored(ids) else "insert"
            if config.auto_id:
                op = "insert"  # Milvus assigns the ids: there is nothing to replace
            try:
                result = await port.call(
                    "upsert", lambda c: getattr(c, op)(port.name, data, timeout=port.timeout)
                )
            finally:
                gen = self.wrote()
            if known is not None:
                known.wrote(ids, gen)
        if config.auto_id:
            return [str(i) for i in (result or {}).get("ids", [])]
        return ids

    def wrote(self) -> int:
        """Bump the Lite file's write generation (every write, delete and drop does)."""
        return WRITES.bump(self.port.connection.uri) if self.is_local else 0

    async def _stored_among(self, ids: list[str]) -> set[str]:
        """Which of ``ids`` are stored (strongly consistent: sees the last batch written)."""
        field = self.port.config().id_field
        found = await self.reader.rows_by_id("upsert", ids, [field], strong=True)
        return {str(row[field]) for row in found}

    def write_lock(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Milvus Lite is single-writer per file: serialise writes of every store, thread and
        loop of this process on one file (concurrent upserts of the same ids there left
        count() too high). Servers take concurrent writes."""
        if self.is_local:
            return process_lock("write", self.port.connection.uri)
        return contextlib.nullcontext()

    # --- delete ------------------------------------------------------------------------------

    async def drop_tenant(self, tenant: str) -> int:
        """Delete every row of ``tenant``; how many there were."""
        resolve(self.port.tenancy, tenant, False, "drop_tenant")
        return await self.delete(None, None, tenant, False, whole_tenant=True)

    async def delete(
        self,
        ids: Sequence[str] | None,
        filter: Any,
        tenant: str | None,
        all_tenants: bool,
        *,
        whole_tenant: bool = False,
    ) -> int:
        """Delete by ids or filter (see :meth:`AsyncMilvusStore.delete
        <milvus_rag.client.store.AsyncMilvusStore.delete>`); how many rows matched."""
        if ids is None and filter is None and not whole_tenant:
            raise ConfigError("delete needs ids= or filter= (use drop() to remove everything)")
        port = self.port
        sc = port.scope(filter, tenant, all_tenants, "delete")
        if filter is not None and sc.expr is None and sc.residual is None:
            raise ConfigError("delete with an empty filter would remove every row; use drop()")
        id_list = rows.check_ids(ids, self.port.config().id_type) if ids is not None else []
        await port.ensure()
        dialect = port.dialect
        exprs = [
            and_tenant(
                ids_expr(id_list[i : i + ID_CHUNK], port.fields, dialect=dialect),
                sc.tenant,
                port.tenancy,
                dialect,
            )
            for i in range(0, len(id_list), ID_CHUNK)
        ]
        if sc.residual is not None:  # delete exactly the candidates that pass, by id
            matched = [r.id for r in await self.reader.scan("delete", sc)]
            exprs.extend(
                and_tenant(
                    ids_expr(matched[i : i + ID_CHUNK], port.fields, dialect=dialect),
                    sc.tenant,
                    port.tenancy,
                    dialect,
                )
                for i in range(0, len(matched), ID_CHUNK)
            )
        elif (filter is not None or whole_tenant) and sc.expr is not None:
            exprs.append(sc.expr)
        total = 0
        for e in exprs:
            n = await self.reader.count_expr(e)
            if not n:
                continue
            total += n
            async with self.write_lock():
                try:
                    await port.call("delete", functools.partial(self._delete_expr, e))
                finally:
                    self.wrote()
        return total

    async def _delete_expr(self, expr: str, client: Any) -> Any:
        return await client.delete(self.port.name, filter=expr, timeout=self.port.timeout)
