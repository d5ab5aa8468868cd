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
import dataclasses
import importlib
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Literal

from milvus_rag.client.config import DEFAULT_COLLECTION, CollectionConfig, ConnectionConfig
from milvus_rag.client.errors import ConfigError, MilvusRAGError, SchemaMismatchError
from milvus_rag.integrations.mcp import paths, results
from milvus_rag.integrations.mcp.settings import MCPSettings

if TYPE_CHECKING:
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
        self._stores: dict[str, AsyncMilvusStore] = {}
        self._anchor: AsyncMilvusStore | None = None
        self._locks: dict[str, asyncio.Lock] = {}

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

    async def anchor(self) -> AsyncMilvusStore:
        """A store kept open for the server's lifetime: connection-wide calls, and it holds
        the Milvus Lite engine so that other stores opening and closing do not restart it."""
        await self._core_ready()
        if self._anchor is None:
            from milvus_rag.client.store import AsyncMilvusStore

            self._anchor = AsyncMilvusStore(connection=self.connection, collection_name="_anchor")
        return self._anchor

    async def _exists(self, name: str) -> bool:
        return name in await (await self.anchor()).list_collections()

    async def _adopt(self, name: str) -> AsyncMilvusStore:
        """A store on the existing collection ``name``, configured as it was made: metric,
        BM25, tenant field (a partition key; on a Milvus Lite file a tenant field is a plain
        column and comes back as a typed ``varchar`` field) and typed metadata fields."""
        from milvus_rag.client.store import AsyncMilvusStore

        cfg = CollectionConfig(name=name)
        for _ in range(16):
            store = AsyncMilvusStore(connection=self.connection, collection=cfg)
            try:
                await store.ensure_collection()
                return store
            except SchemaMismatchError as e:
                await store.aclose()
                cfg = _adapted(cfg, e)
        raise ConfigError(f"collection {name!r} has a schema this server cannot read")

    async def store(self, name: str | None = None, *, write: bool = False) -> AsyncMilvusStore:
        """The store of collection ``name`` (default: the served one).

        Reads need an existing collection. Writes create the served collection if missing;
        any other collection must be created first (``create_collection``).
        """
        name = self._name(name)
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            exists = await self._exists(name)
            store = self._stores.get(name)
            if not exists:
                if store is not None:  # dropped behind our back
                    await store.aclose()
                    del self._stores[name]
                if not write or name != self.collection:
                    known = ", ".join(sorted(await (await self.anchor()).list_collections()))
                    raise ConfigError(
                        f"collection {name!r} does not exist (collections: {known or 'none'}); "
                        + (
                            "create it with create_collection"
                            if name != self.collection
                            else "add documents first"
                        )
                    )
                from milvus_rag.client.store import AsyncMilvusStore

                dim = (await self.encoder()).dim
                cfg = CollectionConfig(name=name, dim=dim)
                store = AsyncMilvusStore(connection=self.connection, collection=cfg)
            elif store is None:
                store = await self._adopt(name)
            self._stores[name] = store
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
        if self._anchor is not None:
            await self._anchor.aclose()
            self._anchor = None

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
        store = _scoped(await self.store(collection), tenant)
        given = {n: v for n, v in options.items() if v is not None}
        # validated (filter, tenant, range, params) before the model is needed
        request = store.prepare(SearchRequest(text=query, k=k, mode=mode, filter=filter, **given))
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
        max_text_chars: int = results.DEFAULT_MAX_TEXT_CHARS,
    ) -> dict[str, Any]:
        id_list = results.check_ids(ids)
        results.check_range("max_text_chars", max_text_chars, 0, results.MAX_TEXT_CHARS)
        store = _scoped(await self.store(collection), tenant)
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
    ) -> dict[str, Any]:
        store = _scoped(await self.store(collection), tenant)
        return {"collection": store.name, "count": await store.count(filter)}

    async def add_documents(
        self,
        documents: Sequence[Any],
        *,
        collection: str | None = None,
        tenant: str | None = None,
    ) -> dict[str, Any]:
        records = results.parse_documents(documents)
        store = _scoped(await self.store(collection, write=True), tenant)
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
    ) -> dict[str, Any]:
        id_list = results.check_ids(ids)
        if not id_list and not filter:
            raise ConfigError("delete needs ids or a non-empty filter")
        store = _scoped(await self.store(collection), tenant)
        deleted = await store.delete(ids=id_list or None, filter=filter or None)
        return {"collection": store.name, "deleted": deleted}

    async def list_collections(self) -> dict[str, Any]:
        names = sorted(await (await self.anchor()).list_collections())
        return {"collections": names, "served": self.collection}

    async def describe_collection(self, collection: str | None = None) -> dict[str, Any]:
        return await _described(await self.store(collection))

    async def create_collection(
        self,
        name: str,
        *,
        metric: Metric = "COSINE",
        bm25: bool = True,
        tenant_field: str | None = None,
        metadata_fields: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        from milvus_rag.client.store import AsyncMilvusStore

        await self._core_ready()
        cfg = CollectionConfig(
            name=name,
            metric=metric,
            enable_bm25=bm25,
            tenant_field=tenant_field,
            metadata_fields=dict(metadata_fields or {}),
        )
        if await self._exists(cfg.name):
            store = await self.store(cfg.name)
            if _settings(store.config) != _settings(cfg):
                raise SchemaMismatchError(
                    cfg.name, "settings", _settings(cfg), _settings(store.config)
                )
            return {"created": False, **await _described(store)}
        dim = (await self.encoder()).dim
        store = AsyncMilvusStore(connection=self.connection, collection=cfg.with_dim(dim))
        await store.ensure_collection()
        old = self._stores.pop(cfg.name, None)
        if old is not None:
            await old.aclose()
        self._stores[cfg.name] = store
        return {"created": True, **await _described(store)}

    async def drop_collection(self, name: str) -> dict[str, Any]:
        if not self.settings.allow_drop:
            raise ConfigError("drop_collection is disabled: start the server with --allow-drop")
        store = await self.store(name)
        rows = await store.count()
        await store.drop()
        await store.aclose()
        self._stores.pop(store.name, None)
        return {"dropped": store.name, "rows": rows}

    async def ingest(
        self,
        paths_: Sequence[str],
        *,
        collection: str | None = None,
        tenant: str | None = None,
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
        store = _scoped(await self.store(collection, write=True), tenant)
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
