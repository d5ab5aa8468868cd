"""The shared filter case table, compiled by the core and run on every backend."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from milvus_rag import FilterError, MilvusStore, Record
from tests.backends import Backend
from tests.cases.filters import FILTER_CASES, FILTER_ROWS, INVALID_FILTERS, FilterCase, case_id
from tests.conftest import new_name

pytestmark = pytest.mark.integration

DIM = 4


@pytest.fixture(scope="module")
def filter_store(backend: Backend) -> Iterator[MilvusStore]:
    store = MilvusStore(
        backend.uri, token=backend.token or None, collection_name=new_name("filters"), dim=DIM
    )
    rng = np.random.default_rng(0)
    store.upsert(
        [
            Record(
                id=r["id"],
                text=f"row {r['id']}",
                vector=rng.normal(size=DIM),
                metadata=r["metadata"],
                doc_id=r["doc_id"],
            )
            for r in FILTER_ROWS
        ]
    )
    yield store
    store.drop()
    store.close()


def test_table_is_large_enough() -> None:
    assert len(FILTER_CASES) >= 40


@pytest.mark.parametrize("case", FILTER_CASES, ids=lambda c: c.name)
def test_filter_case(filter_store: MilvusStore, backend: Backend, case: FilterCase) -> None:
    got = {r.id for r in filter_store.query(case.filter, limit=100)}
    assert got == set(case.expected_ids)
    assert filter_store.count(case.filter) == len(case.expected_ids)
    hits = filter_store.search(
        vector=[1.0, 0.0, 0.0, 0.0], k=len(FILTER_ROWS), mode="dense", filter=case.filter
    )
    assert {h.id for h in hits} == set(case.expected_ids)


@pytest.mark.parametrize("bad", INVALID_FILTERS, ids=case_id)
def test_invalid_filter_raises(filter_store: MilvusStore, bad: object) -> None:
    with pytest.raises(FilterError):
        filter_store.count(bad)
