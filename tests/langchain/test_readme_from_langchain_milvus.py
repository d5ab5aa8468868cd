"""README "From langchain-milvus": langchain-milvus's quickstart runs on milvus-rag with only
the import changed (the "after" block), on every backend."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import Backend
from tests.conftest import new_name

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent.parent
BEFORE = "from langchain_milvus import Milvus\n"


def blocks() -> tuple[str, str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### From langchain-milvus") :]
    before, after = re.findall(r"```python\n(.*?)```", section, re.S)[:2]
    return before, after


def test_after_is_the_before_with_only_the_import_changed() -> None:
    before, after = blocks()
    assert BEFORE in before
    assert after == "from milvus_rag.integrations.langchain import Milvus\n"


@pytest.mark.timeout(900)
def test_quickstart_runs_with_the_import_changed(backend: Backend, tmp_path: Path) -> None:
    before, after = blocks()
    uri = backend.uri if not backend.is_local else str(tmp_path / "quickstart.db")
    code = before.replace(BEFORE, after).replace("http://localhost:19530", uri)
    code = code.replace("drop_old=True,", f"drop_old=True, collection_name={new_name('qs')!r},")
    code += (
        "print('TOP', results[0].page_content, results[0].metadata['source'])\n"
        "print('LEFT', [d.page_content for d in vector_store.search_by_metadata('pk != \"\"')])\n"
        "vector_store.drop()\nvector_store.close()\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=800
    )
    assert res.returncode == 0, res.stderr[-3000:]
    lines = res.stdout.strip().splitlines()
    assert lines[-2] == "TOP I had chocolate chip pancakes. tweet"
    assert lines[-1] == "LEFT ['I had chocolate chip pancakes.']"
