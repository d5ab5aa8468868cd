"""Fixtures for collections created by the official integrations themselves.

langchain-milvus 0.4 and llama-index-vector-stores-milvus 1.2 cannot share a venv with
milvus-rag (nor with each other: pymilvus >=3 vs <3), so each runs from its own venv,
``.venv-compat/langchain`` and ``.venv-compat/llamaindex`` (``make compat-venvs``, part of
``make install``), driven through ``tests/compat/official.py`` (one JSON request, one JSON
answer). A missing venv fails the tests with the command that makes it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.backends import ROOT, Backend

SCRIPT = Path(__file__).with_name("official.py")
VENVS = Path(os.environ.get("MILVUS_RAG_COMPAT_VENVS", ROOT / ".venv-compat"))
_DIRS = {"langchain": "langchain", "llama_index": "llamaindex"}

Official = Callable[..., dict[str, Any]]


def interpreter(lib: str) -> Path:
    return VENVS / _DIRS[lib] / "bin" / "python"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A case the library cannot create on a Lite 2.5 file (``server_only``) runs on the
    server backend only."""
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        lite_only_server = params.get("backend") == "lite" and getattr(
            params.get("case"), "server_only", False
        )
        (drop if lite_only_server else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def official() -> Official:
    """``official(lib, **request)``: run the library's own code on a request (see
    ``official.py``) and return its JSON answer."""
    missing = [str(interpreter(lib)) for lib in _DIRS if not interpreter(lib).exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: run `make compat-venvs` (part of `make install`): "
            "it installs langchain-milvus 0.4 and llama-index-vector-stores-milvus 1.2 in "
            "their own venvs under .venv-compat/",
            pytrace=False,
        )

    def run(lib: str, **request: Any) -> dict[str, Any]:
        proc = subprocess.run(
            [str(interpreter(lib)), str(SCRIPT)],
            input=json.dumps({"lib": lib, **request}),
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"{lib} failed on {request.get('actions')}:\n{proc.stderr[-4000:]}"
            )
        out: dict[str, Any] = json.loads(proc.stdout)
        return out

    return run


@pytest.fixture
def compat_uri(backend: Backend, tmp_path: Path) -> str:
    """Where the library writes: a Lite 2.5 file of its own (one process at a time holds a
    Lite file, so milvus-rag's stores on it are closed before the library runs again), or
    the session's Lite 3 server."""
    return str(tmp_path / "compat.db") if backend.is_local else backend.uri
