"""Typed metadata fields on every backend: the round trip, wrong-typed writes, the reopen
check, and generated filters over typed and JSON keys against the pure oracle."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from milvus_rag import InvalidInputError, MilvusStore, Record, SchemaMismatchError
from milvus_rag.client.filters import evaluate
from tests.backends import Backend
from tests.conftest import new_name

pytestmark = pytest.mark.integration

DIM = 4
SPEC = {
    "year": "int64",
    "source": "varchar",
    "score": "double",
    "draft": "bool",
    "tags": "array<varchar>",
}
MAX_EXAMPLES = 80


def _rows(n: int = 40) -> list[dict[str, Any]]:
    rnd = random.Random(7)
    out = []
    for i in range(n):
        meta: dict[str, Any] = {}
        if rnd.random() < 0.8:
            meta["year"] = rnd.choice([0, 1, 2019, 2020, 2021, -5])
        if rnd.random() < 0.8:
            meta["source"] = rnd.choice(["", "a", "b.pdf", 'q"uote', "日本"])
        if rnd.random() < 0.8:
            meta["score"] = rnd.choice([0.0, 0.5, 1.0, 2.5, -1.0])
        if rnd.random() < 0.7:
            meta["draft"] = rnd.choice([True, False])
        if rnd.random() < 0.7:
            meta["tags"] = rnd.sample(["x", "y", "z", ""], rnd.randint(0, 3))
        if rnd.random() < 0.6:
            meta["lang"] = rnd.choice(["en", "de", 3])
        out.append({"id": f"r{i:02d}", "doc_id": f"d{i % 5}", "metadata": meta})
    return out


ROWS = _rows()


def _records(rows: list[dict[str, Any]]) -> list[Record]:
    rng = np.random.default_rng(0)
    return [
        Record(r["id"], f"row {r['id']}", rng.normal(size=DIM), r["metadata"], r["doc_id"])
        for r in rows
    ]


@pytest.fixture(scope="module")
def typed_store(backend: Backend) -> Iterator[MilvusStore]:
    store = MilvusStore(
        backend.uri,
        token=backend.token or None,
        collection_name=new_name("typed"),
        dim=DIM,
        metadata_fields=SPEC,
    )
    store.upsert(_records(ROWS))
    yield store
    store.drop()
    store.close()


def _as_read(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: float(v) if SPEC.get(k) == "double" else v for k, v in meta.items()}


def test_typed_metadata_round_trips(typed_store: MilvusStore) -> None:
    got = {r.id: r.metadata for r in typed_store.get([r["id"] for r in ROWS])}
    assert got == {r["id"]: _as_read(r["metadata"]) for r in ROWS}
    assert all(isinstance(m.get("score", 0.0), float) for m in got.values())


def test_wrong_typed_value_raises_and_writes_nothing(typed_store: MilvusStore) -> None:
    before = typed_store.count()
    bad = [
        Record("new1", "fine", [1.0, 0, 0, 0], {"year": 2020}),
        Record("new2", "bad", [1.0, 0, 0, 0], {"year": "2020"}),
    ]
    with pytest.raises(InvalidInputError, match=r"record 1.*'year'.*int64"):
        typed_store.upsert(bad)
    for meta in ({"tags": "x"}, {"tags": [1]}, {"draft": 1}, {"score": float("nan")}):
        with pytest.raises(InvalidInputError):
            typed_store.upsert([Record("new3", "bad", [1.0, 0, 0, 0], meta)])
    assert typed_store.count() == before
    assert typed_store.get(["new1", "new2", "new3"]) == []


def test_reopen_with_other_metadata_fields_names_the_field(
    typed_store: MilvusStore, backend: Backend
) -> None:
    for spec, field in (
        ({**SPEC, "year": "double"}, "metadata_fields['year']"),
        ({k: v for k, v in SPEC.items() if k != "draft"}, "metadata_fields['draft']"),
        ({**SPEC, "extra": "int64"}, "metadata_fields['extra']"),
    ):
        other = MilvusStore(
            backend.uri,
            token=backend.token or None,
            collection_name=typed_store.name,
            metadata_fields=spec,
        )
        try:
            with pytest.raises(SchemaMismatchError) as err:
                other.count()
            assert err.value.field == field
        finally:
            other.close()


# --- generated filters vs the oracle -------------------------------------------------------

KEYS = [*SPEC, "lang", "year.sub"]
values = st.sampled_from(
    [0, 1, 2019, 2020, 2020.5, 2021.0, -5, 0.5, 1.0, 2.5, "", "a", "x", "en", 'q"uote', True, False]
)
leaf = st.one_of(
    st.builds(lambda k, v: {k: v}, st.sampled_from(KEYS), values),
    st.builds(
        lambda k, op, v: {k: {op: v}},
        st.sampled_from(KEYS),
        st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]),
        values.filter(lambda v: not isinstance(v, bool)),
    ),
    st.builds(
        lambda k, op, vs: {k: {op: vs}},
        st.sampled_from(KEYS),
        st.sampled_from(["$in", "$nin", "$any"]),
        st.lists(values, max_size=3),
    ),
    st.builds(
        lambda k, op, vs: {k: {op: vs}},
        st.sampled_from(["tags", "lang"]),
        st.sampled_from(["$all"]),
        st.lists(values, min_size=1, max_size=2),
    ),
    st.builds(lambda k, v: {k: {"$contains": v}}, st.sampled_from(["tags", "source"]), values),
    st.builds(lambda k, b: {k: {"$exists": b}}, st.sampled_from(KEYS), st.booleans()),
    st.builds(
        lambda k, op, v: {k: {op: v}},
        st.sampled_from(KEYS),
        st.sampled_from(["$contains_text", "$icontains_text"]),
        st.sampled_from(["", "a", "B.P", "uo", '"', "%", "_", "日", "e"]),
    ),
)
trees = st.recursive(
    leaf,
    lambda sub: st.one_of(
        st.builds(lambda xs: {"$and": xs}, st.lists(sub, min_size=2, max_size=3)),
        st.builds(lambda xs: {"$or": xs}, st.lists(sub, min_size=2, max_size=3)),
        st.builds(lambda x: {"$not": x}, sub),
    ),
    max_leaves=5,
)


@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(tree=trees)
def _property(store: MilvusStore, tree: Any) -> None:
    expected = {r["id"] for r in ROWS if evaluate(tree, {**r, "metadata": _as_read(r["metadata"])})}
    got = [r.id for r in store.query(tree, limit=100)]
    assert sorted(got) == sorted(expected), (store.scope(tree), sorted(set(got) ^ expected))
    assert store.count(tree) == len(expected)


def test_generated_filters_over_typed_keys_match_the_oracle(typed_store: MilvusStore) -> None:
    _property(typed_store)
