"""An MCP server over milvus-rag collections that an agent host can be trusted with.

Run it with ``milvus-rag mcp`` (stdio, for an MCP client's config) or
``milvus-rag mcp --transport http --port 8000`` (streamable HTTP at ``/mcp``). It needs the
``mcp`` extra: ``pip install "milvus-rag[mcp,embeddings]"``.

- Read tools (annotated ``readOnlyHint``): ``search``, ``query`` (rows by filter, a page
  at a time with a cursor), ``get``, ``count``, ``list_collections``,
  ``describe_collection``, ``list_databases``; write tools (``destructiveHint`` where they
  replace or delete): ``add_documents``, ``delete``, ``create_collection``, plus
  ``drop_collection`` with ``--allow-drop`` and ``ingest`` with ``--allow-path DIR``.
  ``--read-only`` offers the read tools only. Every data tool takes ``collection`` and
  ``database`` (one of ``--databases``; default: the URI's).
- Resources: ``milvus-rag://collections`` and ``milvus-rag://collections/{name}``.
- HTTP: a bearer token (``--auth-token`` or ``MILVUS_RAG_MCP_TOKEN``) on every request,
  required for a non-loopback bind; ``Origin`` and ``Host`` checked; bodies bounded.
- ``initialize`` is answered before pymilvus, torch or the model are loaded.

Modules: :mod:`.settings` (what is allowed), :mod:`.state` (the tools' logic, no MCP),
:mod:`.results` (bounded JSON results), :mod:`.paging` (the ``query`` cursor),
:mod:`.databases` (the served databases), :mod:`.paths` (ingest roots), :mod:`.http_guard`
(token / Origin / Host), :mod:`.server` (the MCP wiring; imports ``mcp``).

Example:
    >>> from milvus_rag.integrations.mcp import build_server  # doctest: +SKIP
    >>> server = build_server(uri="./docs.db", collection="docs", read_only=True)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from milvus_rag.integrations.mcp.settings import TOKEN_ENV, MCPSettings
from milvus_rag.integrations.mcp.state import MilvusMCPState

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

__all__ = ["TOKEN_ENV", "MCPSettings", "MilvusMCPState", "build_server", "serve"]

_INSTALL_HINT = 'the MCP server needs the mcp package: pip install "milvus-rag[mcp]"'


def _server_module() -> Any:
    try:
        from milvus_rag.integrations.mcp import server
    except ImportError as e:
        if e.name is not None and (e.name == "mcp" or e.name.startswith("mcp.")):
            raise ImportError(_INSTALL_HINT) from e
        raise
    return server


def build_server(state: MilvusMCPState | None = None, **settings: Any) -> MCPServer[Any]:
    """The ``MCPServer`` (see :func:`milvus_rag.integrations.mcp.server.build_server`)."""
    built: MCPServer[Any] = _server_module().build_server(state, **settings)
    return built


def serve(settings: MCPSettings | None = None, **kwargs: Any) -> None:
    """Run the server (see :func:`milvus_rag.integrations.mcp.server.serve`)."""
    _server_module().serve(settings, **kwargs)
