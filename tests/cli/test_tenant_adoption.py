"""Issue 23, finding 3 on the command line: after ``ingest --tenant-field tenant --tenant
acme``, the commands find the tenant field themselves (``search --tenant``, ``collections
describe``, ``export --all-tenants``), and the same folder can be ingested for a second
tenant (chunk ids include the tenant)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from milvus_rag import cli
from milvus_rag.cli import common as cli_common
from milvus_rag.ingest import chunk_id, file_records
from tests.fakes import HashEncoder

pytestmark = pytest.mark.integration
CHUNK = ["--chunk-size", "40", "--chunk-overlap", "0"]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(cli_common, "make_encoder", lambda *a, **k: HashEncoder(32))
    monkeypatch.setenv("MILVUS_URI", str(tmp_path / "ten.db"))
    monkeypatch.delenv("MILVUS_TOKEN", raising=False)
    monkeypatch.delenv("MILVUS_COLLECTION", raising=False)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("Cats purr when they are happy.\n\nKittens sleep a lot.\n")
    (corpus / "b.txt").write_text("Dogs bark at the mail carrier.\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_commands_adopt_the_tenant_field(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = ["--collection", "t"]
    code, out, err = run(
        capsys, "ingest", "corpus", *t, "--tenant-field", "tenant", "--tenant", "acme", *CHUNK
    )
    assert code == 0, err
    # a second tenant ingests the same folder (no --tenant-field: adopted)
    code, out, err = run(capsys, "ingest", "corpus", *t, "--tenant", "globex", *CHUNK)
    assert code == 0, err
    assert "3 written" in out
    code, out, err = run(capsys, "ingest", "corpus", *t, "--tenant", "globex", *CHUNK)
    assert code == 0 and "0 written (0 embedded), 3 unchanged, 0 deleted" in out, out + err
    code, out, err = run(capsys, "search", "cats", *t, "--tenant", "globex", "--json", "--k", "9")
    assert code == 0, err
    hits = json.loads(out)
    assert len(hits) == 3 and {h["metadata"]["tenant"] for h in hits} == {"globex"}
    code, out, err = run(capsys, "collections", "describe", "t", "--json")
    assert code == 0, err
    described = json.loads(out)
    assert described["count"] == 6 and described["tenant_field"] == "tenant"
    code, out, err = run(capsys, "export", *t, "--all-tenants", "--output", "all.jsonl")
    assert code == 0, err
    header, *rows = [json.loads(line) for line in (env / "all.jsonl").read_text().splitlines()]
    assert "milvus_rag_export" in header and len(rows) == 6
    assert {r["metadata"]["tenant"] for r in rows} == {"acme", "globex"}
    code, out, err = run(capsys, "search", "cats", *t, "--json")  # no tenant: one line
    assert code == 2 and "multi-tenant" in err and err.count("\n") == 1


def test_ids_include_the_tenant_and_keep_their_old_value_without_one() -> None:
    # the id of a chunk of a collection without tenants is unchanged (exact re-ingest of
    # collections made before): sha256("source\0text")[:32]
    assert chunk_id("/docs/a.md", "hello") == hashlib.sha256(b"/docs/a.md\0hello").hexdigest()[:32]
    ids = {chunk_id("/docs/a.md", "hello", t) for t in (None, "acme", "globex")}
    assert len(ids) == 3
    a = file_records("/docs/a.md", [(None, "one\n\ntwo")], tenant="acme")
    b = file_records("/docs/a.md", [(None, "one\n\ntwo")], tenant="globex")
    assert [r.text for r in a] == [r.text for r in b]
    assert not {r.id for r in a} & {r.id for r in b}
