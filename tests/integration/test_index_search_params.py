"""search_params reach the index: recall@10 against the exact top 10 changes with ``ef`` on
an HNSW index (the Milvus Lite 3 server, any Milvus) and with ``nprobe`` on an IVF_FLAT
index (servers; a Lite 2.5 file searches 20,000 rows exactly at any nprobe), through
``search(search_params=...)`` and the store-wide default.

Measured on the Lite 3 server, 20,000 random rows of dim 32, M=4: recall@10 0.53 at
``ef=10``, 1.0 at ``ef=256``; it builds a sealed segment's index in the background after a
flush (compaction, then the index: ~10 s idle, minutes on a loaded machine), searching
exactly until then, so the test waits (at most 240 s) for the index to be used."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from milvus_rag import MilvusStore, Record
from tests.backends import Backend

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N, DIM, K, QUERIES = 20_000, 32, 10, 30


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, list[set[str]]]:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((N, DIM)).astype(np.float32)
    q = rng.standard_normal((QUERIES, DIM)).astype(np.float32)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    top = np.argsort(-(qn @ xn.T), axis=1)[:, :K]
    return x, q, [{f"r{i}" for i in row} for row in top]


def recall(store: MilvusStore, q: np.ndarray, truth: list[set[str]], **kw: Any) -> float:
    hits = [store.search(vector=v, k=K, mode="dense", **kw) for v in q]
    return float(np.mean([len({h.id for h in hs} & t) / K for hs, t in zip(hits, truth)]))


def fill(store: MilvusStore, x: np.ndarray) -> None:
    store.upsert([Record(id=f"r{i}", text="r", vector=v) for i, v in enumerate(x)])
    store.flush()


GAP = 0.1  # the recall the high setting must add over the low one


def wait_for_effect(
    measure: Callable[[], tuple[float, float]], wait: float = 240.0
) -> tuple[float, float]:
    """(low, high) recall once the low setting scores ``GAP`` below the high one, or the
    last pair at the deadline.

    Waiting for the whole gap, not just ``low < high``: while some segments are indexed
    and others (a fresh compaction's output) are still searched exactly, the low setting
    scores in between (measured in CI: 0.94 against 1.0)."""
    deadline = time.monotonic() + wait
    while True:
        low, high = measure()
        if low < high - GAP or time.monotonic() > deadline:
            return low, high
        time.sleep(1.0)


def test_ef_changes_recall_on_hnsw(
    backend: Backend,
    make_store: Callable[..., MilvusStore],
    data: tuple[np.ndarray, np.ndarray, list[set[str]]],
) -> None:
    if backend.engine == "lite25":
        pytest.skip("a Milvus Lite 2.5 file builds no HNSW (test_index_types: the refusal)")
    x, q, truth = data
    store = make_store(
        dim=DIM,
        enable_bm25=False,
        index_type="HNSW",
        index_params={"M": 4, "efConstruction": 16},
    )
    fill(store, x)
    low, high = wait_for_effect(
        lambda: (
            recall(store, q, truth, search_params={"ef": K}),
            recall(store, q, truth, search_params={"ef": 256}),
        )
    )
    assert low < high - GAP, (low, high)
    assert high >= 0.95
    # the store-wide default reaches the server too, and a call's own value wins
    tuned = MilvusStore(
        backend.uri,
        token=backend.token or None,
        collection_name=store.name,
        dim=DIM,
        enable_bm25=False,
        search_params={"ef": K},
    )
    try:
        # waited for again: a background compaction may rebuild the graph meanwhile
        low, high = wait_for_effect(
            lambda: (recall(tuned, q, truth), recall(tuned, q, truth, search_params={"ef": 256}))
        )
        assert low < high - GAP, (low, high)
        assert high >= 0.95
    finally:
        tuned.close()


def test_nprobe_changes_recall_on_ivf_flat(
    backend: Backend,
    make_store: Callable[..., MilvusStore],
    data: tuple[np.ndarray, np.ndarray, list[set[str]]],
) -> None:
    if backend.engine == "lite25":
        pytest.skip(
            "measured: a Milvus Lite 2.5 file searches these 20,000 rows exactly (recall "
            "1.0 at nprobe=1 and 64); the wire request is checked by test_search_options"
        )
    x, q, truth = data
    store = make_store(
        dim=DIM, enable_bm25=False, index_type="IVF_FLAT", index_params={"nlist": 64}
    )
    fill(store, x)
    low, high = wait_for_effect(
        lambda: (
            recall(store, q, truth, search_params={"nprobe": 1}),
            recall(store, q, truth, search_params={"nprobe": 64}),
        )
    )
    assert low < high - GAP, (low, high)
    assert high >= 0.95
