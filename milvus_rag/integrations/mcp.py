"""An MCP server over one milvus-rag collection: search, add, delete, list, describe.

Run it with ``milvus-rag mcp`` (stdio, for an MCP client's config) or
``milvus-rag mcp --transport http --port 8000`` (streamable HTTP at ``/mcp``). It needs the
``mcp`` extra: ``pip install "milvus-rag[mcp,embeddings]"``.

Tools:

- ``search(query, mode="hybrid", k=5, filter=None)``: hits with id, text, metadata, scores.
- ``add_documents(documents)``: ``[{"text": ..., "metadata": {...}, "id": ...}]``; ``id``
  defaults to a hash of the text, so adding the same text twice stores it once.
- ``delete(ids=None, filter=None)``: by ids and/or a filter.
- ``list_collections()``, ``describe_collection(name=None)``.

Everything goes through one :class:`~milvus_rag.client.store.AsyncMilvusStore` on the server's
event loop; the embedder is loaded once, before the server starts answering.

Example:
    >>> from milvus_rag.integrations.mcp import build_server  # doctest: +SKIP
    >>> server = build_server(uri="./docs.db", collection="docs")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any, Literal

from milvus_rag.client.errors import ConfigError, MilvusRAGError
from milvus_rag.client.records import Record
from milvus_rag.client.request import SearchRequest
from milvus_rag.client.store import AsyncMilvusStore

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from milvus_rag.embeddings.encoder import Encoder

__all__ = ["MilvusMCPState", "build_server", "serve"]

_INSTALL_HINT = 'the MCP server needs the mcp package: pip install "milvus-rag[mcp]"'
MAX_K = 100


def _import_mcp() -> Any:
    try:
        import mcp.server.mcpserver as mcpserver
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e
    return mcpserver


def text_id(text: str) -> str:
    """Default id of a document added without one: a hash of its text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class MilvusMCPState:
    """The store and the embedder the tools share; created and closed on the server's loop."""

    def __init__(
        self,
        *,
        uri: str | None = None,
        token: str | None = None,
        collection: str | None = None,
        model: str | None = None,
        device: str | None = None,
        precision: str = "auto",
        encoder: Encoder | None = None,
    ) -> None:
        self.uri = uri
        self.token = token
        self.collection = collection
        self.model = model
        self.device = device
        self.precision = precision
        self._encoder = encoder
        self._store: AsyncMilvusStore | None = None
        self._others: dict[str, AsyncMilvusStore] = {}
        self._lock: asyncio.Lock | None = None

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            from milvus_rag.embeddings import SentenceTransformerEncoder
            from milvus_rag.embeddings.encoder import DEFAULT_MODEL

            self._encoder = SentenceTransformerEncoder(
                self.model or DEFAULT_MODEL, device=self.device, precision=self.precision
            )
        return self._encoder

    async def start(self) -> AsyncMilvusStore:
        """Load the embedder (in a worker thread) and open the store; idempotent."""
        if self._store is not None:
            return self._store
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._store is None:
                encoder = self.encoder
                aload = getattr(encoder, "aload", None)
                if aload is not None:
                    await aload()
                self._store = AsyncMilvusStore(
                    self.uri,
                    token=self.token or None,
                    collection_name=self.collection,
                    dim=encoder.dim,
                )
        return self._store

    async def other(self, name: str) -> AsyncMilvusStore:
        """A read-only handle on another collection of the same connection."""
        store = await self.start()
        if name == store.name:
            return store
        if name not in self._others:
            self._others[name] = AsyncMilvusStore(connection=store.connection, collection_name=name)
        return self._others[name]

    async def aclose(self) -> None:
        for other in self._others.values():
            await other.aclose()
        self._others.clear()
        if self._store is not None:
            await self._store.aclose()
            self._store = None

    # --- the tools' logic, framework-free (tested directly and through MCP) -----------

    async def search(
        self,
        query: str,
        mode: str = "hybrid",
        k: int = 5,
        filter: dict[str, Any] | None = None,
        **options: Any,
    ) -> list[dict[str, Any]]:
        """Hits as dicts; ``options`` are :class:`SearchRequest` fields (``search_params``,
        ``radius``, ``range_filter``, ``consistency_level``, ``timeout``...)."""
        store = await self.start()
        if not 1 <= k <= MAX_K:
            raise ConfigError(f"k must be in [1, {MAX_K}], got {k}")
        options = {n: v for n, v in options.items() if v is not None}
        request = store.prepare(SearchRequest(text=query, k=k, mode=mode, filter=filter, **options))
        if not await store.exists():
            return []
        if request.needs_vector:
            request = request.with_vector(await self.encoder.aencode_query(query))
        return [h.to_dict() for h in await store.search(request)]

    async def add_documents(self, documents: list[dict[str, Any]]) -> list[str]:
        store = await self.start()
        if not documents:
            return []
        records = []
        for i, doc in enumerate(documents):
            if not isinstance(doc, dict) or not isinstance(doc.get("text"), str):
                raise ConfigError(f"document {i} needs a 'text' string")
            unknown = set(doc) - {"text", "metadata", "id", "doc_id"}
            if unknown:
                raise ConfigError(f"document {i}: unknown key(s) {sorted(unknown)}")
            metadata = doc.get("metadata") or {}
            if not isinstance(metadata, dict):
                raise ConfigError(f"document {i}: metadata must be an object")
            records.append(
                Record(
                    id=str(doc.get("id") or text_id(doc["text"])),
                    text=doc["text"],
                    metadata=metadata,
                    doc_id=str(doc.get("doc_id") or ""),
                )
            )
        return await store.upsert(records, embed=self.encoder.aencode_documents)

    async def delete(
        self, ids: list[str] | None = None, filter: dict[str, Any] | None = None
    ) -> int:
        store = await self.start()
        if not ids and not filter:
            raise ConfigError("delete needs ids or a non-empty filter")
        if not await store.exists():
            return 0
        n = await store.delete(ids) if ids else 0  # the core counts what matched
        if filter:
            n += await store.delete(filter=filter)
        return n

    async def list_collections(self) -> list[str]:
        store = await self.start()
        return sorted(await store.list_collections())

    async def describe_collection(self, name: str | None = None) -> dict[str, Any]:
        store = await self.other(name) if name else await self.start()
        if not await store.exists():
            raise ConfigError(f"collection {store.name!r} does not exist")
        return await store.describe()


def build_server(
    state: MilvusMCPState | None = None,
    *,
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING",
    **settings: Any,
) -> MCPServer[Any]:
    """The MCP server (``mcp``'s ``MCPServer``) with the five tools over ``state``
    (built from ``uri``, ``token``, ``collection``, ``model``, ``device``, ``precision`` when
    not given)."""
    mcpserver = _import_mcp()
    from mcp.server.mcpserver.exceptions import ToolError

    st = state if state is not None else MilvusMCPState(**settings)
    server: MCPServer[Any] = mcpserver.MCPServer(
        "milvus-rag",
        log_level=log_level,
        instructions=(
            "Search and edit a Milvus collection of text chunks. search() takes a natural "
            "language query; mode 'hybrid' (dense + BM25, the default), 'dense' or 'sparse' "
            "(BM25 keywords). Filters are JSON objects on metadata keys, e.g. "
            '{"source": "a.md"} or {"year": {"$gte": 2020}}.'
        ),
    )

    async def guarded(coro: Any) -> Any:
        try:
            return await coro
        except MilvusRAGError as e:
            raise ToolError(str(e)) from None

    @server.tool()
    async def search(
        query: str,
        mode: Literal["dense", "sparse", "hybrid"] = "hybrid",
        k: int = 5,
        filter: dict[str, Any] | None = None,
        search_params: dict[str, Any] | None = None,
        radius: float | None = None,
        range_filter: float | None = None,
        consistency_level: Literal["Strong", "Bounded", "Session", "Eventually"] | None = None,
        timeout: float | None = None,
    ) -> list[dict[str, Any]]:
        """Search the collection. mode: hybrid (dense + BM25, default), dense or sparse (BM25).
        k: number of hits (1-100). filter: metadata filter, e.g. {"source": "a.md"},
        {"year": {"$gte": 2020}}, {"$or": [...]}. search_params: index search parameters,
        e.g. {"ef": 64}. radius / range_filter: keep only dense hits in that similarity range
        (cosine: radius < score <= range_filter). consistency_level, timeout (seconds): per
        search. Returns hits with id, text, metadata, score."""
        result: list[dict[str, Any]] = await guarded(
            st.search(
                query,
                mode,
                k,
                filter,
                search_params=search_params,
                radius=radius,
                range_filter=range_filter,
                consistency_level=consistency_level,
                timeout=timeout,
            )
        )
        return result

    @server.tool()
    async def add_documents(documents: list[dict[str, Any]]) -> dict[str, Any]:
        """Add or replace documents: a list of {"text": str, "metadata": {...}?, "id": str?}.
        Without an id, the id is a hash of the text. Returns the ids written."""
        ids: list[str] = await guarded(st.add_documents(documents))
        return {"ids": ids, "count": len(ids)}

    @server.tool()
    async def delete(
        ids: list[str] | None = None, filter: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Delete documents by ids and/or by a metadata filter. Returns the count deleted."""
        n: int = await guarded(st.delete(ids, filter))
        return {"deleted": n}

    @server.tool()
    async def list_collections() -> list[str]:
        """Names of the collections on this Milvus connection."""
        names: list[str] = await guarded(st.list_collections())
        return names

    @server.tool()
    async def describe_collection(name: str | None = None) -> dict[str, Any]:
        """Schema summary and row count of a collection (default: the server's collection)."""
        info: dict[str, Any] = await guarded(st.describe_collection(name))
        return info

    server.milvus_state = st  # type: ignore[attr-defined]
    return server


def serve(
    *,
    uri: str | None = None,
    token: str | None = None,
    collection: str | None = None,
    model: str | None = None,
    device: str | None = None,
    precision: str = "auto",
    transport: Literal["stdio", "http"] = "stdio",
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Run the server until the client disconnects (stdio) or it is interrupted (http)."""
    if transport not in ("stdio", "http"):
        raise ConfigError(f"transport must be 'stdio' or 'http', got {transport!r}")
    state = MilvusMCPState(
        uri=uri,
        token=token,
        collection=collection,
        model=model,
        device=device,
        precision=precision,
    )
    server = build_server(state)

    async def main() -> None:
        try:
            store = await state.start()  # load the model, check the connection, then serve
            await store.list_collections()
            if transport == "stdio":
                await server.run_stdio_async()
            else:
                await server.run_streamable_http_async(host=host, port=port)
        finally:
            await state.aclose()

    import anyio

    anyio.run(main)
