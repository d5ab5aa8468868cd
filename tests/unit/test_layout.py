"""detect_layout on descriptions captured from collections that langchain-milvus 0.4,
llama-index-vector-stores-milvus 1.2 and milvus-rag created themselves (Milvus Lite 2.5 file
and Lite 3 server; ``tests/unit/data/layouts``, written by ``tests/compat/capture.py``), and
adopt_layout's rules."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import SchemaMismatchError
from milvus_rag.client.layout import Layout, adopt_layout, detect_layout

DATA = Path(__file__).parent / "data" / "layouts"
TYPED = {"source": "varchar", "year": "int64", "score": "double", "draft": "bool"}


def load(backend: str, name: str) -> dict[str, Any]:
    return json.loads((DATA / backend / f"{name}.json").read_text())


def detect(data: dict[str, Any]) -> Layout:
    return detect_layout(data["description"], data["indexes"])


# (file, layout, metadata storage, id field, id type, auto_id, vector, metric, sparse,
#  doc_id field, JSON field, typed columns)
CASES = [
    ("typed", "langchain", "columns", "pk", "int64", True, "vector", "L2", None, None, None, TYPED),
    (
        "typed_varchar",
        "langchain",
        "columns",
        "pk",
        "varchar",
        False,
        "vector",
        "L2",
        None,
        None,
        None,
        TYPED,
    ),
    (
        "dynamic",
        "langchain",
        "dynamic",
        "pk",
        "varchar",
        False,
        "vector",
        "L2",
        None,
        None,
        None,
        {},
    ),
    (
        "json",
        "langchain",
        "json",
        "pk",
        "varchar",
        False,
        "vector",
        "L2",
        None,
        None,
        "metadata",
        {},
    ),
    (
        "bm25",
        "langchain",
        "columns",
        "pk",
        "varchar",
        False,
        "dense",
        "L2",
        "sparse",
        None,
        None,
        TYPED,
    ),
    (
        "dense",
        "llama_index",
        "dynamic",
        "id",
        "varchar",
        False,
        "embedding",
        "IP",
        None,
        "doc_id",
        None,
        {},
    ),
    (
        "sparse",
        "llama_index",
        "dynamic",
        "id",
        "varchar",
        False,
        "embedding",
        "IP",
        "sparse_embedding",
        "doc_id",
        None,
        {},
    ),
    (
        "milvus_rag",
        "milvus_rag",
        "json",
        "id",
        "varchar",
        False,
        "dense",
        "COSINE",
        "sparse",
        "doc_id",
        "metadata",
        {},
    ),
]


def _available() -> list[Any]:
    out = []
    for case in CASES:
        for backend in ("lite", "server"):
            if (DATA / backend / f"{case[0]}.json").exists():
                out.append(pytest.param(backend, *case, id=f"{backend}-{case[0]}"))
    return out


def test_every_layout_was_captured_on_the_backends_that_can_create_it() -> None:
    # BM25 layouts of langchain-milvus cannot be created on a Lite 2.5 file (it builds an
    # AUTOINDEX on the sparse field, which Lite 2.5 refuses); everything else exists on both
    ids = {p.id for p in _available()}
    assert len(ids) == 2 * len(CASES) - 3  # bm25, sparse, typed_varchar: one backend each


@pytest.mark.parametrize(
    "backend,file,name,storage,id_field,id_type,auto_id,vector,metric,sparse,doc_id,meta,typed",
    _available(),
)
def test_detects_the_layout_the_library_created(
    backend: str,
    file: str,
    name: str,
    storage: str,
    id_field: str,
    id_type: str,
    auto_id: bool,
    vector: str,
    metric: str,
    sparse: str | None,
    doc_id: str | None,
    meta: str | None,
    typed: dict[str, str],
) -> None:
    layout = detect(load(backend, file))
    assert (layout.name, layout.metadata, layout.id_field, layout.id_type, layout.auto_id) == (
        name,
        storage,
        id_field,
        id_type,
        auto_id,
    )
    assert (layout.text_field, layout.vector_field, layout.metric, layout.dim) == (
        "text",
        vector,
        metric,
        8,
    )
    assert (layout.sparse_field, layout.doc_id_field, layout.metadata_field) == (
        sparse,
        doc_id,
        meta,
    )
    assert dict(layout.metadata_fields) == typed
    assert layout.dynamic_field == (storage == "dynamic")
    json.dumps(layout.to_dict())  # describe()-ready


def test_milvus_rag_tenant_and_typed_columns() -> None:
    layout = detect(load("server", "milvus_rag_typed"))
    assert layout.partition_key == "tenant"
    assert dict(layout.metadata_fields) == {"tenant": "varchar", "year": "int64"}
    assert layout.nullable == {"year"}
    assert detect(load("lite", "milvus_rag_typed")).partition_key is None  # Lite 2.5: plain


def _field(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in data["description"]["fields"] if f["name"] == name)


def _with_field(data: dict[str, Any], **f: Any) -> dict[str, Any]:
    out = copy.deepcopy(data)
    out["description"]["fields"].append({"params": {}, **f})
    return out


@pytest.mark.parametrize(
    "change,why",
    [
        (lambda d: _with_field(d, name="bin", type=100, params={"dim": 8}), "FLOAT_VECTOR"),
        (lambda d: _with_field(d, name="f16", type=102, params={"dim": 8}), "FLOAT_VECTOR"),
        (lambda d: _with_field(d, name="j2", type=23), "several places for metadata"),
        (lambda d: _with_field(d, name="geo", type=24), "'geo' is not"),
    ],
    ids=["binary", "float16", "two-json", "unknown-column"],
)
def test_an_unmappable_schema_says_how_to_migrate(change: Any, why: str) -> None:
    with pytest.raises(SchemaMismatchError) as e:
        detect(change(load("lite", "json")))
    assert why in str(e.value)
    assert "milvus-rag migrate --from c_json --to" in str(e.value)


def test_no_text_field_asks_for_text_field() -> None:
    data = copy.deepcopy(load("lite", "dynamic"))
    _field(data, "text")["name"] = "content"
    with pytest.raises(SchemaMismatchError, match="text_field="):
        detect(data)
    layout = detect_layout(data["description"], data["indexes"], text_field="content")
    assert layout.text_field == "content"


def test_descriptions_with_enums_and_printed_lists() -> None:
    from pymilvus import DataType, FunctionType

    data = copy.deepcopy(load("server", "bm25"))
    for f in data["description"]["fields"]:
        f["type"] = DataType(f["type"])
    fn = data["description"]["functions"][0]
    fn["type"] = FunctionType.BM25
    fn["input_field_names"] = "['text']"
    assert detect(data).sparse_field == "sparse"


# --- adopt_layout -------------------------------------------------------------------------


def test_a_default_config_adopts_the_layout() -> None:
    layout = detect(load("lite", "typed"))
    cfg = adopt_layout(CollectionConfig(name="c_typed"), layout)
    assert (cfg.layout, cfg.id_field, cfg.id_type, cfg.auto_id, cfg.vector_field) == (
        "langchain",
        "pk",
        "int64",
        True,
        "vector",
    )
    assert (cfg.metric, cfg.enable_bm25, cfg.doc_id_field, cfg.metadata_field) == (
        "L2",
        False,
        None,
        None,
    )
    assert cfg.metadata_fields == TYPED
    assert cfg.metadata_storage == "columns"


def test_llama_layout_adopted() -> None:
    cfg = adopt_layout(CollectionConfig(name="c", dim=8), detect(load("server", "sparse")))
    assert (cfg.layout, cfg.metric, cfg.vector_field, cfg.sparse_field, cfg.enable_bm25) == (
        "llama_index",
        "IP",
        "embedding",
        "sparse_embedding",
        True,
    )
    assert cfg.dynamic_field and cfg.metadata_field is None and cfg.doc_id_field == "doc_id"


@pytest.mark.parametrize(
    "opts,field",
    [
        ({"metric": "IP"}, "metric"),
        ({"vector_field": "emb"}, "vector_field"),
        ({"dim": 16}, "vector.dim"),
    ],
)
def test_an_explicit_setting_that_contradicts_the_collection_raises(
    opts: dict[str, Any], field: str
) -> None:
    with pytest.raises(SchemaMismatchError) as e:
        adopt_layout(CollectionConfig(name="c", **opts), detect(load("lite", "dynamic")))
    assert e.value.field == field


def test_explicit_settings_that_agree_are_kept() -> None:
    cfg = CollectionConfig(name="c", metric="L2", id_field="pk", dim=8)
    assert adopt_layout(cfg, detect(load("lite", "dynamic"))).dynamic_field


def _names(data: dict[str, Any]) -> list[str]:
    return [f["name"] for f in data["description"]["fields"]]


def test_a_config_naming_the_layout_adopts_its_columns() -> None:
    """The adapters' vocabulary names the layout and the fields, not the typed columns an
    existing collection has (langchain-milvus's reopen with drop_old=False)."""
    from milvus_rag.client.schema import adopted_config

    data = load("lite", "typed")
    cfg = CollectionConfig(
        name="c",
        layout="langchain",
        id_field="pk",
        vector_field="vector",
        doc_id_field=None,
        metadata_field=None,
        metric="L2",
    )
    out = adopted_config(cfg, _names(data), detect(data))
    assert (out.metadata_fields, out.id_type, out.auto_id, out.enable_bm25) == (
        TYPED,
        "int64",
        True,
        False,
    )


def test_own_collections_keep_the_users_config() -> None:
    from milvus_rag.client.schema import adopted_config

    data = load("server", "milvus_rag")
    cfg = CollectionConfig(name="c", enable_bm25=False)
    assert adopted_config(cfg, _names(data), detect(data)) is cfg
    # a langchain collection opened dense-only keeps enable_bm25=False
    bm25 = load("server", "bm25")
    off = adopted_config(CollectionConfig(name="c", enable_bm25=False), _names(bm25), detect(bm25))
    assert not off.enable_bm25 and off.vector_field == "dense"


def test_an_own_collection_with_another_metric_adopts_it_at_the_default() -> None:
    """What ``migrate`` writes from langchain-milvus (L2) opens with the default config; a
    metric chosen explicitly is kept, so ``check_compatible`` still names a real conflict."""
    import dataclasses

    from milvus_rag.client.schema import adopted_config

    data = load("server", "milvus_rag")
    l2 = dataclasses.replace(detect(data), metric="L2")
    assert adopted_config(CollectionConfig(name="c"), _names(data), l2).metric == "L2"
    chosen = CollectionConfig(name="c", metric="IP")
    assert adopted_config(chosen, _names(data), l2) is chosen


def test_an_unknown_layout_raises_the_detection_error() -> None:
    from milvus_rag.client.schema import adopted_config

    error = SchemaMismatchError("c", "layout", "x", "y", hint="migrate")
    with pytest.raises(SchemaMismatchError, match="migrate"):
        adopted_config(CollectionConfig(name="c"), ["pk", "vec"], None, error)
    with pytest.raises(SchemaMismatchError, match="fields"):
        adopted_config(CollectionConfig(name="c"), ["pk", "vec"], None)
