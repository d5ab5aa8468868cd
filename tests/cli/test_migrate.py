"""``milvus-rag migrate`` on each backend: the copy holds equal ids, texts, metadata and vectors,
searches hybrid, survives an interruption (the rerun writes only what is missing), and a
second run changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from milvus_rag import AsyncMilvusStore, MilvusStore, Record, cli
from milvus_rag.transfer.migrate import MigrateStats, migrate, target_options
from tests.backends import Backend
from tests.conftest import new_name
from tests.fakes import HashEncoder

pytestmark = pytest.mark.integration
DIM = 16
N = 1100  # three pages of 500 (the last one short)


@pytest.fixture
def uri(backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for var in ("MILVUS_URI", "MILVUS_TOKEN", "MILVUS_COLLECTION"):
        monkeypatch.delenv(var, raising=False)
    if backend.token:
        monkeypatch.setenv("MILVUS_TOKEN", backend.token)
    return str(tmp_path / "m.db") if backend.is_local else backend.uri


@pytest.fixture
def names(uri: str) -> Iterator[tuple[str, str]]:
    pair = (new_name("src"), new_name("dst"))
    yield pair
    for name in pair:
        with MilvusStore(uri, collection_name=name) as s:
            s.drop()


def rows(n: int = N) -> list[Record]:
    enc = HashEncoder(DIM)
    texts = [f'row {i} about {"cats" if i % 2 else "dogs"} ünï "q"' for i in range(n)]
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


def read_all(uri: str, name: str) -> dict[str, Record]:
    with MilvusStore(uri, collection_name=name) as store:
        return {str(r.id): r for r in store.iterate(with_vectors=True)}


def assert_equal_copies(a: dict[str, Record], b: dict[str, Record]) -> None:
    assert set(a) == set(b)
    for i, r in a.items():
        s = b[i]
        assert (s.text, s.doc_id, s.metadata) == (r.text, r.doc_id, r.metadata), i
        assert np.array_equal(np.asarray(s.vector, np.float32), np.asarray(r.vector, np.float32))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    return code, capsys.readouterr().err


def test_copy_equal_rows_hybrid_search_and_a_second_run_changes_nothing(
    uri: str, names: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = names
    data = rows()
    with MilvusStore(uri, collection_name=src, dim=DIM) as s:
        s.upsert(data)
    argv = ("migrate", "--from", src, "--to", dst, "--uri", uri, "--batch-size", "500")
    code, err = run(capsys, *argv)
    assert code == 0, err
    assert f"{N} rows read, {N} written, 0 already there; source {N} rows, target {N}" in err
    assert_equal_copies(read_all(uri, src), read_all(uri, dst))
    with MilvusStore(uri, collection_name=dst) as target:
        d = target.describe()
        assert d["metric"] == "COSINE" and d["bm25"] is True, d
        q = data[7]
        hits = target.search("cats 7", vector=q.vector, k=5, mode="hybrid")
        assert hits and hits[0].id == q.id  # the row's own vector and words
        assert target.search("dogs", k=3, mode="sparse")  # BM25 computed from the copied text
    code, err = run(capsys, *argv)  # twice: nothing written, nothing changed
    assert code == 0, err
    assert f"{N} rows read, 0 written, {N} already there" in err
    assert_equal_copies(read_all(uri, src), read_all(uri, dst))


def test_an_interrupted_copy_resumes_and_rewrites_a_changed_row(
    uri: str, names: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = names
    with MilvusStore(uri, collection_name=src, dim=DIM) as s:
        s.upsert(rows())

    class Stop(Exception):
        pass

    def stop_after_two_pages(stats: MigrateStats) -> None:
        if stats.read >= 1000:
            raise Stop

    async def first_run() -> None:
        source = AsyncMilvusStore(uri, collection_name=src)
        info = await source.ensure_collection()
        target = AsyncMilvusStore(uri, collection_name=dst, **target_options(info))
        try:
            await migrate(source, target, batch_size=500, on_page=stop_after_two_pages)
        finally:
            await source.aclose()
            await target.aclose()

    with pytest.raises(Stop):
        asyncio.run(first_run())
    with MilvusStore(uri, collection_name=dst) as t:
        assert t.count() == 1000
        first = t.get(["doc-00000"], with_vectors=True)[0]
        t.upsert([Record(id=first.id, text="edited", vector=first.vector)])  # now differs
    code, err = run(capsys, "migrate", "--from", src, "--to", dst, "--uri", uri)
    assert code == 0, err
    assert f"{N} rows read, {N - 1000 + 1} written, 999 already there" in err
    assert_equal_copies(read_all(uri, src), read_all(uri, dst))


def test_a_target_with_rows_the_source_lacks_fails_the_count_check(
    uri: str, names: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    src, dst = names
    with MilvusStore(uri, collection_name=src, dim=DIM) as s:
        s.upsert(rows(20))
    with MilvusStore(uri, collection_name=dst, dim=DIM) as t:
        t.upsert([Record(id="zz-extra", text="not in the source", vector=[1.0] * DIM)])
    code, err = run(capsys, "migrate", "--from", src, "--to", dst, "--uri", uri)
    assert code == 1
    assert "source 20 rows, target 21 -- the counts differ" in err


def test_errors_name_the_fix(
    uri: str, names: tuple[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    src, dst = names
    code, err = run(capsys, "migrate", "--from", src, "--to", src, "--uri", uri)
    assert code == 2 and "same collection" in err
    with MilvusStore(uri, collection_name=dst, dim=DIM) as t:
        t.ensure_collection()  # the file (or server) exists, the source does not
    code, err = run(capsys, "migrate", "--from", src, "--to", dst, "--uri", uri)
    assert code == 2 and f"collection {src!r} does not exist" in err
    missing = str(tmp_path / "none.db")
    code, err = run(capsys, "migrate", "--from", src, "--to", dst, "--uri", missing)
    assert code == 2 and "no Milvus Lite file" in err
    assert not Path(missing).exists()
