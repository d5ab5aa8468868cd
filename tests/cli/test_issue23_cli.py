"""Regression tests of issue 23's command-line findings: repeated flags, one ``source``
canonicalisation, 0-row export/import, and the hostile-argument table over every subcommand
(in-process through ``cli.main``, the hashing fake encoder, a Milvus Lite file)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from milvus_rag import cli
from milvus_rag.cli import common as cli_common
from milvus_rag.cli.parser import build_parser
from tests.fakes import HashEncoder

pytestmark = pytest.mark.integration
CHUNK = ["--chunk-size", "40", "--chunk-overlap", "0"]
HUGE = "9" * 5000


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as e:  # argparse
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd = tmp_path/work; tmp_path/corpus/{a.md, b.txt}; MILVUS_URI = tmp_path/f.db."""
    monkeypatch.setattr(cli_common, "make_encoder", lambda *a, **k: HashEncoder(32))
    monkeypatch.setenv("MILVUS_URI", str(tmp_path / "f.db"))
    for name in ("MILVUS_TOKEN", "MILVUS_COLLECTION"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "work").mkdir()
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.md").write_text("Cats purr when they are happy.\n\nKittens nap.\n")
    (tmp_path / "corpus" / "b.txt").write_text("Dogs bark at the mail carrier.\n")
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path


def ids(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    code, out, err = run(capsys, "export", "--no-progress", *argv)
    assert code == 0, err
    return sorted(json.loads(line)["id"] for line in out.splitlines()[1:])


# --- 1. repeated flags ------------------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def test_every_multi_value_flag_is_repeatable() -> None:
    """Every optional flag taking several values extends (``--id A --id B`` == ``--id A B``)."""
    found = []
    for name, sub in _subparsers(build_parser()).items():
        for action in sub._actions:
            if action.option_strings and action.nargs in ("+", "*", argparse.REMAINDER):
                assert isinstance(action, argparse._ExtendAction), (name, action.option_strings)
                found.append((name, action.option_strings[0]))
            assert type(action) is not argparse._AppendAction, (name, action.option_strings)
    assert {
        ("delete", "--id"),
        ("delete", "--source"),
        ("eval", "--modes"),
        ("mcp", "--allow-path"),
        ("mcp", "--allow-origin"),
    } <= set(found)
    parse = build_parser().parse_args
    assert parse(["delete", "--id", "a", "--id", "b", "c"]).id == ["a", "b", "c"]
    assert parse(["eval", "d", "--modes", "dense", "--modes", "sparse"]).modes == [
        "dense",
        "sparse",
    ]
    assert parse(["eval", "d"]).modes is None  # the command's default, never extended


def test_repeated_id_and_source_flags_act_on_every_value(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "ingest", "../corpus", *CHUNK)[0] == 0
    every = ids(capsys)
    assert len(every) == 3
    code, out, err = run(capsys, "delete", "--id", every[0], "--id", every[1], "--dry-run")
    assert code == 0 and "would delete 2 rows" in out, err
    code, out, _ = run(
        capsys, "delete", "--source", "../corpus/a.md", "--source", "../corpus/b.txt", "--dry-run"
    )
    assert code == 0 and "would delete 3 chunks of 2 files" in out
    code, out, _ = run(capsys, "delete", "--id", every[0], "--id", every[1])
    assert code == 0 and "deleted 2 rows" in out
    assert ids(capsys) == every[2:]


# --- 1. one canonicalisation of source; 0-row export / import --------------------------------


def test_export_filter_on_a_relative_source_finds_the_rows(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "ingest", "../corpus", *CHUNK)[0] == 0
    rel = ids(capsys, "--filter", '{"source": "../corpus/a.md"}')
    absolute = (env / "corpus" / "a.md").resolve().as_posix()
    assert len(rel) == 2 and ids(capsys, "--filter", json.dumps({"source": absolute})) == rel
    code, out, _ = run(
        capsys, "search", "cats", "--json", "--filter", '{"source": "../corpus/a.md"}'
    )
    assert code == 0 and sorted(h["id"] for h in json.loads(out)) == rel
    code, out, _ = run(capsys, "delete", "--filter", '{"source": "../corpus/a.md"}', "--dry-run")
    assert code == 0 and "would delete 2 rows" in out
    not_a = ids(capsys, "--filter", '{"source": {"$ne": "../corpus/a.md"}}')
    assert len(not_a) == 1 and not set(not_a) & set(rel)


def test_export_and_import_of_no_rows_say_so(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "ingest", "../corpus", *CHUNK)[0] == 0
    out_file = env / "none.jsonl"
    code, _, err = run(
        capsys, "export", "--filter", '{"source": "nope.md"}', "-o", str(out_file), "--no-progress"
    )
    assert code == 0 and "exported 0 rows" in err
    assert "warning: no rows matched" in err and "--filter" in err
    assert len(out_file.read_text().splitlines()) == 1  # the header
    code, _, err = run(capsys, "import", str(out_file), "--collection", "copy", "--no-progress")
    assert code == 0 and "0 rows read" in err and "holds no rows: nothing imported" in err


# --- 2. no traceback: hostile arguments to every subcommand ----------------------------------

HOSTILE: list[tuple[str, ...]] = [
    # ingest
    ("ingest",),
    ("ingest", ""),
    ("ingest", "/no/such/path"),
    ("ingest", "../corpus", "--chunk-size", "0"),
    ("ingest", "../corpus", "--chunk-size", "x"),
    ("ingest", "../corpus", "--chunk-overlap", "-1"),
    ("ingest", "../corpus", "--metadata-fields", "[]"),
    ("ingest", "../corpus", "--metadata-fields", '{"y": "nope"}'),
    ("ingest", "../corpus", "--collection", ""),
    ("ingest", "../corpus", "--collection", HUGE),
    ("ingest", "../corpus", "--encoding", "no-such-codec"),
    # search
    ("search",),
    ("search", ""),
    ("search", "   "),
    ("search", "q", "--k", "0"),
    ("search", "q", "--k", HUGE),
    ("search", "q", "--k", "[]"),
    ("search", "q", "--filter", "{}x"),
    ("search", "q", "--filter", "[]"),
    ("search", "q", "--filter", "null"),
    ("search", "q", "--filter", '{"source": []}'),
    ("search", "q", "--filter", '{"$and": 5}'),
    ("search", "q", "--filter", '{"a": ' * 3000),
    ("search", "q", "--search-params", "[]"),
    ("search", "q", "--radius", "nan"),
    ("search", "q", "--timeout", "0"),
    ("search", "q", "--mode", "fuzzy"),
    ("search", "q", "--uri", ""),
    ("search", "q", "--uri", "/no/such/dir/x.db"),
    ("search", "q", "--collection", "a b"),
    ("search", "q", "--tenant", ""),
    ("search", "q", "--tenant", "acme"),
    # delete
    ("delete",),
    ("delete", "--id"),
    ("delete", "--id", ""),
    ("delete", "--source", ""),
    ("delete", "--filter", "{}"),
    ("delete", "--filter", "{}", "--dry-run"),
    ("delete", "--filter", "[]", "--dry-run"),
    ("delete", "--filter", HUGE),
    ("delete", "--id", "a", "--source", "b"),
    ("delete", "--id", "a", "--collection", "missing_one"),
    # eval
    ("eval",),
    ("eval", ""),
    ("eval", "/no/such/dir"),
    ("eval", "../corpus"),
    ("eval", "../corpus", "--reuse", "--overwrite"),
    ("eval", "../corpus", "--k", "x"),
    # collections
    ("collections", "nope"),
    ("collections", "list", "extra"),
    ("collections", "describe", ""),
    ("collections", "describe", "missing_one"),
    ("collections", "drop", "missing_one", "--yes"),
    ("collections", "--uri", "./nonexist.db"),
    ("collections", "describe", "--uri", "./nonexist.db"),
    # mcp (none of these may start a server)
    ("mcp", "--port", "x"),
    ("mcp", "--port", "-1"),
    ("mcp", "--port", HUGE),
    ("mcp", "--transport", "carrier-pigeon"),
    ("mcp", "--transport", "http", "--host", "0.0.0.0"),
    ("mcp", "--read-only", "--allow-path", "."),
    ("mcp", "--allow-path", "/no/such/dir"),
    ("mcp", "--allow-origin", "https://a.example"),
    ("mcp", "--max-body-bytes", "0"),
    # demo
    ("demo", "--k", "0"),
    ("demo", "--k", HUGE),
    ("demo", "--uri", "/no/such/dir/d.db"),
    # export
    ("export", "--filter", "[]"),
    ("export", "--filter", '{"page": {"$zz": 1}}'),
    ("export", "--batch-size", "0"),
    ("export", "--output", "/no/such/dir/o.jsonl"),
    ("export", "--uri", "./nonexist.db"),
    ("export", "--collection", "missing_one"),
    # import
    ("import",),
    ("import", ""),
    ("import", "/no/such/file.jsonl"),
    ("import", "."),
    ("import", "../corpus/a.md", "--batch-size", "0"),
    # migrate
    ("migrate",),
    ("migrate", "--from", "a"),
    ("migrate", "--from", "", "--to", "b"),
    ("migrate", "--from", "a", "--to", "a"),
    ("migrate", "--from", "nope", "--to", "b"),
    ("migrate", "--from", "a", "--to", "b", "--batch-size", "0"),
    ("migrate", "--from", "a", "--to", "b", "--uri", "./nonexist.db"),
    # no command
    (),
    ("nope",),
]


def _hostile_settings(mp: pytest.MonkeyPatch, root: Path) -> None:
    mp.setattr(cli_common, "make_encoder", lambda *a, **k: HashEncoder(32))
    mp.setenv("MILVUS_URI", str(root / "h.db"))
    for name in ("MILVUS_TOKEN", "MILVUS_COLLECTION"):
        mp.delenv(name, raising=False)
    mp.chdir(root / "work")


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Lite file holding one collection (so commands get past "no file"), built once."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "work").mkdir()
    (root / "corpus").mkdir()
    (root / "corpus" / "a.md").write_text("Cats purr.\n")
    with pytest.MonkeyPatch.context() as mp:
        _hostile_settings(mp, root)
        assert cli.main(["ingest", "../corpus", "--no-progress"]) == 0
    return root


@pytest.fixture
def hostile_env(hostile_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """cwd beside the file, the fake encoder, and an MCP server that must never start."""
    import milvus_rag.integrations.mcp as mcp

    def no_serving(*_a: Any, **_k: Any) -> None:
        raise AssertionError("a hostile mcp command started the server")

    _hostile_settings(monkeypatch, hostile_db)
    monkeypatch.setattr(mcp, "serve", no_serving)
    return hostile_db


def test_the_table_covers_every_subcommand() -> None:
    assert set(_subparsers(build_parser())) <= {argv[0] for argv in HOSTILE if argv}


@pytest.mark.parametrize("argv", HOSTILE, ids=lambda a: " ".join(x[:20] for x in a) or "-")
def test_hostile_arguments_give_one_line_and_exit_2(
    hostile_env: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    before = sorted(p.name for p in (hostile_env / "work").iterdir())
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, ""), err
    assert err.count("\n") == 1 and err.startswith("milvus-rag"), err
    assert "Traceback" not in err and "internal error" not in err, err
    assert sorted(p.name for p in (hostile_env / "work").iterdir()) == before  # no file made


# --- 7. a demo that teaches -------------------------------------------------------------------


def test_demo_corpus_is_the_python_reference_with_clean_snippets() -> None:
    from milvus_rag.cli import demo as cli_demo

    corpus = cli_demo.demo_corpus()
    assert set(corpus) == set(cli_demo.TOPICS)  # every topic exists in this Python
    assert {topic for _, topic in cli_demo.QUESTIONS} <= set(corpus)
    records = cli_demo.demo_records(corpus)
    assert len(records) < 120  # seconds to embed, not minutes
    assert {r.metadata["source"] for r in records} == {"python-reference/" + t for t in corpus}
    tries = [r for r in records if r.metadata["source"] == "python-reference/try"]
    assert tries[0].metadata["title"] == 'The "try" statement'
    snippet = cli_demo.clean_snippet(tries[0].text)
    assert snippet.startswith('The "try" statement specifies exception handlers')
    assert "::=" not in snippet and "***" not in snippet and len(snippet) <= 162


@pytest.mark.slow
def test_demo_answers_each_question_with_the_real_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real MiniLM (what ``make demo`` runs): each question's top hybrid hit is its topic;
    a second run writes nothing."""
    from milvus_rag.cli import demo as cli_demo

    monkeypatch.chdir(tmp_path)
    for name in ("MILVUS_URI", "MILVUS_TOKEN", "MILVUS_COLLECTION"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = run(capsys, "demo")
    assert code == 0 and err == "", err
    blocks = out.split("Q: ")[1:]
    assert len(blocks) == len(cli_demo.QUESTIONS)
    for block, (question, topic) in zip(blocks, cli_demo.QUESTIONS, strict=True):
        assert block.startswith(question)
        assert block.splitlines()[1].startswith(f"  1. {topic}: "), block
    n = len(cli_demo.demo_records())
    assert f"{n} chunks) in " in out and f": {n} written, 0 unchanged" in out.splitlines()[0]
    code, out, err = run(capsys, "demo")
    assert code == 0 and f": 0 written, {n} unchanged" in out.splitlines()[0], out


# --- 4. text decoded strictly ----------------------------------------------------------------


def stored_texts(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    code, out, err = run(capsys, "export", "--no-progress")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()[1:]]
    return {Path(r["metadata"]["source"]).name: r["text"] for r in rows}


def test_text_that_does_not_decode_is_skipped_by_name_never_stored_damaged(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = env / "corpus"
    (corpus / "latin.txt").write_bytes("Café crème brûlée".encode("latin-1"))
    (corpus / "nul.md").write_bytes(b"# Title\n\nsome\x00text\n")
    (corpus / "bom8.md").write_bytes("\ufeffBOM UTF-8 here".encode())
    (corpus / "wide.txt").write_bytes("Grüße in UTF-16".encode("utf-16"))  # with its BOM
    code, out, err = run(capsys, "ingest", "../corpus", *CHUNK)
    assert code == 0, err
    assert err.startswith("skipped 2 files (1 NUL bytes, 1 not UTF-8): latin.txt, nul.md")
    assert "--encoding" in err and err.count("\n") == 1
    texts = stored_texts(capsys)
    assert "latin.txt" not in texts and "nul.md" not in texts
    assert texts["bom8.md"] == "BOM UTF-8 here" and texts["wide.txt"] == "Grüße in UTF-16"
    assert not any("\ufffd" in t or "\0" in t for t in texts.values())
    # a file named explicitly is skipped the same way; --encoding reads it
    code, out, err = run(capsys, "ingest", "../corpus/latin.txt")
    assert code == 0 and "skipped 1 files (1 not UTF-8): latin.txt" in err
    code, out, err = run(capsys, "ingest", "../corpus/latin.txt", "--encoding", "latin-1")
    assert code == 0 and err == "" and "1 written" in out
    assert stored_texts(capsys)["latin.txt"] == "Café crème brûlée"
    # a stored file that stops decoding loses its (old) chunks: nothing damaged stays
    (corpus / "latin.txt").write_bytes("Café au lait".encode("latin-1"))
    code, out, err = run(capsys, "ingest", "../corpus", *CHUNK)
    assert code == 0 and "(1 file now empty)" in out and "latin.txt" in err
    assert "latin.txt" not in stored_texts(capsys)
    code, _, err = run(capsys, "ingest", "../corpus", "--encoding", "klingon")
    assert code == 2 and "unknown encoding 'klingon'" in err


# --- 5. messages -----------------------------------------------------------------------------


def test_emptied_and_removed_files_and_small_rates_are_reported_as_they_are(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from milvus_rag.ingest.sync import IngestStats

    assert run(capsys, "ingest", "../corpus", *CHUNK)[0] == 0
    (env / "corpus" / "a.md").write_text("")
    code, out, _ = run(capsys, "ingest", "../corpus", *CHUNK)
    assert code == 0 and "2 deleted (1 file now empty) in " in out and "files removed" not in out
    (env / "corpus" / "a.md").unlink()
    (env / "corpus" / "b.txt").unlink()
    code, out, _ = run(capsys, "ingest", "../corpus", *CHUNK)
    assert code == 0 and "1 deleted (1 file removed) in " in out
    slow = IngestStats(files=1, chunks=2, written=2, embedded=2, seconds=13.3).summary()
    assert slow.endswith("in 13.3 s (0.15 rows/s)")
    assert IngestStats(files=1, chunks=2, unchanged=2, seconds=2.0).summary().endswith("in 2.0 s")


def test_eval_reuse_reports_no_skipped_documents(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.cli.test_new_user_findings import beir

    data = beir(env / "beir", empty=True)
    code, out, err = run(capsys, "eval", str(data), "--modes", "sparse", "--keep", "--json")
    assert code == 0 and "skipped 1 empty documents" in err
    code, out, err = run(capsys, "eval", str(data), "--modes", "sparse", "--reuse", "--json")
    assert code == 0 and "skipped" not in err, err
    assert json.loads(out)[0]["empty_skipped"] == 0  # it ingested nothing


def test_migrate_from_a_missing_collection_hints_its_own_flags(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "ingest", "../corpus", *CHUNK)[0] == 0
    code, _, err = run(capsys, "migrate", "--from", "nope", "--to", "b")
    assert code == 2 and "collection 'nope' does not exist" in err
    assert "another --from" in err and "--collection" not in err


def test_collections_and_search_agree_on_a_missing_file(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["collections"], ["collections", "list", "--json"], ["search", "x"]):
        code, out, err = run(capsys, *argv, "--uri", "./nonexist.db")
        assert (code, out) == (2, "") and "no Milvus Lite file at './nonexist.db'" in err
        assert err.count("\n") == 1 and not Path("nonexist.db").exists()


# --- 4. a .db that is not a (whole) Milvus Lite database --------------------------------------


def _damaged_copies(good: Path) -> dict[str, Path]:
    """Copies of a sound Lite file, each wrong in one way (and a 0-byte one)."""
    data = good.read_bytes()
    page = int.from_bytes(data[16:18], "big")
    files = {
        "truncated": data[: len(data) // 3],
        "random": bytes(range(256)) * 40,
        "text": b"name,score\nalice,3\n",
        "empty": b"",
    }
    mangled = bytearray(data)
    for p in range(1, len(data) // page, 2):  # every other b-tree page header clobbered
        mangled[p * page : p * page + 8] = b"\xff" * 8
    files["damaged"] = bytes(mangled)
    out = {}
    for name, content in files.items():
        out[name] = good.parent / f"{name}.db"
        out[name].write_bytes(content)
    foreign = good.parent / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE notes (body TEXT)")
    con.commit()
    con.close()
    out["foreign"] = foreign
    return out


WRONG = {
    "truncated": "is truncated (",
    "random": "is not a Milvus Lite database: it holds bytes of another format",
    "text": "is not a Milvus Lite database: it holds plain text",
    "empty": "is empty (0 bytes), not a database",
    "damaged": "is damaged (SQLite: ",
    "foreign": "is an SQLite database, but not a Milvus Lite one",
}


def test_a_bad_db_gets_one_line_naming_it_and_no_engine_output(
    env: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """fd-level capture: the engine (a subprocess) must not write to the terminal either."""
    assert cli.main(["ingest", "../corpus", *CHUNK]) == 0
    capfd.readouterr()
    files = _damaged_copies(env / "f.db")
    sizes = {name: path.stat().st_size for name, path in files.items()}
    for name, path in files.items():
        for argv in (["search", "cats"], ["collections"], ["export"]):
            code = cli.main([*argv, "--uri", str(path)])
            out, err = capfd.readouterr()
            assert (code, out) == (2, ""), (name, argv, out, err)
            assert err.count("\n") == 1 and str(path.name) in err, (name, argv, err)
            assert WRONG[name] in err, (name, argv, err)
        assert path.stat().st_size == sizes[name]  # never turned into a database
    code = cli.main(["ingest", "../corpus", "--uri", str(files["text"])])
    _out, err = capfd.readouterr()
    assert code == 2 and WRONG["text"] in err and err.count("\n") == 1


def test_lite_file_problem_reads_the_header_only() -> None:
    from milvus_rag.client.lite_file import lite_file_problem

    assert lite_file_problem("/no/such/file.db") is None
    assert lite_file_problem(str(Path(__file__).parent)) is None  # a folder: Lite 3


# --- 6. make demo leaves nothing untracked ----------------------------------------------------


def test_the_lite_lock_file_next_to_the_default_db_is_git_ignored() -> None:
    import fnmatch

    from milvus_rag.client.lite_lock import lock_path

    root = Path(__file__).resolve().parents[2]
    name = Path(lock_path(str(root / "milvus_rag.db"))).name
    assert name == ".milvus_rag.db.milvus_rag.lock"
    patterns = [
        line.strip()
        for line in (root / ".gitignore").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "/" not in line.strip()
    ]
    assert any(fnmatch.fnmatch(name, p) for p in patterns), patterns


async def test_mcp_filters_take_a_source_as_given_to_ingest(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from milvus_rag.integrations.mcp import MCPSettings, MilvusMCPState

    assert await asyncio.to_thread(cli.main, ["ingest", "../corpus", *CHUNK]) == 0
    state = MilvusMCPState(
        MCPSettings(uri=str(env / "f.db"), collection="milvus_rag"), encoder=HashEncoder(32)
    )
    try:
        rel = {"source": "../corpus/a.md"}
        hits = (await state.search("cats", filter=rel, mode="dense", k=10))["hits"]
        assert len(hits) == 2 and {h["metadata"]["source"] for h in hits} == {
            (env / "corpus" / "a.md").resolve().as_posix()
        }
        assert (await state.count(filter=rel))["count"] == 2
        assert (await state.delete(filter=rel))["deleted"] == 2
        assert (await state.count())["count"] == 1
    finally:
        await state.aclose()


def test_a_snippet_is_prose() -> None:
    from milvus_rag.cli.demo import clean_snippet

    text = 'Title\n=====\n\n>>> def f():\n...     return 1\n   grammar ::= "x"\nThe prose.'
    assert clean_snippet(text) == "The prose."
