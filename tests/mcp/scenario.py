"""The scenario both client SDKs run against a real server, and what each step must return.

:func:`scenario` gives ``(steps, checks)``: the steps go to an SDK runner
(:mod:`tests.mcp.sdk`), then ``check(results)`` asserts on what came back, step by step.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import milvus_rag
from milvus_rag.integrations.mcp.paging import encode, query_key
from milvus_rag.integrations.mcp.results import text_id

Step = dict[str, Any]
Check = Callable[[dict[str, Any]], None]

READ_TOOLS = {
    "search",
    "query",
    "get",
    "count",
    "list_collections",
    "describe_collection",
    "list_databases",
}
WRITE_TOOLS = {"add_documents", "delete", "create_collection"}
DOCS = [
    {
        "id": "milvus",
        "text": "Milvus is a vector database for similarity search. " * 3,
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


def payload(result: dict[str, Any]) -> Any:
    assert "exception" not in result, result
    assert not result["isError"], result["text"]
    data = result["structuredContent"]
    if data is None:
        data = json.loads(result["text"])
    return data


def error_text(result: dict[str, Any]) -> str:
    assert "exception" not in result, result
    assert result["isError"], result
    return str(result["text"])


def call(tool: str, progress: bool = False, /, **arguments: Any) -> Step:
    return {"op": "callTool", "name": tool, "arguments": arguments, "progress": progress}


def check_tools(expected: set[str], absent: frozenset[str] | set[str] = frozenset()) -> Check:
    def check(r: dict[str, Any]) -> None:
        tools = {t["name"]: t for t in r["tools"]}
        assert expected <= set(tools), sorted(tools)
        assert not absent & set(tools), sorted(absent & set(tools))
        for name, t in tools.items():
            a = t["annotations"]
            assert a and a.get("title") and a.get("openWorldHint") is False, (name, a)
            if name in READ_TOOLS:
                assert a["readOnlyHint"] is True, (name, a)
            else:
                assert a["readOnlyHint"] is False and "destructiveHint" in a, (name, a)
        if "delete" in tools:
            assert tools["delete"]["annotations"]["destructiveHint"] is True
            assert tools["create_collection"]["annotations"]["destructiveHint"] is False
        assert {"query", "collection", "mode", "k", "filter", "max_text_chars"} <= set(
            tools["search"]["properties"]
        )
        for name in expected - {
            "list_collections",
            "create_collection",
            "drop_collection",
            "list_databases",
        }:
            assert "collection" in tools[name]["properties"], name
        for name in expected - {"list_databases"}:
            assert "database" in tools[name]["properties"], name

    return check


def scenario(
    coll: str, *, ingest_root: Path | None = None, progress_in_order: bool = True
) -> tuple[list[Step], Check]:
    """Create ``coll``, add, search (filter, modes, truncation), get, count, resources,
    delete, errors; with ``ingest_root`` also the ingest refusals and a (re-)ingest.

    ``progress_in_order=False``: the client may lose a progress notification read together
    with the result (the TypeScript SDK runs notification handlers a microtask later, after
    the result has removed the request's progress handler); only the first is then certain.
    """
    checks: list[tuple[Step, Check]] = []

    def step(s: Step, check: Check) -> None:
        checks.append((s, check))

    step({"op": "listTools"}, check_tools(READ_TOOLS | WRITE_TOOLS))

    def created(expected: bool) -> Check:
        def check(r: dict[str, Any]) -> None:
            d = payload(r)
            assert d["created"] is expected and d["name"] == coll and d["dim"] == 384, d
            assert d["metric"] == "COSINE" and d["bm25"] is True, d

        return check

    step(call("create_collection", name=coll, metric="COSINE", bm25=True), created(True))
    step(call("create_collection", name=coll), created(False))
    step(
        call("create_collection", name=coll, metric="L2"),
        lambda r: _contains(error_text(r), "different schema"),
    )

    def added(r: dict[str, Any]) -> None:
        d = payload(r)
        assert d["count"] == 3 and d["ids"][:2] == ["milvus", "sauce"], d

    step(call("add_documents", documents=DOCS, collection=coll), added)

    def top(expected: list[str]) -> Check:
        def check(r: dict[str, Any]) -> None:
            hits = payload(r)["hits"]
            assert [h["id"] for h in hits][: len(expected)] == expected, hits

        return check

    step(call("search", query="vector similarity search", collection=coll, k=3), top(["milvus"]))
    step(call("search", query="tomato sauce", collection=coll, mode="sparse", k=1), top(["sauce"]))
    step(call("search", query="tomato sauce", collection=coll, mode="dense", k=1), top(["sauce"]))

    def filtered(r: dict[str, Any]) -> None:
        hits = payload(r)["hits"]
        assert {h["metadata"]["year"] for h in hits} == {2020, 2024}, hits

    step(
        call(
            "search",
            query="database",
            collection=coll,
            k=5,
            filter={"year": {"$gte": 2020}, "topic": "db"},
        ),
        filtered,
    )

    def truncated(r: dict[str, Any]) -> None:
        hit = payload(r)["hits"][0]
        assert hit["id"] == "milvus" and hit["text"] == DOCS[0]["text"][:12], hit
        assert hit["truncated"] is True and hit["text_chars"] == len(DOCS[0]["text"]), hit

    step(
        call("search", query="vector database", collection=coll, k=1, max_text_chars=12),
        truncated,
    )
    step(
        call("search", query="x", collection=coll, k=1000),
        lambda r: _contains(error_text(r), "k"),
    )

    def got(r: dict[str, Any]) -> None:
        d = payload(r)
        assert [x["id"] for x in d["found"]] == ["sauce"] and d["missing"] == ["nope"], d
        assert d["found"][0]["metadata"] == {"topic": "cooking", "year": 2019}, d

    step(call("get", ids=["sauce", "nope"], collection=coll), got)
    step(call("count", collection=coll), lambda r: _eq(payload(r)["count"], 3))
    step(
        call("count", collection=coll, filter={"topic": "db"}),
        lambda r: _eq(payload(r)["count"], 2),
    )
    for s_, c_ in query_steps(coll):
        step(s_, c_)

    def has_collections_resource(r: dict[str, Any]) -> None:
        assert "milvus-rag://collections" in {x["uri"] for x in r["resources"]}, r

    step({"op": "listResources"}, has_collections_resource)
    step(
        {"op": "listResourceTemplates"},
        lambda r: _contains(
            {t["uriTemplate"] for t in r["templates"]}, "milvus-rag://collections/{name}"
        ),
    )

    def listing(r: dict[str, Any]) -> None:
        (c,) = r["contents"]
        d = json.loads(c["text"])
        assert c["mimeType"] == "application/json" and coll in d["collections"], d
        assert d["resources"][coll] == f"milvus-rag://collections/{coll}", d

    step({"op": "readResource", "uri": "milvus-rag://collections"}, listing)

    def described(r: dict[str, Any]) -> None:
        d = json.loads(r["contents"][0]["text"])
        assert d["name"] == coll and d["count"] == 3 and d["dim"] == 384 and d["bm25"], d
        assert {"id", "text", "dense", "sparse", "metadata"} <= set(d["fields"]), d

    step({"op": "readResource", "uri": f"milvus-rag://collections/{coll}"}, described)
    step(
        {"op": "readResource", "uri": "milvus-rag://collections/no_such_collection"},
        lambda r: _contains(str(r), "does not exist"),
    )

    step(call("delete", ids=["sauce"], collection=coll), lambda r: _eq(payload(r)["deleted"], 1))
    step(
        call("delete", filter={"year": {"$lt": 2021}}, collection=coll),
        lambda r: _eq(payload(r)["deleted"], 1),
    )
    step(call("count", collection=coll), lambda r: _eq(payload(r)["count"], 1))
    step(
        call("search", query="database", collection=coll, k=5),
        lambda r: _eq([h["id"] for h in payload(r)["hits"]], ["milvus"]),
    )
    for s_, c_ in tenant_steps(coll + "_t", coll):
        step(s_, c_)
    # errors come back as tool errors with one readable message; the server keeps going
    step(
        call("search", query="x", collection=coll, filter={"year": {"$bogus": 1}}),
        lambda r: _contains(error_text(r), "unknown operator"),
    )
    step(
        call("describe_collection", collection="no_such_collection"),
        lambda r: _contains(error_text(r), "does not exist"),
    )
    step(
        call("add_documents", documents=DOCS, collection="no_such_collection"),
        lambda r: _contains(error_text(r), "create_collection"),
    )
    # started without --allow-drop: no such tool
    step(call("drop_collection", name=coll), lambda r: _contains(str(r), "drop_collection"))
    step(call("count", collection=coll), lambda r: _eq(payload(r)["count"], 1))
    if ingest_root is not None:
        for s, c in ingest_steps(coll + "_ingest", ingest_root, progress_in_order):
            step(s, c)

    def check(out: dict[str, Any]) -> None:
        assert out["server"] == {"name": "milvus-rag", "version": milvus_rag.__version__}, out
        results = out["results"]
        assert len(results) == len(checks)
        for (s, c), r in zip(checks, results):
            try:
                c(r)
            except AssertionError as e:
                raise AssertionError(f"step {s}: {e}") from e

    return [s for s, _ in checks], check


def ids_of(r: dict[str, Any], key: str = "hits") -> list[str]:
    return [h["id"] for h in payload(r)[key]]


def query_steps(coll: str) -> list[tuple[Step, Check]]:
    """``query`` by filter, a page at a time: the cursor is stateless (the one the first
    page returns is computed here), the second page is the last, a cursor is bound to
    its query; and the client follows the server's cursors over every row."""
    db_docs = {"milvus": DOCS[0], text_id(str(DOCS[2]["text"])): DOCS[2]}
    first, second = sorted(db_docs)
    flt = {"topic": "db"}
    cursor = encode(first, query_key("default", coll, None, flt))
    everything = [{"id": i} for i in sorted([*db_docs, "sauce"])]

    def page1(r: dict[str, Any]) -> None:
        d = payload(r)
        year = db_docs[first]["metadata"]["year"]
        assert d["rows"] == [{"id": first, "metadata": {"year": year}}], d
        assert d["next_cursor"] == cursor and d["database"] == "default", d

    def page2(r: dict[str, Any]) -> None:
        d = payload(r)
        text = str(db_docs[second]["text"])
        (row,) = d["rows"]
        assert row["id"] == second and row["text"] == text[:5], d
        assert row["truncated"] is True and row["text_chars"] == len(text), d
        assert row["metadata"] == db_docs[second]["metadata"], d
        assert d["next_cursor"] is None, d

    return [
        (call("query", collection=coll, filter=flt, limit=1, fields=["year"]), page1),
        (
            call("query", collection=coll, filter=flt, limit=1, cursor=cursor, max_text_chars=5),
            page2,
        ),
        (
            {"op": "queryAll", "arguments": {"collection": coll, "limit": 1, "fields": []}},
            lambda r: _eq((r["isError"], r["rows"], r["calls"]), (False, everything, 3)),
        ),
        (
            call("query", collection=coll, cursor=cursor),
            lambda r: _contains(error_text(r), "another query"),
        ),
        (
            call("query", collection=coll, filter=flt, cursor="garbage"),
            lambda r: _contains(error_text(r), "invalid cursor"),
        ),
        (
            call("query", collection=coll, limit=100_000),
            lambda r: _contains(error_text(r), "limit"),
        ),
    ]


def tenant_steps(coll: str, plain: str) -> list[tuple[Step, Check]]:
    """A multi-tenant collection with a typed field: every data call names its tenant, and
    a filter never reaches past it."""
    docs = {
        "acme": [
            {"id": "a1", "text": "Milvus vector database at acme", "metadata": {"year": 2020}},
            {"id": "a2", "text": "Old vector database notes at acme", "metadata": {"year": 2010}},
        ],
        "globex": [
            {"id": "g1", "text": "Milvus vector database at globex", "metadata": {"year": 2020}}
        ],
    }

    def created(r: dict[str, Any]) -> None:
        d = payload(r)
        assert d["created"] is True and d["tenant_field"] == "tenant", d
        assert d["metadata_fields"] == {"year": "int64"} and "year" in d["fields"], d

    def described(r: dict[str, Any]) -> None:
        d = json.loads(r["contents"][0]["text"])
        assert (d["tenant_field"], d["metadata_fields"], d["count"]) == (
            "tenant",
            {"year": "int64"},
            2,
        ), d

    def got(r: dict[str, Any]) -> None:
        d = payload(r)
        assert [x["id"] for x in d["found"]] == ["a1"] and d["missing"] == ["g1"], d
        assert d["found"][0]["metadata"]["year"] == 2020, d

    q = "vector database"
    return [
        (
            call(
                "create_collection",
                name=coll,
                tenant_field="tenant",
                metadata_fields={"year": "int64"},
            ),
            created,
        ),
        (
            call("add_documents", documents=docs["acme"], collection=coll, tenant="acme"),
            lambda r: _eq(payload(r)["count"], 2),
        ),
        (
            call("add_documents", documents=docs["globex"], collection=coll, tenant="globex"),
            lambda r: _eq(payload(r)["count"], 1),
        ),
        (
            call(
                "search",
                query=q,
                collection=coll,
                tenant="acme",
                filter={"year": {"$gte": 2015}},
                k=5,
            ),
            lambda r: _eq(ids_of(r), ["a1"]),
        ),
        (
            call("search", query=q, collection=coll, tenant="globex", k=5),
            lambda r: _eq(ids_of(r), ["g1"]),
        ),
        (
            call("search", query=q, collection=coll, k=5),
            lambda r: _contains(error_text(r), "multi-tenant"),
        ),
        (
            call("count", collection=coll, tenant="acme"),
            lambda r: _eq(payload(r)["count"], 2),
        ),
        (
            call("query", collection=coll, tenant="acme", fields=[]),
            lambda r: _eq(payload(r)["rows"], [{"id": "a1"}, {"id": "a2"}]),
        ),
        (
            call("query", collection=coll, tenant="globex", filter={"year": 2020}),
            lambda r: _eq(ids_of(r, "rows"), ["g1"]),
        ),
        (
            call("query", collection=coll),
            lambda r: _contains(error_text(r), "multi-tenant"),
        ),
        (
            call("count", collection=coll, tenant="acme", filter={"year": 2010}),
            lambda r: _eq(payload(r)["count"], 1),
        ),
        (call("get", ids=["a1", "g1"], collection=coll, tenant="acme"), got),
        (
            call("delete", ids=["a1"], collection=coll, tenant="globex"),
            lambda r: _eq(payload(r)["deleted"], 0),
        ),
        (
            call("delete", filter={"year": 2010}, collection=coll, tenant="acme"),
            lambda r: _eq(payload(r)["deleted"], 1),
        ),
        (
            call("count", collection=coll, tenant="globex"),
            lambda r: _eq(payload(r)["count"], 1),
        ),
        ({"op": "readResource", "uri": f"milvus-rag://collections/{coll}"}, described),
        (
            call("search", query=q, collection=plain, tenant="acme"),
            lambda r: _contains(error_text(r), "no tenant field"),
        ),
    ]


def make_ingest_tree(tmp: Path) -> Path:
    """root/docs (clean), root/bad (a symlink to a file outside), outside/secret.md."""
    root = tmp / "root"
    (root / "docs" / "sub").mkdir(parents=True)
    (root / "bad").mkdir()
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# Secret\n\nThe launch code is 0000.\n")
    (root / "docs" / "guide.md").write_text(
        "# Guide\n\n" + "Milvus stores vectors and searches them quickly. " * 40 + "\n"
    )
    (root / "docs" / "sub" / "notes.txt").write_text("Notes about BM25 and hybrid search.\n")
    (root / "bad" / "link.md").symlink_to(outside / "secret.md")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    return root


def ingest_steps(coll: str, root: Path, progress_in_order: bool = True) -> list[tuple[Step, Check]]:
    outside = root.parent / "outside"
    refused = [
        str(outside / "secret.md"),  # absolute, outside
        str(root / ".." / "outside" / "secret.md"),  # ..
        "../outside/secret.md",  # relative ..
        str(root / "bad" / "link.md"),  # a symlink pointing out
        "bad",  # a folder holding such a symlink
        "escape/secret.md",  # through a symlinked folder
        "/etc/passwd",
    ]
    steps: list[tuple[Step, Check]] = [
        (call("create_collection", name=coll), lambda r: _eq(payload(r)["created"], True))
    ]
    for p in refused:
        steps.append(
            (
                call("ingest", paths=[p], collection=coll),
                lambda r: _contains(error_text(r), "outside the allowed folders"),
            )
        )
    steps.append((call("count", collection=coll), lambda r: _eq(payload(r)["count"], 0)))

    def first(r: dict[str, Any]) -> None:
        d = payload(r)
        assert d["files"] == 2 and d["written"] == d["chunks"] > 2 and d["unchanged"] == 0, d
        progress = r["progress"]
        assert progress[0] == {"progress": 0, "message": "2 files to chunk"}, progress
        values = [p["progress"] for p in progress]
        assert values == sorted(values) and values[-1] <= d["chunks"], progress
        if progress_in_order:  # every embedded batch reported, the last one all chunks
            assert len(progress) >= 2 and values[-1] == d["chunks"], progress
            assert progress[-1]["message"] == f"embedded {d['chunks']} new chunks", progress

    def again(r: dict[str, Any]) -> None:
        d = payload(r)
        assert d["written"] == 0 and d["unchanged"] == d["chunks"] > 2, d
        assert r["progress"], r

    steps += [
        (call("ingest", True, paths=["docs"], collection=coll), first),
        (call("ingest", True, paths=[str(root / "docs")], collection=coll), again),
        (
            call("search", query="hybrid search BM25", collection=coll, k=1),
            lambda r: _contains(payload(r)["hits"][0]["metadata"]["source"], "notes.txt"),
        ),
    ]
    return steps


def _eq(a: Any, b: Any) -> None:
    assert a == b, (a, b)


def _contains(haystack: Any, needle: Any) -> None:
    assert needle in haystack, (needle, haystack)
