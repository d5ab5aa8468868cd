"""Retrieval metrics: pure functions over ranked id lists and graded relevance judgements
(qrels), following the conventions of ``trec_eval`` / ``pytrec_eval`` that BEIR reports:

- nDCG@k: linear gain (``rel``), discount ``log2(rank + 1)``; the ideal ranking is built from
  every judged document of the query, not only the retrieved ones.
- Recall@k: relevant documents in the top ``k`` over all relevant documents of the query.
- MRR@k: reciprocal rank of the first relevant document in the top ``k`` (0 if none).
- A document is relevant when its grade is > 0; retrieved documents without a judgement are
  not relevant. Queries without any relevant document are excluded (BEIR does the same);
  queries in the qrels that the run has no results for score 0; run entries for queries
  without qrels are ignored. Ties in a score mapping are broken like ``trec_eval``: by
  score, then by document id, descending.

Example:
    >>> ndcg_at_k(["d1", "d2"], {"d2": 1}, 10)
    0.6309297535714575
    >>> evaluate({"q1": ["d1", "d2"]}, {"q1": {"d2": 1}}, ks=(10,))["MRR@10"]
    0.5
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

__all__ = ["DEFAULT_METRICS", "evaluate", "mrr_at_k", "ndcg_at_k", "rank_scores", "recall_at_k"]

DEFAULT_METRICS = ("nDCG@10", "Recall@10", "Recall@100", "MRR@10")

Ranking = Sequence[str] | Mapping[str, float]
Qrels = Mapping[str, Mapping[str, int]]


def rank_scores(scores: Mapping[str, float]) -> list[str]:
    """Ids ordered best first: by score, ties by id, both descending (as ``trec_eval``)."""
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)]


def _ranked(ranking: Ranking) -> list[str]:
    if isinstance(ranking, Mapping):
        return rank_scores(ranking)
    if isinstance(ranking, str):
        raise TypeError("a ranking is a sequence of ids or a mapping id -> score, not one str")
    out: list[str] = []
    seen: set[str] = set()
    for d in ranking:  # a repeated id counts once, at its best rank
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")


def ndcg_at_k(ranking: Ranking, rels: Mapping[str, int], k: int) -> float:
    """nDCG@k with linear gains; 0.0 when the query has no relevant document."""
    _check_k(k)
    ideal = sorted((g for g in rels.values() if g > 0), reverse=True)[:k]
    if not ideal:
        return 0.0
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    dcg = 0.0
    for i, d in enumerate(_ranked(ranking)[:k]):
        g = rels.get(d, 0)
        if g > 0:
            dcg += g / math.log2(i + 2)
    return dcg / idcg


def recall_at_k(ranking: Ranking, rels: Mapping[str, int], k: int) -> float:
    """Share of the query's relevant documents found in the top ``k``."""
    _check_k(k)
    relevant = {d for d, g in rels.items() if g > 0}
    if not relevant:
        return 0.0
    found = sum(1 for d in _ranked(ranking)[:k] if d in relevant)
    return found / len(relevant)


def mrr_at_k(ranking: Ranking, rels: Mapping[str, int], k: int) -> float:
    """Reciprocal rank of the first relevant document in the top ``k``, else 0."""
    _check_k(k)
    for i, d in enumerate(_ranked(ranking)[:k]):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


_METRIC_FNS = {"nDCG": ndcg_at_k, "Recall": recall_at_k, "MRR": mrr_at_k}


def _parse_metric(name: str) -> tuple[str, int]:
    m = re.fullmatch(r"(nDCG|Recall|MRR)@(\d+)", name)
    if not m:
        raise ValueError(f"unknown metric {name!r}: use nDCG@k, Recall@k or MRR@k")
    return m.group(1), int(m.group(2))


def evaluate(
    run: Mapping[str, Ranking],
    qrels: Qrels,
    metrics: Sequence[str] = DEFAULT_METRICS,
    *,
    ks: Sequence[int] | None = None,
) -> dict[str, float]:
    """Mean of each metric over the judged queries (those with a relevant document).

    ``run`` maps query id to a ranked id list or to ``{doc_id: score}``. ``ks`` is a
    shorthand for nDCG, Recall and MRR at each k. The result also holds ``queries``, the
    number of queries averaged over.
    """
    if ks is not None:
        metrics = [f"{m}@{k}" for k in ks for m in ("nDCG", "Recall", "MRR")]
    parsed = [(name, *_parse_metric(name)) for name in metrics]
    judged = [q for q, rels in qrels.items() if any(g > 0 for g in rels.values())]
    out: dict[str, float] = {}
    for name, kind, k in parsed:
        fn = _METRIC_FNS[kind]
        vals = [fn(run.get(q, ()), qrels[q], k) for q in judged]
        out[name] = float(sum(vals) / len(vals)) if vals else 0.0
    out["queries"] = float(len(judged))
    return out
