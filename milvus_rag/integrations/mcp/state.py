"""What the MCP tools do, without MCP: stores per collection, the model loaded in the
background, and one coroutine per tool returning plain JSON.

The server answers ``initialize`` and ``tools/list`` before pymilvus, torch or the model are
imported: :meth:`MilvusMCPState.start` loads them in a background thread, and the first call
that needs one waits for it (a sparse search, ``count`` or ``get`` never wait for the model).

Example:
    >>> from milvus_rag.integrations.mcp import MCPSettings, MilvusMCPState
    >>> state = MilvusMCPState(MCPSettings(uri="./docs.db", collection="docs"))
    >>> # state.start(); await state.search("how do I connect?", k=3); await state.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import re
import sys
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Literal, cast

from milvus_rag.client.config import DEFAULT_COLLECTION, CollectionConfig, ConnectionConfig
from milvus_rag.client.errors import ConfigError, MilvusRAGError, SchemaMismatchError
from milvus_rag.integrations.mcp import paging, paths, results
from milvus_rag.integrations.mcp.settings import MCPSettings
from milvus_rag.sources import canonical_filter

if TYPE_CHECKING:
    from milvus_rag.client.records import Record
    from milvus_rag.client.store import AsyncMilvusStore
    from milvus_rag.embeddings.encoder import Encoder

Progress = Callable[[float, "float | None", str], Awaitable[None]]
Mode = Literal["dense", "sparse", "hybrid"]
Metric = Literal["COSINE", "IP", "L2"]


def log_line(message: str) -> None:
    """One line on stderr (an MCP server's log channel on stdio; stdout is the protocol)."""
    print(f"milvus-rag mcp: {message}", file=sys.stderr, flush=True)


def _adapted(cfg: CollectionConfig, e: SchemaMismatchError) -> CollectionConfig:
    """``cfg`` changed to what ``e`` says the existing collection has; re-raises ``e`` when
    the difference is not one of the settings a collection is made with."""
    m = re.fullmatch(r"(tenant_field|metadata_fields)\['(\w+)'\]", e.field)
    if e.field.endswith(".metric") and isinstance(e.found, str) and e.found:
        return dataclasses.replace(cfg, metric=e.found)  # type: ignore[arg-type]
    if cfg.enable_bm25 and (
        e.field == "bm25" or (e.field == "fields" and cfg.sparse_field not in list(e.found))  # type: ignore[call-overload]
    ):
        return dataclasses.replace(cfg, enable_bm25=False)
    if m is not None and e.expected is None and isinstance(e.found, str):
        kind, key = m.groups()
        if kind == "tenant_field" and cfg.tenant_field is None:
            return dataclasses.replace(cfg, tenant_field=key)
        return dataclasses.replace(cfg, metadata_fields={**cfg.metadata_fields, key: e.found})
    raise e


def _scoped(store: AsyncMilvusStore, tenant: str | None) -> AsyncMilvusStore:
    """The store, or its view bound to ``tenant`` (ConfigError on a collection without a
    tenant field, or for an invalid tenant)."""
    return store if tenant is None else store.for_tenant(tenant)


def _settings(cfg: CollectionConfig) -> dict[str, Any]:
    """What ``create_collection`` sets, to compare with an existing collection."""
    return {
        "metric": cfg.metric,
        "bm25": cfg.enable_bm25,
        "tenant_field": cfg.tenant_field,
        "metadata_fields": dict(cfg.metadata_fields),
    }


async def _described(store: AsyncMilvusStore) -> dict[str, Any]:
    info = await store.describe()
    info["tenant_field"] = store.config.tenant_field
    info["metadata_fields"] = dict(store.config.metadata_fields)
    return info


class MilvusMCPState:
    """The stores and the embedder the tools share; one per server, on the server's loop.

    ``encoder``: an already built embedder (tests); default: the sentence-transformers
    model of ``settings.model``, loaded in a background thread by :meth:`start`.
    """

    def __init__(self, settings: MCPSettings, *, encoder: Encoder | None = None) -> None:
        self.settings = settings
        self.collection = CollectionConfig(name=settings.collection or DEFAULT_COLLECTION).name
        self.connection = ConnectionConfig(
            uri=settings.uri or "./milvus_rag.db", token=settings.token or ""
        )
        self._encoder_arg = encoder
        self._core: Future[None] = Future()
        self._model: Future[Encoder] = Future()
        self._thread: threading.Thread | None = None
        self.databases = settings.database_plan
        self._stores: dict[tuple[str, str], AsyncMilvusStore] = {}
        self._anchors: dict[str, AsyncMilvusStore] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"MilvusMCPState({self.connection!r}, collection={self.collection!r})"

    # --- background loading -------------------------------------------------------------

    def start(self) -> None:
        """Import the client layer (pymilvus) and load the model in a daemon thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._warm, name="milvus-rag-mcp-load")
            self._thread.daemon = True
            self._thread.start()

    def _warm(self) -> None:
        t0 = time.perf_counter()
        try:
            importlib.import_module("milvus_rag.client.store")
        except BaseException as e:  # surfaced by the first tool call
            self._core.set_exception(e)
            self._model.set_exception(e)
            return
        self._core.set_result(None)
        try:
            encoder = self._encoder_arg
            if encoder is None:
                from milvus_rag.embeddings.encoder import DEFAULT_MODEL, make_encoder

                s = self.settings
                encoder = make_encoder(
                    s.model or DEFAULT_MODEL,
                    device=s.device,
                    precision=s.precision,
                    backend=s.backend,
                )
            dim = encoder.dim  # loads the model
        except MilvusRAGError as e:
            self._model.set_exception(e)
        except (ImportError, OSError, ValueError, RuntimeError) as e:
            self._model.set_exception(
                ConfigError(f"cannot load the embedding model {self.settings.model!r}: {e}")
            )
        else:
            log_line(f"embedding model loaded in {time.perf_counter() - t0:.1f} s (dim {dim})")
            self._model.set_result(encoder)

    async def _core_ready(self) -> None:
        self.start()
        await asyncio.wrap_future(self._core)

    async def encoder(self) -> Encoder:
        """The embedder, once loaded (waits for the background thread)."""
        self.start()
        return await asyncio.wrap_future(self._model)

    # --- stores ---------------------------------------------------------------------------

    def _name(self, name: str | None) -> str:
        return self.collection if name is None else CollectionConfig(name=name).name

    def connection_for(self, database: str) -> ConnectionConfig:
        """The connection to a served ``database`` (the URI's own: the server's connection)."""
        if database == self.databases.default:
            return self.connection
        return dataclasses.replace(self.connection, db_name=database)

    async def anchor(self, database: str | None = None) -> AsyncMilvusStore:
        """A store kept open for the server's lifetime, one per database: connection-wide
        calls, and it holds the Milvus Lite engine so that other stores opening and closing
        do not restart it."""
        db = self.databases.resolve(database)
        await self._core_ready()
        if db not in self._anchors:
            from milvus_rag.client.store import AsyncMilvusStore

            self._anchors[db] = AsyncMilvusStore(
                connection=self.connection_for(db), collection_name="_anchor"
            )
        return self._anchors[db]

    async def _exists(self, name: str, database: str) -> bool:
        return name in await (await self.anchor(database)).list_collections()

    async def _adopt(self, name: str, database: str) -> AsyncMilvusStore:
        """A store on the existing collection ``name``, configured as it was made: metric,
        BM25, tenant field and typed metadata fields (the core adopts the last two from the
        schema, on a Milvus Lite file too; see :mod:`milvus_rag.client.own_fields`)."""
        from milvus_rag.client.store import AsyncMilvusStore

        cfg = CollectionConfig(name=name)
        for _ in range(16):
            store = AsyncMilvusStore(connection=self.connection_for(database), collection=cfg)
            try:
                info = await store.ensure_collection()
            except SchemaMismatchError as e:
                await store.aclose()
                cfg = _adapted(cfg, e)
                continue
            key = info.partition_key
            if key is None or cfg.tenant_field is not None:
                return store
            # the core takes a partition key it was not told of for a typed column: the
            # collection is multi-tenant, and every call must name its tenant
            await store.aclose()
            typed = {k: v for k, v in cfg.metadata_fields.items() if k != key}
            cfg = dataclasses.replace(cfg, tenant_field=key, metadata_fields=typed)
        raise ConfigError(f"collection {name!r} has a schema this server cannot read")

    async def store(
        self, name: str | None = None, *, write: bool = False, database: str | None = None
    ) -> AsyncMilvusStore:
        """The store of collection ``name`` (default: the served one) in ``database``
        (default: the URI's; ConfigError unless served).

        Reads need an existing collection. Writes create the served collection if missing;
        any other collection must be created first (``create_collection``).
        """
        name = self._name(name)
        db = self.databases.resolve(database)
        key = (db, name)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            exists = await self._exists(name, db)
            store = self._stores.get(key)
            if not exists:
                if store is not None:  # dropped behind our back
                    await store.aclose()
                    del self._stores[key]
                if not write or name != self.collection:
                    listed = await (await self.anchor(db)).list_collections()
                    known = ", ".join(sorted(listed))
                    where = f" in database {db!r}" if self.databases.available else ""
                    raise ConfigError(
                        f"collection {name!r} does not exist{where} (collections: "
                        f"{known or 'none'}); "
                        + (
                            "create it with create_collection"
                            if name != self.collection
                            else "add documents first"
                        )
                    )
                from milvus_rag.client.store import AsyncMilvusStore

                dim = (await self.encoder()).dim
                cfg = CollectionConfig(name=name, dim=dim)
                store = AsyncMilvusStore(connection=self.connection_for(db), collection=cfg)
            elif store is None:
                store = await self._adopt(name, db)
            self._stores[key] = store
        if write:
            dim = (await self.encoder()).dim
            info = await store.ensure_collection()
            if info.dim != dim:
                raise ConfigError(
                    f"collection {name!r} holds {info.dim}-dimensional vectors, the server's "
                    f"model makes {dim}: start the server with that collection's model"
                )
        return store

    async def aclose(self) -> None:
        for store in self._stores.values():
            await store.aclose()
        self._stores.clear()
        for anchor in self._anchors.values():
            await anchor.aclose()
        self._anchors.clear()

    # --- the tools' logic -----------------------------------------------------------------

    async def search(
        self,
        query: str,
        *,
        collection: str | None = None,
        mode: Mode = "hybrid",
        k: int = 5,
        filter: dict[str, Any] | None = None,
        tenant: str | None = None,
        database: str | None = None,
        max_text_chars: int = results.DEFAULT_MAX_TEXT_CHARS,
        window: int | None = None,
        parent: bool = False,
        **options: Any,
    ) -> dict[str, Any]:
        """Hits as bounded dicts; ``options`` are :class:`SearchRequest` fields
        (``search_params``, ``radius``, ``range_filter``, ``consistency_level``, ``timeout``,
        ``group_by``, ``group_size``, ``strict_group_size``). ``window`` / ``parent``: each
        hit's expansion (see ``AsyncMilvusStore.expand``) under ``expanded``."""
        from milvus_rag.client.request import SearchRequest

        if window is not None and parent:
            raise ConfigError(
                "pass window (neighbouring chunks) or parent (the document), not both"
            )
        results.check_query(query)
        results.check_range("k", k, 1, results.MAX_K)
        results.check_range("max_text_chars", max_text_chars, 0, results.MAX_TEXT_CHARS)
        store = _scoped(await self.store(collection, database=database), tenant)
        given = {n: v for n, v in options.items() if v is not None}
        # validated (filter, tenant, range, params) before the model is needed
        flt = canonical_filter(filter)  # a source as given or as ingest stores it
        request = store.prepare(  # each hit reports its relevance
            SearchRequest(text=query, k=k, mode=mode, filter=flt, relevance=True, **given)
        )
        if request.needs_vector:
            encoder = await self.encoder()
            request = request.with_vector(await encoder.aencode_query(query))
        hits = await store.search(request)
        out = [results.hit_dict(h, max_text_chars=max_text_chars) for h in hits]
        if window is not None or parent:
            expanded = await store.expand(hits, window=window, parent=parent)
            for d, e in zip(out, expanded, strict=True):
                d["expanded"] = {
                    **results.clip(e.text, max_text_chars),
                    "matched_span": list(e.span),
                    "chunk_ids": [c.id for c in e.chunks],
                }
        return {"collection": store.name, "hits": out}

    async def get(
        self,
        ids: Sequence[str],
        *,
        collection: str | None = None,
        tenant: str | None = None,
        database: str | None = None,
        max_text_chars: int = results.DEFAULT_MAX_TEXT_CHARS,
    ) -> dict[str, Any]:
        id_list = results.check_ids(ids)
        results.check_range("max_text_chars", max_text_chars, 0, results.MAX_TEXT_CHARS)
        store = _scoped(await self.store(collection, database=database), tenant)
        found = await store.get(id_list)
        seen = {r.id for r in found}
        return {
            "collection": store.name,
            "found": [results.record_dict(r, max_text_chars=max_text_chars) for r in found],
            "missing": [i for i in dict.fromkeys(id_list) if i not in seen],
        }

    async def count(
        self,
        *,
        collection: str | None = None,
        filter: dict[str, Any] | None = None,
        tenant: str | None = None,
        database: str | None = None,
    ) -> dict[str, Any]:
        store = _scoped(await self.store(collection, database=database), tenant)
        return {"collection": store.name, "count": await store.count(canonical_filter(filter))}

    async def query(
        self,
        *,
        collection: str | None = None,
        filter: dict[str, Any] | None = None,
        fields: Sequence[str] | None = None,
        limit: int = results.DEFAULT_QUERY_LIMIT,
        cursor: str | None = None,
        tenant: str | None = None,
        database: str | None = None,
        max_text_chars: int = results.DEFAULT_MAX_TEXT_CHARS,
    ) -> dict[str, Any]:
        """Rows matching ``filter`` in primary-key order, ``limit`` at a time; pass the
        result's ``next_cursor`` back as ``cursor`` for the next page (``None``: no more).
        Built on the store's ``iterate_pages``: no 16,384-row ceiling."""
        results.check_range("limit", limit, 1, results.MAX_QUERY_LIMIT)
        results.check_range("max_text_chars", max_text_chars, 0, results.MAX_TEXT_CHARS)
        wanted = results.check_fields(fields)
        db = self.databases.resolve(database)
        store = _scoped(await self.store(collection, database=db), tenant)
        key = paging.query_key(db, store.name, tenant, filter)
        after = paging.decode(cursor, key) if cursor is not None else None
        found: list[Record] = []
        walk = cast(  # an async generator: closed here when the page is full
            "AsyncGenerator[list[Record], None]",
            store.iterate_pages(filter or None, batch_size=limit + 1, after=after),
        )
        async with contextlib.aclosing(walk):
            async for page in walk:
                found.extend(page)
                if len(found) > limit:
                    break
        int_ids = store.config.id_type == "int64"
        found.sort(key=lambda r: int(r.id) if int_ids else r.id)
        rows = found[:limit]
        more = len(found) > limit
        return {
            "collection": store.name,
            "database": db,
            "rows": [results.row_dict(r, wanted, max_text_chars=max_text_chars) for r in rows],
            "next_cursor": paging.encode(rows[-1].id, key) if more else None,
        }

    async def add_documents(
        self,
        documents: Sequence[Any],
        *,
        collection: str | None = None,
        tenant: str | None = None,
        database: str | None = None,
    ) -> dict[str, Any]:
        records = results.parse_documents(documents)
        store = _scoped(await self.store(collection, write=True, database=database), tenant)
        encoder = await self.encoder()
        ids = await store.upsert(records, embed=encoder.aencode_documents) if records else []
        return {"collection": store.name, "ids": ids, "count": len(ids)}

    async def delete(
        self,
        *,
        ids: Sequence[str] | None = None,
        filter: dict[str, Any] | None = None,
        collection: str | None = None,
        tenant: str | None = None,
        database: str | None = None,
    ) -> dict[str, Any]:
        id_list = results.check_ids(ids)
        if not id_list and not filter:
            raise ConfigError("delete needs ids or a non-empty filter")
        store = _scoped(await self.store(collection, database=database), tenant)
        deleted = await store.delete(ids=id_list or None, filter=canonical_filter(filter) or None)
        return {"collection": store.name, "deleted": deleted}

    async def list_collections(self, database: str | None = None) -> dict[str, Any]:
        db = self.databases.resolve(database)
        names = sorted(await (await self.anchor(db)).list_collections())
        out: dict[str, Any] = {"collections": names, "served": self.collection}
        if self.databases.available:
            out["database"] = db
        return out

    async def list_databases(self) -> dict[str, Any]:
        """The served databases that exist on the server (``--databases``), the default
        first, and those listed but missing; refused on a Milvus Lite file."""
        self.databases.check_available()
        on_server = set(await (await self.anchor()).list_databases())
        return {
            "databases": [d for d in self.databases.names if d in on_server],
            "default": self.databases.default,
            "missing": [d for d in self.databases.names if d not in on_server],
        }

    async def describe_collection(
        self, collection: str | None = None, database: str | None = None
    ) -> dict[str, Any]:
        return await _described(await self.store(collection, database=database))

    async def create_collection(
        self,
        name: str,
        *,
        metric: Metric = "COSINE",
        bm25: bool = True,
        tenant_field: str | None = None,
        metadata_fields: dict[str, str] | None = None,
        database: str | None = None,
    ) -> dict[str, Any]:
        from milvus_rag.client.store import AsyncMilvusStore

        db = self.databases.resolve(database)
        await self._core_ready()
        cfg = CollectionConfig(
            name=name,
            metric=metric,
            enable_bm25=bm25,
            tenant_field=tenant_field,
            metadata_fields=dict(metadata_fields or {}),
        )
        if await self._exists(cfg.name, db):
            store = await self.store(cfg.name, database=db)
            if _settings(store.config) != _settings(cfg):
                raise SchemaMismatchError(
                    cfg.name, "settings", _settings(cfg), _settings(store.config)
                )
            return {"created": False, **await _described(store)}
        dim = (await self.encoder()).dim
        store = AsyncMilvusStore(connection=self.connection_for(db), collection=cfg.with_dim(dim))
        await store.ensure_collection()
        old = self._stores.pop((db, cfg.name), None)
        if old is not None:
            await old.aclose()
        self._stores[(db, cfg.name)] = store
        return {"created": True, **await _described(store)}

    async def drop_collection(self, name: str, database: str | None = None) -> dict[str, Any]:
        if not self.settings.allow_drop:
            raise ConfigError("drop_collection is disabled: start the server with --allow-drop")
        db = self.databases.resolve(database)
        store = await self.store(name, database=db)
        rows = await store.count()
        await store.drop()
        await store.aclose()
        self._stores.pop((db, store.name), None)
        return {"dropped": store.name, "rows": rows}

    async def ingest(
        self,
        paths_: Sequence[str],
        *,
        collection: str | None = None,
        tenant: str | None = None,
        database: str | None = None,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Ingest files and folders under the ``--allow-path`` roots (the CLI's chunking and
        content-hash ids: ingesting unchanged files again writes nothing)."""
        roots = self.settings.allow_paths
        if not paths_:
            raise ConfigError("ingest needs at least one path")
        if len(paths_) > results.MAX_INGEST_PATHS:
            raise ConfigError(f"at most {results.MAX_INGEST_PATHS} paths per call")
        resolved = [paths.resolve_allowed(p, roots) for p in paths_]
        from milvus_rag.ingest import files as ingest
        from milvus_rag.ingest import sync as ingest_sync

        files = ingest.discover(resolved).files
        paths.check_files(files, roots)
        if progress is not None:
            await progress(0, None, f"{len(files)} files to chunk")
        store = _scoped(await self.store(collection, write=True, database=database), tenant)
        encoder = await self.encoder()
        done = 0

        async def embed(texts: list[str]) -> Any:
            nonlocal done
            vectors = await encoder.aencode_documents(texts)
            done += len(texts)
            if progress is not None:
                await progress(done, None, f"embedded {done} new chunks")
            return vectors

        stats = await ingest_sync.ingest_files(
            store,
            resolved,
            embed,
            progress=False,
            chunk_size=ingest.DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size,
            chunk_overlap=ingest.DEFAULT_CHUNK_OVERLAP if chunk_overlap is None else chunk_overlap,
        )
        # no notification after the last step: the result says it all, and the TypeScript
        # SDK drops (and reports as an error) a notification read together with the result
        out = dataclasses.asdict(stats)
        out["skipped"] = [{"path": str(p), "reason": why} for p, why in stats.skipped]
        return {"collection": store.name, **out}
