"""Per-call search options on real backends: search_params (per store and per call, merged),
dense range search in every metric, consistency level and timeout, through every core
search path (search, search_many, fan-out, MMR).

Measured: neither backend acts on a bad ``ef`` / ``nprobe`` / ``level`` value (Milvus Lite
2.5 and the Milvus Lite 3 server return the same hits for ``{"ef": -5}`` on an HNSW or
IVF index at 3,000 rows), so the tests check what pymilvus puts on the wire (the protobuf
request, via :mod:`tests.spies`) and what the backends do with ranges and timeouts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from milvus_rag import (
    AsyncMilvusStore,
    BackendError,
    ConfigError,
    MilvusStore,
    Record,
    SearchRequest,
)
from tests.spies import RequestSpy

pytestmark = pytest.mark.integration

DIM = 8
N = 60


def _vectors(seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(N, DIM)).astype(np.float32)


def _records(vectors: np.ndarray) -> list[Record]:
    return [
        Record(id=f"r{i}", text=f"alpha word{i % 7} beta", vector=v, metadata={"i": i})
        for i, v in enumerate(vectors)
    ]


def _expected_scores(metric: str, vectors: np.ndarray, q: np.ndarray) -> np.ndarray:
    """What Milvus returns as ``distance``: cosine, inner product, or *squared* L2."""
    if metric == "COSINE":
        return (vectors @ q) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(q))
    if metric == "IP":
        return vectors @ q
    return ((vectors - q) ** 2).sum(axis=1)


def _midpoints(values: np.ndarray, lo: int, hi: int) -> tuple[float, float]:
    """Bounds halfway between neighbouring values (no row sits near a bound)."""
    s = np.sort(values)
    return float((s[lo] + s[lo + 1]) / 2), float((s[hi] + s[hi + 1]) / 2)


@pytest.mark.parametrize("metric", ["COSINE", "IP", "L2"])
def test_range_search_returns_only_hits_inside_the_range(
    make_store: Callable[..., MilvusStore], metric: str
) -> None:
    vectors = _vectors()
    store = make_store(dim=DIM, metric=metric)
    store.upsert(_records(vectors))
    q = np.random.default_rng(1).normal(size=DIM).astype(np.float32)
    scores = _expected_scores(metric, vectors, q)
    low, high = _midpoints(scores, 14, 44)  # 30 rows between the bounds
    # similarity: radius < score <= range_filter; distance: range_filter <= d < radius
    radius, range_filter = (high, low) if metric == "L2" else (low, high)
    inside = {f"r{i}" for i, s in enumerate(scores) if low < s < high}
    assert len(inside) == 30
    hits = store.search(vector=q, k=N, mode="dense", radius=radius, range_filter=range_filter)
    assert {h.id for h in hits} == inside
    assert all(low < h.distance < high for h in hits)
    only_radius = store.search(vector=q, k=N, mode="dense", radius=radius)
    beyond = {f"r{i}" for i, s in enumerate(scores) if (s < high if metric == "L2" else s > low)}
    assert {h.id for h in only_radius} == beyond
    mmr = store.mmr_search(q, k=5, fetch_k=N, radius=radius, range_filter=range_filter)
    assert len(mmr) == 5 and {h.id for h in mmr} <= inside
    wrong = {"radius": range_filter, "range_filter": radius}  # the other metric's direction
    with pytest.raises(ConfigError, match="radius must be"):
        store.search(vector=q, k=N, mode="dense", **wrong)


def test_options_reach_the_request_on_every_path(
    make_store: Callable[..., MilvusStore], request_spy: RequestSpy
) -> None:
    vectors = _vectors()
    store = make_store(dim=DIM, search_params={"ef": 32, "nprobe": 4}, timeout=30.0)
    store.upsert(_records(vectors))
    q = vectors[3]
    opts: dict[str, Any] = {
        "search_params": {"ef": 64},
        "consistency_level": "eventually",
        "timeout": 7.5,
    }
    merged = {"ef": 64, "nprobe": 4}
    request_spy.clear()
    assert store.search("alpha", q, k=3, mode="dense", **opts)[0].id == "r3"
    assert store.search("alpha", q, k=3, mode="hybrid", **opts)  # server-side RRF
    assert store.search("alpha", q, k=3, alpha=0.5, **opts)  # weighted: two searches
    assert store.search("alpha", k=3, mode="sparse", consistency_level="Session")
    dense = request_spy.dense()
    assert len(dense) == 3 and all(s.params == merged for s in dense)
    assert [s.consistency_level for s in request_spy.searches] == ["Eventually"] * 5 + ["Session"]
    assert request_spy.hybrid_levels == ["Eventually"]
    assert request_spy.timeouts == [7.5, 7.5, 7.5, 7.5, 30.0]  # the store's by default

    request_spy.clear()
    req = SearchRequest(text="alpha", vector=q, k=3, **opts)
    store.search_many([req, req])
    store.fanout_search([req, SearchRequest(text="beta", vector=vectors[4], k=3)], k=3)
    store.mmr_search(q, k=2, fetch_k=10, search_params={"level": 2}, consistency_level="Bounded")
    assert request_spy.hybrid_levels == ["Eventually"] * 3 + ["Default"]
    assert [s.params for s in request_spy.dense()] == [merged] * 3 + [
        {"ef": 32, "nprobe": 4},
        {"ef": 32, "nprobe": 4, "level": 2},
    ]
    assert request_spy.searches[-1].consistency_level == "Bounded"
    plain = make_store(dim=DIM)
    plain.upsert(_records(vectors[:5]))
    request_spy.clear()
    plain.search(vector=q, k=2, mode="dense")
    assert request_spy.dense()[0].params == {}  # nothing sent that nobody asked for


async def test_timeout_is_applied(make_async_store: Callable[..., AsyncMilvusStore]) -> None:
    store = make_async_store(dim=DIM)
    await store.upsert(_records(_vectors()))
    q = _vectors()[0]
    assert await store.search(vector=q, k=2, mode="dense", timeout=30)
    with pytest.raises(BackendError, match=r"(?i)timeout"):
        await store.search(vector=q, k=2, mode="dense", timeout=1e-6)


async def test_bad_options_fail_before_any_request(
    make_async_store: Callable[..., AsyncMilvusStore], request_spy: RequestSpy
) -> None:
    store = make_async_store(dim=DIM)
    q = _vectors()[0]
    for bad in (
        {"consistency_level": "Strongest"},
        {"timeout": -1},
        {"search_params": {"metric_type": "IP"}},
        {"radius": 0.9, "range_filter": 0.1},  # COSINE: radius < range_filter
        {"range_filter": 0.5},
    ):
        with pytest.raises(ConfigError):
            await store.search(vector=q, k=2, mode="dense", **bad)
    with pytest.raises(ConfigError, match="alone"):
        await store.search(SearchRequest(vector=q, mode="dense"), k=9)
    assert request_spy.searches == [] and not await store.exists()
