"""The command line on a collection of several vector fields (Milvus Lite file): describe
lists every field; export --vectors, import and migrate carry them all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from milvus_rag import MilvusStore, cli
from milvus_rag.client.vector_fields import VectorField
from tests.integration.test_vector_fields import SHAPES, assert_same, records

pytestmark = pytest.mark.integration


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("shape", ["two_dense_bm25", "client_sparse_only"])
def test_describe_export_import_and_migrate(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    shape: str,
) -> None:
    uri = str(tmp_path / "cli.db")
    monkeypatch.setenv("MILVUS_URI", uri)
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    fields: list[VectorField] = SHAPES[shape]
    want = records(fields, n=5)
    store = MilvusStore(uri, collection_name="src", vector_fields=fields)
    store.upsert(want)
    store.close()

    code, out, _ = run(capsys, "collections", "describe", "src")
    assert code == 0
    listed = out.split("vector_fields:\n", 1)[1].splitlines()[: len(fields)]
    assert [line.split(":")[0].strip() for line in listed] == [f.name for f in fields]
    code, out, _ = run(capsys, "collections", "describe", "src", "--json")
    assert [f["name"] for f in json.loads(out)["vector_fields"]] == [f.name for f in fields]

    rows = tmp_path / "rows.jsonl"
    assert run(capsys, "export", "--collection", "src", "--vectors", "-o", str(rows))[0] == 0
    header = json.loads(rows.read_text().splitlines()[0])
    assert [f["name"] for f in header["vector_fields"]] == [f.name for f in fields]
    code, _, err = run(capsys, "import", str(rows), "--collection", "copy", "--no-progress")
    assert code == 0, err
    code, _, err = run(capsys, "migrate", "--from", "src", "--to", "moved", "--no-progress")
    assert code == 0, err
    for name in ("copy", "moved"):
        target = MilvusStore(uri, collection_name=name)
        try:
            assert_same(target.get([r.id for r in want], with_vectors=True), want)
        finally:
            target.close()
