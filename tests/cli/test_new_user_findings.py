"""Regression tests of what a new user hit (issue 11), one or more per numbered finding, on
the command line with a Milvus Lite file (the two-process test is in
tests/integration/test_lite_lock.py, relevance in tests/integration/test_relevance.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from milvus_rag import AsyncMilvusStore, Record, cli
from milvus_rag.cli import common as cli_common
from milvus_rag.client.records import PRIVATE_KEY
from tests.fakes import HashEncoder

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CHUNK = ["--chunk-size", "40", "--chunk-overlap", "0"]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd = tmp_path/work, a corpus in tmp_path/corpus, the fake encoder, a .db in MILVUS_URI."""
    monkeypatch.setattr(
        cli_common,
        "make_encoder",
        lambda model="", device=None, precision="auto", backend="auto": HashEncoder(32),
    )
    monkeypatch.setenv("MILVUS_URI", str(tmp_path / "f.db"))
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    monkeypatch.delenv("MILVUS_COLLECTION", raising=False)
    (tmp_path / "work").mkdir()
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.md").write_text("Cats purr when they are happy.\n\nKittens sleep a lot.\n")
    (corpus / "sub" / "b.txt").write_text("Dogs bark at the mail carrier.\n")
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def count(capsys: pytest.CaptureFixture[str], *argv: str) -> int:
    code, out, err = run(capsys, "collections", "describe", "--json", *argv)
    assert code == 0, err
    return int(json.loads(out)["count"])


def sources(capsys: pytest.CaptureFixture[str], query: str = "cats dogs kittens") -> set[str]:
    code, out, err = run(capsys, "search", query, "--json", "--k", "20", "--mode", "dense")
    assert code == 0, err
    return {h["metadata"]["source"] for h in json.loads(out)}


# --- 1. re-ingesting an edited file deleted its unchanged chunks --------------------------


def test_1_appending_to_a_file_keeps_its_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli_common, "make_encoder", lambda *a, **k: HashEncoder(32))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MILVUS_URI", raising=False)
    monkeypatch.delenv("MILVUS_COLLECTION", raising=False)
    notes = tmp_path / "notes.md"
    notes.write_text("Cats purr when they are happy.\n\nDogs bark at the mail carrier.\n")
    code, out, _ = run(capsys, "ingest", "notes.md", *CHUNK)
    assert code == 0 and "2 written" in out
    with notes.open("a") as f:
        f.write("\nBirds sing early in the morning.\n")
    code, out, _ = run(capsys, "ingest", "notes.md", *CHUNK)
    assert "3 chunks: 1 written (1 embedded), 2 unchanged, 0 deleted" in out
    assert count(capsys) == 3
    code, out, _ = run(capsys, "search", "cats purr", "--k", "1")
    assert "Cats purr when they are happy." in out
    code, out, _ = run(capsys, "ingest", "notes.md", *CHUNK)  # and a third run: nothing to do
    assert "0 written (0 embedded), 3 unchanged, 0 deleted" in out


# --- 2. eval dropped the collection it was pointed at --------------------------------------


def beir(folder: Path, *, empty: bool = False) -> Path:
    folder.mkdir()
    corpus = [
        {"_id": "d1", "title": "Cats", "text": "cats purr and sleep"},
        {"_id": "d2", "title": "Dogs", "text": "dogs bark and fetch"},
        {"_id": "d3", "title": "Fish", "text": "fish swim in water"},
    ]
    if empty:
        corpus.append({"_id": "d4", "title": "", "text": "  "})
    queries = [{"_id": "q1", "text": "purring cats"}, {"_id": "q2", "text": "barking dogs"}]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in corpus))
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(r) for r in queries))
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    return folder


def test_2_eval_never_replaces_a_collection_it_did_not_create(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = beir(env / "beir")
    assert run(capsys, "ingest", "../corpus", "--collection", "mine", *CHUNK)[0] == 0
    before = count(capsys, "--collection", "mine")
    # MILVUS_COLLECTION names the user's collection: eval does not use it
    monkeypatch.setenv("MILVUS_COLLECTION", "mine")
    code, out, err = run(capsys, "eval", str(data), "--modes", "sparse")
    assert code == 0, err
    code, out, err = run(capsys, "eval", str(data), "--modes", "sparse", "--collection", "mine")
    assert code == 2 and "exists (3 rows)" in err and "--overwrite" in err
    assert err.count("\n") == 1
    code, out, err = run(
        capsys, "eval", str(data), "--modes", "sparse", "--collection", "mine", "--reuse"
    )
    assert code == 0, err  # 3 rows for 3 documents: evaluated as they are, and kept
    assert count(capsys, "--collection", "mine") == before == 3
    code, out, err = run(
        capsys, "eval", str(data), "--modes", "sparse", "--collection", "mine", "--overwrite"
    )
    assert code == 0, err
    code, out, _ = run(capsys, "collections", "list", "--json")
    assert "mine" not in json.loads(out)  # overwritten, so eval's own: dropped afterwards
    help_text = subprocess.run(
        [sys.executable, "-m", "milvus_rag.cli", "eval", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    ).stdout
    assert "default milvus_rag_eval" in " ".join(help_text.split())
    assert "--overwrite" in help_text


# --- 4. sources are canonical, deleted files pruned, delete --source ------------------------


def test_4_the_same_folder_from_another_directory_is_the_same_source(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "ingest", "../corpus", *CHUNK)[0] == 0
    a = (env / "corpus" / "a.md").resolve().as_posix()
    assert a in sources(capsys)
    (env / "corpus" / "a.md").write_text("Cats purr when they are happy.\n\nKittens play.\n")
    monkeypatch.chdir(env)  # the same folder, given from elsewhere
    code, out, _ = run(capsys, "ingest", "corpus", *CHUNK)
    assert "1 written (1 embedded), 2 unchanged, 1 deleted" in out
    assert count(capsys) == 3
    # a filter takes the path as the user gives it, from any directory
    monkeypatch.chdir(env / "work")
    for given in ("../corpus/a.md", str(env / "corpus" / "a.md"), "../corpus/./sub/../a.md"):
        code, out, err = run(
            capsys, "search", "cats", "--json", "--filter", json.dumps({"source": given})
        )
        assert code == 0, err
        assert {h["metadata"]["source"] for h in json.loads(out)} == {a}, given


def test_4_deleted_files_are_pruned_and_delete_source_removes_chunks(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "ingest", "../corpus", *CHUNK)[0] == 0
    assert count(capsys) == 3
    (env / "corpus" / "sub" / "b.txt").unlink()
    code, out, _ = run(capsys, "ingest", "../corpus", "--no-prune", *CHUNK)
    assert "0 deleted" in out and count(capsys) == 3  # --no-prune keeps them
    code, out, _ = run(capsys, "ingest", "../corpus", *CHUNK)
    assert "1 deleted (1 file removed)" in out and count(capsys) == 2
    # delete --source: a file (that may exist or not) or a folder, as given to ingest
    (env / "corpus" / "sub" / "c.md").write_text("Owls hunt at night.\n")
    (env / "corpus" / "sub" / "d.md").write_text("Bees make honey.\n")
    assert run(capsys, "ingest", "../corpus", *CHUNK)[0] == 0 and count(capsys) == 4
    code, out, _ = run(capsys, "delete", "--source", "../corpus/sub", "--dry-run")
    assert "would delete 2 chunks of 2 files" in out and count(capsys) == 4
    code, out, _ = run(capsys, "delete", "--source", "../corpus/sub")
    assert code == 0 and "deleted 2 chunks of 2 files" in out and count(capsys) == 2
    code, out, _ = run(capsys, "delete", "--source", "../corpus/a.md")
    assert "deleted 2 chunks of 1 files" in out and count(capsys) == 0
    code, _, err = run(capsys, "delete")
    assert code == 2 and "--source" in err


def test_4_delete_by_filter_and_id(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "ingest", "../corpus", *CHUNK)[0] == 0
    code, out, _ = run(capsys, "delete", "--filter", '{"source": "../corpus/sub/b.txt"}')
    assert "deleted 1 rows" in out and count(capsys) == 2
    code, out, _ = run(capsys, "search", "cats", "--json", "--k", "1", "--mode", "sparse")
    first = json.loads(out)[0]["id"]
    code, out, _ = run(capsys, "delete", "--id", first)
    assert code == 0
    assert "deleted 1 rows" in out and count(capsys) == 1


# --- 5. skipped files are reported; files without an extension ------------------------------


def test_5_skipped_files_are_reported_and_extensionless_text_is_ingested(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = env / "corpus"
    (corpus / "README").write_text("Read me first: cats and dogs.\n")
    (corpus / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (corpus / "data").write_bytes(b"\x00\x01\x02")
    (corpus / "notes.docx").write_bytes(b"PK\x03\x04")
    code, out, err = run(capsys, "ingest", "../corpus", *CHUNK)
    assert code == 0
    assert "3 files" in out
    assert "skipped 3 files (1 .docx, 1 .png, 1 binary): data, logo.png, notes.docx" in err
    assert (corpus / "README").resolve().as_posix() in sources(capsys, "read me first")
    code, _, err = run(capsys, "ingest", "../corpus/logo.png")
    assert code == 2 and "cannot ingest '../corpus/logo.png' (.png)" in err


# --- 7. quiet, fast, one-line failures; no file from a read-only command ---------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "x"],
        ["collections", "describe"],
        ["collections", "drop", "--yes"],
        ["delete", "--source", "a.md"],
    ],
)
def test_7_a_read_only_command_creates_no_file(
    env: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    typo = env / "work" / "tpyo.db"
    code, _, err = run(capsys, *argv, "--uri", str(typo))
    assert code == 2 and "no Milvus Lite file at" in err and err.count("\n") == 1
    assert sorted(p.name for p in typo.parent.iterdir()) == []
    code, out, err = run(capsys, "collections", "list", "--json", "--uri", str(typo))
    assert code == 2 and out == "" and "no Milvus Lite file at" in err and not typo.exists()


def test_7_a_device_torch_cannot_use_fails_in_one_line(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, err = run(capsys, "ingest", "../corpus", "--device", "cuda")
    assert code == 2 and "--device cuda: this torch" in err and "--device cpu" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_7_a_model_not_installed_fails_fast_in_one_line(tmp_path: Path) -> None:
    """The real command (no fake): offline by default, so no minute of hub retries."""
    (tmp_path / "a.md").write_text("hello")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MILVUS_", "HF_", "TRANSF"))}
    t0 = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "milvus_rag.cli", "ingest", "a.md", "--model", "BAAI/no-such-model"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    seconds = time.monotonic() - t0
    assert res.returncode == 2
    assert res.stderr.startswith("milvus-rag: error: the embedding model 'BAAI/no-such-model' is")
    assert "HF_HUB_OFFLINE=0" in res.stderr and res.stderr.count("\n") == 1
    assert seconds < 30, seconds  # was 76 s of retries; about 1 s plus importing torch here
    assert not (tmp_path / "milvus_rag.db").exists()


def test_7_eval_skips_empty_documents_and_shows_progress(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from milvus_rag import evaluation

    data = beir(env / "beir", empty=True)
    code, out, err = run(capsys, "eval", str(data), "--modes", "sparse", "--json")
    assert code == 0, err
    assert "skipped 1 empty documents" in err
    assert json.loads(out)[0]["empty_skipped"] == 1
    rows = evaluation.run_eval(
        data, ["sparse"], uri=str(env / "e.db"), encoder=HashEncoder(32), progress=True
    )
    assert rows[0]["queries"] == 2
    err = capsys.readouterr().err
    assert "embed" in err and "3/3" in err  # the bar on stderr


# --- 8. search --json shows no private metadata -------------------------------------------


async def test_8_search_json_hides_framework_private_metadata(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = AsyncMilvusStore(str(env / "f.db"), collection_name="milvus_rag", dim=32)
    vec = HashEncoder(32).embed("cats purr")
    meta = {"k": 1, PRIVATE_KEY: {"node_type": "TextNode"}}
    await store.upsert([Record(id="n1", text="cats purr", vector=vec, metadata=meta)])
    await store.aclose()
    code, out, err = await asyncio_main(capsys, "search", "cats purr", "--json", "--k", "1")
    assert code == 0, err
    assert json.loads(out)[0]["metadata"] == {"k": 1}


async def asyncio_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """cli.main runs its own event loop: call it from a worker thread of this async test."""
    import asyncio

    code = await asyncio.to_thread(cli.main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err
