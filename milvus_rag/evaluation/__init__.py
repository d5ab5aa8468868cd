"""Retrieval evaluation on a BEIR dataset: metrics (:mod:`.metrics`, pure), BEIR loading
(:mod:`.beir`), stopwords (:mod:`.stopwords`), the run (:mod:`.run`) and its table
(:mod:`.table`)."""

from __future__ import annotations

from milvus_rag.evaluation.beir import BeirDataset, load_beir
from milvus_rag.evaluation.metrics import (
    DEFAULT_METRICS,
    evaluate,
    mrr_at_k,
    ndcg_at_k,
    rank_scores,
    recall_at_k,
)
from milvus_rag.evaluation.run import (
    EVAL_COLLECTION,
    MODES,
    ModeSpec,
    aevaluate_modes,
    aingest,
    arun_eval,
    parse_mode,
    run_eval,
)
from milvus_rag.evaluation.stopwords import STOPWORDS, fanout_variants, remove_stopwords
from milvus_rag.evaluation.table import format_table

__all__ = [
    "DEFAULT_METRICS",
    "EVAL_COLLECTION",
    "MODES",
    "STOPWORDS",
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
