"""``milvus-rag migrate`` of collections that langchain-milvus 0.4 and
llama-index-vector-stores-milvus 1.2 created themselves (each from its own venv: the
``official`` fixture of conftest.py), on the embedded Lite 2.5 file and the Lite 3 server: counts equal,
ids / texts / metadata / vectors equal to what the library stored, hybrid search on the copy, an
interrupted copy resumed, and a second run that writes nothing.

BM25 layouts (langchain ``bm25``, llama-index ``sparse``) run on the server only: neither
library can create them on a Lite 2.5 file (see tests/compat/test_official_layouts.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from milvus_rag import AsyncMilvusStore, MilvusStore, cli
from milvus_rag.client.records import Record, public_metadata
from milvus_rag.transfer.migrate import MigrateStats, migrate, target_options
from tests.backends import Backend
from tests.compat.conftest import Official
from tests.conftest import new_name

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DIM = 8
N = 40
PAGE = 16  # three pages


@dataclass(frozen=True)
class Case:
    lib: str
    variant: str
    server_only: bool = False

    def __str__(self) -> str:
        return f"{self.lib}-{self.variant}"


CASES = [
    Case("langchain", "typed"),  # INT64 auto_id key, metadata as typed columns
    Case("langchain", "dynamic"),
    Case("langchain", "json"),
    Case("langchain", "bm25", server_only=True),
    Case("llama_index", "dense"),
    Case("llama_index", "sparse", server_only=True),
]


def docs(lib: str) -> list[dict[str, Any]]:
    rng = np.random.default_rng(4)
    out = []
    for i in range(N):
        d: dict[str, Any] = {
            "id": f"n{i:03d}",
            "text": f"doc {i} about {['cats', 'dogs', 'birds', 'fish'][i % 4]} and word{i}",
            "vector": [float(x) for x in rng.normal(size=DIM)],
            "metadata": {"source": f"s{i % 3}", "year": 2000 + i, "draft": i % 2 == 0},
        }
        if lib == "llama_index" and i % 2:
            d["doc_id"] = f"file{i // 4}"
        out.append(d)
    return out


@pytest.fixture
def uri(backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for var in ("MILVUS_URI", "MILVUS_TOKEN", "MILVUS_COLLECTION"):
        monkeypatch.delenv(var, raising=False)
    return str(tmp_path / "official.db") if backend.is_local else backend.uri


def created(
    official: Official, case: Case, uri: str, backend: Backend
) -> tuple[str, list[dict[str, Any]]]:
    if case.server_only and backend.engine == "lite25":
        pytest.skip(f"{case.lib} cannot create its {case.variant} layout on a Lite 2.5 file")
    name = new_name(case.variant)
    rows = docs(case.lib)
    official(
        case.lib,
        uri=uri,
        collection=name,
        variant=case.variant,
        actions=["create"],
        dim=DIM,
        docs=rows,
    )
    return name, rows


def read_all(uri: str, name: str, **options: Any) -> dict[str, Record]:
    with MilvusStore(uri, collection_name=name, **options) as store:
        return {r.id: r for r in store.iterate(with_vectors=True)}


def metric_of(uri: str, name: str) -> str:
    """The source's metric, which the copy keeps (langchain-milvus's default is L2)."""
    with MilvusStore(uri, collection_name=name) as store:
        return store.ensure_collection().metric


def migrate_cli(
    capsys: pytest.CaptureFixture[str], uri: str, src: str, dst: str
) -> tuple[int, str]:
    code = cli.main(
        ["migrate", "--from", src, "--to", dst, "--uri", uri, "--batch-size", str(PAGE)]
    )
    return code, capsys.readouterr().err


def drop(uri: str, *names: str) -> None:
    for name in names:
        with MilvusStore(uri, collection_name=name) as s:
            if s.exists():
                s.drop()


def check_copy(uri: str, src: str, dst: str, given: list[dict[str, Any]]) -> None:
    """The copy equals the source as the store reads it, and what the library was given."""
    source, target = read_all(uri, src), read_all(uri, dst, metric=metric_of(uri, src))
    assert len(source) == len(target) == N
    assert set(source) == set(target)
    by_text = {d["text"]: d for d in given}
    for rid, s in source.items():
        t = target[rid]
        assert (t.text, t.doc_id, t.metadata) == (s.text, s.doc_id, s.metadata), rid
        assert np.array_equal(np.float32(t.vector), np.float32(s.vector)), rid
        d = by_text[t.text]  # the library stored what it was given
        assert np.array_equal(np.float32(t.vector), np.float32(d["vector"])), rid
        assert {k: public_metadata(t.metadata).get(k) for k in d["metadata"]} == d["metadata"]
        assert t.doc_id == d.get("doc_id", t.doc_id)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_migrate_a_collection_the_library_created(
    official: Official,
    case: Case,
    uri: str,
    backend: Backend,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src, given = created(official, case, uri, backend)
    dst = new_name("copy")
    try:
        code, err = migrate_cli(capsys, uri, src, dst)
        assert code == 0, err
        assert f"{N} rows read, {N} written, 0 already there; source {N} rows, target {N}" in err
        check_copy(uri, src, dst, given)
        metric = metric_of(uri, src)
        assert f"metric ({metric})" in err or metric == "COSINE"  # the copy keeps it
        with MilvusStore(uri, collection_name=dst) as target:  # opened with the defaults
            d = target.describe()
            assert target.config.metric == metric, d
            assert d["bm25"] is True and d.get("layout", "milvus_rag") == "milvus_rag", d
            for doc in given[:5]:
                hits = target.search(doc["text"], vector=doc["vector"], k=3, mode="hybrid")
                assert hits and hits[0].record.text == doc["text"]
            assert target.search("cats", k=3, mode="sparse")  # BM25 from the copied text
        code, err = migrate_cli(capsys, uri, src, dst)  # twice: nothing changes
        assert code == 0, err
        assert f"{N} rows read, 0 written, {N} already there" in err
        check_copy(uri, src, dst, given)
    finally:
        drop(uri, src, dst)


@pytest.mark.parametrize("case", [CASES[0], CASES[4]], ids=str)
def test_an_interrupted_migration_resumes(
    official: Official,
    case: Case,
    uri: str,
    backend: Backend,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src, given = created(official, case, uri, backend)
    dst = new_name("copy")

    class Stop(Exception):
        pass

    def stop(stats: MigrateStats) -> None:
        if stats.read >= PAGE:
            raise Stop

    async def first_run() -> None:
        source = AsyncMilvusStore(uri, collection_name=src)
        info = await source.ensure_collection()
        target = AsyncMilvusStore(uri, collection_name=dst, **target_options(info))
        try:
            await migrate(source, target, batch_size=PAGE, on_page=stop)
        finally:
            await source.aclose()
            await target.aclose()

    try:
        with pytest.raises(Stop):
            asyncio.run(first_run())
        code, err = migrate_cli(capsys, uri, src, dst)
        assert code == 0, err
        assert f"{N} rows read, {N - PAGE} written, {PAGE} already there" in err
        check_copy(uri, src, dst, given)
    finally:
        drop(uri, src, dst)
