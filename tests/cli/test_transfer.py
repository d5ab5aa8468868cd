"""``milvus-rag export`` / ``import``: a round trip leaves equal rows (ids, texts, metadata,
and vectors with ``--vectors``), between two collections and from the embedded file to a
server; an interrupted import resumes by id without duplicating anything."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from milvus_rag import MilvusStore, Record, cli
from milvus_rag.cli import common as cli_common
from tests.backends import LiteServer
from tests.fakes import HashEncoder

pytestmark = pytest.mark.integration
DIM = 32


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(
        cli_common,
        "make_encoder",
        lambda model="", device=None, precision="auto", backend="auto": HashEncoder(DIM),
    )
    monkeypatch.delenv("MILVUS_URI", raising=False)
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    monkeypatch.delenv("MILVUS_COLLECTION", raising=False)
    return str(tmp_path / "x.db")


def source_rows(n: int = 1200) -> list[Record]:
    enc = HashEncoder(DIM)
    texts = [f'row {i} about {"cats" if i % 2 else "dogs"} ünïcödé "q"' for i in range(n)]
    vecs = enc.encode_documents(texts)
    return [
        Record(
            id=f"doc-{i:05d}",
            text=texts[i],
            vector=vecs[i],
            doc_id=f"d{i // 10}",
            metadata={"i": i, "tags": ["a", "b"][: i % 3], "nested": {"x": i / 7}},
        )
        for i in range(n)
    ]


def fill(uri: str, name: str, rows: list[Record]) -> None:
    with MilvusStore(uri, collection_name=name, dim=DIM) as store:
        store.upsert(rows)


def read_all(uri: str, name: str) -> dict[str, Record]:
    with MilvusStore(uri, collection_name=name) as store:
        return {r.id: r for r in store.iterate(with_vectors=True)}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_same(a: dict[str, Record], b: dict[str, Record], vectors: bool) -> None:
    assert set(a) == set(b)
    for i, r in a.items():
        s = b[i]
        assert (s.text, s.doc_id, s.metadata) == (r.text, r.doc_id, r.metadata)
        if vectors:
            assert np.array_equal(
                np.asarray(s.vector, np.float32), np.asarray(r.vector, np.float32)
            )


@pytest.mark.parametrize("vectors", [True, False])
def test_round_trip_between_two_collections(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], vectors: bool
) -> None:
    fill(db, "src", source_rows())
    out = tmp_path / "rows.jsonl"
    flags = ["--vectors"] if vectors else []
    code, _, err = run(capsys, "export", "--uri", db, "--collection", "src", "-o", str(out), *flags)
    assert code == 0 and "exported 1200 rows" in err
    lines = out.read_text(encoding="utf-8").splitlines()
    head = json.loads(lines[0])
    assert head["milvus_rag_export"] == 1 and head["dim"] == DIM and head["vectors"] is vectors
    assert len(lines) == 1201 and ("vector" in json.loads(lines[1])) is vectors
    code, _, err = run(capsys, "import", str(out), "--uri", db, "--collection", "dst")
    assert code == 0 and "1200 rows read, 1200 written, 0 already there" in err
    # with the fake model the re-embedded vectors equal the originals too
    assert_same(read_all(db, "src"), read_all(db, "dst"), vectors=True)


def test_export_with_a_filter(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    fill(db, "src", source_rows(300))
    code, out, _ = run(
        capsys, "export", "--uri", db, "--collection", "src", "--filter", '{"i": {"$lt": 10}}'
    )
    assert code == 0
    rows = [json.loads(x) for x in out.splitlines()[1:]]
    assert sorted(r["metadata"]["i"] for r in rows) == list(range(10))


def test_an_interrupted_import_resumes_without_duplicates(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(db, "src", source_rows())
    out = tmp_path / "rows.jsonl"
    run(capsys, "export", "--uri", db, "--collection", "src", "--vectors", "-o", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    part = tmp_path / "part.jsonl"
    part.write_text("\n".join(lines[:501]) + "\n", encoding="utf-8")  # header + 500 rows
    code, _, err = run(
        capsys, "import", str(part), "--uri", db, "--collection", "dst", "--batch-size", "200"
    )
    assert code == 0 and "500 rows read, 500 written" in err
    code, _, err = run(
        capsys, "import", str(out), "--uri", db, "--collection", "dst", "--batch-size", "200"
    )
    assert code == 0 and "1200 rows read, 700 written, 500 already there" in err
    code, _, err = run(capsys, "import", str(out), "--uri", db, "--collection", "dst")
    assert "0 written, 1200 already there" in err
    with MilvusStore(db, collection_name="dst") as store:
        assert store.count() == 1200
    assert_same(read_all(db, "src"), read_all(db, "dst"), vectors=True)


def test_from_the_embedded_file_to_a_server(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], lite3_server: LiteServer
) -> None:
    fill(db, "src", source_rows(800))
    out = tmp_path / "rows.jsonl"
    run(capsys, "export", "--uri", db, "--collection", "src", "--vectors", "-o", str(out))
    target = "from_file_" + tmp_path.name[-8:].replace("-", "_")
    code, _, err = run(
        capsys, "import", str(out), "--uri", lite3_server.uri, "--collection", target
    )
    assert code == 0 and "800 written" in err
    try:
        assert_same(read_all(db, "src"), read_all(lite3_server.uri, target), vectors=True)
    finally:
        with MilvusStore(lite3_server.uri, collection_name=target) as store:
            store.drop()


def test_import_errors_name_the_problem(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "import", str(tmp_path / "none.jsonl"), "--uri", db)
    assert code == 2 and "no such file" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "t"}\n{"id": "b"}\n', encoding="utf-8")
    code, _, err = run(capsys, "import", str(bad), "--uri", db, "--collection", "x")
    assert code == 1 and "line 2" in err
    code, _, err = run(capsys, "export", "--uri", db, "--collection", "missing")
    assert code == 2 and "no Milvus Lite file at" in err  # a read-only command: no file made


def test_tenant_export_and_all_tenants_round_trip(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = source_rows(60)
    with MilvusStore(db, collection_name="mt", dim=DIM, tenant_field="tenant") as store:
        store.upsert(rows[:40], tenant="acme")
        store.upsert(rows[40:], tenant="globex")
    common = ["--uri", db, "--tenant-field", "tenant", "--no-progress"]
    one = tmp_path / "acme.jsonl"
    code, _, err = run(
        capsys,
        "export",
        *common,
        "--collection",
        "mt",
        "--tenant",
        "acme",
        "--vectors",
        "-o",
        str(one),
    )
    assert code == 0, err
    acme = [json.loads(line) for line in one.read_text().splitlines()[1:]]
    assert sorted(r["id"] for r in acme) == sorted(r.id for r in rows[:40])
    # no tenant and no --all-tenants: refused, nothing written
    code, _, err = run(capsys, "export", *common, "--collection", "mt", "-o", str(tmp_path / "x"))
    assert code != 0 and "all_tenants" in err and not (tmp_path / "x").exists()
    every = tmp_path / "all.jsonl"
    code, _, err = run(
        capsys,
        "export",
        *common,
        "--collection",
        "mt",
        "--all-tenants",
        "--vectors",
        "-o",
        str(every),
    )
    assert code == 0, err
    code, _, err = run(
        capsys, "import", *common, "--collection", "copy", "--all-tenants", str(every)
    )
    assert code == 0, err
    with MilvusStore(db, collection_name="copy", tenant_field="tenant") as copy:
        assert copy.count(tenant="acme") == 40 and copy.count(tenant="globex") == 20
        got = {r.id: r for r in copy.iterate(all_tenants=True)}
    want = {r.id: r for r in rows}
    assert set(got) == set(want)
    for i, r in got.items():
        assert r.metadata["tenant"] == ("acme" if i in {x.id for x in rows[:40]} else "globex")
