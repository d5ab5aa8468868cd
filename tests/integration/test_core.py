"""The core store on every test backend: create/load, reopen, schema checks, CRUD, search."""

from __future__ import annotations

import asyncio
import json
import textwrap
import threading

import numpy as np
import pytest

from milvus_rag import (
    AsyncMilvusStore,
    ConfigError,
    FilterError,
    InvalidInputError,
    MilvusStore,
    Record,
    RetrievalMode,
    SchemaMismatchError,
    SearchRequest,
)
from tests.backends import Backend, run_python
from tests.conftest import new_name

pytestmark = pytest.mark.integration

DIM = 8


def vec(i: int, dim: int = DIM) -> list[float]:
    rng = np.random.default_rng(i)
    v = rng.normal(size=dim)
    return (v / np.linalg.norm(v)).tolist()


def records(n: int, start: int = 0, dim: int = DIM) -> list[Record]:
    return [
        Record(
            id=f"r{i}",
            text=f"document number {i} about topic{i % 7}",
            vector=vec(i, dim),
            metadata={"i": i, "even": i % 2 == 0, "tag": f"t{i % 3}"},
            doc_id=f"d{i // 10}",
        )
        for i in range(start, start + n)
    ]


def test_created_indexed_loaded_in_one_call(make_store, backend: Backend) -> None:
    store = make_store(dim=DIM)
    info = store.ensure_collection()
    assert info.dim == DIM and info.metric == "COSINE" and info.has_bm25
    assert set(info.field_names) == {"id", "text", "dense", "sparse", "doc_id", "metadata"}
    assert store.upsert(records(20)) == [f"r{i}" for i in range(20)]
    assert store.count() == 20
    hits = store.search(vector=vec(3), k=1, mode="dense")
    assert hits[0].id == "r3" and hits[0].relevance == pytest.approx(1.0, abs=1e-4)
    # idempotent: a second ensure and a second store on the same collection
    assert store.ensure_collection() == info
    other = make_store(collection_name=store.name)
    assert other.count() == 20


def test_crud_roundtrip(make_store) -> None:
    store = make_store(dim=DIM)
    rows = records(30)
    store.upsert(rows)
    got = store.get(["r5", "nope", "r1"], with_vectors=True)
    assert [r.id for r in got] == ["r5", "r1"]
    assert got[0].text == rows[5].text and got[0].metadata == rows[5].metadata
    assert got[0].doc_id == "d0" and np.allclose(got[0].vector, rows[5].vector, atol=1e-6)
    # upsert replaces, never duplicates
    store.upsert([Record(id="r5", text="changed", vector=vec(99), metadata={"new": True})])
    assert store.count() == 30
    assert store.get(["r5"])[0].metadata == {"new": True}
    assert store.count({"tag": "t0"}) == 10
    assert store.delete(ids=["r0", "r1", "missing"]) == 2
    assert store.count() == 28
    assert store.delete(filter={"doc_id": "d2"}) == 10
    assert store.count() == 18
    assert {r.id for r in store.query({"doc_id": "d1"})} == {f"r{i}" for i in range(10, 20)}
    with pytest.raises(ConfigError):
        store.delete()


def test_search_modes_and_scores(make_store) -> None:
    store = make_store(dim=DIM)
    store.upsert(records(50))
    for mode in RetrievalMode:
        hits = store.search(text="topic3 document", vector=vec(3), k=5, mode=mode, relevance=True)
        assert 1 <= len(hits) <= 5
        assert all(0.0 <= h.relevance <= 1.0 for h in hits), mode
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True), mode
    sparse = store.search(text="topic3", k=10, mode="sparse")
    assert {h.id for h in sparse} == {f"r{i}" for i in range(50) if i % 7 == 3}
    assert all(h.score > 0 for h in sparse)
    hybrid = store.search(text="topic3", vector=vec(10), k=3, mode="hybrid")
    # r10 is first on the dense leg and one of the BM25 matches: RRF keeps it near the top
    assert "r10" in [h.id for h in hybrid] and int(hybrid[0].id[1:]) % 7 == 3
    weighted = store.search(text="topic3", vector=vec(10), k=3, alpha=1.0)
    assert weighted[0].id == "r10"
    weighted0 = store.search(text="topic3", vector=vec(10), k=3, alpha=0.0)
    assert int(weighted0[0].id[1:]) % 7 == 3
    filtered = store.search(text="topic3", vector=vec(3), k=10, filter={"even": True})
    assert filtered and all(h.record.metadata["even"] is True for h in filtered)
    mmr = store.mmr_search(vec(3), k=4, fetch_k=20)
    assert len(mmr) == 4 and mmr[0].id == "r3"
    many = store.search_many(
        [SearchRequest(text=f"topic{i}", vector=vec(i), k=2) for i in range(10)]
    )
    assert len(many) == 10 and all(len(h) == 2 for h in many)


def test_invalid_filter_raises_before_any_request(make_store) -> None:
    store = make_store(dim=DIM)
    for bad in ({"$bogus": 1}, {"k": {"$gt": [1]}}, {"k": float("nan")}):
        with pytest.raises(FilterError):
            store.search(vector=vec(1), k=1, mode="dense", filter=bad)
    assert not store.exists()  # nothing was sent: the collection was never even created


@pytest.mark.parametrize(
    "bad,why",
    [
        (lambda: Record(id="x", text="t", vector=vec(1, DIM + 1)), "shape"),
        (lambda: Record(id="x", text="t", vector=[float("nan")] * DIM), "NaN"),
        (lambda: Record(id="x", text="t", vector=[float("inf")] + [0.0] * (DIM - 1)), "NaN"),
        (lambda: Record(id="x", text="   ", vector=vec(1)), "empty"),
        (lambda: Record(id="x", text="é" * 40000, vector=vec(1)), "max_length"),
        (lambda: Record(id="x", text="t", vector=vec(1), metadata={"o": object()}), "JSON"),
        (lambda: Record(id=7, text="t", vector=vec(1)), "str"),  # type: ignore[arg-type]
        (lambda: Record(id="", text="t", vector=vec(1)), "empty"),
        (lambda: Record(id="x", text="t", vector=vec(1), metadata={"n": float("nan")}), "JSON"),
    ],
)
def test_bad_input_writes_nothing(make_store, bad, why: str) -> None:
    store = make_store(dim=DIM)
    store.upsert(records(5))
    with pytest.raises(InvalidInputError, match=why):
        store.upsert([*records(3, start=100), bad()])
    assert store.count() == 5


@pytest.mark.parametrize("window", [3, 2048])
def test_rewrites_replace_in_every_batch_shape(
    make_store, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    # Lite files insert a batch whose ids are all new and upsert one that has a stored id
    # (looked up `window` ids ahead): batches of all-new, mixed and all-old ids, re-written at
    # once (even with a store whose own reads are eventually consistent), after deletes,
    # never leave duplicates.
    monkeypatch.setattr("milvus_rag.client.lite_ids.LOOKUP_WINDOW", window)
    store = make_store(dim=DIM, batch_size=7, consistency_level="Eventually")
    store.upsert(records(20))
    store.upsert(records(20, start=10))  # batches: old, old/new, new...
    assert store.count() == 30
    store.upsert(records(30))  # all old, straight after the write
    store.delete(ids=[f"r{i}" for i in range(0, 30, 3)])
    store.upsert(records(12))  # deleted ids come back once
    assert store.count() == 30 - 10 + 4
    changed = [Record(id="r1", text="changed", vector=vec(5), metadata={"new": True})]
    for _ in range(3):
        store.upsert(changed)
    store.upsert([*records(2, start=100), *changed])
    assert store.count() == 26
    assert store.get(["r1"])[0].metadata == {"new": True}
    assert len(store.query(limit=100)) == 26
    assert sorted(r.id for r in store.query(limit=100)) == sorted(
        {f"r{i}" for i in range(30) if i % 3 or i < 12} | {"r100", "r101"}
    )


async def test_writes_between_our_batches_are_seen(make_async_store) -> None:
    # Another store writes (and deletes) ids of this upsert while its batches are in the
    # pipeline (from inside the embedder): they must be replaced, not inserted twice.
    name = new_name()
    ours = make_async_store(collection_name=name, dim=DIM, batch_size=4)
    other = make_async_store(collection_name=name, dim=DIM)
    await ours.ensure_collection()
    recs = [Record(id=r.id, text=r.text, metadata=r.metadata) for r in records(16)]
    calls = 0

    async def embed(texts: list[str]) -> list[list[float]]:
        nonlocal calls
        calls += 1
        if calls == 2:  # batch 1 written, batch 2 being embedded
            await other.upsert(records(4, start=8))  # batch 3's ids
        if calls == 3:
            await other.delete(ids=["r12"])
            await other.upsert(records(2, start=13))  # part of batch 4
        return [vec(int(t.split()[2])) for t in texts]

    await ours.upsert(recs, embed=embed)
    assert await ours.count() == 16
    assert sorted(r.id for r in await ours.query(limit=100)) == sorted(r.id for r in recs)


def test_duplicate_ids_in_one_call(make_store) -> None:
    store = make_store(dim=DIM)
    rows = records(3)
    with pytest.raises(InvalidInputError, match="duplicate"):
        store.upsert([*rows, rows[0]])
    assert store.count() == 0


def test_schema_mismatch(make_store, backend: Backend) -> None:
    store = make_store(dim=DIM)
    store.ensure_collection()
    with pytest.raises(SchemaMismatchError) as e:
        MilvusStore(
            backend.uri, token=backend.token or None, collection_name=store.name, dim=DIM * 2
        ).ensure_collection()
    assert (e.value.field, e.value.expected, e.value.found) == ("dense.dim", DIM * 2, DIM)
    assert "dense.dim" in str(e.value) and str(DIM * 2) in str(e.value)
    with pytest.raises(SchemaMismatchError) as e:
        MilvusStore(
            backend.uri,
            token=backend.token or None,
            collection_name=store.name,
            dim=DIM,
            metric="L2",
        ).ensure_collection()
    assert (e.value.field, e.value.expected, e.value.found) == ("dense.metric", "L2", "COSINE")


def test_reopen_in_new_process_searches_without_manual_load(backend: Backend, tmp_db: str) -> None:
    uri = tmp_db if backend.is_local else backend.uri
    name = new_name()
    code = textwrap.dedent(f"""
        import json
        import numpy as np
        from milvus_rag import MilvusStore, Record
        MODE = "{{mode}}"
        store = MilvusStore({uri!r}, token={backend.token!r} or None, collection_name={name!r},
                            dim=None if MODE == "read" else {DIM})
        if MODE == "write":
            store.upsert([Record(id=f"r{{i}}", text=f"doc {{i}} zebra{{i}}",
                                 vector=np.eye({DIM})[i % {DIM}].tolist()) for i in range(12)])
        else:
            hits = store.search(text="zebra3", vector=np.eye({DIM})[3].tolist(), k=2)
            print(json.dumps({{"count": store.count(), "top": hits[0].id}}))
        store.close()
    """)
    w = run_python(code.replace("{mode}", "write"))
    assert w.returncode == 0, w.stderr[-3000:]
    r = run_python(code.replace("{mode}", "read"))
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {"count": 12, "top": "r3"}
    # and this process can open the same file afterwards: close() freed the file lock
    store = MilvusStore(uri, token=backend.token or None, collection_name=name)
    try:
        assert store.count() == 12
    finally:
        store.drop()
        store.close()


def test_two_asyncio_runs_on_one_async_store(backend: Backend) -> None:
    store = AsyncMilvusStore(
        backend.uri, token=backend.token or None, collection_name=new_name(), dim=DIM
    )

    async def first() -> int:
        await store.upsert(records(10))
        return await store.count()

    async def second() -> list[str]:
        await store.upsert(records(5, start=10))
        return [h.id for h in await store.search(vector=vec(12), k=1, mode="dense")]

    try:
        assert asyncio.run(first()) == 10
        assert asyncio.run(second()) == ["r12"]
    finally:
        asyncio.run(store.drop())
        asyncio.run(store.aclose())


def test_sync_store_from_eight_threads(make_store) -> None:
    store = make_store(dim=DIM)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for j in range(5):
                store.upsert(records(10, start=t * 1000 + j * 10))
                store.search(vector=vec(t), k=3, mode="dense")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.count() == 8 * 5 * 10


async def test_sync_call_inside_running_loop(make_store) -> None:
    store = make_store(dim=DIM)
    store.upsert(records(4))  # a sync call while this test's event loop is running
    assert store.count() == 4


def test_collection_dropped_behind_our_back_is_recreated(make_store) -> None:
    from milvus_rag.client.sync import run_sync

    store = make_store(dim=DIM)
    store.upsert(records(5))

    async def drop_directly() -> None:  # another client drops it: our schema cache is stale
        client = await store.aio._pool.get()
        await client.drop_collection(store.name)

    run_sync(drop_directly())
    assert store.upsert(records(3)) == ["r0", "r1", "r2"]
    assert store.count() == 3


def test_empty_collection_reads_return_nothing(make_store) -> None:
    store = make_store(dim=DIM)
    for mode in RetrievalMode:
        assert store.search(text="anything", vector=vec(1), k=3, mode=mode) == []
    assert store.search(text="anything", vector=vec(1), k=3, alpha=0.5) == []
    assert store.get(["a"], with_vectors=True) == []
    assert store.query(with_vectors=True) == []
    assert store.mmr_search(vec(1), k=2) == []


def test_dim_taken_from_existing_collection_survives_drop(make_store) -> None:
    first = make_store(dim=DIM)
    first.upsert(records(2))
    reopened = make_store(collection_name=first.name)  # no dim given
    assert reopened.count() == 2
    reopened.drop()
    assert reopened.upsert(records(1)) == ["r0"]  # recreated with the dim it learned


def test_new_collection_takes_dim_from_rows(make_store) -> None:
    store = make_store()  # no dim: the first upsert's vectors give it
    assert store.upsert(records(3)) == ["r0", "r1", "r2"]
    assert store.ensure_collection().dim == DIM
    with pytest.raises(ConfigError, match="dim"):
        store.set_dim(DIM + 1)


def test_sync_close_inside_a_running_loop_after_async_use(backend: Backend) -> None:
    """Jupyter: one store used async and sync from the same running loop, then closed sync."""

    async def main() -> int:
        store = MilvusStore(
            backend.uri, token=backend.token or None, collection_name=new_name(), dim=DIM
        )
        await store.aio.upsert(records(3))  # a client bound to this loop
        n = store.count()  # and one on the background loop
        store.drop()
        store.close()  # must not wait on this (blocked) loop
        return n

    assert asyncio.run(asyncio.wait_for(main(), 60)) == 3


def test_pymilvus_import_accepts_a_file_in_milvus_uri(tmp_db: str) -> None:
    code = "import milvus_rag, pymilvus; print('ok')"
    env_code = f"import os; os.environ['MILVUS_URI'] = {tmp_db!r}; " + code
    r = run_python(env_code)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]
