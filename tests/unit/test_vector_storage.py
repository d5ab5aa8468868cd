"""The storage side of several vector fields, without a backend: schema and indexes built
from the config, the fields read back from descriptions (captured from collections that
milvus-rag, langchain-milvus 0.4 and llama-index-vector-stores-milvus 1.2 created, see
``tests/compat/capture_vector_fields.py``), comparison and adoption on reopen, row mapping,
record validation, export lines and migration targets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymilvus import DataType

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import ConfigError, InvalidInputError, SchemaMismatchError
from milvus_rag.client.index import Backend
from milvus_rag.client.layout import detect_layout
from milvus_rag.client.record_vectors import VectorLimits, check_vectors
from milvus_rag.client.records import Limits, Record, row_bytes, validate_records
from milvus_rag.client.rows import RecordReader, output_fields, schema_fields, to_row
from milvus_rag.client.schema import (
    adopted_config,
    build_schema,
    check_compatible,
    index_specs,
    parse_description,
)
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.client.vector_schema import (
    adopt_vector_fields,
    check_builds,
    check_vector_fields,
    dims_from,
    read_vector_fields,
    with_field_dim,
)
from milvus_rag.transfer.jsonl import fields_from_header, parse_line, record_to_line
from milvus_rag.transfer.migrate import same_record, target_fields

DATA = Path(__file__).parent / "data" / "layouts"
THREE = [
    VectorField.dense("title", dim=4),
    VectorField.sparse("sparse", bm25=True),
    VectorField.dense("body", dim=3, metric="IP", index_type="FLAT"),
    VectorField.sparse("splade", index_params={"drop_ratio_build": 0.1}),
]


def load(backend: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    data = json.loads((DATA / backend / f"{name}.json").read_text())
    return data["description"], data["indexes"]


def names(fields: Any) -> list[str]:
    return [f.name for f in fields]


# --- schema and indexes --------------------------------------------------------------------


def test_every_vector_field_is_a_schema_field_with_its_own_index() -> None:
    cfg = CollectionConfig.from_fields(THREE, name="c")
    schema = build_schema(cfg, {"type": "standard"})
    types = {f.name: f.dtype for f in schema.fields}
    assert types["title"] == types["body"] == DataType.FLOAT_VECTOR
    assert types["sparse"] == types["splade"] == DataType.SPARSE_FLOAT_VECTOR
    assert [f.params.get("dim") for f in schema.fields if f.name in ("title", "body")] == [4, 3]
    assert [fn.output_field_names for fn in schema.functions] == [["sparse"]]
    specs = {s.field: (s.index_type, s.metric_type, s.params) for s in index_specs(cfg)}
    assert specs == {
        "title": ("AUTOINDEX", "COSINE", {}),
        "sparse": ("SPARSE_INVERTED_INDEX", "BM25", {"bm25_k1": 1.2, "bm25_b": 0.75}),
        "body": ("FLAT", "IP", {}),
        "splade": ("SPARSE_INVERTED_INDEX", "IP", {"drop_ratio_build": 0.1}),
    }
    assert index_specs(cfg)[0].field == "title"  # the primary first, as before


@pytest.mark.parametrize(
    "fields,has",
    [
        ([VectorField.sparse("sparse", bm25=True)], ["sparse"]),
        ([VectorField.sparse("splade")], ["splade"]),
        ([VectorField.dense("dense", dim=4)], ["dense"]),
    ],
    ids=["bm25-only", "client-sparse-only", "dense-only"],
)
def test_one_field_collections(fields: list[VectorField], has: list[str]) -> None:
    cfg = CollectionConfig.from_fields(fields, name="c")
    schema = build_schema(cfg, {"type": "standard"})
    vectors = [f.name for f in schema.fields if "VECTOR" in f.dtype.name]
    assert vectors == has and names(cfg.vector_fields) == has
    assert [s.field for s in index_specs(cfg)] == has


def test_a_dense_field_without_dim_is_refused_naming_it_before_creation() -> None:
    with pytest.raises(ConfigError, match="pass dim="):
        build_schema(CollectionConfig(name="c"))
    cfg = CollectionConfig(dim=4, extra_vector_fields=(VectorField.dense("image"),))
    with pytest.raises(ConfigError, match=r"dense field 'image' has no dim: pass it"):
        build_schema(cfg)


def test_each_backend_builds_what_it_can_or_says_which_field_it_cannot() -> None:
    wand = CollectionConfig(
        dim=4, extra_vector_fields=(VectorField.sparse("s", index_type="SPARSE_WAND"),)
    )
    check_builds(wand, Backend.LITE25)  # measured: the Lite 2.5 file builds it
    check_builds(wand, Backend.MILVUS)
    with pytest.raises(ConfigError, match=r"'s': index_type 'SPARSE_WAND' cannot be built on"):
        check_builds(wand, Backend.LITE3)
    hnsw = CollectionConfig(
        dim=4, extra_vector_fields=(VectorField.dense("img", dim=4, index_type="HNSW"),)
    )
    check_builds(hnsw, Backend.LITE3)
    with pytest.raises(ConfigError, match=r"vector field 'img': index_type 'HNSW'"):
        check_builds(hnsw, Backend.LITE25)


def test_client_sparse_build_params_are_checked() -> None:
    VectorField.sparse("s", index_params={"inverted_index_algo": "DAAT_MAXSCORE"})
    for bad, said in [
        ({"bm25_k1": 1.2}, "no build parameter 'bm25_k1'"),
        ({"drop_ratio_build": 1.0}, r"drop_ratio_build must be a number in \[0, 1\)"),
        ({"inverted_index_algo": "FAST"}, "inverted_index_algo must be one of"),
    ]:
        with pytest.raises(ConfigError, match=said):
            VectorField.sparse("s", index_params=bad)


# --- reading existing collections -------------------------------------------------------------


@pytest.mark.parametrize("backend", ["lite", "server"])
@pytest.mark.parametrize(
    "name,layout,fields,primary",
    [
        ("milvus_rag", "milvus_rag", [("dense", "dense"), ("sparse", "bm25")], "dense"),
        ("lc_two_dense", "langchain", [("title", "dense"), ("body", "dense")], "title"),
        (
            "lc_two_dense_bm25",
            "langchain",
            [("title", "dense"), ("body", "dense"), ("sparse", "bm25")],
            "title",
        ),
        (
            "llama_client_sparse",
            "llama_index",
            [("embedding", "dense"), ("sparse_embedding", "sparse")],
            "embedding",
        ),
        ("llama_sparse_only", "llama_index", [("sparse_embedding", "sparse")], ""),
    ],
)
def test_the_official_layouts_of_several_vector_fields_are_recognised(
    backend: str, name: str, layout: str, fields: list[tuple[str, str]], primary: str
) -> None:
    desc, indexes = load(backend, name)
    found = read_vector_fields(desc, indexes)
    kinds = sorted((f.name, "bm25" if f.is_bm25 else f.kind) for f in found)
    assert kinds == sorted(fields)
    detected = detect_layout(desc, indexes)
    assert (detected.name, detected.vector_field, detected.enable_dense) == (
        layout,
        primary,
        bool(primary),
    )
    cfg = adopted_config(CollectionConfig(name=name), [f["name"] for f in desc["fields"]], detected)
    assert sorted(names(cfg.vector_fields)) == sorted(n for n, _ in fields)
    assert cfg.enable_dense == bool(primary) and cfg.layout == layout
    info = parse_description(desc, indexes, cfg)
    check_compatible(cfg, info)  # the adopted config is the collection
    assert names(info.vector_fields or ()) == names(found)


def test_the_primary_is_the_field_the_config_names() -> None:
    desc, indexes = load("server", "lc_two_dense")
    assert detect_layout(desc, indexes, vector_field="body").vector_field == "body"
    layout = detect_layout(desc, indexes)
    cfg = adopted_config(
        CollectionConfig(name="c", layout="langchain", vector_field="body"),
        [f["name"] for f in desc["fields"]],
        layout,
    )
    assert (cfg.vector_field, names(cfg.extra_vector_fields)) == ("body", ["title"])


def _three_info() -> tuple[CollectionConfig, Any]:
    desc, indexes = load("server", "lc_two_dense_bm25")
    layout = detect_layout(desc, indexes)
    cfg = adopted_config(CollectionConfig(name="c"), [f["name"] for f in desc["fields"]], layout)
    return cfg, parse_description(desc, indexes, cfg)


@pytest.mark.parametrize(
    "change,field",
    [
        (VectorField.dense("body", dim=9), "body.dim"),
        (VectorField.dense("body", dim=8, metric="L2"), "body.metric"),
        (VectorField.dense("body", dim=8, metric="IP", index_type="HNSW"), "body.index_type"),
        (VectorField.sparse("body"), "body.kind"),
        (VectorField.dense("image", dim=8), "vector_fields"),
    ],
)
def test_a_contradicting_field_is_named(change: VectorField, field: str) -> None:
    cfg, info = _three_info()
    named = CollectionConfig(
        name="c",
        layout="langchain",
        id_field=cfg.id_field,
        id_type=cfg.id_type,
        auto_id=cfg.auto_id,
        vector_field="title",
        metric="L2",
        metadata_field=None,
        doc_id_field=None,
        metadata_fields=dict(cfg.metadata_fields),
        extra_vector_fields=(change,),
    )
    with pytest.raises(SchemaMismatchError) as e:
        check_compatible(named, info)
    assert e.value.field == field


def test_adoption_fills_open_dims_and_refuses_a_dense_collection_without_dense() -> None:
    cfg, info = _three_info()
    found = info.vector_fields
    open_ = CollectionConfig(
        vector_field="title", extra_vector_fields=(VectorField.dense("body", metric="IP"),)
    )
    adopted = adopt_vector_fields(open_, found, "title")
    assert adopted.vector_field_named("body").dim == 8
    assert dims_from(open_, info).vector_field_named("body").dim == 8
    assert dims_from(open_, info).dim == 8
    with pytest.raises(SchemaMismatchError, match="enable_dense"):
        adopt_vector_fields(CollectionConfig(enable_dense=False, enable_bm25=True), found, None)
    check_vector_fields(cfg, "c", found)


def test_set_dim_of_an_extra_field() -> None:
    cfg = CollectionConfig(extra_vector_fields=(VectorField.dense("img"), VectorField.sparse("s")))
    cfg = with_field_dim(with_field_dim(cfg, 4), 3, "img")
    assert (cfg.dim, cfg.vector_field_named("img").dim) == (4, 3)
    assert with_field_dim(cfg, 3, "img") is cfg
    with pytest.raises(ConfigError, match="configured with 'img' of dim 3, not 5"):
        with_field_dim(cfg, 5, "img")
    with pytest.raises(ConfigError, match="is sparse"):
        with_field_dim(cfg, 5, "s")
    with pytest.raises(ConfigError, match="no dense field"):
        with_field_dim(CollectionConfig(enable_dense=False), 4)


# --- rows ---------------------------------------------------------------------------------------

sparse_vectors = st.dictionaries(
    st.integers(0, 2**31 - 1), st.floats(0.5, 100, width=32), min_size=1, max_size=8
)
dense_vectors = st.lists(st.floats(-1e3, 1e3, width=32), min_size=3, max_size=3)


@settings(max_examples=60, deadline=None)
@given(primary=st.lists(st.floats(-1e3, 1e3, width=32), min_size=4, max_size=4),
       body=dense_vectors, splade=sparse_vectors)  # fmt: skip
def test_a_row_maps_to_the_same_record(
    primary: list[float], body: list[float], splade: dict[int, float]
) -> None:
    cfg = CollectionConfig.from_fields(THREE, name="c")
    rec = Record(
        id="a", text="t", vector=primary, metadata={"k": 1}, doc_id="d",
        vectors={"body": body, "splade": splade},
    )  # fmt: skip
    row = to_row(cfg, rec)
    assert row["title"] == primary and row["body"] == body and row["splade"] == splade
    assert "sparse" not in row  # Milvus fills the BM25 field
    back = RecordReader(cfg).record(row)
    assert (back.vector, back.vectors) == (primary, {"body": body, "splade": splade})
    assert RecordReader(cfg).record(row, vectors=False).vectors == {}
    assert to_row(cfg, back) == row


def test_output_fields_name_every_client_field_and_schema_fields_all() -> None:
    cfg = CollectionConfig.from_fields(THREE, name="c")
    assert output_fields(cfg, True)[-3:] == ["title", "body", "splade"]
    assert not {"title", "body", "splade", "sparse"} & set(output_fields(cfg, False))
    assert {"title", "body", "splade", "sparse"} <= set(schema_fields(cfg))
    sparse_only = CollectionConfig.from_fields([VectorField.sparse("s")], name="c")
    assert output_fields(sparse_only, True)[-1] == "s" and "dense" not in schema_fields(sparse_only)
    row = {"id": "a", "text": "t", "s": {3: 0.5}, "doc_id": "", "metadata": {}}
    assert RecordReader(sparse_only).record(row).vector is None
    assert "dense" not in to_row(sparse_only, Record(id="a", text="t", vectors={"s": {3: 0.5}}))


# --- validation ---------------------------------------------------------------------------------

LIMITS = VectorLimits(dense={"body": 3}, sparse=("splade",))


@pytest.mark.parametrize(
    "vectors,said",
    [
        ({"splade": {1: 1.0}}, r"record 0 \('a'\): vectors\['body'\] is missing"),
        ({"body": [1, 2, 3]}, r"vectors\['splade'\] is missing"),
        ({"body": [1, 2], "splade": {1: 1.0}}, r"vectors\['body'\] has shape \(2,\)"),
        ({"body": [1, 2, float("nan")], "splade": {1: 1.0}}, "NaN"),
        ({"body": {1: 1.0}, "splade": {1: 1.0}}, "a dense field's: give a list of 3 floats"),
        ({"body": [1, 2, 3], "splade": {1: 0.0}}, "no non-zero weight"),
        ({"body": [1, 2, 3], "splade": [1.0]}, r"must be a dict \{index: weight\}"),
        ({"body": [1, 2, 3], "splade": {"x": 1.0}}, "indexes must be non-negative ints"),
        ({"body": [1, 2, 3], "splade": {1: 1.0}, "title": [1]}, r"vectors \['title'\] name no"),
    ],
)
def test_bad_vectors_name_the_record_and_the_field(vectors: dict[str, Any], said: str) -> None:
    with pytest.raises(InvalidInputError, match=said):
        check_vectors([Record(id="a", text="t", vectors=vectors)], LIMITS)


def test_checked_vectors_are_normalised_and_sized() -> None:
    rec = Record(id="a", text="t", vectors={"body": [1, 2, 3], "splade": {np.int64(4): 1}})
    (out,) = check_vectors(validate_records([rec], Limits(dim=2), require_vectors=False), LIMITS)
    assert out.vectors["body"].dtype == np.float32 and out.vectors["splade"] == {4: 1.0}
    assert row_bytes(out, 2) == row_bytes(Record(id="a", text="t"), 2) + 4 * 3 + 12
    cfg = CollectionConfig.from_fields(THREE, name="c")
    found = read_vector_fields(*load("server", "lc_two_dense_bm25"))
    assert VectorLimits.of(cfg, None).dense == {"body": 3}
    assert VectorLimits.of(cfg, found).dense == {"body": 8}  # the collection's dim wins
    with pytest.raises(InvalidInputError, match="no dense field"):
        validate_records([Record(id="a", text="t", vector=[1.0])], Limits(dim=0, dense=False))


# --- export lines and migration ----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(body=dense_vectors, splade=sparse_vectors)
def test_vectors_survive_an_export_line(body: list[float], splade: dict[int, float]) -> None:
    rec = Record(id="a", text="t", vector=[1.0, 2.0], vectors={"body": body, "splade": splade})
    back = parse_line(record_to_line(rec, with_vectors=True), 1)
    assert back.vectors == {"body": body, "splade": splade}
    assert same_record(rec, back)
    assert parse_line(record_to_line(rec, with_vectors=False), 1).vectors == {}


def test_export_lines_of_a_sparse_only_collection_and_old_exports() -> None:
    rec = Record(id="a", text="t", vectors={"s": {3: 0.5}})
    line = record_to_line(rec, with_vectors=True, dense=False)
    assert json.loads(line)["vectors"] == {"s": {"3": 0.5}} and "vector" not in json.loads(line)
    old = parse_line('{"id": "a", "text": "t", "vector": [1.0]}', 1)  # before "vectors"
    assert old.vectors == {} and old.vector == [1.0]
    with pytest.raises(InvalidInputError, match=r"line 2: vectors\['s'\] must be a list"):
        parse_line('{"id": "a", "text": "t", "vectors": {"s": {"x": 1}}}', 2)
    with pytest.raises(InvalidInputError, match="'vectors' must be an object"):
        parse_line('{"id": "a", "text": "t", "vectors": [1]}', 2)


def test_the_header_lists_fields_only_beyond_the_default_pair() -> None:
    assert fields_from_header({"dim": 4}) is None
    pair = [{"name": "dense", "kind": "dense", "dim": 4}, {"name": "sparse", "kind": "bm25"}]
    assert fields_from_header({"vector_fields": pair}) is None
    listed = fields_from_header({"vector_fields": [*pair, {"name": "s", "kind": "sparse"}]})
    assert [(f.name, f.kind, f.is_bm25) for f in listed or ()] == [
        ("dense", "dense", False),
        ("sparse", "sparse", True),
        ("s", "sparse", False),
    ]
    with pytest.raises(InvalidInputError, match="unknown kind"):
        fields_from_header({"vector_fields": [{"name": "x", "kind": "binary"}]})


def test_a_migration_target_keeps_every_field() -> None:
    found = read_vector_fields(*load("server", "lc_two_dense_bm25"))
    out = target_fields(found, "title")
    assert [(f.name, f.kind, f.dim, f.metric, f.is_bm25) for f in out or ()] == [
        ("dense", "dense", 8, "L2", False),
        ("sparse", "sparse", None, "BM25", True),
        ("body", "dense", 8, "IP", False),
    ]
    llama = read_vector_fields(*load("lite", "llama_sparse_only"))
    assert names(target_fields(llama, None) or ()) == ["sparse", "sparse_embedding"]
    clash = [VectorField.dense("v", dim=2), VectorField.sparse("sparse")]
    assert names(target_fields(clash, "v") or ()) == ["dense", "sparse_1", "sparse"]
    plain = read_vector_fields(*load("server", "milvus_rag"))
    assert target_fields(plain, "dense") is None  # one dense field (+ BM25): as before
    a = Record(id="a", text="t", vectors={"s": {1: 0.5}})
    assert not same_record(a, Record(id="a", text="t", vectors={"s": {1: 0.25}}))
    assert not same_record(a, Record(id="a", text="t"))
