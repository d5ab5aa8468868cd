"""What the server refuses, tested against real subprocesses: HTTP without the token (401 for
every request), a foreign ``Origin`` (403) or ``Host`` (421), an oversized body (413), a
non-loopback bind without a token (does not start), ``--read-only`` and ``--allow-drop``; and
that ``initialize`` / ``tools/list`` are answered before the model has loaded."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.mcp.conftest import RunningHttp
from tests.mcp.scenario import READ_TOOLS, WRITE_TOOLS, call, check_tools, error_text, payload
from tests.mcp.sdk import StdioSpec, run_python, server_command, server_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def request(
    server: RunningHttp, method: str, path: str = "/mcp", body: Any = None, **headers: str
) -> httpx2.Response:
    h = dict(MCP_HEADERS)
    h.update(headers)
    content = json.dumps(body).encode() if body is not None else None
    if content is not None:
        h.setdefault("Content-Type", "application/json")
    with httpx2.Client(timeout=60) as client:
        return client.request(
            method, f"http://127.0.0.1:{server.port}{path}", content=content, headers=h
        )


def auth(server: RunningHttp) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


REQUESTS = [
    ("POST", "/mcp", INIT),
    ("GET", "/mcp", None),
    ("DELETE", "/mcp", None),
    ("OPTIONS", "/mcp", None),
    ("GET", "/", None),
    ("POST", "/anything/else", {"x": 1}),
]


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", "Basic dXNlcjpwYXNz", "Bearer", "bearer  x"],
    ids=["none", "wrong", "basic", "empty", "blank"],
)
def test_http_without_the_token_is_401(
    guarded_http: RunningHttp, method: str, path: str, body: Any, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    r = request(guarded_http, method, path, body, **headers)
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert guarded_http.token not in r.text


def test_http_with_the_token_answers(guarded_http: RunningHttp) -> None:
    r = request(guarded_http, "POST", "/mcp", INIT, **auth(guarded_http))
    assert r.status_code == 200, r.text
    # a prefix or an extension of the token is not the token
    for wrong in (guarded_http.token[:-1], guarded_http.token + "x"):
        assert (
            request(guarded_http, "POST", "/mcp", INIT, Authorization=f"Bearer {wrong}").status_code
            == 401
        )


@pytest.mark.parametrize(
    ("origin", "status"),
    [
        ("https://evil.example", 403),
        ("http://localhost.evil.example", 403),
        ("null", 403),
        ("http://localhost:5173", 200),
        ("http://127.0.0.1:8080", 200),
    ],
)
def test_http_origin_is_validated(guarded_http: RunningHttp, origin: str, status: int) -> None:
    r = request(guarded_http, "POST", "/mcp", INIT, Origin=origin, **auth(guarded_http))
    assert r.status_code == status, r.text


def test_http_foreign_host_is_refused(guarded_http: RunningHttp) -> None:
    r = request(
        guarded_http, "POST", "/mcp", INIT, Host="rebind.evil.example", **auth(guarded_http)
    )
    assert r.status_code == 421, r.text


def test_http_body_is_bounded(guarded_http: RunningHttp) -> None:
    big = {**INIT, "params": {**INIT["params"], "pad": "x" * (5 * 1024 * 1024)}}
    r = request(guarded_http, "POST", "/mcp", big, **auth(guarded_http))
    assert r.status_code == 413, r.text
    assert request(guarded_http, "POST", "/mcp", INIT, **auth(guarded_http)).status_code == 200


def test_token_never_logged(guarded_http: RunningHttp) -> None:
    request(guarded_http, "POST", "/mcp", INIT, Authorization="Bearer wrong")
    request(guarded_http, "POST", "/mcp", INIT, **auth(guarded_http))
    assert guarded_http.token not in guarded_http.log.read_text()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_non_loopback_bind_without_token_does_not_start(tmp_path: Path, host: str) -> None:
    done = subprocess.run(
        server_command("--transport", "http", "--host", host, "--uri", str(tmp_path / "x.db")),
        env=server_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done  # a mistake in the command (cli_args.exit_status)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "without a token" in lines[0] and "MILVUS_RAG_MCP_TOKEN" in lines[0]
    assert not (tmp_path / "x.db").exists()


async def test_read_only_offers_read_tools_only(tmp_path: Path) -> None:
    spec = StdioSpec(["--uri", str(tmp_path / "ro.db"), "--read-only"], cwd=tmp_path)
    steps = [
        {"op": "listTools"},
        call("add_documents", documents=[{"text": "x"}]),
        call("list_collections"),
    ]
    out = await run_python(spec, steps)
    tools, add, listed = out["results"]
    assert {t["name"] for t in tools["tools"]} == READ_TOOLS
    check_tools(READ_TOOLS)(tools)
    assert "add_documents" in error_text(add)
    assert payload(listed)["collections"] == []


async def test_allow_drop_and_reopen(tmp_path: Path) -> None:
    """A collection made with other settings (L2, no BM25) is read and written by a server
    started later on the same file; ``drop_collection`` exists only with ``--allow-drop``."""
    first = StdioSpec(["--uri", str(tmp_path / "d.db")], cwd=tmp_path)
    steps = [
        call("create_collection", name="other", bm25=False, metric="L2"),
        call("add_documents", documents=[{"text": "bye"}], collection="other"),
        call("drop_collection", name="other"),
    ]
    created, added, refused = (await run_python(first, steps))["results"]
    d = payload(created)
    assert (d["metric"], d["bm25"], "sparse" in d["fields"]) == ("L2", False, False), d
    assert payload(added)["count"] == 1
    assert "drop_collection" in str(refused)

    second = StdioSpec(["--uri", str(tmp_path / "d.db"), "--allow-drop"], cwd=tmp_path)
    steps = [
        {"op": "listTools"},
        call("describe_collection", collection="other"),
        call("add_documents", documents=[{"text": "hello again"}], collection="other"),
        call("search", query="hello", collection="other", mode="dense", k=1),
        call("search", query="hello", collection="other", mode="sparse"),
        call("create_collection", name="other", bm25=False, metric="L2"),
        call("drop_collection", name="other"),
        call("list_collections"),
        call("drop_collection", name="other"),
    ]
    tools, described, added, dense, sparse, again, dropped, listed, gone = (
        await run_python(second, steps)
    )["results"]
    check_tools(READ_TOOLS | WRITE_TOOLS | {"drop_collection"}, absent={"ingest"})(tools)
    d = payload(described)
    assert (d["metric"], d["bm25"], d["count"]) == ("L2", False, 1), d
    assert payload(added)["count"] == 1
    assert [h["text"] for h in payload(dense)["hits"]] == ["hello again"]
    assert "no BM25" in error_text(sparse)
    assert payload(again)["created"] is False
    assert payload(dropped) == {"dropped": "other", "rows": 2}
    assert "other" not in payload(listed)["collections"]
    assert "does not exist" in error_text(gone)


def test_answers_before_the_model_is_loaded(tmp_path: Path) -> None:
    """Spawn to a listed tool set, 5 times: each listing comes before the model is loaded
    (the server says so on stderr when it is); the median goes to the report."""
    import anyio

    async def once(i: int) -> float:
        errlog = tmp_path / f"stderr{i}.txt"
        params = StdioServerParameters(
            command=server_command()[0],
            args=[*server_command()[1:], "--uri", str(tmp_path / f"s{i}.db")],
            env=server_env(),
            cwd=str(tmp_path),
        )
        with errlog.open("w") as err:
            t0 = time.perf_counter()
            async with stdio_client(params, errlog=err) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=240) as session:
                    await session.initialize()
                    tools = (await session.list_tools()).tools
                    elapsed = time.perf_counter() - t0
                    assert "model loaded" not in errlog.read_text()
                    assert len(tools) == len(READ_TOOLS | WRITE_TOOLS)
                    if i == 0:  # the first call that needs the model waits for it
                        r = await session.call_tool("create_collection", {"name": "c"})
                        assert not r.is_error, r
                        assert "model loaded" in errlog.read_text()
        return elapsed

    times = [anyio.run(once, i) for i in range(5)]
    median = statistics.median(times)
    print(f"spawn -> tools listed over stdio: median {median:.2f} s of {sorted(times)}")
