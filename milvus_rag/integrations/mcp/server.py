"""The MCP server: tools (with annotations), resources and a prompt over :class:`MilvusMCPState`,
and :func:`serve`, which runs it over stdio or streamable HTTP.

This module imports the ``mcp`` package (the ``mcp`` extra); annotations are evaluated at
import (no ``from __future__ import annotations``) because the MCP SDK reads them to build
each tool's input schema and to inject its ``Context``.
"""

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from milvus_rag import __version__
from milvus_rag.client.errors import MilvusRAGError
from milvus_rag.integrations.mcp import paging, results
from milvus_rag.integrations.mcp.http_guard import HTTPGuard
from milvus_rag.integrations.mcp.settings import MCPSettings, is_loopback
from milvus_rag.integrations.mcp.state import MilvusMCPState, log_line

COLLECTIONS_URI = "milvus-rag://collections"
COLLECTION_URI = "milvus-rag://collections/{name}"
READ_TOOLS = (
    "search",
    "query",
    "get",
    "count",
    "list_collections",
    "describe_collection",
    "list_databases",
)

Collection = Annotated[
    str | None,
    Field(description="collection name; default: the collection the server was started with"),
]
Filter = Annotated[
    dict[str, Any] | None,
    Field(
        description='metadata filter, e.g. {"source": "a.md"}, {"year": {"$gte": 2020}}, '
        '{"$or": [...]}; operators $eq $ne $gt $gte $lt $lte $in $nin $contains $exists '
        "$and $or $not"
    ),
]
MaxText = Annotated[
    int,
    Field(
        ge=0,
        le=results.MAX_TEXT_CHARS,
        description="longest text returned per row; longer texts are cut and flagged "
        '"truncated": true with their full length in "text_chars"',
    ),
]
Tenant = Annotated[
    str | None,
    Field(
        description="the tenant, on a multi-tenant collection (required there; refused on "
        "others); the filter applies within it"
    ),
]
Ids = Annotated[list[str], Field(max_length=results.MAX_IDS, description="document ids")]
Database = Annotated[
    str | None,
    Field(
        description="Milvus database (see list_databases); default: the server's. Only the "
        "databases the server was started with (--databases) are accepted"
    ),
]


def _hints(
    title: str, *, read_only: bool, destructive: bool = False, idempotent: bool = True
) -> ToolAnnotations:
    if read_only:
        return ToolAnnotations(title=title, read_only_hint=True, open_world_hint=False)
    return ToolAnnotations(
        title=title,
        read_only_hint=False,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=False,
    )


def _instructions(state: MilvusMCPState) -> str:
    s = state.settings
    lines = [
        f"Search and edit Milvus collections of text chunks (served collection: "
        f"{state.collection!r}; every data tool takes a `collection` argument).",
        "search() takes a natural-language query; mode 'hybrid' (dense + BM25, the default), "
        "'dense' or 'sparse' (BM25 keywords). Filters are JSON objects on metadata keys.",
        f"Resources: {COLLECTIONS_URI} lists the collections, {COLLECTION_URI} gives one "
        "collection's schema and row count.",
    ]
    dbs = state.databases
    if dbs.available:
        lines.append(
            f"Databases: {', '.join(dbs.names)} (default {dbs.default!r}); every tool but "
            "list_databases takes a `database` argument."
        )
    lines.append(
        "query() lists the rows matching a filter in id order, `limit` at a time; pass its "
        "next_cursor back as `cursor` for the next page."
    )
    if s.read_only:
        lines.append("This server is read-only.")
    if s.allow_paths:
        lines.append(
            "ingest() reads files and folders under: " + ", ".join(str(p) for p in s.allow_paths)
        )
    return "\n".join(lines)


async def _guarded(call: Any) -> Any:
    """milvus-rag errors become tool errors with their one readable message."""
    try:
        return await call
    except MilvusRAGError as e:
        raise ToolError(" ".join(str(e).split())) from None


def _register_read_tools(server: MCPServer[Any], st: MilvusMCPState) -> None:
    @server.tool(annotations=_hints("Search a collection", read_only=True))
    async def search(
        query: Annotated[
            str,
            Field(max_length=results.MAX_QUERY_CHARS, description="natural-language query"),
        ],
        collection: Collection = None,
        mode: Literal["dense", "sparse", "hybrid"] = "hybrid",
        k: Annotated[int, Field(ge=1, le=results.MAX_K, description="number of hits")] = 5,
        filter: Filter = None,
        tenant: Tenant = None,
        database: Database = None,
        max_text_chars: MaxText = results.DEFAULT_MAX_TEXT_CHARS,
        search_params: dict[str, Any] | None = None,
        radius: float | None = None,
        range_filter: float | None = None,
        consistency_level: Literal["Strong", "Bounded", "Session", "Eventually"] | None = None,
        timeout: Annotated[float | None, Field(gt=0, le=600)] = None,
        group_by: str | bool | None = None,
        group_size: Annotated[int | None, Field(ge=1, le=results.MAX_K)] = None,
        strict_group_size: bool = False,
        window: Annotated[int | None, Field(ge=0, le=100)] = None,
        parent: bool = False,
    ) -> dict[str, Any]:
        """Search a collection: hybrid (dense + BM25, default), dense or sparse (BM25).
        Returns hits best first, each with id, text, metadata, doc_id, score and relevance
        (in [0, 1]). search_params: index search parameters, e.g. {"ef": 64}. radius /
        range_filter: keep only dense hits in that similarity range (cosine: radius < score
        <= range_filter). consistency_level, timeout (seconds): per search. group_by: true
        (or a field name) returns k distinct documents (groups by doc_id), group_size chunks
        each; window: n neighbouring chunks each side of a hit, or parent: true its whole
        document, as each hit's "expanded" text (the matched chunk at matched_span)."""
        out: dict[str, Any] = await _guarded(
            st.search(
                query,
                collection=collection,
                mode=mode,
                k=k,
                filter=filter,
                tenant=tenant,
                database=database,
                max_text_chars=max_text_chars,
                search_params=search_params,
                radius=radius,
                range_filter=range_filter,
                consistency_level=consistency_level,
                timeout=timeout,
                group_by=group_by,
                group_size=group_size,
                strict_group_size=strict_group_size or None,
                window=window,
                parent=parent,
            )
        )
        return out

    @server.tool(annotations=_hints("Get documents by id", read_only=True))
    async def get(
        ids: Ids,
        collection: Collection = None,
        tenant: Tenant = None,
        database: Database = None,
        max_text_chars: MaxText = results.DEFAULT_MAX_TEXT_CHARS,
    ) -> dict[str, Any]:
        """Documents by id, in the order asked ("found"), and the ids not stored ("missing")."""
        out: dict[str, Any] = await _guarded(
            st.get(
                ids,
                collection=collection,
                tenant=tenant,
                database=database,
                max_text_chars=max_text_chars,
            )
        )
        return out

    @server.tool(annotations=_hints("Count documents", read_only=True))
    async def count(
        collection: Collection = None,
        filter: Filter = None,
        tenant: Tenant = None,
        database: Database = None,
    ) -> dict[str, Any]:
        """Number of documents in a collection, or of those matching a filter."""
        out: dict[str, Any] = await _guarded(
            st.count(collection=collection, filter=filter, tenant=tenant, database=database)
        )
        return out

    @server.tool(annotations=_hints("Query documents by filter", read_only=True))
    async def query(
        collection: Collection = None,
        filter: Filter = None,
        fields: Annotated[
            list[str] | None,
            Field(
                max_length=results.MAX_FIELDS,
                description='what to return of each row besides its id: "text", "doc_id", '
                '"metadata", or metadata keys (e.g. ["source", "year"]: only those keys of '
                "metadata); default: everything",
            ),
        ] = None,
        limit: Annotated[
            int, Field(ge=1, le=results.MAX_QUERY_LIMIT, description="rows per page")
        ] = results.DEFAULT_QUERY_LIMIT,
        cursor: Annotated[
            str | None,
            Field(
                max_length=paging.MAX_CURSOR_CHARS,
                description="next_cursor of the previous page of the same query (same "
                "collection, database, tenant and filter); omit for the first page",
            ),
        ] = None,
        tenant: Tenant = None,
        database: Database = None,
        max_text_chars: MaxText = results.DEFAULT_MAX_TEXT_CHARS,
    ) -> dict[str, Any]:
        """Rows matching a metadata filter (all rows without one), in id order, `limit` per
        call, no ranking: e.g. every chunk of {"source": "a.md"}. "next_cursor" is null on
        the last page; otherwise pass it as `cursor` to get the next rows (each row comes
        once, with no cap on the total)."""
        out: dict[str, Any] = await _guarded(
            st.query(
                collection=collection,
                filter=filter,
                fields=fields,
                limit=limit,
                cursor=cursor,
                tenant=tenant,
                database=database,
                max_text_chars=max_text_chars,
            )
        )
        return out

    @server.tool(annotations=_hints("List collections", read_only=True))
    async def list_collections(database: Database = None) -> dict[str, Any]:
        """Names of the collections on this Milvus connection (in a database), and the
        served one."""
        out: dict[str, Any] = await _guarded(st.list_collections(database))
        return out

    @server.tool(annotations=_hints("Describe a collection", read_only=True))
    async def describe_collection(
        collection: Collection = None, database: Database = None
    ) -> dict[str, Any]:
        """Schema summary (dim, metric, BM25, fields, analyzer) and row count of a collection."""
        out: dict[str, Any] = await _guarded(st.describe_collection(collection, database))
        return out

    @server.tool(annotations=_hints("List databases", read_only=True))
    async def list_databases() -> dict[str, Any]:
        """The Milvus databases this server serves (started with --databases), the default
        one, and any listed that the server does not have. Milvus Lite files have none."""
        out: dict[str, Any] = await _guarded(st.list_databases())
        return out


def _register_write_tools(server: MCPServer[Any], st: MilvusMCPState) -> None:
    @server.tool(annotations=_hints("Add or replace documents", read_only=False, destructive=True))
    async def add_documents(
        documents: Annotated[
            list[dict[str, Any]],
            Field(
                max_length=results.MAX_DOCUMENTS,
                description='[{"text": str, "metadata": {...}?, "id": str?, "doc_id": str?}]',
            ),
        ],
        collection: Collection = None,
        tenant: Tenant = None,
        database: Database = None,
    ) -> dict[str, Any]:
        """Add documents, replacing any stored under the same id. Without an id, the id is a
        hash of the text (adding the same text twice stores it once). Only the served
        collection is created on demand; create others with create_collection."""
        out: dict[str, Any] = await _guarded(
            st.add_documents(documents, collection=collection, tenant=tenant, database=database)
        )
        return out

    @server.tool(annotations=_hints("Delete documents", read_only=False, destructive=True))
    async def delete(
        ids: Annotated[list[str] | None, Field(max_length=results.MAX_IDS)] = None,
        filter: Filter = None,
        collection: Collection = None,
        tenant: Tenant = None,
        database: Database = None,
    ) -> dict[str, Any]:
        """Delete documents by ids and/or by a metadata filter. Returns the count deleted."""
        out: dict[str, Any] = await _guarded(
            st.delete(
                ids=ids, filter=filter, collection=collection, tenant=tenant, database=database
            )
        )
        return out

    @server.tool(annotations=_hints("Create a collection", read_only=False))
    async def create_collection(
        name: Annotated[str, Field(description="letters, digits and '_'")],
        metric: Literal["COSINE", "IP", "L2"] = "COSINE",
        bm25: Annotated[
            bool, Field(description="keep a BM25 index for sparse and hybrid search")
        ] = True,
        tenant_field: Annotated[
            str | None,
            Field(description="make it multi-tenant: the name of its tenant column, e.g. 'tenant'"),
        ] = None,
        metadata_fields: Annotated[
            dict[str, str] | None,
            Field(
                description="metadata keys stored as typed, indexed columns: "
                '{"year": "int64", "lang": "varchar", "score": "double", "draft": "bool", '
                '"tags": "array<varchar>"}'
            ),
        ] = None,
        database: Database = None,
    ) -> dict[str, Any]:
        """Create a collection for the server's embedding model (idempotent: an existing
        collection with the same settings is left as it is; other settings are an error)."""
        out: dict[str, Any] = await _guarded(
            st.create_collection(
                name,
                metric=metric,
                bm25=bm25,
                tenant_field=tenant_field,
                metadata_fields=metadata_fields,
                database=database,
            )
        )
        return out

    if st.settings.allow_drop:

        @server.tool(annotations=_hints("Drop a collection", read_only=False, destructive=True))
        async def drop_collection(name: str, database: Database = None) -> dict[str, Any]:
            """Drop a collection and every document in it (cannot be undone)."""
            out: dict[str, Any] = await _guarded(st.drop_collection(name, database))
            return out

    if st.settings.allow_paths:
        roots = ", ".join(str(p) for p in st.settings.allow_paths)

        @server.tool(
            annotations=_hints("Ingest files", read_only=False, destructive=True),
            description=(
                f"Chunk, embed and store text, Markdown and PDF files and folders under {roots} "
                "(relative paths are taken from the first). Ids are content hashes: "
                "ingesting unchanged files again writes nothing; chunks of an earlier version "
                "of a file are replaced. Reports progress."
            ),
        )
        async def ingest(
            paths: Annotated[list[str], Field(min_length=1, max_length=results.MAX_INGEST_PATHS)],
            ctx: Context,
            collection: Collection = None,
            tenant: Tenant = None,
            database: Database = None,
            chunk_size: Annotated[int | None, Field(ge=1)] = None,
            chunk_overlap: Annotated[int | None, Field(ge=0)] = None,
        ) -> dict[str, Any]:
            async def progress(done: float, total: float | None, message: str) -> None:
                await ctx.report_progress(done, total, message)

            out: dict[str, Any] = await _guarded(
                st.ingest(
                    paths,
                    collection=collection,
                    tenant=tenant,
                    database=database,
                    chunk_size=chunk_size,
                    chunk_overlap=chunk_overlap,
                    progress=progress,
                )
            )
            return out


def _register_resources(server: MCPServer[Any], st: MilvusMCPState) -> None:
    from mcp.server.mcpserver.exceptions import ResourceError

    async def read(call: Any) -> str:
        try:
            return json.dumps(await call, default=str)
        except MilvusRAGError as e:
            raise ResourceError(" ".join(str(e).split())) from None

    @server.resource(
        COLLECTIONS_URI,
        name="collections",
        description="The collections on this Milvus connection, each with its resource URI",
        mime_type="application/json",
    )
    async def collections() -> str:
        async def listing() -> dict[str, Any]:
            out = await st.list_collections()
            out["resources"] = {n: COLLECTION_URI.format(name=n) for n in out["collections"]}
            return out

        return await read(listing())

    @server.resource(
        COLLECTION_URI,
        name="collection",
        description="One collection's schema (dim, metric, BM25, fields, analyzer) and row count",
        mime_type="application/json",
    )
    async def collection(name: str) -> str:
        return await read(st.describe_collection(name))

    @server.prompt(
        name="search_and_answer", description="Answer a question from a collection, citing ids"
    )
    def search_and_answer(question: str, collection: str | None = None) -> str:
        where = f"the collection {collection!r}" if collection else "the served collection"
        return (
            f"Answer the question below using the search tool on {where}. Search with the "
            "question (and with rephrasings if the first hits do not answer it), answer only "
            "from the hits' text, and cite the ids of the hits you used. If the hits do not "
            f"contain the answer, say so.\n\nQuestion: {question}"
        )


def build_server(
    state: MilvusMCPState | None = None,
    *,
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING",
    **settings: Any,
) -> MCPServer[Any]:
    """The ``MCPServer`` over ``state`` (built from ``MCPSettings(**settings)`` when not
    given). Read tools always; write tools unless ``read_only``; ``drop_collection`` with
    ``allow_drop``; ``ingest`` with ``allow_paths``."""
    st = state if state is not None else MilvusMCPState(MCPSettings(**settings))
    server: MCPServer[Any] = MCPServer(
        "milvus-rag",
        title="milvus-rag",
        version=__version__,
        instructions=_instructions(st),
        log_level=log_level,
    )
    _register_read_tools(server, st)
    if not st.settings.read_only:
        _register_write_tools(server, st)
    _register_resources(server, st)
    server.milvus_state = st  # type: ignore[attr-defined]
    return server


def http_app(server: MCPServer[Any], settings: MCPSettings) -> Callable[..., Any]:
    """The streamable HTTP app at ``/mcp`` behind :class:`HTTPGuard` (token, Origin, Host),
    with the SDK's request body limit."""
    from mcp.server.transport_security import TransportSecuritySettings

    app = server.streamable_http_app(
        max_request_body_size=settings.max_body_bytes,
        # Host and Origin are checked by HTTPGuard, with the --allow-origin list.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        host=settings.host,
    )
    return HTTPGuard(
        app,
        token=settings.auth_token,
        allowed_origins=settings.allowed_origins,
        check_host=is_loopback(settings.host),
    )


def serve(settings: MCPSettings | None = None, **kwargs: Any) -> None:
    """Run the server until the client disconnects (stdio) or it is interrupted (HTTP).

    Answers ``initialize`` at once; the client layer and the model load in the background.
    """
    s = settings if settings is not None else MCPSettings(**kwargs)
    state = MilvusMCPState(s)
    server = build_server(state)

    async def main() -> None:
        state.start()
        try:
            if s.transport == "stdio":
                await server.run_stdio_async()
            else:
                import uvicorn

                config = uvicorn.Config(
                    http_app(server, s), host=s.host, port=s.port, log_level="warning"
                )
                log_line(f"serving MCP at http://{s.host}:{s.port}/mcp")
                await uvicorn.Server(config).serve()
        finally:
            await state.aclose()

    anyio.run(main)
