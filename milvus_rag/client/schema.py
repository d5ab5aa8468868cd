"""Schema and index parameters from a :class:`CollectionConfig`; checking an existing one.

Pure functions: building a pymilvus schema object does no I/O. The store calls these.

Example:
    >>> from milvus_rag.client.config import CollectionConfig
    >>> [i.field for i in index_specs(CollectionConfig(dim=8))]
    ['dense', 'sparse']
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from pymilvus import CollectionSchema, DataType, Function, FunctionType, MilvusClient

from milvus_rag.client.config import CollectionConfig, Metric
from milvus_rag.client.errors import ConfigError, SchemaMismatchError
from milvus_rag.client.filters import Dialect
from milvus_rag.client.index import IndexDescription, index_difference, parse_index
from milvus_rag.client.layout import Layout, adopt_layout, detect_layout, primary_of
from milvus_rag.client.tenancy import TENANT_MAX_LENGTH
from milvus_rag.client.typed_fields import (
    ARRAY_MAX_CAPACITY,
    ARRAY_VARCHAR_MAX,
    VARCHAR_MAX,
    TypedField,
)
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.client.vector_schema import (
    adopt_vector_fields,
    check_dims,
    check_vector_fields,
    read_vector_fields,
    vector_index_specs,
)

BM25_FUNCTION_NAME = "bm25"


@dataclass(frozen=True)
class IndexSpec:
    field: str
    index_type: str
    metric_type: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class CollectionInfo:
    """What an existing collection is, read once from ``describe_collection``."""

    name: str
    dim: int
    metric: str
    has_bm25: bool
    field_names: tuple[str, ...]
    text_max_length: int
    id_max_length: int
    analyzer: dict[str, Any] | None = dataclasses.field(default=None, hash=False)
    index: IndexDescription | None = dataclasses.field(default=None, hash=False)
    #: scalar fields beyond the fixed layout: name -> "int64", "array<varchar>", ...
    extra_fields: tuple[tuple[str, str], ...] = ()
    #: the field that is the partition key, if any
    partition_key: str | None = None
    #: the primary key's type, and whether Milvus assigns it
    id_type: str = "varchar"
    auto_id: bool = False
    dynamic_field: bool = False
    #: which library's conventions the schema follows (None: none recognised)
    layout: Layout | None = dataclasses.field(default=None, hash=False, compare=False)
    #: every vector field, as the collection describes it (``None``: not read); ``dim``,
    #: ``metric`` and ``index`` above are the primary dense field's (0, "" and None when the
    #: collection has no dense field)
    vector_fields: tuple[VectorField, ...] | None = dataclasses.field(
        default=None, hash=False, compare=False
    )


def analyzer_params(cfg: CollectionConfig, default: str = "english") -> dict[str, Any]:
    a = cfg.analyzer if cfg.analyzer is not None else default
    if isinstance(a, str):
        return {"type": a}
    if isinstance(a, dict):
        return dict(a)
    raise ConfigError(f"analyzer must be a name such as 'english' or a dict, got {a!r}")


_DTYPES = {
    "int64": DataType.INT64,
    "double": DataType.DOUBLE,
    "varchar": DataType.VARCHAR,
    "bool": DataType.BOOL,
}


def partition_key_for(dialect: Dialect) -> bool:
    """Whether the tenant field is a partition key: on servers, not on Milvus Lite 2.5
    (measured: a partition-key collection there rejects every filter expression)."""
    return dialect is not Dialect.LITE25


def nullable_for(dialect: Dialect) -> bool:
    """Whether typed fields are nullable (Milvus Lite 2.5: "doesn't support nullable")."""
    return dialect is not Dialect.LITE25


def _add_typed(schema: CollectionSchema, f: TypedField, nullable: bool) -> None:
    kwargs: dict[str, Any] = {"nullable": True} if nullable else {}
    if f.array:
        kwargs["element_type"] = _DTYPES[f.element]
        kwargs["max_capacity"] = ARRAY_MAX_CAPACITY
        if f.element == "varchar":
            kwargs["max_length"] = ARRAY_VARCHAR_MAX
        schema.add_field(f.name, DataType.ARRAY, **kwargs)
        return
    if f.element == "varchar":
        kwargs["max_length"] = VARCHAR_MAX
    schema.add_field(f.name, _DTYPES[f.element], **kwargs)


def build_schema(
    cfg: CollectionConfig,
    analyzer: dict[str, Any] | None = None,
    dialect: Dialect = Dialect.MILVUS,
) -> CollectionSchema:
    """The collection schema of DESIGN.md: id, text, the vector fields (``cfg.vector_fields``:
    [dense], [sparse + BM25], extras), doc_id, metadata, [tenant], [typed metadata fields]; or
    the shape the config's layout settings ask for (INT64 / auto_id key, no doc_id or JSON
    field, dynamic fields: langchain-milvus and llama-index-vector-stores-milvus collections)."""
    check_dims(cfg)
    schema = MilvusClient.create_schema(auto_id=cfg.auto_id, enable_dynamic_field=cfg.dynamic_field)
    if cfg.id_type == "int64":
        schema.add_field(cfg.id_field, DataType.INT64, is_primary=True, auto_id=cfg.auto_id)
    else:
        schema.add_field(
            cfg.id_field, DataType.VARCHAR, is_primary=True, max_length=cfg.id_max_length
        )
    text_kwargs: dict[str, Any] = {"max_length": cfg.text_max_length}
    if cfg.enable_bm25:
        text_kwargs["enable_analyzer"] = True
        text_kwargs["analyzer_params"] = analyzer or analyzer_params(cfg)
    if not cfg.dynamic_text:
        schema.add_field(cfg.text_field, DataType.VARCHAR, **text_kwargs)
    for vf in cfg.vector_fields:
        if vf.is_dense:
            schema.add_field(vf.name, DataType.FLOAT_VECTOR, dim=vf.dim)
        else:
            schema.add_field(vf.name, DataType.SPARSE_FLOAT_VECTOR)
    if cfg.doc_id_field is not None:
        schema.add_field(cfg.doc_id_field, DataType.VARCHAR, max_length=cfg.id_max_length)
    if cfg.metadata_field is not None:
        schema.add_field(cfg.metadata_field, DataType.JSON)
    if cfg.tenant_field is not None:
        pk = {"is_partition_key": True} if partition_key_for(dialect) else {}
        schema.add_field(cfg.tenant_field, DataType.VARCHAR, max_length=TENANT_MAX_LENGTH, **pk)
    nullable = nullable_for(dialect) and cfg.metadata_storage == "json"  # see rows.to_row
    for f in cfg.typed_fields:
        _add_typed(schema, f, nullable)
    if cfg.enable_bm25:
        schema.add_function(
            Function(
                name=BM25_FUNCTION_NAME,
                function_type=FunctionType.BM25,
                input_field_names=[cfg.text_field],
                output_field_names=[cfg.sparse_field],
            )
        )
    return schema


def index_specs(cfg: CollectionConfig) -> list[IndexSpec]:
    """Vector indexes (each vector field its own, see
    :func:`~milvus_rag.client.vector_schema.vector_index_specs`) and scalar (INVERTED) indexes
    on the tenant and the typed fields but arrays (measured: Milvus Lite 2.5 and 3 refuse a
    scalar index on an ARRAY field). The primary dense field's comes first."""
    vectors = [
        IndexSpec(v.field, v.index_type, v.metric_type, v.params) for v in vector_index_specs(cfg)
    ]
    first = vectors[:1] if cfg.enable_dense else []
    specs = list(first)
    if cfg.tenant_field is not None:
        specs.append(IndexSpec(cfg.tenant_field, "INVERTED", ""))
    for f in cfg.typed_fields:
        if not f.array:
            specs.append(IndexSpec(f.name, "INVERTED", ""))
    return specs + vectors[len(first) :]


def _param(field_desc: dict[str, Any], name: str) -> Any:
    params = field_desc.get("params") or {}
    return params.get(name, field_desc.get(name))


def parse_description(
    desc: dict[str, Any], indexes: dict[str, dict[str, Any]], cfg: CollectionConfig
) -> CollectionInfo:
    """Read dim, metric, fields, BM25 and analyzer from describe_collection/describe_index."""
    fields_by_name = {f["name"]: f for f in desc.get("fields", [])}
    name = str(desc.get("collection_name", cfg.name))
    vec = fields_by_name.get(cfg.vector_field) if cfg.enable_dense else {}
    if vec is None:
        raise SchemaMismatchError(name, "fields", _expected_fields(cfg), sorted(fields_by_name))
    dim = int(_param(vec, "dim") or 0)
    vector_index = indexes.get(cfg.vector_field, {}) if cfg.enable_dense else {}
    metric = str(vector_index.get("metric_type", "")).upper()
    sparse = fields_by_name.get(cfg.sparse_field)
    functions = desc.get("functions") or []
    has_bm25 = sparse is not None and (
        bool(sparse.get("is_function_output"))
        or any(str(f.get("type")).endswith("BM25") for f in functions)
        or str(indexes.get(cfg.sparse_field, {}).get("metric_type", "")).upper() == "BM25"
    )
    text = fields_by_name.get(cfg.text_field, {})
    raw_analyzer = _param(text, "analyzer_params")
    analyzer = json.loads(raw_analyzer) if isinstance(raw_analyzer, str) else raw_analyzer
    idf = fields_by_name.get(cfg.id_field, {})
    vector_fields = read_vector_fields(desc, indexes)
    fixed = {*_expected_fields(cfg), cfg.sparse_field, *(f.name for f in vector_fields)}
    extra = tuple((n, _spec_of(f)) for n, f in fields_by_name.items() if n not in fixed)
    pk = next((n for n, f in fields_by_name.items() if f.get("is_partition_key")), None)
    primary: dict[str, Any] = next((f for f in fields_by_name.values() if f.get("is_primary")), {})
    text_key = cfg.text_field if cfg.dynamic_text else None
    try:
        layout: Layout | None = detect_layout(
            desc, indexes, vector_field=cfg.vector_field, text_field=text_key
        )
    except SchemaMismatchError:
        layout = None
    return CollectionInfo(
        id_type="int64" if _spec_of(primary) == "int64" else "varchar",
        auto_id=bool(primary.get("auto_id") or desc.get("auto_id")),
        dynamic_field=bool(desc.get("enable_dynamic_field")),
        layout=layout,
        name=name,
        dim=dim,
        metric=metric,
        has_bm25=has_bm25,
        field_names=tuple(fields_by_name),
        text_max_length=int(_param(text, "max_length") or cfg.text_max_length),
        id_max_length=int(_param(idf, "max_length") or cfg.id_max_length),
        analyzer=analyzer if isinstance(analyzer, dict) else None,
        index=parse_index(vector_index),
        extra_fields=extra,
        partition_key=pk,
        # a collection has a vector field: none read means a description without types
        vector_fields=vector_fields or None,
    )


def _spec_of(f: dict[str, Any]) -> str:
    """A described field's type as a ``metadata_fields`` spelling (``"int64"``, ...)."""
    names = {v: k for k, v in _DTYPES.items()}

    def name(t: Any) -> str:
        try:
            return (
                names.get(DataType(int(t)), str(t))
                if not isinstance(t, DataType)
                else (names.get(t, t.name.lower()))
            )
        except (TypeError, ValueError):
            return str(t).lower()

    t = f.get("type")
    if t == DataType.ARRAY or str(t).upper().endswith("ARRAY"):
        return f"array<{name(f.get('element_type') or _param(f, 'element_type'))}>"
    return name(t)


def _expected_fields(cfg: CollectionConfig) -> list[str]:
    names = [cfg.id_field] if cfg.dynamic_text else [cfg.id_field, cfg.text_field]
    if cfg.enable_dense:
        names.append(cfg.vector_field)
    names += [n for n in (cfg.doc_id_field, cfg.metadata_field) if n is not None]
    if cfg.enable_bm25:
        names.append(cfg.sparse_field)
    return sorted(names)


def adopted_config(
    cfg: CollectionConfig,
    field_names: Sequence[str],
    layout: Layout | None,
    error: SchemaMismatchError | None = None,
) -> CollectionConfig:
    """The config a store uses on an existing collection: ``cfg`` adopting the collection's
    detected layout (:func:`~milvus_rag.client.layout.adopt_layout`: the settings ``cfg``
    leaves at their defaults) when ``cfg`` names that layout (the adapters' vocabularies) or
    does not name the collection's fields; else ``cfg`` itself. A collection of no known
    layout raises ``error`` (the detection's, with its migration hint) or a field mismatch."""
    if layout is not None and layout.name != "milvus_rag" and cfg.layout == layout.name:
        return adopt_layout(cfg, layout)
    expected = _expected_fields(cfg)
    if all(f in field_names for f in expected):
        return adopt_own_fields(_adopt_own_metric(cfg, layout), layout)
    if layout is not None:  # other field names (another primary, no dense field, ...)
        return adopt_layout(adopt_own_fields(cfg, layout), layout)
    if error is not None:
        raise error
    raise SchemaMismatchError(cfg.name, "fields", expected, sorted(field_names))


def _adopt_own_metric(cfg: CollectionConfig, layout: Layout | None) -> CollectionConfig:
    """A milvus-rag collection built with another metric (``migrate`` keeps langchain-milvus's
    L2, llama-index's IP) opens with the default config: the metric left at its default
    adopts the collection's; one chosen explicitly must match (``check_compatible``)."""
    default = CollectionConfig.__dataclass_fields__["metric"].default
    if layout is None or not layout.metric or cfg.metric != default:
        return cfg
    if layout.metric == cfg.metric or layout.metric not in ("COSINE", "IP", "L2"):
        return cfg  # an unknown metric is named by check_compatible
    return dataclasses.replace(cfg, metric=cast(Metric, layout.metric))


def check_compatible(cfg: CollectionConfig, info: CollectionInfo) -> None:
    """Raise :class:`SchemaMismatchError` naming the first difference from the config."""
    missing = [f for f in _expected_fields(cfg) if f not in info.field_names]
    if missing:
        raise SchemaMismatchError(
            info.name, "fields", _expected_fields(cfg), sorted(info.field_names)
        )
    if cfg.enable_dense and cfg.dim is not None and cfg.dim != info.dim:
        raise SchemaMismatchError(info.name, f"{cfg.vector_field}.dim", cfg.dim, info.dim)
    if cfg.id_type != info.id_type:
        raise SchemaMismatchError(info.name, f"{cfg.id_field}.id_type", cfg.id_type, info.id_type)
    if cfg.auto_id != info.auto_id:
        raise SchemaMismatchError(info.name, f"{cfg.id_field}.auto_id", cfg.auto_id, info.auto_id)
    if cfg.dynamic_field != info.dynamic_field:
        raise SchemaMismatchError(info.name, "dynamic_field", cfg.dynamic_field, info.dynamic_field)
    if info.metric and cfg.metric != info.metric:
        raise SchemaMismatchError(info.name, f"{cfg.vector_field}.metric", cfg.metric, info.metric)
    if cfg.enable_bm25 and not info.has_bm25:
        raise SchemaMismatchError(info.name, "bm25", True, False)
    _check_extra_fields(cfg, info)
    if cfg.analyzer is not None and info.analyzer is not None:
        want = analyzer_params(cfg)
        if want != info.analyzer:
            raise SchemaMismatchError(info.name, f"{cfg.text_field}.analyzer", want, info.analyzer)
    diff = index_difference(cfg.index_type, cfg.index_params, info.index)
    if diff is not None:
        what, want_index, found = diff
        raise SchemaMismatchError(info.name, f"{cfg.vector_field}.{what}", want_index, found)
    if info.vector_fields is not None:
        check_vector_fields(cfg, info.name, info.vector_fields)


def _check_extra_fields(cfg: CollectionConfig, info: CollectionInfo) -> None:
    """The tenant field and the typed metadata fields must be exactly those configured."""
    want: dict[str, str] = dict(cfg.metadata_fields)
    if cfg.tenant_field is not None:
        want[cfg.tenant_field] = "tenant (varchar)"
    found = dict(info.extra_fields)
    if cfg.tenant_field is not None and found.get(cfg.tenant_field) == "varchar":
        found[cfg.tenant_field] = "tenant (varchar)"
    for name in sorted(set(want) | set(found)):
        if want.get(name) != found.get(name):
            what = (
                "tenant_field"
                if name == cfg.tenant_field or (name == info.partition_key)
                else "metadata_fields"
            )
            raise SchemaMismatchError(
                info.name, f"{what}[{name!r}]", want.get(name), found.get(name)
            )


class SchemaCache:
    """Thread-safe cache of :class:`CollectionInfo` per (connection, collection)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[tuple[Any, str], CollectionInfo] = {}

    def get(self, conn_key: Any, name: str) -> CollectionInfo | None:
        with self._lock:
            return self._data.get((conn_key, name))

    def put(self, conn_key: Any, info: CollectionInfo) -> None:
        with self._lock:
            self._data[(conn_key, info.name)] = info

    def invalidate(self, conn_key: Any, name: str | None = None) -> None:
        with self._lock:
            for key in [k for k in self._data if k[0] == conn_key and name in (None, k[1])]:
                del self._data[key]


SCHEMA_CACHE = SchemaCache()


def adopt_own_fields(cfg: CollectionConfig, layout: Layout | None) -> CollectionConfig:
    """``cfg`` with the collection's tenant field, typed fields and vector fields where
    ``cfg`` names none."""
    if layout is None or layout.name != "milvus_rag":
        return cfg
    cfg = adopt_vector_fields(cfg, layout.vector_fields, primary_of(cfg, layout))
    changes: dict[str, Any] = {}
    tenant = cfg.tenant_field
    if tenant is None and layout.tenant_field is not None:
        tenant = changes["tenant_field"] = layout.tenant_field
    if not cfg.metadata_fields:
        typed = {n: s for n, s in layout.metadata_fields.items() if n != tenant}
        if typed:
            changes["metadata_fields"] = typed
    return dataclasses.replace(cfg, **changes) if changes else cfg
