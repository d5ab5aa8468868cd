"""README "Several vector fields (LangChain)" and "(LlamaIndex)": each example runs as printed
(a Lite file, the real MiniLM weights), twice into the same collection (ids make it
idempotent), and both build the same four vector fields."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent


def example(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading) :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match
    return match.group(1)


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    ("heading", "collection"),
    [
        ("### Several vector fields (LangChain)", "fields_langchain"),
        ("### Several vector fields (LlamaIndex)", "fields_llama_index"),
    ],
)
def test_the_example_runs_twice(tmp_path: Path, heading: str, collection: str) -> None:
    code = example(heading) + (
        "\nfrom milvus_rag import MilvusStore\n"
        f"s = MilvusStore('./fields.db', collection_name={collection!r})\n"
        "print('ROWS', s.count(), [f['name'] for f in s.describe()['vector_fields']])\n"
        "s.close()\n"
    )
    for _ in range(2):
        res = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=800
        )
        assert res.returncode == 0, res.stderr[-3000:]
        assert res.stdout.strip().splitlines() == [
            "d1",
            "d1",
            "ROWS 2 ['dense', 'sparse', 'dense_ip', 'words']",
        ]
