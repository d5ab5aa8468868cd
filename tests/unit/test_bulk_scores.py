"""Issue 27: a result list's scores and relevance are computed in one pass
(``fusion.dense_scores`` / ``dense_relevances`` / ``bm25_relevances``) instead of one call
per hit. The invariant: each is exactly the per-hit function's float, for every float a
backend can return (NaN, infinities, -0.0 and the bounds included)."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from milvus_rag.client.fusion import (
    bm25_relevance,
    bm25_relevances,
    dense_relevance,
    dense_relevances,
    dense_score,
    dense_scores,
)

EDGES = [0.0, -0.0, 1.0, -1.0, 2.0, 0.5, 1e-300, float("nan"), float("inf"), float("-inf")]
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(EDGES))
metrics = st.sampled_from(["COSINE", "IP", "L2"])


def _bits(xs: list[float]) -> list[bytes]:
    """Each float's bytes: equal only for the same float (NaN to NaN, -0.0 to -0.0 alone)."""
    return [struct.pack("<d", x) for x in xs]


@given(metrics, st.lists(floats, max_size=20))
def test_dense_scores_and_relevances_are_the_per_hit_floats(
    metric: str, distances: list[float]
) -> None:
    assert _bits(dense_scores(metric, distances)) == _bits(
        [dense_score(metric, d) for d in distances]
    )
    assert _bits(dense_relevances(metric, distances)) == _bits(
        [dense_relevance(metric, d) for d in distances]
    )


@given(st.lists(floats, max_size=20))
def test_bm25_relevances_are_the_per_hit_floats(scores: list[float]) -> None:
    assert _bits(bm25_relevances(scores)) == _bits([bm25_relevance(s) for s in scores])


def test_the_edges_map_as_the_per_hit_functions() -> None:
    for metric in ("COSINE", "IP", "L2"):
        assert _bits(dense_relevances(metric, EDGES)) == _bits(
            [dense_relevance(metric, d) for d in EDGES]
        )
    assert _bits(bm25_relevances(EDGES)) == _bits([bm25_relevance(s) for s in EDGES])
