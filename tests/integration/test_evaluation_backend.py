"""milvus_rag.evaluation end to end on a tiny synthetic BEIR folder, on every test backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from milvus_rag.evaluation import arun_eval, format_table
from tests.backends import Backend
from tests.conftest import new_name
from tests.fakes import HashEncoder

pytestmark = pytest.mark.integration

TOPICS = {
    "cat": "cats purr and chase mice in the garden",
    "dog": "dogs bark loudly at the mailman every morning",
    "sun": "the sun is a star that burns hydrogen into helium",
    "rain": "rain falls from clouds when water vapour condenses",
    "bee": "bees make honey from the nectar of flowers",
    "car": "cars burn petrol in an engine to move wheels",
}


def write_dataset(root: Path) -> None:
    root.mkdir()
    corpus = [
        {"_id": f"{name}{j}", "title": name.title(), "text": f"{text} variant {j}"}
        for name, text in TOPICS.items()
        for j in range(3)
    ]
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus))
    queries = [
        {"_id": f"q_{name}", "text": f"why do {text.split()[0]} {text.split()[1]}"}
        for name, text in TOPICS.items()
    ]
    queries.append({"_id": "q_unjudged", "text": "nothing"})
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    lines = ["query-id\tcorpus-id\tscore"]
    lines += [f"q_{name}\t{name}0\t1" for name in TOPICS]
    lines += [f"q_{name}\t{name}1\t2" for name in TOPICS]
    (root / "qrels.tsv").write_text("\n".join(lines) + "\n")


async def test_run_eval_dense_and_hybrid(backend: Backend, tmp_path: Path) -> None:
    write_dataset(tmp_path / "tiny")
    rows = await arun_eval(
        tmp_path / "tiny",
        ["dense", "hybrid"],
        uri=backend.uri,
        token=backend.token or None,
        collection_name=new_name("ev"),
        encoder=HashEncoder(dim=32),
        k=10,
    )
    assert [r["mode"] for r in rows] == ["dense", "hybrid"]
    for r in rows:
        assert r["queries"] == len(TOPICS)
        # each query shares its topic's words: both judged docs come back (order among the
        # three near-identical variants of a topic is arbitrary, hence the loose nDCG bound)
        assert r["Recall@10"] == pytest.approx(1.0)
        assert r["nDCG@10"] > 0.5
        assert 0.0 < r["MRR@10"] <= 1.0
    assert "| dense |" in format_table(rows)
