"""Pure tests of milvus_rag.evaluation: metrics against hand-computed values, BEIR loading."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.evaluation import (
    ModeSpec,
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
)

L2 = math.log2


def test_ndcg_binary_hand_computed() -> None:
    # relevant d2 (rank 2) and d4 (rank 4); 3 relevant docs in qrels (d9 never retrieved)
    rels = {"d2": 1, "d4": 1, "d9": 1}
    dcg = 1 / L2(3) + 1 / L2(5)
    idcg = 1 / L2(2) + 1 / L2(3) + 1 / L2(4)
    assert ndcg_at_k(["d1", "d2", "d3", "d4"], rels, 10) == pytest.approx(dcg / idcg)


def test_ndcg_graded_linear_gain() -> None:
    rels = {"a": 2, "b": 1, "c": 0}
    # retrieved b then a: dcg = 1/log2(2) + 2/log2(3); ideal a, b: 2/1 + 1/log2(3)
    expected = (1 + 2 / L2(3)) / (2 + 1 / L2(3))
    assert ndcg_at_k(["b", "a", "c"], rels, 10) == pytest.approx(expected)
    assert ndcg_at_k(["a", "b"], rels, 10) == pytest.approx(1.0)


def test_ndcg_cut_at_k_and_ideal_cut_at_k() -> None:
    rels = {"a": 1, "b": 1, "c": 1}
    # k=2: ideal is two relevant docs; retrieved x, a -> 1/log2(3) / (1 + 1/log2(3))
    assert ndcg_at_k(["x", "a", "b"], rels, 2) == pytest.approx((1 / L2(3)) / (1 + 1 / L2(3)))
    assert ndcg_at_k(["x", "y", "a"], rels, 2) == 0.0


def test_unjudged_and_nonpositive_grades_are_not_relevant() -> None:
    rels = {"a": 0, "b": -1, "c": 1}
    assert ndcg_at_k(["a", "b", "zzz", "c"], rels, 10) == pytest.approx(1 / L2(5))
    assert recall_at_k(["a", "b"], rels, 10) == 0.0
    assert mrr_at_k(["a", "b", "zzz", "c"], rels, 10) == pytest.approx(0.25)


def test_no_relevant_docs_gives_zero() -> None:
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0
    assert recall_at_k(["a"], {}, 10) == 0.0
    assert mrr_at_k([], {"a": 1}, 10) == 0.0


def test_recall_and_mrr() -> None:
    rels = {"a": 1, "b": 1, "c": 1, "d": 1}
    ranking = ["x", "a", "y", "b"] + [f"n{i}" for i in range(200)] + ["c"]
    assert recall_at_k(ranking, rels, 2) == pytest.approx(0.25)
    assert recall_at_k(ranking, rels, 10) == pytest.approx(0.5)
    assert recall_at_k(ranking, rels, 1000) == pytest.approx(0.75)
    assert mrr_at_k(ranking, rels, 10) == pytest.approx(0.5)
    assert mrr_at_k(ranking, rels, 1) == 0.0


def test_duplicate_ids_count_once() -> None:
    rels = {"a": 1, "b": 1}
    assert recall_at_k(["a", "a", "a"], rels, 10) == pytest.approx(0.5)
    assert ndcg_at_k(["a", "a", "b"], rels, 10) == pytest.approx(1.0)


def test_ties_broken_by_id_descending_like_trec_eval() -> None:
    scores = {"a": 0.5, "b": 0.5, "c": 0.9, "d": 0.1}
    assert rank_scores(scores) == ["c", "b", "a", "d"]
    rels = {"a": 1}
    # a sits third after the tie break, whatever the dict order
    assert mrr_at_k(scores, rels, 10) == pytest.approx(1 / 3)
    assert mrr_at_k(dict(reversed(list(scores.items()))), rels, 10) == pytest.approx(1 / 3)


def test_bad_k_and_str_ranking_rejected() -> None:
    with pytest.raises(ValueError):
        ndcg_at_k(["a"], {"a": 1}, 0)
    with pytest.raises(TypeError):
        recall_at_k("abc", {"a": 1}, 10)


def test_evaluate_averages_judged_queries_only() -> None:
    qrels = {
        "q1": {"a": 1},
        "q2": {"b": 1, "c": 1},
        "q3": {"x": 0},  # no relevant doc: excluded, as BEIR does
        "q4": {"d": 1},  # no results in the run: scores 0
    }
    run = {
        "q1": ["a", "z"],
        "q2": {"c": 2.0, "z": 1.0, "b": 0.5},
        "q3": ["x"],
        "q9": ["a"],  # not in the qrels: ignored
    }
    out = evaluate(run, qrels)
    assert out["queries"] == 3
    q2_ndcg = (1 + 1 / L2(4)) / (1 + 1 / L2(3))
    assert out["nDCG@10"] == pytest.approx((1 + q2_ndcg + 0) / 3)
    assert out["Recall@10"] == pytest.approx((1 + 1 + 0) / 3)
    assert out["Recall@100"] == pytest.approx(2 / 3)
    assert out["MRR@10"] == pytest.approx((1 + 1 + 0) / 3)
    assert set(evaluate(run, qrels, ks=(1, 5))) == {
        "nDCG@1",
        "Recall@1",
        "MRR@1",
        "nDCG@5",
        "Recall@5",
        "MRR@5",
        "queries",
    }
    with pytest.raises(ValueError):
        evaluate(run, qrels, ["MAP@10"])


def test_evaluate_empty_qrels() -> None:
    assert evaluate({"q": ["a"]}, {})["nDCG@10"] == 0.0


def _write_beir(root: Path, header: bool = True) -> None:
    root.mkdir(parents=True, exist_ok=True)
    docs = [
        {"_id": "d1", "title": "Cats", "text": "Cats purr."},
        {"_id": "d2", "title": "", "text": "Dogs bark."},
    ]
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n\n")
    queries = [{"_id": "q1", "text": "purring"}, {"_id": "q2", "text": "unjudged"}]
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    lines = ["query-id\tcorpus-id\tscore"] if header else []
    lines += ["q1\td1\t2", "q1\td2\t0", "q7\td2\t1"]
    (root / "qrels.tsv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("header", [True, False])
def test_load_beir(tmp_path: Path, header: bool) -> None:
    _write_beir(tmp_path / "ds", header)
    ds = load_beir(tmp_path / "ds")
    assert ds.corpus == {"d1": "Cats Cats purr.", "d2": "Dogs bark."}
    assert ds.queries == {"q1": "purring"}  # q2 unjudged; q7 has no query text
    assert ds.qrels == {"q1": {"d1": 2, "d2": 0}}
    assert ds.name == "ds"


def test_load_beir_qrels_folder_and_errors(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    _write_beir(root)
    (root / "qrels").mkdir()
    (root / "qrels.tsv").rename(root / "qrels" / "test.tsv")
    assert load_beir(root).qrels == {"q1": {"d1": 2, "d2": 0}}
    with pytest.raises(ConfigError):
        load_beir(tmp_path / "missing")
    (root / "corpus.jsonl").unlink()
    with pytest.raises(ConfigError, match=r"corpus\.jsonl"):
        load_beir(root)
    _write_beir(root)
    (root / "qrels.tsv").write_text("q1\td1\t1\nq1\td2\tx\n")
    with pytest.raises(InvalidInputError, match="not a number"):
        load_beir(root)
    _write_beir(root)
    (root / "corpus.jsonl").write_text("{not json\n")
    with pytest.raises(InvalidInputError, match="JSON"):
        load_beir(root)


def test_parse_mode() -> None:
    assert parse_mode("dense") == ModeSpec("dense")
    assert parse_mode("BM25") == ModeSpec("sparse")
    assert parse_mode("rrf") == ModeSpec("hybrid")
    assert parse_mode("weighted") == ModeSpec("weighted", alpha=0.5)
    assert parse_mode("weighted:0.3").alpha == pytest.approx(0.3)
    assert parse_mode("weighted:0.3").name == "weighted a=0.3"
    assert parse_mode("fan-out").mode == "fanout"
    for bad in ("nope", "dense:1", "weighted:x", "weighted:2"):
        with pytest.raises(ConfigError):
            parse_mode(bad)


def test_fanout_variants() -> None:
    assert remove_stopwords("What is the role of p53 in cancer?") == "role p53 cancer?"
    assert fanout_variants("the role of p53") == ["the role of p53", "role p53"]
    assert fanout_variants("p53 cancer") == ["p53 cancer"]
    assert fanout_variants("the of a") == ["the of a"]


def test_format_table() -> None:
    rows = [{"mode": "dense", "nDCG@10": 0.64512, "seconds": 3.2512, "k1": 1.5, "queries": 300}]
    text = format_table(rows)
    assert text.splitlines()[0] == "| mode | nDCG@10 | seconds | k1 | queries |"
    assert "| dense | 0.6451 | 3.25 | 1.5 | 300 |" in text
    assert format_table([]) == ""
