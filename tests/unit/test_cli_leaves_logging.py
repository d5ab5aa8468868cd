"""The command's ``main`` called in-process leaves the caller's logging as it was."""

from __future__ import annotations

import logging
from pathlib import Path

from milvus_rag import cli


def test_main_removes_its_pymilvus_log_filter(tmp_path: Path) -> None:
    noisy = logging.getLogger("pymilvus.decorators")
    before = list(noisy.filters)
    code = cli.main(["collections", "--uri", str(tmp_path / "missing.db")])
    assert code == 2  # a missing file: one line, exit 2
    assert noisy.filters == before
