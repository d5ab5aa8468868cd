"""The MCP server's parts without a database: settings, bounded results, ingest roots, the
HTTP guard (as ASGI), and which tools a server built from given settings offers."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.records import Hit, Record
from milvus_rag.integrations.mcp import TOKEN_ENV, MCPSettings, MilvusMCPState, build_server
from milvus_rag.integrations.mcp import results as res
from milvus_rag.integrations.mcp.http_guard import HTTPGuard, bearer_ok, host_ok, origin_ok
from milvus_rag.integrations.mcp.paths import check_files, resolve_allowed, under_roots
from milvus_rag.integrations.mcp.settings import is_loopback

# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("myhost.local", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_non_loopback_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with pytest.raises(ConfigError, match="without a token") as e:
        MCPSettings(transport="http", host="0.0.0.0")
    assert "\n" not in str(e.value)
    assert MCPSettings(transport="http", host="0.0.0.0", auth_token="t" * 20).auth_token_set
    assert not MCPSettings(transport="http").auth_token_set  # loopback: token optional
    monkeypatch.setenv(TOKEN_ENV, "from-the-environment")
    s = MCPSettings(transport="http", host="0.0.0.0")
    assert s.auth_token == "from-the-environment"
    assert "from-the-environment" not in repr(s) and "from-the-environment" not in str(s)


def test_settings_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="http only"):
        MCPSettings(auth_token="x" * 20)
    with pytest.raises(ConfigError, match="http only"):
        MCPSettings(allowed_origins=("https://a.example",))
    with pytest.raises(ConfigError, match="contradict"):
        MCPSettings(read_only=True, allow_drop=True)
    with pytest.raises(ConfigError, match="no ingest"):
        MCPSettings(read_only=True, allow_paths=(tmp_path,))
    with pytest.raises(ConfigError, match="not an existing folder"):
        MCPSettings(allow_paths=(tmp_path / "missing",))
    with pytest.raises(ConfigError, match="not an origin"):
        MCPSettings(transport="http", allowed_origins=("https://a.example/path",))
    with pytest.raises(ConfigError, match="padded"):
        MCPSettings(transport="http", auth_token=" secret ")
    with pytest.raises(ConfigError, match="transport"):
        MCPSettings(transport="sse")  # type: ignore[arg-type]


def test_settings_resolve_roots(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    s = MCPSettings(allow_paths=(tmp_path / "link", str(tmp_path / "real" / ".." / "real")))
    assert s.allow_paths == ((tmp_path / "real").resolve(),)


# --------------------------------------------------------------------------- results


def test_record_and_hit_dicts_are_bounded() -> None:
    rec = Record(id="a", text="x" * 50, metadata={"k": 1}, doc_id="d")
    d = res.record_dict(rec, max_text_chars=10)
    assert d == {
        "id": "a",
        "text": "x" * 10,
        "truncated": True,
        "text_chars": 50,
        "doc_id": "d",
        "metadata": {"k": 1},
    }
    assert "truncated" not in res.record_dict(rec, max_text_chars=50)
    h = res.hit_dict(Hit(id="a", score=0.5, distance=0.5, record=rec, relevance=0.7))
    assert (h["score"], h["relevance"], h["text"]) == (0.5, 0.7, "x" * 50)


@given(st.text(max_size=300), st.integers(min_value=0, max_value=400))
def test_clip_invariant(text: str, limit: int) -> None:
    out = res.clip(text, limit)
    assert (text.startswith(out["text"]) and len(out["text"]) <= limit) or out["text"] == text
    assert out.get("truncated", False) is (len(text) > limit)
    if out.get("truncated"):
        assert out["text_chars"] == len(text) and len(out["text"]) == limit


def test_parse_documents() -> None:
    recs = res.parse_documents([{"text": "hello"}, {"text": "b", "id": "x", "metadata": None}])
    assert recs[0].id == res.text_id("hello") and recs[0].metadata == {}
    assert (recs[1].id, recs[1].metadata) == ("x", {})
    for bad, match in [
        ({"txt": "a"}, "needs a 'text'"),
        ({"text": "a", "extra": 1}, "unknown key"),
        ({"text": "a", "metadata": [1]}, "must be an object"),
        ({"text": "a", "id": 5}, "id must be a string"),
    ]:
        with pytest.raises(ConfigError, match=match):
            res.parse_documents([bad])
    with pytest.raises(ConfigError, match="at most"):
        res.parse_documents([{"text": "a"}] * (res.MAX_DOCUMENTS + 1))
    with pytest.raises(ConfigError, match="exceeds"):
        res.parse_documents([{"text": "a" * 60_000}] * 200)


def test_limits() -> None:
    with pytest.raises(ConfigError, match=r"k must be an integer in \[1, 100\]"):
        res.check_range("k", 101, 1, res.MAX_K)
    with pytest.raises(ConfigError):
        res.check_range("k", True, 1, res.MAX_K)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at most 1000 ids"):
        res.check_ids(["a"] * 1001)
    with pytest.raises(ConfigError, match="non-empty strings"):
        res.check_ids(["a", ""])
    assert res.check_ids(None) == []
    for q in ("", "  ", "q" * (res.MAX_QUERY_CHARS + 1)):
        with pytest.raises(ConfigError, match="query"):
            res.check_query(q)


# --------------------------------------------------------------------------- ingest roots


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "a.md").write_text("a")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "s.md").write_text("s")
    (root / "docs" / "link.md").symlink_to(outside / "s.md")
    (root / "out").symlink_to(outside, target_is_directory=True)
    return root.resolve(), outside.resolve()


def test_resolve_allowed(tree: tuple[Path, Path]) -> None:
    root, outside = tree
    assert resolve_allowed("docs/a.md", (root,)) == root / "docs" / "a.md"
    assert resolve_allowed(str(root / "docs" / ".." / "docs"), (root,)) == root / "docs"
    for bad in [
        str(outside / "s.md"),
        "../outside/s.md",
        str(root / "docs" / "link.md"),
        "out/s.md",
        "out",
        "/",
        str(root) + "/../root-evil",
    ]:
        with pytest.raises(ConfigError, match="outside the allowed folders"):
            resolve_allowed(bad, (root,))
    with pytest.raises(ConfigError, match="no such file"):
        resolve_allowed("docs/missing.md", (root,))
    with pytest.raises(ConfigError, match="--allow-path"):
        resolve_allowed("docs", ())
    with pytest.raises(ConfigError, match="non-empty"):
        resolve_allowed("a\x00b", (root,))


def test_check_files_catches_symlinks_inside(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    check_files([root / "docs" / "a.md"], (root,))
    with pytest.raises(ConfigError, match="a symlink"):
        check_files([root / "docs" / "a.md", root / "docs" / "link.md"], (root,))


def test_under_roots_is_not_a_string_prefix() -> None:
    assert not under_roots(Path("/srv/docs2/a"), (Path("/srv/docs"),))
    assert under_roots(Path("/srv/docs"), (Path("/srv/docs"),))


# --------------------------------------------------------------------------- HTTP guard


def test_bearer_ok() -> None:
    assert bearer_ok("Bearer abc", "abc") and bearer_ok("bearer abc", "abc")
    for header in (None, "", "Bearer", "Bearer ab", "Bearer abcd", "Basic abc", "abc"):
        assert not bearer_ok(header, "abc"), header


def test_origin_and_host() -> None:
    assert origin_ok(None, ()) and origin_ok("http://localhost", ())
    assert origin_ok("https://[::1]:3000", ()) and origin_ok(
        "https://app.example", ("https://app.example",)
    )
    for bad in ("null", "", "http://localhost.evil.com", "http://127.0.0.1.evil", "file://"):
        assert not origin_ok(bad, ()), bad
    assert host_ok("127.0.0.1:8000") and host_ok("localhost")
    assert not host_ok(None) and not host_ok("evil.example:8000")


def run_guard(guard: HTTPGuard, headers: dict[str, str]) -> tuple[int, list[Any]]:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    asyncio.run(guard(scope, receive, send))
    return sent[0]["status"], sent


async def _ok_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_guard_asgi() -> None:
    guard = HTTPGuard(_ok_app, token="s3cret", allowed_origins=(), check_host=True)
    ok = {"host": "127.0.0.1:1", "authorization": "Bearer s3cret"}
    assert run_guard(guard, ok)[0] == 200
    status, sent = run_guard(guard, {"host": "127.0.0.1:1"})
    assert status == 401 and b"s3cret" not in sent[1]["body"]
    assert run_guard(guard, {**ok, "origin": "https://evil.example"})[0] == 403
    assert run_guard(guard, {**ok, "host": "evil.example"})[0] == 421
    assert "s3cret" not in repr(guard)
    open_guard = HTTPGuard(_ok_app, token=None, allowed_origins=(), check_host=False)
    assert run_guard(open_guard, {"host": "anything"})[0] == 200


def test_guard_refuses_repeated_auth_headers() -> None:
    guard = HTTPGuard(_ok_app, token="s3cret", allowed_origins=(), check_host=False)
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    scope = {
        "type": "http",
        "headers": [(b"authorization", b"Bearer s3cret"), (b"authorization", b"Bearer x")],
    }
    asyncio.run(guard(scope, receive, send))
    assert sent[0]["status"] == 401


# --------------------------------------------------------------------------- tool sets


def tools_of(tmp_path: Path, **settings: Any) -> dict[str, Any]:
    server = build_server(uri=str(tmp_path / "x.db"), **settings)
    return {t.name: t for t in asyncio.run(server.list_tools())}


READ = {
    "search",
    "query",
    "get",
    "count",
    "list_collections",
    "describe_collection",
    "list_databases",
}
WRITE = {"add_documents", "delete", "create_collection"}


def test_tool_sets(tmp_path: Path) -> None:
    assert set(tools_of(tmp_path, read_only=True)) == READ
    assert set(tools_of(tmp_path)) == READ | WRITE
    assert set(tools_of(tmp_path, allow_drop=True)) == READ | WRITE | {"drop_collection"}
    full = tools_of(tmp_path, allow_drop=True, allow_paths=(tmp_path,))
    assert set(full) == READ | WRITE | {"drop_collection", "ingest"}
    assert str(tmp_path.resolve()) in (full["ingest"].description or "")
    for name, tool in full.items():
        a = tool.annotations
        assert a is not None and a.title and a.open_world_hint is False, name
        assert a.read_only_hint is (name in READ), name
        if name not in READ:
            assert a.destructive_hint is (name != "create_collection"), name
            assert a.idempotent_hint is True, name


def test_build_server_imports_no_pymilvus_torch_or_model(tmp_path: Path) -> None:
    code = (
        "import sys; from milvus_rag.integrations.mcp import build_server; "
        "import milvus_rag.cli; "
        f"build_server(uri={str(tmp_path / 'x.db')!r}); "
        "print(sorted(m for m in ('pymilvus', 'torch', 'sentence_transformers') if m in sys.modules))"
    )
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("MILVUS_")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_state_repr_has_no_secrets() -> None:
    st_ = MilvusMCPState(MCPSettings(uri="http://localhost:19530", token="root:Milvus"))
    assert "Milvus'" not in repr(st_) and "root:Milvus" not in repr(st_)


# --------------------------------------------------------------------------- adoption


def test_adapted_follows_the_existing_schema() -> None:
    from milvus_rag.client.config import CollectionConfig
    from milvus_rag.client.errors import SchemaMismatchError
    from milvus_rag.integrations.mcp.state import _adapted

    cfg = CollectionConfig(name="c")
    fields = ["dense", "doc_id", "id", "metadata", "text"]
    no_bm25 = _adapted(cfg, SchemaMismatchError("c", "fields", [*fields, "sparse"], fields))
    assert no_bm25.enable_bm25 is False
    assert _adapted(cfg, SchemaMismatchError("c", "bm25", True, False)).enable_bm25 is False
    assert _adapted(cfg, SchemaMismatchError("c", "dense.metric", "COSINE", "L2")).metric == "L2"
    t = _adapted(cfg, SchemaMismatchError("c", "tenant_field['tenant']", None, "varchar"))
    assert t.tenant_field == "tenant"
    m = _adapted(cfg, SchemaMismatchError("c", "metadata_fields['year']", None, "int64"))
    assert m.metadata_fields == {"year": "int64"}
    for other in (
        SchemaMismatchError("c", "fields", fields, ["id", "vector"]),  # a foreign layout
        SchemaMismatchError("c", "dense.dim", 384, 768),
        SchemaMismatchError("c", "metadata_fields['year']", "int64", None),
    ):
        with pytest.raises(SchemaMismatchError):
            _adapted(no_bm25 if other.field == "fields" else cfg, other)
