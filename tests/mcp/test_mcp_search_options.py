"""The MCP ``search`` tool's per-call options, in-process (the hashing fake encoder, a
Milvus Lite file): the tool's schema offers them, they reach the request, bad ones come
back as tool errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from milvus_rag.integrations.mcp import MCPSettings, MilvusMCPState, build_server
from tests.fakes import HashEncoder
from tests.spies import RequestSpy

pytestmark = pytest.mark.integration
DOCS = [
    {"id": "milvus", "text": "Milvus is a vector database for similarity search."},
    {"id": "sauce", "text": "Simmer the tomato sauce for twenty minutes."},
]


async def test_search_tool_takes_the_per_call_options(
    tmp_path: Path, request_spy: RequestSpy
) -> None:
    state = MilvusMCPState(
        MCPSettings(uri=str(tmp_path / "mcp.db"), collection="opts"), encoder=HashEncoder(16)
    )
    server = build_server(state)
    try:
        tools = {t.name: t for t in await server.list_tools()}
        props = set(tools["search"].input_schema["properties"])
        assert {"search_params", "radius", "range_filter", "consistency_level", "timeout"} <= props
        await state.add_documents(DOCS)
        request_spy.clear()
        args: dict[str, Any] = {
            "query": "vector database",
            "mode": "dense",
            "k": 2,
            "search_params": {"ef": 16},
            "radius": 0.2,
            "range_filter": 1.0,
            "consistency_level": "Bounded",
            "timeout": 9.0,
        }
        hits = (await state.search(**args))["hits"]  # what the tool returns (+ error mapping)
        assert await server.call_tool("search", args)  # the tool takes every option
        request_spy.timeouts.pop()
        assert [h["id"] for h in hits] == ["milvus"]  # the sauce is outside the range
        sent = request_spy.dense()[0]
        assert sent.params == {"ef": 16, "radius": 0.2, "range_filter": 1.0}
        assert sent.consistency_level == "Bounded" and request_spy.timeouts == [9.0]
        with pytest.raises(ToolError, match="consistency_level"):
            await state_call(server, {"query": "x", "consistency_level": "Sometimes"})
        with pytest.raises(ToolError, match="mode='dense'"):
            await state_call(server, {"query": "x", "radius": 0.5})
    finally:
        await state.aclose()


async def state_call(server: Any, args: dict[str, Any]) -> Any:
    return await server.call_tool("search", args)
