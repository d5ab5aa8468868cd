"""Issue 23, finding 5: hybrid output shows rank order honestly. The CLI prints both numbers
under their names (the score that ranked the hit, never increasing down the list, and the
relevance, which in hybrid mode need not decrease); ``--json`` gives each hit its rank and
score type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from milvus_rag import cli
from milvus_rag.cli import common as cli_common
from milvus_rag.cli.hits import hits_table, score_name
from milvus_rag.client.records import Hit, Record
from tests.fakes import HashEncoder

pytestmark = pytest.mark.integration


def test_the_table_names_both_numbers() -> None:
    hits = [
        Hit("a", 0.09, 0.0, Record("a", "x"), relevance=0.62),
        Hit("b", 0.08, 0.0, Record("b", "y"), relevance=0.71),
    ]
    table = hits_table(hits, "hybrid", lambda h: h.id, lambda h: h.record.text)
    head, first, second = table.splitlines()
    assert head.split() == ["#", "rrf", "relevance", "source"]
    assert first.split()[:3] == ["1.", "0.0900", "0.620"] and second.split()[1] == "0.0800"
    assert hits_table([], "dense", str, str) == "no results"
    assert [score_name(m) for m in ("hybrid", "dense", "sparse")] == ["rrf", "cosine", "bm25"]


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(cli_common, "make_encoder", lambda *a, **k: HashEncoder(32))
    monkeypatch.setenv("MILVUS_URI", str(tmp_path / "h.db"))
    monkeypatch.delenv("MILVUS_COLLECTION", raising=False)
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    texts = [
        "cats purr and sleep on the mat",
        "dogs bark at cats in the yard",
        "cats and dogs and birds share a house",
        "a bird sings in the morning",
        "the mat is red and the cats are black",
        "dogs fetch sticks, cats ignore them",
    ]
    for i, t in enumerate(texts):
        (tmp_path / f"{i}.txt").write_text(t + "\n")
    return tmp_path


@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_search_output_is_in_score_order(
    corpus: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    assert cli.main(["ingest", str(corpus), "--no-progress"]) == 0
    capsys.readouterr()
    assert cli.main(["search", "cats dogs mat", "--mode", mode, "--k", "6", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1)) and len(hits) >= 4
    assert {h["score_type"] for h in hits} == {score_name(mode)}
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= h["relevance"] <= 1.0 for h in hits)
    assert cli.main(["search", "cats dogs mat", "--mode", mode, "--k", "6"]) == 0
    head, *rows = capsys.readouterr().out.splitlines()
    assert head.split()[1:3] == [score_name(mode), "relevance"]
    shown = [float(r.split()[1]) for r in rows]
    assert shown == sorted(shown, reverse=True) and len(shown) == len(hits)
