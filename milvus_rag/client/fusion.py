"""Rank fusion, score normalisation, relevance and MMR: pure functions over numpy.

Example:
    >>> rrf_fuse([["a", "b"], ["b", "c"]], k=20)[0][0]
    'b'
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)


def rrf_fuse(rankings: Sequence[Sequence[K]], *, k: int) -> list[tuple[K, float]]:
    """Reciprocal rank fusion: ``sum 1 / (k + rank)`` with ranks from 1; best first. ``k`` is
    the caller's (the collection's ``rrf_k``, 20 by default).

    Ties keep the order of first appearance, so the result is deterministic.
    """
    scores: dict[K, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])


def rrf_max(n_lists: int, k: int) -> float:
    """The highest RRF score possible: first in every one of ``n_lists`` rankings."""
    return n_lists / (k + 1)


def normalize_scores(scores: Sequence[float]) -> np.ndarray:
    """Min-max normalise one result list's scores (higher is better) to [0, 1]:
    ``(s - min) / (max - min)``; a single or constant list maps to 1."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.size == 0:
        return arr
    lo, hi = float(arr.min()), float(arr.max())
    if hi - lo <= 1e-12:
        return np.ones_like(arr)
    return (arr - lo) / (hi - lo)


def weighted_fuse(
    dense: Sequence[tuple[K, float]],
    sparse: Sequence[tuple[K, float]],
    alpha: float,
) -> list[tuple[K, float]]:
    """Convex combination ``alpha * dense + (1 - alpha) * sparse`` of normalised scores.

    Each leg is normalised within its own list first (BM25 scores are unbounded, cosine is
    not: fusing raw scores lets one leg dominate). A key missing from a leg scores 0 there.
    """
    out: dict[K, float] = {}
    for weight, leg in ((alpha, dense), (1.0 - alpha, sparse)):
        if not leg:
            continue
        norm = normalize_scores([s for _, s in leg])
        for (key, _), s in zip(leg, norm, strict=True):
            out[key] = out.get(key, 0.0) + weight * float(s)
    return sorted(out.items(), key=lambda kv: -kv[1])


def dense_relevance(metric: str, distance: float) -> float:
    """Relevance in [0, 1] of a dense hit: cosine/IP ``(1 + s) / 2``, L2 ``1 / (1 + d)``."""
    if metric == "L2":
        return 1.0 / (1.0 + max(distance, 0.0))
    return float(min(1.0, max(0.0, (1.0 + distance) / 2.0)))


def dense_score(metric: str, distance: float) -> float:
    """Higher-is-better score: the similarity, or minus the L2 distance."""
    return -distance if metric == "L2" else distance


def relative_relevance(scores: Sequence[float]) -> list[float]:
    """Scores divided by the best one in the list (for BM25): the top hit gets 1."""
    if not scores:
        return []
    top = max(scores)
    if top <= 0:
        return [0.0 for _ in scores]
    return [max(0.0, s / top) for s in scores]


def mmr_select(
    query: Sequence[float] | np.ndarray,
    candidates: np.ndarray,
    k: int,
    lambda_mult: float = 0.5,
) -> list[int]:
    """Maximal marginal relevance: indexes of ``k`` candidates, relevant yet diverse.

    Uses cosine similarity; ``lambda_mult`` 1 is pure relevance, 0 pure diversity.
    """
    if candidates.size == 0 or k <= 0:
        return []
    q = np.asarray(query, dtype=np.float64)
    c = np.asarray(candidates, dtype=np.float64)
    qn = q / (np.linalg.norm(q) or 1.0)
    norms = np.linalg.norm(c, axis=1)
    norms[norms == 0] = 1.0
    cn = c / norms[:, None]
    rel = cn @ qn
    sim = cn @ cn.T
    selected = [int(np.argmax(rel))]
    while len(selected) < min(k, len(c)):
        redundancy = sim[:, selected].max(axis=1)
        score = lambda_mult * rel - (1.0 - lambda_mult) * redundancy
        score[selected] = -np.inf
        selected.append(int(np.argmax(score)))
    return selected
