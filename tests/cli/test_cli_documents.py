"""``milvus-rag search --group-by / --group-size / --window / --parent`` and ``milvus-rag eval
--chunk-size`` (the hashing fake encoder, a Milvus Lite file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import env, run  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


def test_grouped_search_and_expansion(
    env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    cats = (env / "docs" / "cats.md").read_text()
    assert run(capsys, "ingest", "docs", "--chunk-size", "20", "--chunk-overlap", "5")[0] == 0
    code, out, err = run(capsys, "search", "cats kittens purr", "--k", "10", "--json")
    chunks = json.loads(out)
    assert code == 0 and len({h["doc_id"] for h in chunks}) < len(chunks)  # several per file
    code, out, err = run(capsys, "search", "cats kittens purr", "--k", "2", "--group-by", "--json")
    grouped = json.loads(out)
    assert code == 0, err
    assert len(grouped) == 2 and len({h["doc_id"] for h in grouped}) == 2  # the two files
    code, out, err = run(
        capsys, "search", "cats kittens", "--k", "1", "--group-size", "2", "--json"
    )
    two = json.loads(out)
    assert code == 0 and len(two) == 2 and len({h["doc_id"] for h in two}) == 1
    code, out, err = run(
        capsys, "search", "kittens sleep", "--k", "1", "--mode", "dense", "--parent", "--json"
    )
    (hit,) = json.loads(out)
    assert code == 0, err
    if hit["metadata"]["source"].endswith("cats.md"):
        # chunks are split on headings, paragraphs, sentences, then words: stripped
        # whitespace between chunks comes back as one space
        assert hit["expanded"]["text"].split() == cats.split()
    a, b = hit["expanded"]["matched_span"]
    assert hit["expanded"]["text"][a:b] == hit["text"]
    code, out, err = run(capsys, "search", "kittens sleep", "--k", "1", "--window", "1")
    assert code == 0 and ">>>" in out and "<<<" in out and "chunks)" in out
    with pytest.raises(SystemExit):  # argparse: --window and --parent exclude each other
        run(capsys, "search", "cats", "--window", "1", "--parent")
    assert "not allowed with" in capsys.readouterr().err
    code, _, err = run(capsys, "search", "cats", "--group-size", "0")
    assert code != 0 and "group_size" in err


def test_eval_on_a_chunked_corpus_judges_documents(
    env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = env / "beir"
    data.mkdir()
    docs = {
        "d1": "Cats purr when they are happy. Kittens sleep a lot. " * 3,
        "d2": "Dogs bark at the mailman. Puppies chew shoes. " * 3,
    }
    (data / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in docs.items())
    )
    (data / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "kittens purr"})
        + "\n"
        + json.dumps({"_id": "q2", "text": "puppies bark"})
        + "\n"
    )
    (data / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    for level in ("group", "dedupe"):
        code, out, err = run(
            capsys,
            "eval",
            str(data),
            "--modes",
            "sparse",
            "--chunk-size",
            "40",
            "--documents",
            level,
            "--json",
        )
        assert code == 0, err
        (row,) = json.loads(out)
        assert row["queries"] == 2 and row["nDCG@10"] == pytest.approx(1.0)
