"""The README quickstarts run as printed, in collections of their own, and are idempotent:
running one twice leaves the same rows (issue 11, finding 8)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
CASES = [
    ("## LangChain quickstart", "quickstart_langchain", 2),
    ("## LlamaIndex quickstart", "quickstart_llama_index", 1),
]


def quickstart(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, heading
    return match.group(1)


@pytest.mark.timeout(1200)  # two cold starts of the model; minutes on a loaded machine
@pytest.mark.parametrize(("heading", "collection", "rows"), CASES)
def test_quickstart_runs_twice_into_its_own_collection(
    tmp_path: Path, heading: str, collection: str, rows: int
) -> None:
    code = quickstart(heading) + (
        "\nfrom milvus_rag import MilvusStore\n"
        f"s = MilvusStore('./quickstart.db', collection_name={collection!r})\n"
        "print('ROWS', s.count(), sorted(s.list_collections()))\n"
        "s.close()\n"
    )
    for _ in range(2):
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=550
        )
        assert res.returncode == 0, res.stderr[-3000:]
        assert res.stdout.strip().splitlines()[-1] == f"ROWS {rows} [{collection!r}]"
        noise = [line for line in res.stderr.splitlines() if line.strip()]
        assert noise == [], noise  # no progress bar, no third-party warning
    assert not (tmp_path / "milvus_rag.db").exists()  # the CLI's default file is untouched
