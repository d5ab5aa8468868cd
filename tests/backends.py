"""Test backends: an embedded Milvus Lite file, and a Milvus Lite 3 gRPC server.

Set ``MILVUS_URI`` (and ``MILVUS_TOKEN``) to run against a real Milvus instead;
``MILVUS_RAG_BACKENDS=lite`` (or ``server``) restricts the run to one backend. ``lite`` is an
embedded ``.db`` of the milvus-lite this environment has: the C++ 2.5 engine in ``make
install``'s venv, the Lite 3 engine (a ``.db`` folder) in one made beside langchain-milvus 0.4
(``lite3file`` is the same, and fails unless milvus-lite 3 is installed).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LITE3_PYTHON = Path(
    os.environ.get("MILVUS_RAG_LITE3_PYTHON", ROOT / ".venv-lite3" / "bin" / "python")
)


@dataclass(frozen=True)
class Backend:
    name: str
    uri: str
    token: str = ""

    @property
    def is_local(self) -> bool:
        return self.name in LOCAL

    @property
    def engine(self) -> str:
        """``lite25`` / ``lite3`` (an embedded file of that engine), ``server`` or ``milvus``."""
        if not self.is_local:
            return self.name
        from milvus_rag.client.lite import lite_major

        return "lite25" if lite_major() < 3 else "lite3"


LOCAL = ("lite", "lite3file")


def backend_names() -> list[str]:
    if os.environ.get("MILVUS_URI"):
        return ["milvus"]
    wanted = os.environ.get("MILVUS_RAG_BACKENDS", "lite,server")
    return [b.strip() for b in wanted.split(",") if b.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiteServer:
    """A Milvus Lite 3 server process on 127.0.0.1, from its own virtual environment."""

    def __init__(self, data_dir: Path, port: int | None = None, nice: int = 0) -> None:
        if not LITE3_PYTHON.exists():
            raise RuntimeError(
                f"{LITE3_PYTHON} is missing: run `make install` (it builds .venv-lite3 with "
                "milvus-lite 3 for the server test backend)"
            )
        self.data_dir = data_dir
        self.port = port or free_port()
        self.nice = nice
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"lite3-{self.port}.log"

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> LiteServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(LITE3_PYTHON),
                    "-m",
                    "milvus_lite",
                    "server",
                    "--data-dir",
                    str(self.data_dir),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Milvus Lite server exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Milvus Lite server did not listen on {self.port} in {timeout}s")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def run_python(code: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter of this environment (a new process)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=str(ROOT)
    )
