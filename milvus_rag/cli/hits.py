"""How ``milvus-rag search`` prints hits: rank order shown honestly. Pure.

A hit has two numbers: ``score``, what ranked it in its mode (the cosine in dense mode, the BM25
score in sparse mode, the RRF-fused score in hybrid mode), which never increases down the list,
and ``relevance``, the absolute similarity to the query in [0, 1] (the same value whichever
mode found the hit; see README "Relevance"), which in hybrid mode need not decrease. Both are
printed, each under its name, so a list in fused order does not look unsorted.

Example:
    >>> score_name("hybrid"), score_name("dense"), score_name("sparse")
    ('rrf', 'cosine', 'bm25')
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from milvus_rag.client.records import Hit

_SCORE_NAMES = {"hybrid": "rrf", "dense": "cosine", "sparse": "bm25", "weighted": "weighted"}


def score_name(mode: str) -> str:
    """What ``Hit.score`` is in ``mode`` (``"weighted"``: ``search --fields --weights``)."""
    return _SCORE_NAMES.get(mode, "score")


def hits_table(
    hits: Sequence[Hit], mode: str, where: Callable[[Hit], str], text: Callable[[Hit], str]
) -> str:
    """One line a hit under a header naming both numbers; ``"no results"`` for none."""
    if not hits:
        return "no results"
    name = score_name(mode)
    width = max(len(name), 7)
    lines = [f" #  {name:>{width}}  relevance  source"]
    for rank, h in enumerate(hits, 1):
        lines.append(
            f"{rank:>2}. {h.score:>{width}.4f}  {h.relevance:>9.3f}  [{where(h)}]  {text(h)}"
        )
    return "\n".join(lines)


def hits_json(hits: Sequence[Hit], mode: str) -> str:
    """The hits as JSON: each with its ``rank`` and ``score_type`` beside both numbers."""
    name = score_name(mode)
    rows: list[dict[str, Any]] = [
        {"rank": rank, "score_type": name, **h.to_dict()} for rank, h in enumerate(hits, 1)
    ]
    return json.dumps(rows, ensure_ascii=False, indent=2)
