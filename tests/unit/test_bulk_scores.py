"""Issue 27: a result list's scores and relevance are computed in one pass
(``fusion.dense_scores`` / ``dense_relevances`` / ``bm25_relevances``) instead of one call
per hit, and its hits built without an ``__init__`` call each (``records.make_hits``). The
invariants: each score is exactly the per-hit function's float, for every float a backend
can return (NaN, infinities, -0.0 and the bounds included); each hit is the constructor's."""

from __future__ import annotations

import struct
from typing import Any

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
from milvus_rag.client.records import Hit, Record, make_hits

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


finite = st.floats(allow_nan=False)


@given(
    st.lists(
        st.tuples(st.text(max_size=3), finite, finite, st.one_of(st.none(), finite)), max_size=12
    )
)
def test_hits_built_in_bulk_are_the_constructors(rows: list[tuple[str, float, float, Any]]) -> None:
    records = [Record(id=i, text="t", metadata={"n": n}) for n, (i, *_) in enumerate(rows)]
    scores, dists, rels = [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]
    built = make_hits(records, scores, dists, rels)
    want = [Hit(r.id, s, d, r, x) for r, s, d, x in zip(records, scores, dists, rels, strict=True)]
    assert built == want
    for h, w in zip(built, want, strict=True):
        assert type(h) is Hit and h.record is w.record
        assert h.has_relevance == w.has_relevance and h.computed_relevance == w.computed_relevance
        assert h.to_dict() == w.to_dict()
