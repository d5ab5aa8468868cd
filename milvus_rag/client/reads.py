"""Reading rows: by id, by filter (one query window), counting, and iterating every match.

:class:`Reader` is a component of the store, given a narrow :class:`ReadPort` (run a backend
call, ensure the collection, scope a call to its tenant and filter); it knows nothing else of
the store. Every read that has a client-side residual (NOT / EXISTS on Milvus Lite 2.5) walks
the candidates page by page (:meth:`Reader.pages`), so no read stops at the 16,384-row query
window.

Example:
    >>> # reader = Reader(port)                   (AsyncMilvusStore builds its own)
    >>> # records = await reader.get(["a", "b"], False, None, False)
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from milvus_rag.client import rows
from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import BackendError, ConfigError, is_empty_collection
from milvus_rag.client.filters import Dialect, FieldNames, ids_expr
from milvus_rag.client.iterate import DEFAULT_BATCH, check_batch_size, pages
from milvus_rag.client.records import Record
from milvus_rag.client.schema import CollectionInfo
from milvus_rag.client.tenancy import Scope, Tenancy, and_tenant

QUERY_WINDOW = 16384
ID_CHUNK = 1000


def ids_within(ids: Sequence[str], filter: Any) -> Iterator[tuple[list[str], dict[str, Any]]]:
    """ "These ids within this filter", a request at a time: ``(ids, filter dict)`` pairs of at
    most :data:`ID_CHUNK` ids each (the filter ``$and`` an ``id $in``; no filter: the ids).

    Example:
        >>> [f for _, f in ids_within(["a"], {"k": 1})]
        [{'$and': [{'k': 1}, {'id': {'$in': ['a']}}]}]
    """
    for start in range(0, len(ids), ID_CHUNK):
        chunk = list(ids[start : start + ID_CHUNK])
        by_id: dict[str, Any] = {"id": {"$in": chunk}}
        yield chunk, ({"$and": [filter, by_id]} if filter else by_id)


"""Ids per request of a read or delete by id (an ``id in [...]`` expression)."""

Call = Callable[[str, Callable[[Any], Awaitable[Any]]], Awaitable[Any]]
Output = Literal["records", "ids", "keys"]


@dataclass(frozen=True)
class ReadPort:
    """What reading needs from the store, and nothing more.

    ``call(operation, fn)`` runs ``fn(client)`` with retries and error mapping;
    ``ensure()`` returns the collection's description (creating / loading it);
    ``config()`` the collection's current settings; ``timeout`` the connection's default;
    ``scope(filter, tenant, all_tenants, operation)`` the tenant clause + filter expression
    and the client-side residual of one call (the store's single scoping function);
    ``dialect``, ``fields`` and ``tenancy`` build id expressions inside a tenant.
    """

    name: str
    config: Callable[[], CollectionConfig]
    call: Call
    ensure: Callable[[], Awaitable[CollectionInfo]]
    timeout: float | None
    scope: Callable[[Any, str | None, bool, str], Scope]
    dialect: Dialect
    fields: FieldNames
    tenancy: Tenancy


class Reader:
    """Reads rows of one collection through a :class:`ReadPort`."""

    def __init__(self, port: ReadPort) -> None:
        self.port = port

    def _output_fields(self, with_vectors: bool) -> list[str]:
        return rows.output_fields(self.port.config(), with_vectors)

    # --- by id and by filter ---------------------------------------------------------------

    async def get(
        self, ids: Sequence[str], with_vectors: bool, tenant: str | None, all_tenants: bool
    ) -> list[Record]:
        """Rows by id, in the order asked; ids not found (or of another tenant) left out."""
        sc = self.port.scope(None, tenant, all_tenants, "get")
        id_list = rows.check_ids(ids, self.port.config().id_type)
        if not id_list:
            return []
        await self.port.ensure()
        found: dict[str, Record] = {}
        fields = self._output_fields(with_vectors)
        for row in await self.rows_by_id("get", id_list, fields, tenant=sc.tenant):
            rec = rows.to_record(self.port.config(), row)
            found[rec.id] = rec
        return [found[i] for i in dict.fromkeys(id_list) if i in found]

    async def query(
        self,
        filter: Any,
        limit: int,
        offset: int,
        with_vectors: bool,
        tenant: str | None,
        all_tenants: bool,
    ) -> list[Record]:
        """Rows matching ``filter`` (no ranking), at most ``limit`` after ``offset``."""
        sc = self.port.scope(filter, tenant, all_tenants, "query")
        if limit < 1 or offset < 0 or limit + offset > QUERY_WINDOW:
            raise ConfigError(
                f"need 1 <= limit and 0 <= offset, limit + offset <= {QUERY_WINDOW} (Milvus's "
                "query window); use iterate() to read every matching row"
            )
        await self.port.ensure()
        if sc.residual is not None:
            passing = await self.scan("query", sc, with_vectors, with_text=True)
            return passing[offset : offset + limit]
        port = self.port
        result = await self.read_rows(
            "query",
            lambda c: c.query(
                port.name,
                filter=sc.expr or "",
                output_fields=self._output_fields(with_vectors),
                limit=limit,
                offset=offset,
                timeout=port.timeout,
            ),
        )
        return [rows.to_record(port.config(), r) for r in result]

    async def count(self, filter: Any, tenant: str | None, all_tenants: bool) -> int:
        """Number of rows, or of rows matching ``filter`` (of the call's tenant)."""
        sc = self.port.scope(filter, tenant, all_tenants, "count")
        await self.port.ensure()
        if sc.residual is not None:
            return len(await self.scan("count", sc))
        return await self.count_expr(sc.expr)

    async def count_expr(self, expr: str | None) -> int:
        """Rows matching the Milvus expression ``expr`` (every row when ``None``)."""
        port = self.port
        counted = await port.call(
            "count",
            lambda c: c.query(
                port.name, filter=expr or "", output_fields=["count(*)"], timeout=port.timeout
            ),
        )
        return int(counted[0]["count(*)"]) if counted else 0

    # --- iteration ---------------------------------------------------------------------------

    async def iterate_pages(
        self,
        filter: Any,
        batch_size: int,
        output: Literal["records", "ids"],
        with_vectors: bool,
        tenant: str | None,
        all_tenants: bool,
        after: str | None = None,
    ) -> AsyncIterator[list[Any]]:
        """Every row matching ``filter`` (with ``after``: whose id is greater), a page
        (list of records or ids) at a time."""
        if output not in ("records", "ids"):
            raise ConfigError(f"output must be 'records' or 'ids', got {output!r}")
        check_batch_size(batch_size)
        if after is not None:
            (after,) = rows.check_ids([after], self.port.config().id_type)
        sc = self.port.scope(filter, tenant, all_tenants, "iterate")
        await self.port.ensure()
        async for page in self.pages("iterate", sc, batch_size, output, with_vectors, after):
            yield page

    async def pages(
        self,
        operation: str,
        sc: Scope,
        batch_size: int,
        output: Output,
        with_vectors: bool = False,
        after: str | None = None,
    ) -> AsyncIterator[list[Any]]:
        """The one walk over the rows of ``sc``: pages of the backend's candidates (primary-key
        cursor or query iterator, see :mod:`milvus_rag.client.iterate`) that pass the scope's
        client-side residual. ``keys``: records without their text (enough for the residual)."""
        config = self.port.config()
        port = self.port
        id_field = config.id_field
        if output == "ids" and sc.residual is None:
            fields = [id_field]
        else:
            fields = self._output_fields(with_vectors)
            if output != "records":
                fields = [f for f in fields if f != config.text_field]

        async def query(flt: str, limit: int, options: dict[str, Any]) -> Any:
            return await self.read_rows(
                operation,
                lambda c: c.query(
                    port.name,
                    filter=flt,
                    output_fields=fields,
                    limit=limit,
                    timeout=port.timeout,
                    **options,
                ),
            )

        walk = pages(
            query,
            expr=sc.expr,
            id_field=id_field,
            batch_size=batch_size,
            dialect=port.dialect,
            id_type=config.id_type,
            after=after,
        )
        async for page in walk:
            if output == "ids" and sc.residual is None:
                yield [str(row[id_field]) for row in page]
                continue
            recs = [rows.to_record(config, row) for row in page]
            if sc.residual is not None:
                recs = [r for r in recs if sc.admits(r)]
            yield [r.id for r in recs] if output == "ids" else recs

    async def scan(
        self, operation: str, sc: Scope, with_vectors: bool = False, with_text: bool = False
    ) -> list[Record]:
        """Every row of ``sc`` that passes its client-side residual (NOT / EXISTS on Milvus
        Lite 2.5), read page by page: no query-window ceiling."""
        out: list[Record] = []
        kind: Literal["records", "keys"] = "records" if with_text or with_vectors else "keys"
        async for page in self.pages(operation, sc, DEFAULT_BATCH, kind, with_vectors):
            out.extend(page)
        return out

    # --- plumbing ----------------------------------------------------------------------------

    async def read_rows(self, operation: str, fn: Callable[[Any], Awaitable[Any]]) -> Any:
        """``fn(client)``'s rows; none (not an error) from a collection that holds none."""
        try:
            return await self.port.call(operation, fn)
        except BackendError as e:
            if is_empty_collection(e) and await self.count(None, None, True) == 0:
                return []
            raise

    async def rows_by_id(
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
            found.extend(await self.read_rows(operation, call))
        return found

    async def _query_ids(
        self, ids: list[str], fields: list[str], strong: bool, tenant: str | None, client: Any
    ) -> Any:
        port = self.port
        extra = {"consistency_level": "Strong"} if strong else {}
        return await client.query(
            port.name,
            filter=and_tenant(
                ids_expr(ids, port.fields, dialect=port.dialect), tenant, port.tenancy, port.dialect
            ),
            output_fields=fields,
            timeout=port.timeout,
            **extra,
        )

    async def query_expr(self, expr: str, fields: list[str], client: Any) -> Any:
        """``client``'s rows matching the Milvus expression ``expr`` (``fields`` only)."""
        return await client.query(
            self.port.name, filter=expr, output_fields=fields, timeout=self.port.timeout
        )
