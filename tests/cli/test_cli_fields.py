"""``milvus-rag search --fields`` on a collection of four vector fields (issue 25): the body
(``dense``, the primary), the title (``title``, dense, the same model), BM25 on the text and
a client-side sparse field; the hashing fake encoder, a Milvus Lite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from milvus_rag import Leg, MilvusStore, Record
from milvus_rag.client.vector_fields import VectorField
from tests.cli.test_cli import env, run  # noqa: F401  (fixture)
from tests.fakes import HashEncoder

pytestmark = pytest.mark.integration

DOCS = {
    "cats": ("Cats", "Cats purr when they are happy. Kittens sleep a lot."),
    "dogs": ("Dogs", "Dogs bark at the mailman. Puppies chew shoes."),
    "birds": ("Birds of the sea", "Gulls fly over the harbour and steal chips."),
    "fish": ("Fish", "Carp swim in the pond; cats watch them."),
}


@pytest.fixture
def fields_db(env: Path) -> Path:  # noqa: F811
    """The four-field collection ``cli_docs`` (and ``small``: a title field of dim 16)."""
    enc = HashEncoder(32)
    store = MilvusStore(
        str(env / "cli.db"),
        collection_name="cli_docs",
        vector_fields=[
            VectorField.dense("dense", dim=32),
            VectorField.sparse("sparse", bm25=True),
            VectorField.dense("title", dim=32),
            VectorField.sparse("splade"),
        ],
    )
    store.upsert(
        [
            Record(
                id=key,
                text=body,
                vector=enc.embed(body),
                vectors={"title": enc.embed(title), "splade": {i + 1: 1.0}},
                doc_id=key,
            )
            for i, (key, (title, body)) in enumerate(DOCS.items())
        ]
    )
    store.close()
    small = MilvusStore(
        str(env / "cli.db"),
        collection_name="small",
        vector_fields=[VectorField.dense("dense", dim=32), VectorField.dense("title", dim=16)],
    )
    small.upsert(
        [Record(id="a", text="cats", vector=enc.embed("cats"), vectors={"title": [1.0] * 16})]
    )
    small.close()
    return env


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    code, out, err = run(capsys, "search", *argv, "--json")
    assert code == 0, err
    hits: list[dict[str, object]] = json.loads(out)
    return hits


def test_search_fields(fields_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    title = _json(capsys, "birds of the sea", "--fields", "title", "--k", "2")
    assert title[0]["id"] == "birds" and title[0]["score_type"] == "cosine"
    assert title[0]["relevance"] == pytest.approx(1.0, abs=1e-5)  # its own cosine
    bm25 = _json(capsys, "mailman", "--fields", "sparse", "--k", "2")
    assert [h["id"] for h in bm25] == ["dogs"] and bm25[0]["score_type"] == "bm25"
    fused = _json(capsys, "cats", "--fields", "title", "sparse", "--k", "3")
    assert {h["score_type"] for h in fused} == {"rrf"} and fused[0]["id"] == "cats"
    assert all(h["relevance"] is not None for h in fused)  # the body's cosine
    weighted = _json(capsys, "cats", "--fields", "title", "sparse", "--weights", "3", "1")
    assert weighted[0]["score_type"] == "weighted" and weighted[0]["id"] == "cats"
    # the same hits as the core's search of the same legs
    enc = HashEncoder(32)
    store = MilvusStore(str(fields_db / "cli.db"), collection_name="cli_docs")
    try:
        legs = [Leg("title", enc.encode_query("cats")), Leg("sparse")]
        core = store.search(text="cats", legs=legs, k=3)
        assert [h.id for h in core] == [h["id"] for h in fused]
        assert [h.score for h in core] == pytest.approx([h["score"] for h in fused])
        plain = store.search(text="cats", vector=enc.encode_query("cats"), k=3)  # the modes
    finally:
        store.close()
    default = _json(capsys, "cats", "--k", "3")
    assert [h["id"] for h in default] == [h.id for h in plain]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fields", "splade"], "no sparse encoder"),
        (["--fields", "image"], "no vector field 'image'"),
        (["--fields", "title", "--mode", "dense"], "leave out --mode"),
        (["--fields", "title", "sparse", "--weights", "1"], "one weight per field"),
        (["--weights", "1", "2"], "--fields"),
        (["--fields", "title", "sparse", "--radius", "0.5"], "one leg"),
        (["--fields", "sparse", "--radius", "0.5"], "'sparse' is sparse"),
        (["--fields", "title", "--collection", "small"], "dim is 16"),
    ],
)
def test_search_fields_refused_in_one_line(
    fields_db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, "search", "cats", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
