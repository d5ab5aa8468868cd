"""The ``milvus-rag`` command end to end on a Milvus Lite file.

Most tests run ``main()`` in-process with the hashing fake encoder (no model load); one runs
the real command in a subprocess with the real MiniLM model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from milvus_rag import cli
from milvus_rag.cli import common as cli_common
from tests.fakes import HashEncoder

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A corpus folder, a .db path in MILVUS_URI, the fake encoder, cwd = tmp_path."""
    monkeypatch.setattr(
        cli_common,
        "make_encoder",
        lambda model="", device=None, precision="auto", backend="auto": HashEncoder(32),
    )
    monkeypatch.setenv("MILVUS_URI", str(tmp_path / "cli.db"))
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    monkeypatch.setenv("MILVUS_COLLECTION", "cli_docs")
    monkeypatch.chdir(tmp_path)
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "cats.md").write_text(
        "# Cats\n\nCats purr when they are happy.\n\nKittens sleep a lot."
    )
    (docs / "sub" / "dogs.txt").write_text("Dogs bark at the mailman. Puppies chew shoes.")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_is_idempotent_and_replaces_changed_files(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "ingest", "docs", "--chunk-size", "40", "--chunk-overlap", "0")
    assert code == 0
    assert "2 files, 4 chunks: 4 written (4 embedded), 0 unchanged, 0 deleted" in out
    code, out, _ = run(capsys, "ingest", "docs", "--chunk-size", "40", "--chunk-overlap", "0")
    assert "4 chunks: 0 written (0 embedded), 4 unchanged, 0 deleted" in out
    (env / "docs" / "sub" / "dogs.txt").write_text("Dogs bark loudly.")
    code, out, _ = run(capsys, "ingest", "docs", "--chunk-size", "40", "--chunk-overlap", "0")
    assert "3 chunks: 1 written (1 embedded), 2 unchanged, 2 deleted" in out
    code, out, _ = run(capsys, "collections", "describe", "--json")
    assert json.loads(out)["count"] == 3


def test_search_text_json_filter_and_modes(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "ingest", "docs")[0] == 0
    code, out, _ = run(capsys, "search", "cats purr happy", "--k", "1")
    assert code == 0 and "[docs/cats.md]" in out and out.splitlines()[1].startswith(" 1.")
    dogs = (env / "docs" / "sub" / "dogs.txt").resolve().as_posix()
    for mode in ("dense", "sparse", "hybrid"):
        code, out, _ = run(capsys, "search", "dogs bark", "--mode", mode, "--json", "--k", "2")
        hits = json.loads(out)
        assert hits[0]["metadata"]["source"] == dogs, mode  # canonical: the absolute path
        assert set(hits[0]) >= {"id", "score", "relevance", "text", "metadata", "doc_id"}
    cats = (env / "docs" / "cats.md").resolve().as_posix()
    code, out, _ = run(
        capsys, "search", "dogs bark", "--json", "--filter", '{"source": "docs/cats.md"}'
    )
    assert {h["metadata"]["source"] for h in json.loads(out)} == {cats}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "x", "--filter", "{bad"], "--filter is not valid JSON"),
        (["search", "x", "--filter", '{"a": {"$zz": 1}}'], "unknown operator"),
        (["ingest", "nope/missing.md"], "no such file or folder"),
        (["search", "x", "--collection", "missing_one"], "no Milvus Lite file at"),
        (["collections", "describe", "missing_one"], "no Milvus Lite file at"),
        (["search", "x", "--uri", "/no/such/dir/x.db"], "does not exist"),
        (["eval", "no_such_dir"], "no such folder"),
    ],
)
def test_user_mistakes_give_one_line_and_nonzero_exit(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _out, err = run(capsys, *argv)
    assert code != 0
    assert err.startswith("milvus-rag: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_collections_list_describe_drop(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "ingest", "docs", "--collection", "other_docs")[0] == 0
    code, out, _ = run(capsys, "collections", "list")
    assert "other_docs" in out.split()
    code, out, _ = run(capsys, "collections", "describe", "other_docs")
    assert "dim: 32" in out and "count: 2" in out
    # no terminal to ask: refuses without --yes
    code, _, err = run(capsys, "collections", "drop", "other_docs")
    assert code == 1 and "--yes" in err
    code, out, _ = run(capsys, "collections", "drop", "other_docs", "--yes")
    assert code == 0 and "dropped 'other_docs'" in out
    code, out, _ = run(capsys, "collections", "--json")
    assert "other_docs" not in json.loads(out)


def test_flags_override_environment(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = str(env / "other.db")
    assert run(capsys, "ingest", "docs", "--uri", other, "--collection", "flagged")[0] == 0
    _code, out, _ = run(capsys, "collections", "list", "--uri", other, "--json")
    assert json.loads(out) == ["flagged"]
    code, out, err = run(capsys, "collections", "list", "--json")  # MILVUS_URI: no file there
    assert code == 2 and out == "" and "no Milvus Lite file at" in err  # as search says


def test_precision_flag_reaches_the_encoder(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[str, str | None, str, str]] = []

    def make(
        model: str = "", device: str | None = None, precision: str = "auto", backend: str = "auto"
    ) -> HashEncoder:
        asked.append((model, device, precision, backend))
        return HashEncoder(32)

    monkeypatch.setattr(cli_common, "make_encoder", make)
    assert run(capsys, "ingest", "docs", "--precision", "fp32", "--device", "cpu")[0] == 0
    assert run(capsys, "search", "cats", "--precision", "bf16", "--backend", "torch")[0] == 0
    assert run(capsys, "search", "cats", "--backend", "onnx", "--precision", "int8")[0] == 0
    assert run(capsys, "search", "cats")[0] == 0
    assert [a[1:] for a in asked] == [
        ("cpu", "fp32", "auto"),
        (None, "bf16", "torch"),
        (None, "int8", "onnx"),
        (None, "auto", "auto"),
    ]
    for flag, bad in (("--precision", "fp64"), ("--backend", "tensorrt")):
        with pytest.raises(SystemExit) as exc:  # argparse: usage error, exit 2
            run(capsys, "search", "cats", flag, bad)
        assert exc.value.code == 2 and flag in capsys.readouterr().err


def test_eval_runs_the_evaluation(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = env / "beir"
    data.mkdir()
    corpus = [
        {"_id": "d1", "title": "Cats", "text": "cats purr and sleep"},
        {"_id": "d2", "title": "Dogs", "text": "dogs bark and fetch"},
        {"_id": "d3", "title": "Fish", "text": "fish swim in water"},
    ]
    queries = [{"_id": "q1", "text": "purring cats"}, {"_id": "q2", "text": "barking dogs"}]
    (data / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in corpus))
    (data / "queries.jsonl").write_text("\n".join(json.dumps(r) for r in queries))
    (data / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    code, out, err = run(capsys, "eval", str(data), "--modes", "sparse", "hybrid", "--json")
    assert code == 0, err
    rows: list[dict[str, Any]] = json.loads(out)
    assert [r["mode"] for r in rows] == ["sparse", "hybrid"]
    code, out, _ = run(capsys, "eval", str(data), "--modes", "sparse")
    assert "sparse" in out


@pytest.mark.slow
def test_real_model_ingest_and_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real MiniLM model (in-process: the subprocess runs of the model are in tests/mcp)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "milvus.md").write_text("Milvus is a vector database for similarity search.")
    (docs / "cooking.md").write_text("Simmer the tomato sauce for twenty minutes.")
    uri = ["--uri", str(tmp_path / "real.db"), "--collection", "real"]
    code, out, err = run(capsys, "ingest", str(docs), *uri)
    assert code == 0, err
    assert "2 written" in out
    for mode in ("dense", "hybrid"):
        code, out, err = run(capsys, "search", "which database stores embeddings?", "--json", *uri)
        assert code == 0, err
        assert json.loads(out)[0]["metadata"]["source"].endswith("docs/milvus.md"), mode


def test_entry_point_in_a_subprocess(tmp_path: Path) -> None:
    """``python -m milvus_rag.cli``: output, exit codes, one-line errors, no library noise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILVUS_")}
    base = [sys.executable, "-m", "milvus_rag.cli"]

    def call(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *argv, "--uri", str(tmp_path / "sub.db")],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    res = call("collections", "--json")
    assert res.returncode == 2 and res.stdout == "" and "no Milvus Lite file" in res.stderr
    assert res.stderr.count("\n") == 1 and not (tmp_path / "sub.db").exists()
    assert "Traceback" not in res.stderr and "pkg_resources" not in res.stderr
    res = call("search", "x", "--filter", "[1]")
    assert res.returncode == 2
    assert res.stderr.strip().startswith("milvus-rag: error: --filter must be a JSON object")
    assert res.stderr.count("\n") == 1


async def test_progress_bar_reports_rows_per_second(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from milvus_rag import AsyncMilvusStore
    from milvus_rag.ingest.sync import ingest_files

    (tmp_path / "a.txt").write_text("\n\n".join(f"paragraph number {i}" for i in range(50)))
    enc = HashEncoder(16)
    store = AsyncMilvusStore(str(tmp_path / "p.db"), collection_name="p", dim=16)
    try:
        stats = await ingest_files(
            store, [tmp_path], enc.aencode_documents, chunk_size=30, chunk_overlap=0, progress=True
        )
    finally:
        await store.aclose()
    assert stats.written == 50
    err = capsys.readouterr().err
    assert "ingest" in err and "rows/s" in err and "50/50" in err
