"""The MCP ``search`` tool's document options: group_by / group_size (k distinct documents)
and window / parent (each hit's expansion), in-process (hashing fake encoder, Lite file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from milvus_rag.integrations.mcp import MCPSettings, MilvusMCPState, build_server
from tests.fakes import HashEncoder

pytestmark = pytest.mark.integration
TEXT = "alpha beta gamma delta epsilon zeta eta theta iota kappa"


def _chunks(doc: str, text: str, size: int = 16, step: int = 12) -> list[dict[str, object]]:
    return [
        {
            "id": f"{doc}-{s}",
            "text": text[s : s + size],
            "doc_id": doc,
            "metadata": {"start_index": s},
        }
        for s in range(0, len(text) - 4, step)
    ]


async def test_search_tool_groups_and_expands(tmp_path: Path) -> None:
    state = MilvusMCPState(
        MCPSettings(uri=str(tmp_path / "mcp.db"), collection="docs"), encoder=HashEncoder(16)
    )
    server = build_server(state)
    try:
        props = set(
            {t.name: t for t in await server.list_tools()}["search"].input_schema["properties"]
        )
        assert {"group_by", "group_size", "strict_group_size", "window", "parent"} <= props
        other = "one two three four five six seven eight nine ten eleven twelve"
        await state.add_documents(_chunks("a", TEXT) + _chunks("b", other))
        plain = (await state.search("alpha one", mode="dense", k=4))["hits"]
        assert len({h["doc_id"] for h in plain}) < 4  # 4 chunks of 2 documents
        grouped = (await state.search("alpha one", mode="dense", k=2, group_by=True))["hits"]
        assert sorted(h["doc_id"] for h in grouped) == ["a", "b"]
        two = (await state.search("alpha one", mode="hybrid", k=1, group_size=2))["hits"]
        assert len(two) == 2 and len({h["doc_id"] for h in two}) == 1
        hits = (await state.search("delta", mode="sparse", k=1, parent=True))["hits"]
        assert hits[0]["expanded"]["text"] == TEXT
        a, b = hits[0]["expanded"]["matched_span"]
        assert TEXT[a:b] == hits[0]["text"]
        hits = (await state.search("delta", mode="sparse", k=1, window=0))["hits"]
        assert hits[0]["expanded"]["text"] == hits[0]["text"]
        assert await server.call_tool(
            "search", {"query": "delta", "mode": "sparse", "group_by": True, "window": 1}
        )
        with pytest.raises(ToolError, match="not both"):
            await server.call_tool("search", {"query": "x", "window": 1, "parent": True})
    finally:
        await state.aclose()
