"""Each index type a backend builds is created, reopened and searched; a type it cannot
build raises ConfigError before anything is created; reopening with another type raises
SchemaMismatchError naming expected and found."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from milvus_rag import MilvusStore, Record
from milvus_rag.client.errors import ConfigError, SchemaMismatchError
from milvus_rag.client.index import BUILDS, INDEX_TYPES, Backend
from tests.backends import Backend as BackendUnderTest

pytestmark = pytest.mark.integration

DIM = 16
PARAMS: dict[str, dict[str, Any]] = {
    "AUTOINDEX": {},
    "FLAT": {},
    "HNSW": {"M": 8, "efConstruction": 64},
    "IVF_FLAT": {"nlist": 8},
    "IVF_SQ8": {"nlist": 8},
    "IVF_PQ": {"nlist": 8, "m": 4, "nbits": 8},
    "DISKANN": {"max_degree": 32, "search_list_size": 64},
}


def kind(backend: BackendUnderTest) -> Backend:
    return {"lite25": Backend.LITE25, "lite3": Backend.LITE3, "server": Backend.LITE3}.get(
        backend.engine, Backend.MILVUS
    )


def rows(n: int = 300) -> list[Record]:
    vecs = np.random.default_rng(7).standard_normal((n, DIM)).astype(np.float32)
    return [Record(id=f"r{i}", text=f"row {i}", vector=vecs[i]) for i in range(n)]


@pytest.mark.parametrize("index_type", INDEX_TYPES)
def test_index_type_created_reopened_searched_or_refused(
    backend: BackendUnderTest, make_store: Callable[..., MilvusStore], index_type: str
) -> None:
    opts = {"dim": DIM, "index_type": index_type, "index_params": PARAMS[index_type]}
    if index_type not in BUILDS[kind(backend)]:
        with pytest.raises(
            ConfigError, match=re.escape(f"cannot be built on {kind(backend).value}")
        ):
            store = make_store(**opts)
            store.ensure_collection()
        if not backend.is_local:  # a server was asked its version, nothing was created
            probe = make_store(collection_name=store.name)
            assert not probe.exists()
        return
    store = make_store(**opts)
    data = rows()
    store.upsert(data)
    store.flush()
    hits = store.search(vector=data[5].vector, k=3, mode="dense")
    assert hits and hits[0].id == "r5"
    reopened = MilvusStore(
        backend.uri, token=backend.token or None, collection_name=store.name, **opts
    )
    try:
        info = reopened.ensure_collection()
        assert info.index is not None and info.index.index_type == index_type
        assert reopened.search(vector=data[9].vector, k=1, mode="dense")[0].id == "r9"
        assert reopened.count() == len(data)
    finally:
        reopened.close()
    other = "FLAT" if index_type != "FLAT" else "IVF_FLAT"
    wrong = MilvusStore(
        backend.uri,
        token=backend.token or None,
        collection_name=store.name,
        dim=DIM,
        index_type=other,
    )
    try:
        with pytest.raises(SchemaMismatchError) as e:
            wrong.ensure_collection()
        assert (e.value.field, e.value.expected, e.value.found) == (
            "dense.index_type",
            other,
            index_type,
        )
    finally:
        wrong.close()
    # a store that names no index type accepts whatever index exists
    plain = MilvusStore(backend.uri, token=backend.token or None, collection_name=store.name)
    try:
        assert plain.count() == len(data)
    finally:
        plain.close()


def test_lite_reports_build_params_and_a_different_value_is_a_mismatch(
    backend: BackendUnderTest, make_store: Callable[..., MilvusStore]
) -> None:
    store = make_store(dim=DIM, index_type="IVF_FLAT", index_params={"nlist": 8})
    store.upsert(rows(50))
    info = store.ensure_collection()
    assert info.index is not None
    if not info.index.params:  # the Milvus Lite 3 server reports no build parameters
        assert backend.engine in ("server", "lite3")
        return
    assert info.index.params == {"nlist": "8"}
    other = MilvusStore(
        backend.uri,
        token=backend.token or None,
        collection_name=store.name,
        dim=DIM,
        index_type="IVF_FLAT",
        index_params={"nlist": 16},
    )
    try:
        with pytest.raises(SchemaMismatchError, match=r"index_params\.nlist: expected 16, found 8"):
            other.ensure_collection()
    finally:
        other.close()
