"""The ``query`` tool and databases over stdio with the Python MCP client, on both backends:
a cursor walks 16,500 rows of one tenant (past Milvus's 16,384-row query window) returning
each once, in id order; filters and tenants hold on every page; the ``database`` argument
reads and writes the database it names, only among those served (``--databases``), and
``--read-only`` refuses writes in every database. The rows are written by the core store
with precomputed vectors, so no call here needs the embedding model."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from milvus_rag import AsyncMilvusStore, Record
from milvus_rag.client.config import CollectionConfig, ConnectionConfig
from tests.backends import Backend
from tests.conftest import new_name
from tests.mcp.conftest import backend_uri
from tests.mcp.sdk import TIMEOUT, server_command, server_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DIM = 4
N_ACME = 16_500  # > 16,384: one tenant alone is past the query window
N_GLOBEX = 700


def rows(tenant: str, n: int) -> list[Record]:
    vecs = np.random.default_rng(len(tenant)).standard_normal((n, DIM)).astype(np.float32)
    return [
        Record(
            id=f"{tenant}-{i:06d}",
            text=f"row {i} of {tenant}",
            vector=vecs[i],
            metadata={"grp": "a" if i % 3 == 0 else "b", "n": i, "owner": tenant},
        )
        for i in range(n)
    ]


async def fill(
    uri: str, name: str, data: dict[str, list[Record]], *, db_name: str = "", tenants: bool = True
) -> None:
    """``data`` (tenant -> rows) into a new collection, written by the core store."""
    cfg = CollectionConfig(
        name=name, dim=DIM, enable_bm25=False, tenant_field="tenant" if tenants else None
    )
    store = AsyncMilvusStore(connection=ConnectionConfig(uri=uri, db_name=db_name), collection=cfg)
    try:
        for tenant, recs in data.items():
            view = store.for_tenant(tenant) if tenants else store
            await view.upsert(recs)
    finally:
        await store.aclose()  # a Milvus Lite file is opened by one process at a time


@asynccontextmanager
async def mcp_session(args: Sequence[str], cwd: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=server_command()[0],
        args=[*server_command()[1:], *args],
        env=server_env(),
        cwd=str(cwd),
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session:
            await session.initialize()
            yield session


async def tool(session: ClientSession, tool_name: str, /, **arguments: Any) -> Any:
    """The tool's JSON result; AssertionError with its message when it is an error."""
    r = await session.call_tool(tool_name, arguments, read_timeout_seconds=TIMEOUT)
    text = "\n".join(c.text for c in r.content if getattr(c, "type", None) == "text")
    assert not r.is_error, text
    return r.structured_content if r.structured_content is not None else json.loads(text)


async def refused(session: ClientSession, tool_name: str, /, **arguments: Any) -> str:
    """The error message of a call that must fail."""
    r = await session.call_tool(tool_name, arguments, read_timeout_seconds=TIMEOUT)
    text = "\n".join(c.text for c in r.content if getattr(c, "type", None) == "text")
    assert r.is_error, (tool_name, arguments, text)
    return text


async def walk(session: ClientSession, **arguments: Any) -> tuple[list[dict[str, Any]], int]:
    """Every row of a query, following next_cursor; and the number of calls."""
    out: list[dict[str, Any]] = []
    cursor: str | None = None
    calls = 0
    while True:
        args = dict(arguments) if cursor is None else {**arguments, "cursor": cursor}
        page = await tool(session, "query", **args)
        calls += 1
        assert len(page["rows"]) <= arguments.get("limit", 20)
        out.extend(page["rows"])
        cursor = page["next_cursor"]
        if cursor is None:
            return out, calls


async def test_query_pages_past_the_query_window_each_row_once(
    backend: Backend, tmp_path: Path
) -> None:
    """On the server the rows of each owner are a tenant (a partition key). A server reading
    a Milvus Lite file the core wrote takes its tenant column for a plain varchar column (no
    partition key there to recognise it by): there the owner is a filter, and the tenant
    argument is checked by the scenario on collections the server made."""
    uri = backend_uri(backend, tmp_path)
    name = new_name("mcp_query")
    data = {"acme": rows("acme", N_ACME), "globex": rows("globex", N_GLOBEX)}
    tenants = not backend.is_local

    def of(owner: str, flt: dict[str, Any] | None = None) -> dict[str, Any]:
        if tenants:
            return {"tenant": owner, **({"filter": flt} if flt else {})}
        return {"filter": {"owner": owner, **(flt or {})}}

    t0 = time.perf_counter()
    await fill(uri, name, data, tenants=tenants)
    filled = time.perf_counter() - t0
    async with mcp_session(["--uri", uri, "--collection", name, "--read-only"], tmp_path) as s:
        t0 = time.perf_counter()
        got, calls = await walk(s, **of("acme"), limit=1000, fields=["grp"])
        walked = time.perf_counter() - t0
        ids = [r["id"] for r in got]
        assert len(ids) == N_ACME and calls == 17  # 16 full pages, then 500 and no cursor
        assert ids == sorted(r.id for r in data["acme"])  # each once, in id order
        want = {r.id: r.metadata["grp"] for r in data["acme"]}
        assert all(r == {"id": r["id"], "metadata": {"grp": want[r["id"]]}} for r in got)

        # a filter holds on every page, inside the tenant
        a_rows, _ = await walk(s, **of("acme", {"grp": "a"}), limit=997, fields=[])
        assert [r["id"] for r in a_rows] == sorted(i for i, g in want.items() if g == "a")
        # a filter that would match the other tenant's rows does not widen the tenant
        n_filter = {"n": {"$lt": 10}}
        few, calls = await walk(s, **of("globex", n_filter), limit=3)
        assert [r["id"] for r in few] == [f"globex-{i:06d}" for i in range(10)] and calls == 4
        assert all(r["text"].endswith("of globex") and r["doc_id"] == "" for r in few)
        glob, _ = await walk(s, **of("globex"), limit=1000, fields=["n"])
        assert len(glob) == N_GLOBEX and {r["id"][:6] for r in glob} == {"globex"}

        # the cursor of one tenant's query does not open another tenant's rows
        first = await tool(s, "query", **of("acme"), limit=5)
        assert "another query" in await refused(
            s, "query", **of("globex"), limit=5, cursor=first["next_cursor"]
        )
        if tenants:
            assert "multi-tenant" in await refused(s, "query", limit=5)
        # a page's text is bounded like search's
        clipped = await tool(s, "query", **of("acme"), limit=2, max_text_chars=3)
        assert [r["text"] for r in clipped["rows"]] == ["row", "row"]
        assert all(r["truncated"] and r["text_chars"] > 3 for r in clipped["rows"])
    print(
        f"[{backend.name}] {N_ACME + N_GLOBEX} rows written in {filled:.1f} s; query walked "
        f"{N_ACME} rows in 17 pages of 1000 over stdio in {walked:.1f} s"
    )


async def test_databases_allow_list_and_read_only(backend: Backend, tmp_path: Path) -> None:
    uri = backend_uri(backend, tmp_path)
    name = new_name("mcp_db")
    if backend.is_local:
        await fill(uri, name, {"": rows("lite", 5)}, tenants=False)
        async with mcp_session(["--uri", uri, "--collection", name], tmp_path) as s:
            assert "no databases" in await refused(s, "list_databases")
            assert "no databases" in await refused(s, "query", database="other")
            assert "no databases" in await refused(s, "delete", ids=["x"], database="other")
            assert len((await tool(s, "query", database="default"))["rows"]) == 5
        done = subprocess.run(
            server_command("--uri", uri, "--databases", "default,other"),
            env=server_env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2 and "no databases" in done.stderr, done
        return

    from pymilvus import MilvusClient

    served, hidden = f"db_{secrets.token_hex(4)}", f"hidden_{secrets.token_hex(4)}"
    admin = MilvusClient(uri)
    try:
        admin.create_database(served)
        admin.create_database(hidden)
    finally:
        admin.close()
    # one collection name in three databases, different rows in each
    await fill(uri, name, {"": rows("dflt", 4)}, tenants=False)
    await fill(uri, name, {"": rows("srvd", 6)}, db_name=served, tenants=False)
    await fill(uri, name, {"": rows("hddn", 8)}, db_name=hidden, tenants=False)

    listed = f"default,{served},not_there"
    async with mcp_session(
        ["--uri", uri, "--collection", name, "--databases", listed], tmp_path
    ) as s:
        dbs = await tool(s, "list_databases")
        assert dbs == {
            "databases": ["default", served],
            "default": "default",
            "missing": ["not_there"],
        }
        in_served = await tool(s, "query", database=served, limit=100)
        assert in_served["database"] == served
        assert [r["id"] for r in in_served["rows"]] == [f"srvd-{i:06d}" for i in range(6)]
        assert len((await tool(s, "query", limit=100))["rows"]) == 4  # the default database
        assert name in (await tool(s, "list_collections", database=served))["collections"]
        assert (await tool(s, "count", database=served))["count"] == 6
        for tool_name, args in [
            ("query", {}),
            ("count", {}),
            ("get", {"ids": ["hddn-000000"]}),
            ("list_collections", {}),
            ("delete", {"ids": ["hddn-000000"]}),
            ("add_documents", {"documents": [{"text": "x"}]}),
            ("create_collection", {"name": "sneaky"}),
        ]:
            message = await refused(s, tool_name, database=hidden, **args)
            assert f"database '{hidden}' is not served" in message, message
        deleted = await tool(s, "delete", ids=["srvd-000000", "dflt-000000"], database=served)
        assert deleted["deleted"] == 1  # in the database named only
        assert (await tool(s, "count"))["count"] == 4

    args = ["--uri", uri, "--collection", name, "--databases", f"default,{served}", "--read-only"]
    async with mcp_session(args, tmp_path) as s:
        tools = {t.name for t in (await s.list_tools()).tools}
        assert {"query", "list_databases"} <= tools
        assert not tools & {"add_documents", "delete", "create_collection", "drop_collection"}
        for db in ("default", served, hidden):
            for tool_name, extra in [
                ("delete", {"ids": ["srvd-000001"]}),
                ("add_documents", {"documents": [{"text": "x"}]}),
                ("create_collection", {"name": "sneaky"}),
                ("drop_collection", {"name": name}),
            ]:
                assert tool_name in await refused(s, tool_name, database=db, **extra)
        assert (await tool(s, "count", database=served))["count"] == 5
    admin = MilvusClient(uri)
    try:
        for db in (served, hidden):
            admin.use_database(db)
            assert "sneaky" not in admin.list_collections()
            admin.drop_collection(name)
            admin.use_database("default")
            admin.drop_database(db)
        admin.drop_collection(name)
    finally:
        admin.close()
