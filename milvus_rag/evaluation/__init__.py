"""Retrieval evaluation on a BEIR dataset: metrics, BEIR loading, the run and its table."""

from __future__ import annotations

from milvus_rag.evaluation.run import (
    DEFAULT_METRICS,
    MODES,
    BeirDataset,
    ModeSpec,
    aevaluate_modes,
    aingest,
    arun_eval,
    evaluate,
    fanout_variants,
    format_table,
    load_beir,
    mrr_at_k,
    ndcg_at_k,
    parse_mode,
    rank_scores,
    recall_at_k,
    remove_stopwords,
    run_eval,
)

__all__ = [
    "DEFAULT_METRICS",
    "MODES",
    "BeirDataset",
    "ModeSpec",
    "aevaluate_modes",
    "aingest",
    "arun_eval",
    "evaluate",
    "fanout_variants",
    "format_table",
    "load_beir",
    "mrr_at_k",
    "ndcg_at_k",
    "parse_mode",
    "rank_scores",
    "recall_at_k",
    "remove_stopwords",
    "run_eval",
]
