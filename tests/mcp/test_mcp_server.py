"""The MCP server as a real subprocess (``milvus-rag mcp``), driven by the MCP client SDK.

stdio and streamable HTTP on 127.0.0.1, with the real MiniLM embedder.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

import anyio
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
TOOLS = {"search", "add_documents", "delete", "list_collections", "describe_collection"}
DOCS = [
    {
        "id": "milvus",
        "text": "Milvus is a vector database for similarity search.",
        "metadata": {"topic": "db", "year": 2024},
    },
    {
        "id": "sauce",
        "text": "Simmer the tomato sauce for twenty minutes.",
        "metadata": {"topic": "cooking", "year": 2019},
    },
    {
        "text": "Postgres is a relational database with SQL.",
        "metadata": {"topic": "db", "year": 2020},
    },
]


def server_env() -> dict[str, str]:
    # MILVUS_* stay out: pymilvus parses MILVUS_URI at import and rejects a file path.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILVUS_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(ROOT))
    return env


def payload(result: Any) -> Any:
    assert not result.is_error, result.content
    if result.structured_content is not None:
        data = result.structured_content
        return data["result"] if isinstance(data, dict) and set(data) == {"result"} else data
    return json.loads(result.content[0].text)


async def exercise(session: ClientSession) -> None:
    await session.initialize()
    tools = await session.list_tools()
    assert {t.name for t in tools.tools} >= TOOLS
    search_tool = next(t for t in tools.tools if t.name == "search")
    assert {"query", "mode", "k", "filter"} <= set(search_tool.input_schema["properties"])

    added = payload(await session.call_tool("add_documents", {"documents": DOCS}))
    assert added["count"] == 3 and added["ids"][:2] == ["milvus", "sauce"]
    hits = payload(await session.call_tool("search", {"query": "vector similarity search", "k": 3}))
    assert hits[0]["id"] == "milvus" and hits[0]["metadata"]["topic"] == "db"
    for mode in ("dense", "sparse"):
        hits = payload(
            await session.call_tool("search", {"query": "tomato sauce", "mode": mode, "k": 1})
        )
        assert [h["id"] for h in hits] == ["sauce"], mode
    hits = payload(
        await session.call_tool(
            "search",
            {"query": "database", "k": 5, "filter": {"year": {"$gte": 2020}, "topic": "db"}},
        )
    )
    assert {h["metadata"]["year"] for h in hits} == {2020, 2024}

    names = payload(await session.call_tool("list_collections", {}))
    assert "mcp_docs" in names
    info = payload(await session.call_tool("describe_collection", {}))
    assert info["count"] == 3 and info["dim"] == 384

    deleted = payload(await session.call_tool("delete", {"ids": ["sauce"]}))
    assert deleted["deleted"] == 1
    deleted = payload(await session.call_tool("delete", {"filter": {"year": {"$lt": 2021}}}))
    assert deleted["deleted"] == 1
    hits = payload(await session.call_tool("search", {"query": "database", "k": 5}))
    assert [h["id"] for h in hits] == ["milvus"]

    # errors come back as tool errors with one readable message, the server keeps going
    bad = await session.call_tool("search", {"query": "x", "filter": {"year": {"$bogus": 1}}})
    assert bad.is_error and "unknown operator" in bad.content[0].text
    bad = await session.call_tool("describe_collection", {"name": "no_such_collection"})
    assert bad.is_error and "does not exist" in bad.content[0].text
    assert payload(await session.call_tool("describe_collection", {}))["count"] == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """``milvus-rag mcp --transport http`` on a free port, started when the module starts so
    that it loads its model while the stdio test runs."""
    tmp = tmp_path_factory.mktemp("mcp_http")
    port = free_port()
    log_path = tmp / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "milvus_rag.cli",
                "mcp",
                "--transport",
                "http",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--uri",
                str(tmp / "http.db"),
                "--collection",
                "mcp_docs",
            ],
            env=server_env(),
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield port, log_path
            assert proc.poll() is None, log_path.read_text()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def test_stdio_server(tmp_path: Path, http_server: tuple[int, Path]) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "milvus_rag.cli",
            "mcp",
            "--uri",
            str(tmp_path / "mcp.db"),
            "--collection",
            "mcp_docs",
        ],
        env=server_env(),
        cwd=str(tmp_path),
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=120) as session:
            await exercise(session)


async def test_streamable_http_server(http_server: tuple[int, Path]) -> None:
    port, log_path = http_server
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert time.monotonic() < deadline, log_path.read_text()
            await anyio.sleep(0.2)
    async with streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=120) as session:
            await exercise(session)
