"""langchain-milvus 0.4's vocabulary mapped onto milvus-rag's store options: pure, no I/O.

:func:`plan` turns the keyword arguments of ``langchain_milvus.Milvus(...)`` into one
:class:`CompatPlan`: the :class:`~milvus_rag.client.AsyncMilvusStore` options (connection and
``CollectionConfig`` fields, ``layout="langchain"``) plus what the LangChain front keeps (drop
the old collection first, infer typed metadata columns from the first write, the retrieval
mode). Every default is langchain-milvus's where a user would notice it (collection
``LangChainCollection``, fields ``pk`` / ``text`` / ``vector``, metric L2, consistency
``Session``, metadata keys of the first write as typed columns, dense search unless a BM25
function is given). A setting with no counterpart raises :class:`ConfigError` naming what to
use instead.

Example:
    >>> from langchain_core.embeddings import FakeEmbeddings
    >>> p = plan(embedding_function=FakeEmbeddings(size=4), builtin_function=None)
    >>> p.store_options["collection_name"], p.store_options["metric"], p.mode.value
    ('LangChainCollection', 'L2', 'dense')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.embeddings import Embeddings

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.request import RetrievalMode

#: langchain-milvus's defaults (``langchain_milvus.utils.constant`` and ``Milvus.__init__``).
DEFAULT_COLLECTION = "LangChainCollection"
DEFAULT_URI = "http://localhost:19530"
PRIMARY_FIELD = "pk"
TEXT_FIELD = "text"
VECTOR_FIELD = "vector"
SPARSE_FIELD = "sparse"
DEFAULT_METRIC = "L2"
DEFAULT_CONSISTENCY = "Session"
#: langchain-milvus creates VARCHAR(65535) primary keys and texts.
MAX_LENGTH = 65535

_CONNECTION_KEYS = {"uri": "uri", "token": "token", "user": "user", "password": "password"}
_CONNECTION_ALIASES = {"db_name": "db_name", "timeout": "timeout"}
_SCALARS = {"INT64": "int64", "INT32": "int64", "INT16": "int64", "INT8": "int64"}
_SCALARS.update({"DOUBLE": "double", "FLOAT": "double", "VARCHAR": "varchar", "BOOL": "bool"})
_BM25_INDEXES = ("AUTOINDEX", "SPARSE_INVERTED_INDEX")


@dataclass(frozen=True)
class Bm25Spec:
    """A BM25 built-in function: its input (text) and output (sparse vector) fields."""

    input_field: str
    output_field: str
    analyzer: dict[str, Any] | None = None


@dataclass(frozen=True)
class CompatPlan:
    """What ``Milvus(...)`` means in milvus-rag terms.

    ``store_options`` go to :class:`~milvus_rag.client.AsyncMilvusStore` as they are;
    ``metadata_types`` are the typed columns from ``metadata_schema``; with
    ``infer_metadata`` the other keys of the first metadata written become typed columns
    too (langchain-milvus's default layout: no JSON field, no dynamic field).
    """

    store_options: dict[str, Any]
    mode: RetrievalMode
    drop_old: bool
    auto_id: bool
    infer_metadata: bool
    metadata_types: dict[str, str] = field(default_factory=dict)
    primary_field: str = PRIMARY_FIELD
    metadata_field: str | None = None
    partition_key_field: str | None = None
    metric: str = DEFAULT_METRIC

    def with_metadata_types(self, types: Mapping[str, str]) -> dict[str, Any]:
        """The store options with ``types`` (and ``metadata_schema``'s) as typed columns."""
        merged = {**dict(types), **self.metadata_types}
        return {**self.store_options, "metadata_fields": merged}


def as_list(value: Any) -> list[Any]:
    """langchain-milvus's ``as_list``: None / [] -> [], a value -> [value]."""
    if value is None or (isinstance(value, list | tuple) and not value):
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _enum_name(value: Any) -> str:
    """``DataType.INT64`` / ``FunctionType.BM25`` (or their names) -> ``"INT64"`` / ``"BM25"``."""
    name = getattr(value, "name", None)
    return str(name if isinstance(name, str) else value).rsplit(".", 1)[-1].upper()


def bm25_spec(function: Any) -> Bm25Spec:
    """A langchain-milvus ``BM25BuiltInFunction`` (theirs or ours, by duck typing) as a spec;
    any other built-in function raises ConfigError."""
    kind = getattr(function, "type", None)
    if _enum_name(kind) != "BM25":
        raise ConfigError(
            f"builtin_function {type(function).__name__} has no counterpart: milvus-rag runs "
            "BM25 (BM25BuiltInFunction) on the server and embeds on the client; pass an "
            "embedding_function instead of a server-side text embedding function"
        )
    inputs, outputs = as_list(function.input_field_names), as_list(function.output_field_names)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ConfigError("a BM25 function takes one input (text) field and one output field")
    if getattr(function, "multi_analyzer_params", None) is not None:
        raise ConfigError(
            "multi_analyzer_params has no counterpart: pass one analyzer as analyzer_params"
        )
    if getattr(function, "enable_match", False):
        raise ConfigError(
            "enable_match (text match) has no counterpart: filter with milvus-rag's "
            "{'key': {'$contains': ...}} or a raw expression instead"
        )
    analyzer = getattr(function, "analyzer_params", None)
    return Bm25Spec(str(inputs[0]), str(outputs[0]), dict(analyzer) if analyzer else None)


def connection_options(connection_args: Mapping[str, Any] | None) -> dict[str, Any]:
    """``connection_args`` (uri, token, user, password, db_name, timeout) as store options."""
    args = dict(connection_args) if connection_args is not None else {"uri": DEFAULT_URI}
    unknown = sorted(set(args) - set(_CONNECTION_KEYS) - set(_CONNECTION_ALIASES))
    if unknown:
        hint = (
            "connection_args={'uri': 'http://host:19530'}"
            if {"host", "port"} & set(unknown)
            else ("connection_args with uri, token (or user and password) and db_name")
        )
        raise ConfigError(f"connection_args {unknown} have no counterpart: use {hint}")
    if not args.get("uri"):
        raise ConfigError("connection_args needs a 'uri' (a server URL or a './file.db')")
    out = {_CONNECTION_KEYS.get(k, k): v for k, v in args.items() if v not in (None, "")}
    return out


def _index_settings(params: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One langchain-milvus index dict (metric_type, index_type, params) as store options."""
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where} must be a dict, got {params!r}")
    params = dict(params)
    out: dict[str, Any] = {}
    if "metric_type" in params:
        out["metric"] = str(params.pop("metric_type")).upper()
    if "index_type" in params:
        out["index_type"] = str(params.pop("index_type")).upper()
    nested = params.pop("params", None) or {}
    if not isinstance(nested, Mapping):
        raise ConfigError(f"{where}['params'] must be a dict, got {nested!r}")
    build = {**dict(nested), **params}
    if build:
        out["index_params"] = build
    return out


def _bm25_index(params: Mapping[str, Any], where: str) -> None:
    """The BM25 field's index: only milvus-rag's own (metric BM25, AUTOINDEX / inverted)."""
    got = _index_settings(params, where)
    metric, kind = got.get("metric", "BM25"), got.get("index_type", "AUTOINDEX")
    if metric != "BM25" or kind not in _BM25_INDEXES or got.get("index_params"):
        raise ConfigError(
            f"{where}={dict(params)!r} for the BM25 field: milvus-rag builds its BM25 index "
            "itself (metric BM25, AUTOINDEX); leave it out or pass "
            "{'metric_type': 'BM25', 'index_type': 'AUTOINDEX'}"
        )


def search_param_options(param: Any, metric: str, where: str = "search_params") -> dict[str, Any]:
    """A langchain-milvus search dict (``{"metric_type": "L2", "params": {"ef": 10}}``) as
    milvus-rag's ``search_params`` (the inner ``params``); another metric raises."""
    if param is None:
        return {}
    if not isinstance(param, Mapping):
        raise ConfigError(f"{where} must be a dict such as {{'params': {{'ef': 64}}}}")
    param = dict(param)
    given = param.pop("metric_type", None)
    if given is not None and str(given).upper() != metric:
        raise ConfigError(
            f"{where} metric_type={given!r} but the index metric is {metric!r}: a search uses "
            "the index's metric; leave metric_type out"
        )
    nested = param.pop("params", None) or {}
    if not isinstance(nested, Mapping):
        raise ConfigError(f"{where}['params'] must be a dict, got {nested!r}")
    return {**dict(nested), **param}


def metadata_schema_type(key: str, entry: Any) -> str:
    """One ``metadata_schema`` entry (``{"dtype": DataType.ARRAY, "element_type":
    DataType.INT64, "max_capacity": 50}``, kwargs nested or not) as a typed-field spec."""
    if not isinstance(entry, Mapping) or "dtype" not in entry:
        raise ConfigError(f"metadata_schema[{key!r}] must be a dict with a 'dtype'")
    entry = {**dict(entry.get("kwargs") or {}), **{k: v for k, v in entry.items() if k != "kwargs"}}
    dtype = _enum_name(entry.pop("dtype"))
    entry.pop("max_length", None)  # VARCHAR columns are 65,535 long
    entry.pop("max_capacity", None)  # array columns hold up to typed_fields.ARRAY_MAX_CAPACITY
    entry.pop("nullable", None)  # typed columns are nullable (missing keys read as missing)
    if dtype == "ARRAY":
        element = _enum_name(entry.pop("element_type", ""))
        spec = f"array<{_SCALARS[element]}>" if element in _SCALARS else None
    elif dtype == "JSON":
        spec = None
        if not entry:
            raise ConfigError(
                f"metadata_schema[{key!r}]: a JSON column has no counterpart; use "
                "enable_dynamic_field=True or metadata_field='metadata' (one JSON field)"
            )
    else:
        spec = _SCALARS.get(dtype)
    if spec is None:
        raise ConfigError(
            f"metadata_schema[{key!r}] dtype {dtype} has no counterpart: typed metadata columns "
            "are INT64, DOUBLE, VARCHAR, BOOL or ARRAY of one of them"
        )
    if entry:
        raise ConfigError(
            f"metadata_schema[{key!r}] settings {sorted(entry)} have no counterpart: leave them out"
        )
    return spec


def infer_metadata_type(key: str, value: Any) -> str:
    """The typed column langchain-milvus infers for a metadata value of the first write."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float) and math.isfinite(value):
        return "double"
    if isinstance(value, str):
        return "varchar"
    raise ConfigError(
        f"metadata key {key!r} holds {type(value).__name__}: no column type can be inferred. "
        "Give it a type in metadata_schema, or store metadata as enable_dynamic_field=True "
        "or metadata_field='metadata'"
    )


def infer_metadata_types(
    metadata: Mapping[str, Any] | None, reserved: Sequence[str]
) -> dict[str, str]:
    """Typed columns for the keys of the first metadata written (langchain-milvus's layout)."""
    out: dict[str, str] = {}
    for key, value in (metadata or {}).items():
        if key in reserved:
            raise ConfigError(f"metadata key {key!r} is reserved: it names a field of the store")
        out[key] = infer_metadata_type(key, value)
    return out


def _vector_fields(
    vector_field: str | Sequence[str], n_embeddings: int, bm25: Bm25Spec | None
) -> tuple[str | None, str | None]:
    """(dense field, sparse field) as langchain-milvus names them: names not produced by a
    function are the embeddings', the rest generated as ``vector_{i+1}``."""
    names = as_list(vector_field)
    if len(set(names)) != len(names):
        raise ConfigError(f"vector_field names must be distinct, got {names}")
    from_function = [bm25.output_field] if bm25 is not None else []
    for_embeddings = [n for n in names if n not in from_function]
    if len(for_embeddings) > n_embeddings:
        raise ConfigError(
            f"vector_field {for_embeddings} are more than the embedding functions "
            f"({n_embeddings}) and no built-in function writes them: milvus-rag stores one "
            "dense vector (plus BM25's sparse one); multiple vector fields are not supported"
        )
    for_embeddings += [f"vector_{i + 1}" for i in range(len(for_embeddings), n_embeddings)]
    dense = for_embeddings[0] if for_embeddings else None
    return dense, (from_function[0] if from_function else None)


def plan(
    *,
    embedding_function: Any,
    builtin_function: Any,
    collection_name: str = DEFAULT_COLLECTION,
    collection_description: str = "",
    collection_properties: Mapping[str, Any] | None = None,
    connection_args: Mapping[str, Any] | None = None,
    consistency_level: str = DEFAULT_CONSISTENCY,
    index_params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    search_params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    drop_old: bool | None = False,
    auto_id: bool = False,
    primary_field: str = PRIMARY_FIELD,
    text_field: str = TEXT_FIELD,
    vector_field: str | Sequence[str] = VECTOR_FIELD,
    enable_dynamic_field: bool = False,
    metadata_field: str | None = None,
    partition_key_field: str | None = None,
    num_partitions: int | None = None,
    partition_names: Sequence[str] | None = None,
    replica_number: int = 1,
    timeout: float | None = None,
    num_shards: int | None = None,
    vector_schema: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    metadata_schema: Mapping[str, Any] | None = None,
) -> CompatPlan:
    """The milvus-rag meaning of ``langchain_milvus.Milvus(...)``'s arguments (see module)."""
    embeddings = as_list(embedding_function)
    functions = as_list(builtin_function)
    if len(embeddings) > 1:
        raise ConfigError(
            f"{len(embeddings)} embedding functions: milvus-rag stores one dense vector per "
            "row (plus BM25's sparse vector); multiple vector fields are not supported. Pass "
            "one embedding_function"
        )
    for emb in embeddings:
        if not isinstance(emb, Embeddings):
            raise ConfigError(
                f"embedding_function {type(emb).__name__} is not a langchain Embeddings: "
                "sparse embedding functions have no counterpart; use BM25BuiltInFunction() "
                "for sparse (full-text) search"
            )
    if len(functions) > 1:
        raise ConfigError("more than one builtin_function: milvus-rag runs at most one (BM25)")
    bm25 = bm25_spec(functions[0]) if functions else None
    if not embeddings:
        raise ConfigError(
            "embedding_function is required: milvus-rag stores a dense vector in every row "
            "(BM25 is added with builtin_function=BM25BuiltInFunction()); a BM25-only store "
            "has no counterpart"
        )
    if bm25 is not None and bm25.input_field != text_field:
        raise ConfigError(
            f"the BM25 function reads {bm25.input_field!r} but text_field={text_field!r}: "
            "BM25 runs on the text field; pass the same name to both"
        )
    _refuse(collection_description, "", "collection_description", "leave it out")
    _refuse(collection_properties, None, "collection_properties", "leave it out")
    _refuse(
        partition_names,
        None,
        "partition_names",
        "partition_key_field= (tenants); every search covers the whole collection",
    )
    _refuse(replica_number, 1, "replica_number", "set replicas on the server (load) instead")
    _refuse(num_shards, None, "num_shards", "create the collection with pymilvus first")
    if vector_schema is not None:
        for schema in as_list(vector_schema):
            if _enum_name(dict(schema).get("dtype", "FLOAT_VECTOR")) != "FLOAT_VECTOR":
                raise ConfigError(
                    "vector_schema other than FLOAT_VECTOR has no counterpart: milvus-rag "
                    "stores float32 vectors; leave vector_schema out"
                )
    dense, sparse = _vector_fields(vector_field, len(embeddings), bm25)
    options: dict[str, Any] = connection_options(connection_args)
    uri = options.pop("uri")
    if timeout is not None:
        options["timeout"] = timeout
    collection: dict[str, Any] = {
        "uri": uri,
        "collection_name": collection_name,
        "layout": "langchain",
        "metric": DEFAULT_METRIC,
        "consistency_level": consistency_level,
        "id_field": primary_field,
        "text_field": text_field,
        "vector_field": dense or VECTOR_FIELD,
        "enable_bm25": bm25 is not None,
        "doc_id_field": None,
        "id_type": "int64" if auto_id else "varchar",
        "auto_id": bool(auto_id),
        "id_max_length": MAX_LENGTH,
        "text_max_length": MAX_LENGTH,
    }
    if bm25 is not None:
        collection["sparse_field"] = sparse
        if bm25.analyzer is not None:
            collection["analyzer"] = bm25.analyzer
    collection.update(_index_options(index_params, vector_field, dense, sparse))
    metric = collection["metric"]
    dense_search = _dense_search_params(search_params, vector_field, dense, sparse, metric)
    if dense_search:
        collection["search_params"] = dense_search
    # metadata storage: dynamic field wins over metadata_field (as in langchain-milvus, which
    # warns and ignores metadata_field): here both given is an error, not a silent choice
    if enable_dynamic_field and metadata_field:
        raise ConfigError(
            "enable_dynamic_field=True and metadata_field= both store metadata: pass one"
        )
    collection["metadata_field"] = metadata_field or None
    collection["dynamic_field"] = bool(enable_dynamic_field)
    if partition_key_field is not None:
        collection["tenant_field"] = partition_key_field
    if num_partitions is not None:
        collection["num_partitions"] = num_partitions
    types = {
        key: metadata_schema_type(key, entry) for key, entry in (metadata_schema or {}).items()
    }
    if partition_key_field is not None:
        types.pop(partition_key_field, None)  # the tenant column is the partition key
    if types and (enable_dynamic_field or metadata_field):
        collection["metadata_fields"] = dict(types)
    options.update(collection)
    return CompatPlan(
        store_options=options,
        mode=RetrievalMode.HYBRID if bm25 is not None and embeddings else RetrievalMode.DENSE,
        drop_old=bool(drop_old),
        auto_id=bool(auto_id),
        infer_metadata=not enable_dynamic_field and not metadata_field,
        metadata_types=types,
        primary_field=primary_field,
        metadata_field=metadata_field or None,
        partition_key_field=partition_key_field,
        metric=metric,
    )


def _refuse(value: Any, default: Any, name: str, instead: str) -> None:
    if value != default:
        raise ConfigError(f"{name}={value!r} has no counterpart in milvus-rag: {instead}")


def _per_field(
    value: Any, vector_field: str | Sequence[str], dense: str | None, sparse: str | None
) -> dict[str, Mapping[str, Any]]:
    """langchain-milvus's per-vector-field list (index_params, search_params) by field name."""
    items = as_list(value)
    fields = [f for f in (dense, sparse) if f is not None]
    if len(items) <= 1:
        return {fields[0]: items[0]} if items and fields else {}
    names = as_list(vector_field)
    order = names if len(names) == len(items) else fields
    if len(order) != len(items) or set(order) != set(fields):
        raise ConfigError(
            f"{len(items)} per-field settings for the vector fields {fields}: pass one per "
            "vector field, in the order of vector_field"
        )
    return dict(zip(order, items, strict=True))


def _index_options(
    index_params: Any, vector_field: str | Sequence[str], dense: str | None, sparse: str | None
) -> dict[str, Any]:
    by_field = _per_field(index_params, vector_field, dense, sparse)
    out: dict[str, Any] = {}
    for name, params in by_field.items():
        if name == sparse:
            _bm25_index(params, "index_params")
        else:
            out = _index_settings(params, "index_params")
    return out


def _dense_search_params(
    search_params: Any,
    vector_field: str | Sequence[str],
    dense: str | None,
    sparse: str | None,
    metric: str,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, params in _per_field(search_params, vector_field, dense, sparse).items():
        if name == sparse:
            if search_param_options(params, "BM25"):
                raise ConfigError(
                    "search parameters of the BM25 field have no counterpart: leave them out"
                )
        else:
            out = search_param_options(params, metric)
    return out


class BM25BuiltInFunction:
    """langchain-milvus's ``BM25BuiltInFunction`` for milvus-rag's ``Milvus``: server-side
    BM25 on the text field (``langchain_milvus.BM25BuiltInFunction`` objects are accepted
    too). ``analyzer_params`` picks the analyzer (default: ``english`` where the backend has
    it, else ``standard``).

    Example:
        >>> BM25BuiltInFunction(analyzer_params={"type": "standard"}).output_field_names
        'sparse'
    """

    type = "BM25"

    def __init__(
        self,
        *,
        input_field_names: str = TEXT_FIELD,
        output_field_names: str = SPARSE_FIELD,
        analyzer_params: dict[str, Any] | None = None,
        multi_analyzer_params: dict[str, Any] | None = None,
        enable_match: bool = False,
        function_name: str | None = None,
    ) -> None:
        if analyzer_params is not None and multi_analyzer_params is not None:
            raise ConfigError("pass analyzer_params or multi_analyzer_params, not both")
        self.input_field_names = input_field_names
        self.output_field_names = output_field_names
        self.analyzer_params = analyzer_params
        self.multi_analyzer_params = multi_analyzer_params
        self.enable_match = enable_match
        self.function_name = function_name
        bm25_spec(self)  # what has no counterpart fails here, not at first use

    def __repr__(self) -> str:
        return (
            f"BM25BuiltInFunction(input_field_names={self.input_field_names!r}, "
            f"output_field_names={self.output_field_names!r})"
        )


def split_uncolumned(
    metadata: Mapping[str, Any], columns: Sequence[str]
) -> tuple[dict[str, Any], list[str]]:
    """``(kept, dropped keys)``: langchain-milvus writes only the keys that have a column
    when a collection has neither a JSON metadata field nor dynamic fields, and drops the rest.

    >>> split_uncolumned({"id": 1, "id_new": 2}, ["id"])
    ({'id': 1}, ['id_new'])
    """
    kept = {k: v for k, v in metadata.items() if k in columns}
    return kept, sorted(k for k in metadata if k not in columns)
