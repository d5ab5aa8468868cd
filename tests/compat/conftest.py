"""Fixtures for collections created by the official integrations themselves.

langchain-milvus 0.4 and llama-index-vector-stores-milvus 1.2 cannot share a venv with
milvus-rag (nor with each other: pymilvus >=3 vs <3), so each runs from its own venv,
``.venv-compat/langchain`` and ``.venv-compat/llamaindex`` (``make compat-venvs``, part of
``make install``), driven through ``tests/compat/official.py``: one process per library for
the whole session (it imports the library once), one JSON line in, one JSON line out per
request. A missing venv fails the tests with the command that makes it.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import tempfile
from collections.abc import Callable, Iterator
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


class _Library:
    """The library's process (see ``official.py``), started on the first request and again
    if it died."""

    TIMEOUT = 300.0

    def __init__(self, lib: str) -> None:
        self.lib = lib
        self.proc: subprocess.Popen[str] | None = None
        # its stderr (a pipe could fill and block it), kept for the whole session
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115

    def request(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [str(interpreter(self.lib)), str(SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.log,
                text=True,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"lib": self.lib, **request}) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], self.TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise AssertionError(
                f"{self.lib} gave no answer to {request.get('actions')} within "
                f"{self.TIMEOUT:g} s:\n{self.stderr_tail()}"
            )
        out: dict[str, Any] = json.loads(line)
        if "error" in out:
            raise AssertionError(f"{self.lib} failed on {request.get('actions')}:\n{out['error']}")
        answer: dict[str, Any] = out["answer"]
        return answer

    def stderr_tail(self) -> str:
        self.log.seek(0)
        return self.log.read()[-4000:]

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="session")
def official() -> Iterator[Official]:
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
    libraries = {lib: _Library(lib) for lib in _DIRS}

    def run(lib: str, **request: Any) -> dict[str, Any]:
        return libraries[lib].request(request)

    yield run
    for library in libraries.values():
        library.close()


@pytest.fixture
def compat_uri(backend: Backend, tmp_path: Path) -> str:
    """Where the library writes: a Lite 2.5 file of its own (one process at a time holds a
    Lite file, so milvus-rag's stores on it are closed before the library runs again), or
    the session's Lite 3 server."""
    return str(tmp_path / "compat.db") if backend.is_local else backend.uri
