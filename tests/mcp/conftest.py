"""Fixtures of the MCP tests: the TypeScript SDK (installed from npm on first use), a tree of
files for ``ingest``, and one HTTP server per backend shared by the tests of a session."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.backends import Backend
from tests.mcp.scenario import make_ingest_tree
from tests.mcp.sdk import HttpSpec, ensure_js_sdk, http_server, server_env


@pytest.fixture(scope="session")
def js_node() -> Path:
    return ensure_js_sdk()


@pytest.fixture(scope="session")
def ingest_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_ingest_tree(tmp_path_factory.mktemp("mcp_files"))


@pytest.fixture(scope="session")
def mcp_token() -> str:
    return "tok-" + secrets.token_urlsafe(24)


def backend_uri(backend: Backend, tmp: Path) -> str:
    # a Milvus Lite file is opened by one process at a time: each server gets its own
    return str(tmp / "mcp.db") if backend.is_local else backend.uri


class RunningHttp:
    def __init__(self, port: int, token: str, log: Path) -> None:
        self.port = port
        self.token = token
        self.log = log
        self.url = f"http://127.0.0.1:{port}/mcp"

    def spec(self) -> HttpSpec:
        return HttpSpec(self.url, self.token)


@contextmanager
def start_http(backend: Backend, tmp: Path, ingest_root: Path, token: str) -> Iterator[RunningHttp]:
    """``milvus-rag mcp --transport http`` with a token (from MILVUS_RAG_MCP_TOKEN) and
    ``--allow-path``, on ``backend``."""
    log = tmp / "server.log"
    args = ["--uri", backend_uri(backend, tmp), "--allow-path", str(ingest_root)]
    env = server_env(MILVUS_RAG_MCP_TOKEN=token)
    with http_server(args, tmp, env, log) as (port, _proc):
        yield RunningHttp(port, token, log)


@pytest.fixture(scope="session")
def mcp_http(
    backend: Backend,
    tmp_path_factory: pytest.TempPathFactory,
    ingest_root: Path,
    mcp_token: str,
) -> Iterator[RunningHttp]:
    """An HTTP server on the session's backend."""
    with start_http(
        backend, tmp_path_factory.mktemp(f"mcp_http_{backend.name}"), ingest_root, mcp_token
    ) as server:
        yield server


@pytest.fixture(scope="session")
def guarded_http(
    tmp_path_factory: pytest.TempPathFactory, ingest_root: Path, mcp_token: str
) -> Iterator[RunningHttp]:
    """An HTTP server on a Milvus Lite file, for the checks no backend changes."""
    tmp = tmp_path_factory.mktemp("mcp_http_guard")
    with start_http(Backend("lite", str(tmp / "x.db")), tmp, ingest_root, mcp_token) as server:
        yield server
