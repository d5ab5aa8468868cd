"""Pure helpers of the ``milvus-rag`` command: file discovery, chunking, ids, filter parsing."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from milvus_rag import ConfigError
from milvus_rag.cli.common import parse_filter
from milvus_rag.ingest import (
    canonical_filter,
    canonical_source,
    chunk_id,
    chunk_text,
    discover,
    discover_files,
    file_doc_id,
    file_records,
    read_pages,
    source_doc_id,
)
from milvus_rag.ingest.sync import plan_sync


def make_pdf(path: Path, pages: list[str]) -> None:
    """A minimal valid PDF with one line of Helvetica text per page (no PDF writer needed)."""
    objects: list[bytes] = []
    n = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    font_obj = 3 + 2 * n
    for i, text in enumerate(pages):
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_obj} 0 R >> >> >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    path.write_bytes(bytes(out))


def test_discover_files_walks_folders_skips_hidden_and_reports_unsupported(
    tmp_path: Path,
) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / ".hidden").mkdir()
    for name in ("d/a.md", "d/sub/b.txt", "d/c.PDF", "d/.hidden/x.md", "d/.y.md", "d/z.py"):
        (tmp_path / name).write_text("x")
    (tmp_path / "d" / "README").write_text("plain text without an extension")
    (tmp_path / "d" / "blob").write_bytes(b"\x00\x01binary")
    found = discover([tmp_path / "d", tmp_path / "d" / "a.md"])
    names = [p.relative_to((tmp_path / "d").resolve()).as_posix() for p in found.files]
    assert names == ["README", "a.md", "c.PDF", "sub/b.txt"]  # sorted, deduplicated
    assert all(p.is_absolute() for p in found.files)
    assert sorted((p.name, why) for p, why in found.skipped) == [
        ("blob", "binary"),
        ("z.py", ".py"),
    ]
    assert found.skipped_summary() == "skipped 2 files (1 .py, 1 binary): blob, z.py"
    assert found.folders == [(tmp_path / "d").resolve()]
    assert discover_files([tmp_path / "d" / "README"]) == [(tmp_path / "d" / "README").resolve()]


def test_discover_files_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or folder"):
        discover_files([tmp_path / "missing.md"])
    (tmp_path / "code.py").write_text("x")
    with pytest.raises(ConfigError, match=r"cannot ingest .*code\.py.*\(\.py\)"):
        discover_files([tmp_path / "code.py"])
    (tmp_path / "blob").write_bytes(b"\x00\x01")
    with pytest.raises(ConfigError, match=r"cannot ingest .*blob.*binary"):
        discover_files([tmp_path / "blob"])
    (tmp_path / "code.py").unlink()
    (tmp_path / "blob").unlink()
    assert discover_files([tmp_path]) == []


def test_canonical_sources_and_filters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    absolute = (tmp_path / "corpus" / "a.md").resolve().as_posix()
    assert canonical_source("../corpus/a.md") == absolute  # the file need not exist
    assert canonical_source(tmp_path / "corpus" / "a.md") == absolute
    filt = {
        "source": "../corpus/a.md",
        "$or": [{"source": {"$in": ["../corpus/a.md", "https://x.org/a"]}}, {"page": 1}],
        "$not": {"source": {"$ne": "../corpus/a.md"}},
        "title": "../corpus/a.md",
    }
    given = "../corpus/a.md"
    assert canonical_filter(filt) == {  # a source as given or as ingest stores it
        "source": {"$in": [given, absolute]},
        "$or": [{"source": {"$in": [given, absolute, "https://x.org/a"]}}, {"page": 1}],
        "$not": {"source": {"$nin": [given, absolute]}},
        "title": "../corpus/a.md",  # only source is a path
    }
    assert canonical_filter({"source": absolute}) == {"source": absolute}
    assert canonical_filter(canonical_filter(filt)) == canonical_filter(filt)
    assert canonical_filter(None) is None


def test_plan_sync_writes_what_differs_reuses_vectors_deletes_the_rest() -> None:
    from milvus_rag import Record

    stored = [
        Record("a", "same", metadata={"i": 0}),
        Record("b", "moved", metadata={"i": 1}),
        Record("old", "renamed text", metadata={"i": 2}),
    ]
    desired = [
        Record("a", "same", metadata={"i": 0}),
        Record("b", "moved", metadata={"i": 5}),  # metadata changed: rewritten, own vector
        Record("new", "renamed text", metadata={"i": 0}),  # text stored elsewhere: reused
        Record("fresh", "never seen"),
    ]
    plan = plan_sync(desired, stored)
    assert plan.unchanged == 1
    assert [r.id for r in plan.write] == ["b", "new", "fresh"]
    assert plan.reuse == {"b": "b", "new": "old"}
    assert plan.delete == ["old"]
    assert plan_sync(stored, stored).write == [] and plan_sync([], stored).delete == [
        "a",
        "b",
        "old",
    ]


def test_chunk_ids_are_content_hashes() -> None:
    assert chunk_id("/a.md", "hello") == chunk_id("/a.md", "hello")
    assert chunk_id("/a.md", "hello") != chunk_id("/b.md", "hello")
    assert chunk_id("/a.md", "hello") != chunk_id("/a.md", "hello!")
    assert len(chunk_id("/a.md", "x")) == 32
    assert source_doc_id("/a.md") == source_doc_id("/a.md") != source_doc_id("/b.md")
    assert file_doc_id(b"abc") == file_doc_id(b"abc") != file_doc_id(b"abd")


def test_chunk_text_respects_size_and_prefers_headings() -> None:
    text = (
        "# Title\n\nintro paragraph.\n\n## Part one\n\n" + "word " * 300 + "\n\n## Part two\n\nend."
    )
    chunks = chunk_text(text, chunk_size=400, chunk_overlap=50)
    assert all(len(c) <= 400 for c in chunks)
    assert chunks[0].startswith("# Title")
    assert any(c.startswith("## Part two") for c in chunks)
    assert chunk_text("   \n\n ") == []
    with pytest.raises(ConfigError):
        chunk_text("x", chunk_size=10, chunk_overlap=10)


def test_file_records_metadata_and_stable_ids() -> None:
    text = "alpha paragraph.\n\nbeta paragraph.\n\nalpha paragraph."
    pages = [(None, text)]
    recs = file_records("/abs/docs/a.md", pages, chunk_size=20, chunk_overlap=0)
    again = file_records("/abs/docs/a.md", pages, chunk_size=20, chunk_overlap=0)
    assert [r.id for r in recs] == [r.id for r in again]
    assert [r.text for r in recs] == ["alpha paragraph.", "beta paragraph."]  # duplicate kept once
    assert [r.metadata for r in recs] == [
        {"source": "/abs/docs/a.md", "chunk_index": 0, "start_index": 0},
        {"source": "/abs/docs/a.md", "chunk_index": 1, "start_index": 18},
    ]
    # the doc_id names the file, not its version: unchanged chunks keep theirs across edits
    edited = file_records(
        "/abs/docs/a.md", [(None, "new.\n\n" + text)], chunk_size=20, chunk_overlap=0
    )
    assert (
        {r.doc_id for r in recs} == {r.doc_id for r in edited} == {source_doc_id("/abs/docs/a.md")}
    )
    assert all(r.vector is None for r in recs)


def test_read_pages_pdf_and_text(tmp_path: Path) -> None:
    pdf = tmp_path / "paper.pdf"
    make_pdf(pdf, ["Milvus stores vectors", "BM25 ranks keywords"])
    data, pages = read_pages(pdf)
    assert data.startswith(b"%PDF")
    assert [p for p, _ in pages] == [1, 2]
    assert "Milvus stores vectors" in pages[0][1]
    recs = file_records(str(pdf), pages)
    assert [r.metadata["page"] for r in recs] == [1, 2]
    txt = tmp_path / "a.txt"
    txt.write_text("héllo", encoding="utf-8")
    assert read_pages(txt)[1] == [(None, "héllo")]


def test_parse_filter() -> None:
    assert parse_filter(None) is None
    assert parse_filter("  ") is None
    assert parse_filter('{"year": {"$gte": 2020}}') == {"year": {"$gte": 2020}}
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_filter("{bad")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        parse_filter("[1, 2]")


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.text(alphabet="abc .\n#", min_size=1, max_size=60), min_size=1, max_size=12).map(
        "\n\n".join
    )
)
def test_ingested_chunks_carry_their_offsets(text: str) -> None:
    recs = file_records(
        "/abs/a.md", [(None, text), (2, text.upper())], chunk_size=40, chunk_overlap=10
    )
    joined = text + "\n" + text.upper()  # the pages, as the offsets count them
    starts = [r.metadata["start_index"] for r in recs]
    assert starts == sorted(starts)
    for r, s in zip(recs, starts, strict=True):
        assert joined[s : s + len(r.text)] == r.text
