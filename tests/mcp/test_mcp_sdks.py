"""Both client SDKs (Python ``mcp`` and TypeScript ``@modelcontextprotocol/sdk``) against a
real ``milvus-rag mcp`` subprocess, over stdio and streamable HTTP, on both backends: tools
and their annotations, create / add / search / get / count / delete, resources, ingest
refusals, progress, and a re-ingest that writes nothing. One scenario table
(:mod:`tests.mcp.scenario`) for every combination."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.backends import Backend
from tests.conftest import new_name
from tests.mcp.conftest import RunningHttp, backend_uri
from tests.mcp.scenario import scenario
from tests.mcp.sdk import StdioSpec, run_js, run_python

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def stdio_spec(backend: Backend, tmp_path: Path, ingest_root: Path) -> StdioSpec:
    args = ["--uri", backend_uri(backend, tmp_path), "--allow-path", str(ingest_root)]
    return StdioSpec(args=args, cwd=tmp_path)


async def test_python_sdk_stdio(backend: Backend, tmp_path: Path, ingest_root: Path) -> None:
    steps, check = scenario(new_name("py_stdio"), ingest_root=ingest_root)
    check(await run_python(stdio_spec(backend, tmp_path, ingest_root), steps))


async def test_python_sdk_http(mcp_http: RunningHttp, ingest_root: Path) -> None:
    steps, check = scenario(new_name("py_http"), ingest_root=ingest_root)
    check(await run_python(mcp_http.spec(), steps))


def test_js_sdk_stdio(backend: Backend, tmp_path: Path, ingest_root: Path, js_node: Path) -> None:
    steps, check = scenario(new_name("js_stdio"), ingest_root=ingest_root, progress_in_order=False)
    check(run_js(js_node, stdio_spec(backend, tmp_path, ingest_root), steps, tmp_path))


def test_js_sdk_http(
    mcp_http: RunningHttp, ingest_root: Path, js_node: Path, tmp_path: Path
) -> None:
    steps, check = scenario(new_name("js_http"), ingest_root=ingest_root, progress_in_order=False)
    check(run_js(js_node, mcp_http.spec(), steps, tmp_path))
