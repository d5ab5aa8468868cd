"""Driving a real ``milvus-rag mcp`` subprocess with either client SDK.

A scenario is a list of steps (plain JSON: ``{"op": "callTool", "name": ..., "arguments": ...}``).
:func:`run_python` runs it with the Python SDK, :func:`run_js` with the TypeScript SDK
(``tests/mcp/js/run_steps.mjs``); both return the same normalised JSON, so one table of
expectations checks both.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = Path(__file__).resolve().parent / "js"
TIMEOUT = 240.0
Step = dict[str, Any]


def server_env(**extra: str) -> dict[str, str]:
    # MILVUS_* stay out: pymilvus parses MILVUS_URI at import and rejects a file path.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MILVUS_") or k == "MILVUS_RAG_LITE3_PYTHON"
    }
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def server_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "milvus_rag.cli", "mcp", *args]


@dataclass
class StdioSpec:
    """How to spawn a stdio server."""

    args: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=server_env)


@dataclass
class HttpSpec:
    """Where a running HTTP server is."""

    url: str
    token: str | None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def http_server(
    args: Sequence[str], cwd: Path, env: dict[str, str], log: Path
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``milvus-rag mcp --transport http`` on a free loopback port, until the block ends."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            server_command("--transport", "http", "--port", str(port), *args),
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield port, proc
        assert proc.poll() is None, log.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- Python SDK


def _dump(model: Any) -> Any:
    return None if model is None else model.model_dump(by_alias=True, exclude_none=True)


async def _py_step(session: ClientSession, step: Step) -> dict[str, Any]:
    op = step["op"]
    if op == "listTools":
        tools = (await session.list_tools()).tools
        return {
            "tools": [
                {
                    "name": t.name,
                    "annotations": _dump(t.annotations),
                    "properties": sorted((t.input_schema or {}).get("properties", {})),
                }
                for t in tools
            ]
        }
    if op == "callTool":
        progress: list[dict[str, Any]] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            item: dict[str, Any] = {"progress": done}
            if total is not None:
                item["total"] = total
            if message is not None:
                item["message"] = message
            progress.append(item)

        r = await session.call_tool(
            step["name"],
            step.get("arguments") or {},
            read_timeout_seconds=TIMEOUT,
            progress_callback=on_progress if step.get("progress") else None,
        )
        texts = [c.text for c in r.content if getattr(c, "type", None) == "text"]
        return {
            "isError": bool(r.is_error),
            "structuredContent": r.structured_content,
            "text": "\n".join(texts),
            "progress": progress,
        }
    if op == "queryAll":  # follow next_cursor until the last page
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        calls = 0
        while True:
            args = dict(step["arguments"]) | ({"cursor": cursor} if cursor else {})
            r = await session.call_tool("query", args, read_timeout_seconds=TIMEOUT)
            calls += 1
            if r.is_error:
                text = "\n".join(c.text for c in r.content if getattr(c, "type", None) == "text")
                return {"isError": True, "text": text, "calls": calls}
            data = r.structured_content or {}
            rows.extend(data["rows"])
            cursor = data["next_cursor"]
            if not cursor:
                return {"isError": False, "rows": rows, "calls": calls}
    if op == "listResources":
        res = (await session.list_resources()).resources
        return {"resources": [{"uri": str(r.uri), "name": r.name} for r in res]}
    if op == "listResourceTemplates":
        tpl = (await session.list_resource_templates()).resource_templates
        return {"templates": [{"uriTemplate": t.uri_template, "name": t.name} for t in tpl]}
    if op == "readResource":
        contents = (await session.read_resource(step["uri"])).contents
        return {
            "contents": [
                {"uri": str(c.uri), "mimeType": c.mime_type, "text": getattr(c, "text", None)}
                for c in contents
            ]
        }
    raise ValueError(f"unknown step {op}")


async def _py_session(session: ClientSession, steps: Sequence[Step]) -> dict[str, Any]:
    init = await session.initialize()
    results = []
    for step in steps:
        try:
            results.append(await _py_step(session, step))
        except Exception as e:  # an MCP error answer (e.g. an unknown resource)
            results.append({"exception": str(e)})
    info = init.server_info
    return {"server": {"name": info.name, "version": info.version}, "results": results}


async def run_python(target: StdioSpec | HttpSpec, steps: Sequence[Step]) -> dict[str, Any]:
    if isinstance(target, StdioSpec):
        params = StdioServerParameters(
            command=sys.executable,
            args=server_command(*target.args)[1:],
            env=target.env,
            cwd=str(target.cwd),
        )
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session:
                return await _py_session(session, steps)
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    async with httpx2.AsyncClient(
        headers=headers, timeout=httpx2.Timeout(30.0, read=TIMEOUT)
    ) as http:
        async with streamable_http_client(target.url, http_client=http) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=TIMEOUT) as session:
                return await _py_session(session, steps)


# --------------------------------------------------------------------------- TypeScript SDK


def ensure_js_sdk() -> Path:
    """``npm ci`` in tests/mcp/js when its node_modules is missing; fails without npm.

    Under a file lock: pytest-xdist workers (``make test``) may ask at the same time."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed for the TypeScript SDK tests (Node >= 18)"
    with open(JS_DIR / "node_modules.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (JS_DIR / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=JS_DIR,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, (
                f"npm ci failed (is the npm registry reachable?):\n{done.stderr}"
            )
    return Path(node)


def run_js(
    node: Path, target: StdioSpec | HttpSpec, steps: Sequence[Step], tmp: Path
) -> dict[str, Any]:
    config: dict[str, Any] = {"steps": list(steps)}
    if isinstance(target, StdioSpec):
        config.update(
            transport="stdio",
            command=sys.executable,
            args=server_command(*target.args)[1:],
            env=target.env,
            cwd=str(target.cwd),
        )
    else:
        config.update(transport="http", url=target.url, token=target.token)
    path = tmp / "js_config.json"
    path.write_text(json.dumps(config))
    done = subprocess.run(
        [str(node), str(JS_DIR / "run_steps.mjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=JS_DIR,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out: dict[str, Any] = json.loads(done.stdout)
    return out
