"""Rows in the langchain-milvus and llama-index-vector-stores-milvus layouts: Record <-> row
dict (pure), filters on their metadata, config validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from milvus_rag.client import rows
from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import ConfigError, FilterError, InvalidInputError
from milvus_rag.client.filters import Dialect, compile_filter, ids_expr
from milvus_rag.client.node_content import from_node_keys, node_keys
from milvus_rag.client.records import PRIVATE_KEY, Limits, Record, validate_records

DATA = Path(__file__).parent / "data" / "layouts"
TYPED = {"source": "varchar", "year": "int64", "score": "double", "draft": "bool"}

LC_TYPED = CollectionConfig(
    name="c",
    dim=2,
    layout="langchain",
    id_field="pk",
    id_type="int64",
    auto_id=True,
    vector_field="vector",
    doc_id_field=None,
    metadata_field=None,
    metadata_fields=TYPED,
    enable_bm25=False,
    metric="L2",
)
LC_DYNAMIC = CollectionConfig(
    name="c",
    dim=2,
    layout="langchain",
    id_field="pk",
    vector_field="vector",
    doc_id_field=None,
    metadata_field=None,
    dynamic_field=True,
    enable_bm25=False,
)
LC_JSON = CollectionConfig(
    name="c",
    dim=2,
    layout="langchain",
    id_field="pk",
    vector_field="vector",
    doc_id_field=None,
    enable_bm25=False,
)
LLAMA = CollectionConfig(
    name="c",
    dim=2,
    layout="llama_index",
    vector_field="embedding",
    metadata_field=None,
    dynamic_field=True,
    metric="IP",
)
META = {"source": "s0", "year": 2000, "score": 0.5, "draft": True}


def vec() -> list[float]:
    return [0.5, 0.25]


# --- writes -----------------------------------------------------------------------------


def test_langchain_typed_row_has_the_columns_and_no_id() -> None:
    row = rows.to_row(LC_TYPED, Record(id="", text="t", vector=vec(), metadata=META))
    assert row == {"text": "t", "vector": vec(), **META}


def test_langchain_typed_refuses_a_missing_value_and_an_unknown_key() -> None:
    with pytest.raises(InvalidInputError, match="cannot be empty"):
        rows.to_row(
            LC_TYPED,
            Record(id="", text="t", vector=vec(), metadata={"source": "s"}),
            nullable=False,
        )
    with pytest.raises(InvalidInputError, match=r"\['lang'\] has no column"):
        rows.to_row(
            LC_TYPED,
            Record(id="", text="t", vector=vec(), metadata={**META, "lang": "en"}),
            nullable=False,
        )


def test_langchain_dynamic_and_json_rows() -> None:
    r = Record(id="a", text="t", vector=vec(), metadata={"k": 1, "n": {"x": [1]}})
    assert rows.to_row(LC_DYNAMIC, r) == {
        "pk": "a",
        "text": "t",
        "vector": vec(),
        "k": 1,
        "n": {"x": [1]},
    }
    assert rows.to_row(LC_JSON, r) == {
        "pk": "a",
        "text": "t",
        "vector": vec(),
        "metadata": {"k": 1, "n": {"x": [1]}},
    }
    with pytest.raises(InvalidInputError, match=r"\['text'\] are fields"):
        rows.to_row(LC_DYNAMIC, Record(id="a", text="t", vector=vec(), metadata={"text": 1}))
    with pytest.raises(InvalidInputError, match="no doc_id field"):
        rows.to_row(LC_JSON, Record(id="a", text="t", vector=vec(), doc_id="D"))


def test_llama_row_matches_what_llama_index_writes() -> None:
    """The row llama-index-vector-stores-milvus 1.2 wrote for node d0 (captured), and the
    row milvus-rag writes for the same node: same keys, same node content."""
    stored = json.loads((DATA / "lite" / "dense.json").read_text())["rows"][0]
    meta = {k: stored[k] for k in ("source", "year", "score", "draft")}
    r = Record(id="d0", text=stored["text"], vector=stored["embedding"], metadata=meta)
    row = rows.to_row(LLAMA, r)
    assert set(row) == set(stored)
    assert json.loads(row["_node_content"]) == json.loads(stored["_node_content"])
    for k in ("_node_type", "document_id", "ref_doc_id", "doc_id", *meta):
        assert row[k] == stored[k]


def test_llama_row_with_a_source_document_and_private_data() -> None:
    private = {
        "class": "TextNode",
        "start": 3,
        "relationships": {
            "1": {
                "node_id": "DOC",
                "node_type": None,
                "metadata": {},
                "hash": None,
                "class_name": "RelatedNodeInfo",
            }
        },
    }
    r = Record(
        id="n", text="t", vector=vec(), metadata={"k": 1, PRIVATE_KEY: private}, doc_id="DOC"
    )
    row = rows.to_row(LLAMA, r)
    content = json.loads(row["_node_content"])
    assert content["relationships"]["1"]["node_id"] == "DOC"
    assert content["start_char_idx"] == 3 and content["metadata"] == {"k": 1}
    assert (row["doc_id"], row["ref_doc_id"], row["k"]) == ("DOC", "DOC", 1)
    assert PRIVATE_KEY not in row
    back = rows.to_record(LLAMA, row)
    assert (back.id, back.doc_id, back.metadata) == ("n", "DOC", {"k": 1, PRIVATE_KEY: private})


def test_llama_reserved_keys() -> None:
    with pytest.raises(InvalidInputError, match="_node_type"):
        rows.to_row(LLAMA, Record(id="n", text="t", vector=vec(), metadata={"_node_type": 1}))


# --- reads ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "backend,file,cfg",
    [
        ("lite", "typed", LC_TYPED),
        ("server", "typed", LC_TYPED),
        ("lite", "dynamic", LC_DYNAMIC),
        ("lite", "json", LC_JSON),
        ("server", "json", LC_JSON),
        ("server", "dynamic", LC_DYNAMIC),
    ],
)
def test_reads_the_rows_langchain_wrote(backend: str, file: str, cfg: CollectionConfig) -> None:
    stored = json.loads((DATA / backend / f"{file}.json").read_text())["rows"]
    for row in stored:
        rec = rows.to_record(cfg, row)
        assert rec.id == str(row["pk"]) and rec.text == row["text"]
        assert set(rec.metadata) == {"source", "year", "score", "draft"}
        assert rec.doc_id == ""


@pytest.mark.parametrize("backend", ["lite", "server"])
def test_reads_the_rows_llama_index_wrote(backend: str) -> None:
    for row in json.loads((DATA / backend / "dense.json").read_text())["rows"]:
        rec = rows.to_record(LLAMA, row)
        assert rec.doc_id == "" and PRIVATE_KEY not in rec.metadata  # a default TextNode
        assert {k: v for k, v in rec.metadata.items() if k != PRIVATE_KEY} == {
            k: row[k] for k in ("source", "year", "score", "draft")
        }


_KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda k: k not in {"pk", "text", "vector", "id", "doc_id", "embedding"}
)
_VALUES = st.one_of(
    st.integers(-(2**53), 2**53),
    st.text(max_size=8),
    st.booleans(),
    st.lists(st.integers(0, 9), max_size=3),
)


@given(st.dictionaries(_KEYS, _VALUES, max_size=5))
def test_dynamic_json_and_llama_layouts_round_trip_metadata(meta: dict[str, Any]) -> None:
    for cfg in (LC_DYNAMIC, LC_JSON, LLAMA):
        r = Record(id="a", text="t", vector=vec(), metadata=meta)
        back = rows.to_record(cfg, rows.to_row(cfg, r))
        got = {k: v for k, v in back.metadata.items() if k != PRIVATE_KEY}
        assert (back.id, got) == ("a", meta)


def test_output_fields_ask_for_dynamic_fields() -> None:
    assert rows.output_fields(LC_DYNAMIC, False) == ["pk", "text", "$meta"]
    assert rows.output_fields(LC_TYPED, True) == ["pk", "text", *TYPED, "vector"]


# --- ids --------------------------------------------------------------------------------


def test_int64_ids() -> None:
    lim = Limits(dim=2, id_type="int64")
    out = validate_records(
        [
            Record(id=7, text="t", vector=vec()),  # type: ignore[arg-type]
            Record(id="8", text="t", vector=vec()),
        ],
        lim,
    )
    assert [r.id for r in out] == ["7", "8"]
    with pytest.raises(InvalidInputError, match="int64"):
        validate_records([Record(id="x", text="t", vector=vec())], lim)
    auto = Limits(dim=2, id_type="int64", auto_id=True)
    assert validate_records([Record(id="", text="t", vector=vec())] * 2, auto)[0].id == ""
    with pytest.raises(InvalidInputError, match="auto_id"):
        validate_records([Record(id="5", text="t", vector=vec())], auto)
    assert rows.check_ids([5, "6"], "int64") == ["5", "6"]
    fields = rows.filter_fields(LC_TYPED)
    assert ids_expr(["5", 6], fields) == "pk in [5, 6]"
    assert ids_expr([], fields) == "(pk == 0 and pk != 0)"
    assert compile_filter({"id": "5"}, fields=fields) == "pk == 5"
    with pytest.raises(FilterError, match="int64"):
        compile_filter({"id": "x"}, fields=fields)
    assert (
        rows.to_row(
            LC_TYPED.__class__(**{**_opts(LC_TYPED), "auto_id": False}),
            Record(id="9", text="t", vector=vec(), metadata=META),
        )["pk"]
        == 9
    )


def _opts(cfg: CollectionConfig) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(cfg, f.name) for f in fields(cfg)}


# --- filters ----------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", [Dialect.LITE25, Dialect.MILVUS])
def test_filters_on_dynamic_fields(dialect: Dialect) -> None:
    f = rows.filter_fields(LC_DYNAMIC)
    assert compile_filter({"source": "s1"}, fields=f, dialect=dialect) == 'source == "s1"'
    assert compile_filter({"a.b": 1}, fields=f, dialect=dialect) == 'a["b"] == 1'
    assert compile_filter({"my key": 1}, fields=f, dialect=dialect) == '$meta["my key"] == 1'
    assert compile_filter({"in": 1}, fields=f, dialect=dialect) == '$meta["in"] == 1'
    assert compile_filter({"tags": {"$contains": 1}}, fields=f, dialect=dialect) == (
        "json_contains(tags, 1)"
    )


def test_filters_on_json_and_typed_columns() -> None:
    assert compile_filter({"k": 1}, fields=rows.filter_fields(LC_JSON)) == 'metadata["k"] == 1'
    typed = rows.filter_fields(LC_TYPED)
    cols = rows.filter_columns(LC_TYPED, frozenset())
    assert compile_filter({"year": {"$gt": 1}}, fields=typed, columns=cols) == "year > 1"
    with pytest.raises(FilterError, match="columns"):
        compile_filter({"lang": "en"}, fields=typed, columns=cols)
    with pytest.raises(FilterError, match="no doc_id field"):
        compile_filter({"doc_id": "x"}, fields=typed, columns=cols)


# --- config -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "opts,match",
    [
        ({"auto_id": True}, "id_type='int64'"),
        ({"id_type": "uuid"}, "id_type"),
        ({"layout": "haystack"}, "layout"),
        ({"layout": "llama_index"}, "dynamic_field=True"),
        (
            {
                "layout": "llama_index",
                "dynamic_field": True,
                "metadata_field": None,
                "doc_id_field": None,
            },
            "doc_id",
        ),
        ({"dynamic_field": True}, "metadata goes to one place"),
        ({"auto_id": 1, "id_type": "int64"}, "True or False"),
    ],
)
def test_layout_settings_are_validated(opts: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        CollectionConfig(**opts)


def test_metadata_fields_may_use_id_outside_milvus_rag_layout() -> None:
    with pytest.raises(ConfigError, match="collide"):
        CollectionConfig(metadata_fields={"id": "int64"})
    cfg = CollectionConfig(
        layout="langchain",
        id_field="pk",
        metadata_fields={"id": "int64"},
        doc_id_field=None,
        metadata_field=None,
    )
    assert cfg.metadata_storage == "columns"


def test_node_keys_round_trip_defaults() -> None:
    keys = node_keys("n", {"a": 1}, {"class": "Document", "mimetype": "text/md"}, "")
    private, meta, doc = from_node_keys(keys)
    assert (private, meta, doc) == ({"class": "Document", "mimetype": "text/md"}, {"a": 1}, "")
