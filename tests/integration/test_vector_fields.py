"""Collections of several vector fields on every backend: two dense fields and BM25, dense
and client-side sparse, sparse-only (BM25 only, client-side sparse only) and dense-only; each
created, written, read back equal (vectors included), filtered, deleted from, iterated past a
page, reopened by a store that names no vector field (it adopts them), and checked on reopen
(a config that contradicts a field is named)."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from milvus_rag import AsyncMilvusStore, Record
from milvus_rag.client.errors import ConfigError, InvalidInputError, SchemaMismatchError
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.transfer.jsonl import export_rows, fields_from_header, import_rows, read_lines
from milvus_rag.transfer.migrate import migrate, target_options
from tests.backends import Backend
from tests.fakes import HashEncoder

pytestmark = pytest.mark.integration

DIM = 8
SHAPES: dict[str, list[VectorField]] = {
    "two_dense_bm25": [
        VectorField.dense("title", dim=DIM),
        VectorField.sparse("sparse", bm25=True),
        VectorField.dense("body", dim=DIM, metric="IP"),
    ],
    "dense_client_sparse": [VectorField.dense("dense", dim=DIM), VectorField.sparse("splade")],
    "bm25_only": [VectorField.sparse("sparse", bm25=True)],
    "client_sparse_only": [VectorField.sparse("splade")],
    "dense_only": [VectorField.dense("dense", dim=DIM)],
}
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]
_ENC = HashEncoder(DIM)


def sparse_of(text: str) -> dict[int, float]:
    """A deterministic client-side sparse vector: word buckets with float32-exact weights."""
    out: dict[int, float] = {}
    for word in re.findall(r"\w+", text.lower()):
        i = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
        out[i % 30000] = out.get(i % 30000, 0.0) + 0.5
    return out


def records(fields: list[VectorField], n: int = 12) -> list[Record]:
    """``n`` records filling every vector field the caller fills (the first dense field is
    ``Record.vector``; the others go in ``Record.vectors``)."""
    dense = [f for f in fields if f.is_dense]
    out = []
    for i in range(n):
        text = f"{WORDS[i % len(WORDS)]} {WORDS[(i * 3) % len(WORDS)]} row {i}"
        vectors: dict[str, Any] = {}
        for j, f in enumerate(dense[1:], 1):
            vectors[f.name] = _ENC.embed(f"{text} field {j}")
        for f in fields:
            if f.is_client_sparse:
                vectors[f.name] = sparse_of(text)
        out.append(
            Record(
                id=f"r{i:03d}",
                text=text,
                vector=_ENC.embed(text) if dense else None,
                metadata={"i": i, "even": i % 2 == 0},
                doc_id=f"d{i % 3}",
                vectors=vectors,
            )
        )
    return out


def same_vectors(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, dict) or isinstance(b, dict):
        return {int(k): np.float32(v) for k, v in a.items()} == {
            int(k): np.float32(v) for k, v in b.items()
        }
    return bool(np.array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32)))


def assert_same(got: list[Record], want: list[Record]) -> None:
    assert [r.id for r in got] == [r.id for r in want]
    for g, w in zip(got, want, strict=True):
        assert (g.text, g.doc_id, g.metadata) == (w.text, w.doc_id, w.metadata)
        assert same_vectors(g.vector, w.vector), g.id
        assert set(g.vectors) == set(w.vectors), g.id
        for name in w.vectors:
            assert same_vectors(g.vectors[name], w.vectors[name]), (g.id, name)


@pytest.fixture(params=list(SHAPES))
def shape(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_written_rows_read_back_equal_and_reopen_adopts_the_fields(
    make_async_store: Callable[..., AsyncMilvusStore], shape: str
) -> None:
    fields = SHAPES[shape]
    store = make_async_store(vector_fields=fields)
    want = records(fields)
    assert await store.upsert(want) == [r.id for r in want]
    info = await store.ensure_collection()
    assert [f.name for f in info.vector_fields or ()] == [f.name for f in fields]
    got = await store.get([r.id for r in want], with_vectors=True)
    assert_same(got, want)
    plain = await store.get([want[0].id])
    assert plain[0].vector is None and plain[0].vectors == {}

    again = make_async_store(collection_name=store.name)  # names no vector field: adopts
    assert [f.name for f in again.config.vector_fields] != [] and await again.count() == len(want)
    assert [(f.name, f.kind, f.is_bm25) for f in again.config.vector_fields] == [
        (f.name, f.kind, f.is_bm25) for f in store.config.vector_fields
    ]
    assert_same(await again.get([r.id for r in want], with_vectors=True), want)
    described = (await again.describe())["vector_fields"]
    assert [d["name"] for d in described] == [f.name for f in fields]


async def test_filtered_reads_deletes_and_iteration_past_a_page(
    make_async_store: Callable[..., AsyncMilvusStore], shape: str
) -> None:
    fields = SHAPES[shape]
    store = make_async_store(vector_fields=fields)
    want = records(fields, n=25)
    await store.upsert(want)
    evens = [r for r in want if r.metadata["even"]]
    got = await store.query({"even": True}, with_vectors=True)
    assert_same(sorted(got, key=lambda r: r.id), evens)
    pages = [p async for p in store.iterate_pages(batch_size=7, with_vectors=True)]
    assert len(pages) >= 4
    assert_same([r for p in pages for r in p], want)
    assert await store.delete(filter={"even": False}) == len(want) - len(evens)
    assert_same(await store.get([r.id for r in want], with_vectors=True), evens)


async def test_an_extra_dense_field_without_dim_takes_it_from_its_first_vectors(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    fields = [VectorField.dense("dense", dim=DIM), VectorField.dense("image")]
    store = make_async_store(vector_fields=fields)
    rec = Record(id="a", text="t", vector=_ENC.embed("t"), vectors={"image": [1.0, 2.0, 3.0]})
    await store.upsert([rec])
    assert store.config.vector_field_named("image").dim == 3
    with pytest.raises(InvalidInputError, match=r"vectors\['image'\] has shape \(2,\)"):
        await store.upsert([Record(id="b", text="t", vector=rec.vector, vectors={"image": [1, 2]})])


@pytest.mark.parametrize(
    "declared,field",
    [
        ([VectorField.dense("title", dim=DIM), VectorField.sparse("sparse", bm25=True),
          VectorField.dense("body", dim=DIM + 1, metric="IP")], "body.dim"),
        ([VectorField.dense("title", dim=DIM), VectorField.sparse("sparse", bm25=True),
          VectorField.dense("body", dim=DIM, metric="L2")], "body.metric"),
        ([VectorField.dense("title", dim=DIM), VectorField.sparse("sparse", bm25=True),
          VectorField.dense("body", dim=DIM, metric="IP", index_type="FLAT")],
         "body.index_type"),
        ([VectorField.dense("title", dim=DIM), VectorField.sparse("sparse", bm25=True),
          VectorField.dense("other", dim=DIM, metric="IP")], "vector_fields"),
        ([VectorField.dense("title", dim=DIM), VectorField.sparse("sparse", bm25=True),
          VectorField.dense("body", dim=DIM, metric="IP"), VectorField.sparse("splade")],
         "vector_fields"),
        ([VectorField.dense("title", dim=DIM), VectorField.sparse("sparse", bm25=True),
          VectorField.sparse("body")], "body.kind"),
    ],
    ids=["dim", "metric", "index_type", "missing", "extra", "kind"],
)  # fmt: skip
async def test_a_config_that_contradicts_a_vector_field_names_it(
    make_async_store: Callable[..., AsyncMilvusStore], declared: list[VectorField], field: str
) -> None:
    """A config that names extra vector fields must name the collection's (one that names
    none adopts them, see the first test)."""
    store = make_async_store(vector_fields=SHAPES["two_dense_bm25"])
    await store.upsert(records(SHAPES["two_dense_bm25"], n=2))
    other = make_async_store(collection_name=store.name, vector_fields=declared)
    with pytest.raises(SchemaMismatchError) as e:
        await other.count()
    assert e.value.field == field


async def test_records_missing_or_naming_unknown_vectors_are_refused_before_any_write(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    fields = SHAPES["two_dense_bm25"]
    store = make_async_store(vector_fields=fields)
    good = records(fields, n=3)
    missing = Record(id="x", text="t", vector=good[0].vector)
    with pytest.raises(InvalidInputError, match=r"record 3 \('x'\): vectors\['body'\] is missing"):
        await store.upsert([*good, missing])
    unknown = Record(id="x", text="t", vector=good[0].vector, vectors={**good[0].vectors, "b": [1]})
    with pytest.raises(InvalidInputError, match=r"vectors \['b'\] name no vector field"):
        await store.upsert([unknown])
    assert not await store.exists() or await store.count() == 0

    sparse = make_async_store(vector_fields=SHAPES["client_sparse_only"])
    with pytest.raises(InvalidInputError, match="no non-zero weight"):
        await sparse.upsert([Record(id="a", text="t", vectors={"splade": {}})])
    with pytest.raises(InvalidInputError, match="indexes must be non-negative ints"):
        await sparse.upsert([Record(id="a", text="t", vectors={"splade": {-1: 1.0}})])
    with pytest.raises(InvalidInputError, match="no dense field"):
        await sparse.upsert([Record(id="a", text="t", vector=[1.0], vectors={"splade": {1: 1.0}})])


async def test_export_and_import_carry_every_vector_field(
    make_async_store: Callable[..., AsyncMilvusStore], shape: str
) -> None:
    fields = SHAPES[shape]
    source = make_async_store(vector_fields=fields)
    want = records(fields, n=9)
    await source.upsert(want)
    out = io.StringIO()
    assert await export_rows(source, out, with_vectors=True, batch_size=4, progress=False) == 9
    header, rows = read_lines(out.getvalue().splitlines())
    listed = fields_from_header(header)
    if shape == "dense_only":
        assert listed is None  # the plain dim= creates it, as before
        target = make_async_store(dim=DIM)
    else:
        assert [f.name for f in listed or ()] == [f.name for f in fields]
        target = make_async_store(vector_fields=listed)
    stats = await import_rows(target, rows, batch_size=4, progress=False)
    assert (stats.written, stats.skipped) == (9, 0)
    assert_same(await target.get([r.id for r in want], with_vectors=True), want)


async def test_migrate_copies_every_vector_field(
    make_async_store: Callable[..., AsyncMilvusStore], shape: str
) -> None:
    fields = SHAPES[shape]
    source = make_async_store(vector_fields=fields)
    want = records(fields, n=9)
    await source.upsert(want)
    info = await source.ensure_collection()
    primary = source.config.vector_field if source.config.enable_dense else None
    target = make_async_store(**target_options(info, primary))
    stats = await migrate(source, target, batch_size=4, progress=False)
    assert stats.counts_match and stats.written == 9
    assert_same(await target.get([r.id for r in want], with_vectors=True), want)
    copied = {f.name: f for f in target.config.vector_fields}
    for f in fields:
        if not f.is_bm25 and f.name != primary:
            assert copied[f.name].kind == f.kind and copied[f.name].dim == f.dim
    assert (await migrate(source, target, progress=False)).written == 0  # nothing new


async def test_tenants_and_typed_fields_with_several_vector_fields(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    fields = SHAPES["two_dense_bm25"]
    store = make_async_store(
        vector_fields=fields, tenant_field="tenant", metadata_fields={"i": "int64"}
    )
    want = records(fields, n=6)
    await store.upsert(want[:3], tenant="t1")
    await store.upsert(want[3:], tenant="t2")
    got = await store.for_tenant("t2").query({"i": {"$gte": 4}}, with_vectors=True)
    expect = [
        Record(r.id, r.text, r.vector, {**r.metadata, "tenant": "t2"}, r.doc_id, r.vectors)
        for r in want[4:]
    ]
    assert_same(sorted(got, key=lambda r: r.id), expect)
    again = make_async_store(collection_name=store.name)  # adopts tenant, typed and vector fields
    assert again.config.tenant_field is None  # not known before the schema is read
    assert await again.count(tenant="t1") == 3
    assert (again.config.tenant_field, dict(again.config.metadata_fields)) == (
        "tenant",
        {"i": "int64"},
    )
    assert names_of(again) == names_of(store)


def names_of(store: AsyncMilvusStore) -> list[str]:
    return [f.name for f in store.config.vector_fields]


async def test_sparse_wand_where_the_backend_builds_it(
    make_async_store: Callable[..., AsyncMilvusStore], backend: Backend
) -> None:
    """Measured: a Lite 2.5 file builds SPARSE_WAND on a client-side sparse field; the Lite 3
    server refuses it, so the store refuses it there before creating anything."""
    fields = [
        VectorField.dense("dense", dim=DIM),
        VectorField.sparse("s", index_type="SPARSE_WAND"),
    ]
    store = make_async_store(vector_fields=fields)
    want = [Record(id="a", text="t", vector=_ENC.embed("t"), vectors={"s": {7: 0.5}})]
    if backend.engine == "lite25" or backend.name == "milvus":
        await store.upsert(want)
        assert_same(await store.get(["a"], with_vectors=True), want)
        return
    with pytest.raises(ConfigError, match="'SPARSE_WAND' cannot be built on Milvus Lite 3"):
        await store.upsert(want)
    assert not await store.exists()
