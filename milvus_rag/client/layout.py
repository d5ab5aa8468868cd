"""Which library wrote a collection, and what its fields hold: :func:`detect_layout`.

Pure: reads the dicts that ``describe_collection`` and ``describe_index`` return (field types
as pymilvus ``DataType`` or their ints) and does no I/O. Recognised (checked against
collections the libraries themselves created, on Milvus Lite 2.5 and 3):

- ``milvus_rag``: ``id`` (VARCHAR), ``text``, ``dense``, ``sparse`` (BM25 function ``bm25``),
  ``doc_id``, ``metadata`` (JSON), optional tenant and typed columns.
- ``langchain`` (langchain-milvus 0.3 / 0.4): primary key ``pk`` (INT64 ``auto_id`` when the
  first ``add_texts`` had no ids, else VARCHAR), ``text``, ``vector`` (or a dense field plus a
  BM25 ``sparse`` output), and metadata as typed columns inferred from the first documents
  (the default), as dynamic fields (``enable_dynamic_field=True``, with an optional
  partition-key column) or as one JSON field (``metadata_field="metadata"``). Default metric
  L2 (AUTOINDEX).
- ``llama_index`` (llama-index-vector-stores-milvus 1.x): ``id`` (VARCHAR), ``doc_id``,
  ``text``, ``embedding``, optional ``sparse_embedding`` (BM25 function with
  ``enable_sparse``), dynamic fields holding the metadata keys and ``_node_content``,
  ``_node_type``, ``document_id``, ``ref_doc_id``. Default metric IP (FLAT index).

Every layout may hold several vector fields (:mod:`~milvus_rag.client.vector_schema`): each
FLOAT_VECTOR is a dense field (the first, or the one the config names, is the primary:
``vector_field``), a SPARSE_FLOAT_VECTOR filled by the BM25 function is the BM25 field, any
other SPARSE_FLOAT_VECTOR a client-side sparse field; none dense is a sparse-only collection.
Checked against collections the libraries created themselves (``tests/compat/
capture_vector_fields.py``): langchain-milvus's ``vector_field=["title", "body"]`` with two
embedding functions (and BM25), llama-index's client-side ``sparse_embedding_function``
(``sparse_embedding``, also with ``enable_dense=False``). Binary, float16, bfloat16 and int8
vector fields are refused (milvus-rag writes float vectors).

Anything else raises :class:`SchemaMismatchError` saying how to migrate or which settings
to pass.

Example:
    >>> desc = {"collection_name": "c", "enable_dynamic_field": True, "fields": [
    ...     {"name": "pk", "type": 21, "is_primary": True, "params": {"max_length": 65535}},
    ...     {"name": "text", "type": 21, "params": {"max_length": 65535}},
    ...     {"name": "vector", "type": 101, "params": {"dim": 4}}]}
    >>> layout = detect_layout(desc, {"vector": {"metric_type": "L2", "index_type": "AUTOINDEX"}})
    >>> layout.name, layout.metadata, layout.metric, layout.id_field
    ('langchain', 'dynamic', 'L2', 'pk')
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from milvus_rag.client.config import CollectionConfig, IdType, LayoutName
from milvus_rag.client.errors import SchemaMismatchError
from milvus_rag.client.own_fields import tenant_column
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.client.vector_schema import (
    adopt_vector_fields,
    described_names,
    read_vector_fields,
)

__all__ = ["LLAMA_KEYS", "Layout", "MetadataStorage", "adopt_layout", "detect_layout"]

MetadataStorage = Literal["json", "dynamic", "columns"]
#: the dynamic keys llama-index-vector-stores-milvus writes besides the metadata
LLAMA_KEYS = ("_node_content", "_node_type", "document_id", "doc_id", "ref_doc_id")

# DataType values (pymilvus), so that the description may hold enums or plain ints
_BOOL, _INT8, _INT16, _INT32, _INT64 = 1, 2, 3, 4, 5
_FLOAT, _DOUBLE, _VARCHAR, _ARRAY, _JSON = 10, 11, 21, 22, 23
_BINARY_VECTOR, _FLOAT_VECTOR, _SPARSE = 100, 101, 104
_DENSE_VECTORS = {_BINARY_VECTOR, _FLOAT_VECTOR, 102, 103, 105}  # binary, fp16, bf16, int8
_SCALARS = {
    _BOOL: "bool",
    _INT8: "int64",
    _INT16: "int64",
    _INT32: "int64",
    _INT64: "int64",
    _FLOAT: "double",
    _DOUBLE: "double",
    _VARCHAR: "varchar",
}
_BM25 = 1  # FunctionType.BM25


@dataclass(frozen=True)
class Layout:
    """What an existing collection is: which library's conventions, and each field's role.

    ``metadata``: where metadata keys without a typed column go (a JSON field, dynamic
    fields, or nowhere: typed columns only). ``metadata_fields``: the typed metadata columns
    (name -> ``"int64"``, ``"varchar"``, ``"array<varchar>"``...); ``nullable``: those that
    accept a missing value. ``sparse_field``: the output of a BM25 function (``None``: no
    BM25, dense search only). ``metric`` is ``""`` when the dense field has no index.
    """

    name: LayoutName
    id_field: str
    id_type: IdType
    auto_id: bool
    text_field: str
    vector_field: str
    dim: int
    metric: str
    metadata: MetadataStorage
    sparse_field: str | None = None
    doc_id_field: str | None = None
    metadata_field: str | None = None
    dynamic_field: bool = False
    metadata_fields: Mapping[str, str] = field(default_factory=dict, hash=False)
    nullable: frozenset[str] = frozenset()
    partition_key: str | None = None
    index_type: str | None = None
    #: the tenant field of a milvus-rag collection (see :mod:`~milvus_rag.client.own_fields`)
    tenant_field: str | None = None
    #: whether it has a dense field (``vector_field``, ``dim`` and ``metric`` are the first
    #: one's; ``""``, 0 and ``""`` when it has none: a sparse-only collection)
    enable_dense: bool = True
    #: every vector field, as described (see :mod:`~milvus_rag.client.vector_schema`)
    vector_fields: tuple[VectorField, ...] = field(default=(), hash=False)
    #: the text is a dynamic key, not a schema field (see ``CollectionConfig.dynamic_text``)
    dynamic_text: bool = False

    def config_options(self) -> dict[str, Any]:
        """The :class:`CollectionConfig` settings of this layout."""
        opts: dict[str, Any] = {
            "layout": self.name,
            "id_field": self.id_field,
            "id_type": self.id_type,
            "auto_id": self.auto_id,
            "text_field": self.text_field,
            "enable_dense": self.enable_dense,
            "enable_bm25": self.sparse_field is not None,
            "doc_id_field": self.doc_id_field,
            "metadata_field": self.metadata_field,
            "dynamic_field": self.dynamic_field,
            "metadata_fields": dict(self.metadata_fields),
            "dynamic_text": self.dynamic_text,
        }
        if self.sparse_field is not None:
            opts["sparse_field"] = self.sparse_field
        if self.enable_dense:
            opts.update(vector_field=self.vector_field, dim=self.dim)
        if self.metric and self.enable_dense:
            opts["metric"] = self.metric
        return opts

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``describe()["layout"]``)."""
        out = dataclasses.asdict(self)
        out["metadata_fields"] = dict(self.metadata_fields)
        out["nullable"] = sorted(self.nullable)
        out["vector_fields"] = [f.name for f in self.vector_fields]
        return out


def _type(f: Mapping[str, Any]) -> int:
    t = f.get("type")
    try:
        return int(t)  # type: ignore[arg-type]  # DataType is an IntEnum
    except (TypeError, ValueError):
        return -1


def _param(f: Mapping[str, Any], name: str) -> Any:
    params = f.get("params") or {}
    return params.get(name, f.get(name))


def _is_bm25(fn: Mapping[str, Any]) -> bool:
    t = fn.get("type")
    return str(t).upper().endswith("BM25") or (isinstance(t, int) and int(t) == _BM25)


def _fail(name: str, found: Any, why: str) -> SchemaMismatchError:
    hint = (
        f"{why}. Copy it into milvus-rag's schema without re-embedding: "
        f"`milvus-rag migrate --from {name} --to {name}_v2` (add --uri/--to-uri for a "
        "server), or open it with the field settings that name its fields"
    )
    return SchemaMismatchError(
        name, "layout", "a milvus-rag, langchain or llama_index layout", found, hint=hint
    )


def _metric(indexes: Mapping[str, Mapping[str, Any]], vec: str) -> tuple[str, str | None]:
    idx = indexes.get(vec) or {}
    metric = str(idx.get("metric_type") or "").upper()
    kind = idx.get("index_type")
    return metric, (str(kind).upper() if kind else None)


def _column_spec(f: Mapping[str, Any]) -> str | None:
    t = _type(f)
    if t == _ARRAY:
        elem = _SCALARS.get(int(_param(f, "element_type") or -1))
        return f"array<{elem}>" if elem else None
    return _SCALARS.get(t)


def detect_layout(
    description: Mapping[str, Any],
    indexes: Mapping[str, Mapping[str, Any]],
    *,
    text_field: str | None = None,
    doc_id_field: str | None = None,
    vector_field: str | None = None,
) -> Layout:
    """The :class:`Layout` of an existing collection, from ``describe_collection`` and its
    indexes by field name (``describe_index`` dicts). ``text_field`` / ``doc_id_field`` name
    those fields where the schema alone cannot tell (a layout with renamed fields);
    ``vector_field`` the primary dense field among several (default: the first).

    Raises :class:`SchemaMismatchError` (with a migration hint) for a schema it cannot map.
    """
    name = str(description.get("collection_name", "?"))
    fields = list(description.get("fields") or [])
    by_name = {str(f["name"]): f for f in fields}
    dynamic = bool(description.get("enable_dynamic_field"))
    pk = next((f for f in fields if f.get("is_primary")), None)
    if pk is None:
        raise _fail(name, sorted(by_name), "it has no primary key")
    pk_type = _type(pk)
    if pk_type not in (_INT64, _VARCHAR):
        raise _fail(
            name, f"primary key type {pk.get('type')}", "its primary key is not INT64 or VARCHAR"
        )
    id_type: IdType = "int64" if pk_type == _INT64 else "varchar"
    auto_id = bool(pk.get("auto_id") or description.get("auto_id")) and id_type == "int64"

    functions = list(description.get("functions") or [])
    bm25 = [fn for fn in functions if _is_bm25(fn)]
    if len(functions) != len(bm25) or len(bm25) > 1:
        raise _fail(
            name,
            [fn.get("name") for fn in functions],
            "it has functions other than one BM25 function",
        )
    sparse_field: str | None = None
    bm25_input: str | None = None
    if bm25:
        outs, ins = (
            described_names(bm25[0].get("output_field_names")),
            described_names(bm25[0].get("input_field_names")),
        )
        if len(outs) != 1 or len(ins) != 1:
            raise _fail(name, bm25[0].get("name"), "its BM25 function is not text -> sparse")
        sparse_field, bm25_input = outs[0], ins[0]
    if not bm25:  # Milvus Lite 2.5 describes no functions: a function output, BM25-indexed
        outs = [
            n
            for n, f in by_name.items()
            if _type(f) == _SPARSE
            and f.get("is_function_output")
            and str((indexes.get(n) or {}).get("metric_type", "")).upper() == "BM25"
        ]
        analyzed = [
            n for n, f in by_name.items() if str(_param(f, "enable_analyzer")).lower() == "true"
        ]
        if len(outs) == 1:
            sparse_field = outs[0]
            bm25_input = analyzed[0] if len(analyzed) == 1 else None
    other = [n for n, f in by_name.items() if _type(f) in _DENSE_VECTORS - {_FLOAT_VECTOR}]
    if other:
        raise _fail(
            name,
            other,
            "it has vector fields of a type milvus-rag does not write (binary, float16, "
            "bfloat16 or int8 vectors; milvus-rag's dense fields are FLOAT_VECTOR)",
        )
    vector_fields = read_vector_fields(description, indexes)
    dense = [f.name for f in vector_fields if f.is_dense]
    if not vector_fields:
        raise _fail(name, sorted(by_name), "it has no vector field")
    # the primary dense field: the one the caller names, else the first
    vector = vector_field if vector_field in dense else (dense[0] if dense else "")
    dim = int(_param(by_name[vector], "dim") or 0) if vector else 0
    metric, index_type = _metric(indexes, vector) if vector else ("", None)

    varchars = [n for n, f in by_name.items() if _type(f) == _VARCHAR and f is not pk]
    text = text_field or bm25_input or ("text" if "text" in varchars else None)
    # a text kept as a dynamic key (no schema field of that name): only where the caller
    # names it (llama-index-vector-stores-milvus's text_key on a pymilvus quick-setup one)
    dynamic_text = bool(dynamic and text_field and text_field not in by_name and not bm25)
    if text is None or (text not in varchars and not dynamic_text):
        raise _fail(
            name, varchars, "cannot tell which VARCHAR field holds the text: pass text_field="
        )
    jsons = [n for n, f in by_name.items() if _type(f) == _JSON]
    partition_key = next((n for n, f in by_name.items() if f.get("is_partition_key")), None)
    make = functools.partial(
        Layout,
        id_field=str(pk["name"]),
        id_type=id_type,
        auto_id=auto_id,
        text_field=text,
        vector_field=vector,
        dim=dim,
        metric=metric,
        sparse_field=sparse_field,
        partition_key=partition_key,
        index_type=index_type,
        enable_dense=bool(vector),
        vector_fields=vector_fields,
        dynamic_text=dynamic_text,
    )
    taken = {str(pk["name"]), text, *(f.name for f in vector_fields)}

    doc_id = doc_id_field or "doc_id"
    if dynamic and doc_id in varchars and id_type == "varchar" and not jsons:
        columns, nullable = _columns(name, by_name, taken | {doc_id})
        return make(
            name="llama_index",
            metadata="dynamic",
            doc_id_field=doc_id,
            dynamic_field=True,
            metadata_fields=columns,
            nullable=nullable,
        )
    if not dynamic and doc_id in varchars and "metadata" in jsons and id_type == "varchar":
        columns, nullable = _columns(name, by_name, taken | {doc_id, "metadata"})
        return make(
            name="milvus_rag",
            metadata="json",
            doc_id_field=doc_id,
            metadata_field="metadata",
            metadata_fields=columns,
            nullable=nullable,
            tenant_field=tenant_column(by_name, partition_key, columns),
        )
    if len(jsons) > 1 or (jsons and dynamic):
        raise _fail(
            name,
            jsons,
            "it has several places for metadata (JSON fields"
            f"{' and dynamic fields' if dynamic else ''})",
        )
    meta_json = jsons[0] if jsons else None
    columns, nullable = _columns(name, by_name, taken | set(jsons))
    storage: MetadataStorage = "json" if meta_json else "dynamic" if dynamic else "columns"
    return make(
        name="langchain",
        metadata=storage,
        metadata_field=meta_json,
        dynamic_field=dynamic,
        metadata_fields=columns,
        nullable=nullable,
    )


def _columns(
    name: str, by_name: Mapping[str, Mapping[str, Any]], taken: set[str]
) -> tuple[dict[str, str], frozenset[str]]:
    """The typed metadata columns: every field not in ``taken``."""
    out: dict[str, str] = {}
    nullable: set[str] = set()
    for n, f in by_name.items():
        if n in taken:
            continue
        spec = _column_spec(f)
        if spec is None:
            raise _fail(
                name,
                f"field {n!r} of type {f.get('type')}",
                f"its field {n!r} is not "
                "a bool, integer, float, varchar or array column that metadata can map to",
            )
        out[n] = spec
        if f.get("nullable"):
            nullable.add(n)
    return out, frozenset(nullable)


# --- adopting a detected layout -----------------------------------------------------------

_DEFAULTS = CollectionConfig()
_ADOPTED = (
    "layout",
    "id_field",
    "id_type",
    "auto_id",
    "text_field",
    "vector_field",
    "sparse_field",
    "doc_id_field",
    "metadata_field",
    "dynamic_field",
    "metadata_fields",
    "metric",
    "enable_bm25",
    "enable_dense",
    "dynamic_text",
)


def adopt_layout(cfg: CollectionConfig, layout: Layout) -> CollectionConfig:
    """``cfg`` with the detected layout's settings where ``cfg`` left them at their
    defaults; a setting the user chose that contradicts the collection raises
    :class:`SchemaMismatchError` naming it (``enable_bm25`` left on adopts a collection
    without BM25 as dense-only). A ``vector_field`` that names another of its dense fields
    makes that one the primary."""
    layout = with_primary(layout, cfg.vector_field)
    found = layout.config_options()
    if cfg.tenant_field is not None:  # the tenant's column is not a metadata column
        columns = dict(found["metadata_fields"])
        columns.pop(cfg.tenant_field, None)
        found["metadata_fields"] = columns
    changes: dict[str, Any] = {}
    for key in _ADOPTED:
        if key not in found:
            continue
        want, default, have = getattr(cfg, key), getattr(_DEFAULTS, key), found[key]
        if key == "metadata_fields":
            want, have = dict(want), dict(have)
        if want == have:
            continue
        if key == "enable_bm25":  # on: whatever the collection has; off: dense only
            if want:
                changes[key] = have
            continue
        if want == default:
            changes[key] = have
            continue
        raise SchemaMismatchError(
            cfg.name,
            key,
            want,
            have,
            hint=f"the collection is a {layout.name} layout; leave {key} out to adopt "
            f"{have!r}, or migrate it: `milvus-rag migrate --from {cfg.name} --to NEW`",
        )
    if layout.enable_dense and cfg.dim is not None and cfg.dim != layout.dim:
        raise SchemaMismatchError(cfg.name, f"{layout.vector_field}.dim", cfg.dim, layout.dim)
    if not cfg.extra_vector_fields:  # adopted with the rest: a sparse-only one needs them
        dense = changes.get("enable_dense", cfg.enable_dense)
        primary = changes.get("vector_field", cfg.vector_field) if dense else None
        extras = tuple(f for f in layout.vector_fields if f.name != primary and not f.is_bm25)
        if extras and (dense or not any(f.is_dense for f in extras)):
            changes["extra_vector_fields"] = extras
    out = dataclasses.replace(cfg, **changes) if changes else cfg
    return adopt_vector_fields(out, layout.vector_fields, primary_of(out, layout))


def with_primary(layout: Layout, name: str) -> Layout:
    """``layout`` with its dense field ``name`` as the primary (``layout`` itself where that
    is already so, or where it has no such dense field)."""
    field = next((f for f in layout.vector_fields if f.is_dense and f.name == name), None)
    if field is None or name == layout.vector_field:
        return layout
    return dataclasses.replace(
        layout,
        vector_field=name,
        dim=int(field.dim or 0),
        metric=str(field.metric or ""),
        index_type=field.index_type,
    )


def primary_of(cfg: CollectionConfig, layout: Layout) -> str | None:
    """The primary dense field of ``cfg`` on ``layout``'s collection: the one ``cfg`` names
    where the collection has it, else the layout's first (``None``: no dense field)."""
    if not cfg.enable_dense:
        return None
    dense = {f.name for f in layout.vector_fields if f.is_dense}
    if cfg.vector_field in dense:
        return cfg.vector_field
    return layout.vector_field or None
