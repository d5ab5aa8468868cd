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

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.request import RetrievalMode
from milvus_rag.client.vector_fields import fields_options
from milvus_rag.integrations.fronts import (
    WIDENED_SCALAR_TYPES,
    enum_name,
    refuse_bm25_extras,
)
from milvus_rag.integrations.langchain.compat_fields import (
    FieldLayout,
    as_list,
    field_layout,
    search_settings,
)

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
_SCALARS = WIDENED_SCALAR_TYPES  # see integrations/fronts.py: why LlamaIndex's front differs


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
    #: the vector fields, in langchain-milvus's order (see :mod:`.compat_fields`)
    layout: FieldLayout
    metadata_types: dict[str, str] = field(default_factory=dict)
    primary_field: str = PRIMARY_FIELD
    metadata_field: str | None = None
    partition_key_field: str | None = None
    metric: str = DEFAULT_METRIC

    def with_metadata_types(self, types: Mapping[str, str]) -> dict[str, Any]:
        """The store options with ``types`` (and ``metadata_schema``'s) as typed columns."""
        merged = {**dict(types), **self.metadata_types}
        return {**self.store_options, "metadata_fields": merged}


def bm25_spec(function: Any) -> Bm25Spec:
    """A langchain-milvus ``BM25BuiltInFunction`` (theirs or ours, by duck typing) as a spec;
    any other built-in function raises ConfigError."""
    kind = getattr(function, "type", None)
    if enum_name(kind) != "BM25":
        raise ConfigError(
            f"builtin_function {type(function).__name__} has no counterpart: milvus-rag runs "
            "BM25 (BM25BuiltInFunction) on the server and embeds on the client; pass an "
            "embedding_function instead of a server-side text embedding function"
        )
    inputs, outputs = as_list(function.input_field_names), as_list(function.output_field_names)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ConfigError("a BM25 function takes one input (text) field and one output field")
    refuse_bm25_extras(function, "BM25's k1 / b are collection settings (bm25_k1=, bm25_b=)")
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


def search_param_options(param: Any, metric: str, where: str = "search_params") -> dict[str, Any]:
    """A langchain-milvus search dict (``{"metric_type": "L2", "params": {"ef": 10}}``) as
    milvus-rag's ``search_params`` (the inner ``params``); another metric raises."""
    return search_settings(param, metric, where)


def metadata_schema_type(key: str, entry: Any) -> str:
    """One ``metadata_schema`` entry (``{"dtype": DataType.ARRAY, "element_type":
    DataType.INT64, "max_capacity": 50}``, kwargs nested or not) as a typed-field spec."""
    if not isinstance(entry, Mapping) or "dtype" not in entry:
        raise ConfigError(f"metadata_schema[{key!r}] must be a dict with a 'dtype'")
    entry = {**dict(entry.get("kwargs") or {}), **{k: v for k, v in entry.items() if k != "kwargs"}}
    dtype = enum_name(entry.pop("dtype"))
    entry.pop("max_length", None)  # VARCHAR columns are 65,535 long
    entry.pop("max_capacity", None)  # array columns hold up to typed_fields.ARRAY_MAX_CAPACITY
    entry.pop("nullable", None)  # typed columns are nullable (missing keys read as missing)
    if dtype == "ARRAY":
        element = enum_name(entry.pop("element_type", ""))
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
    if len(functions) > 1:
        raise ConfigError("more than one builtin_function: milvus-rag runs at most one (BM25)")
    bm25 = bm25_spec(functions[0]) if functions else None
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
            if enum_name(dict(schema).get("dtype", "FLOAT_VECTOR")) != "FLOAT_VECTOR":
                raise ConfigError(
                    "vector_schema other than FLOAT_VECTOR has no counterpart: milvus-rag "
                    "stores float32 vectors; leave vector_schema out"
                )
    layout = field_layout(
        embeddings,
        bm25.output_field if bm25 is not None else None,
        vector_field,
        index_params,
        search_params,
    )
    options: dict[str, Any] = connection_options(connection_args)
    uri = options.pop("uri")
    if timeout is not None:
        options["timeout"] = timeout
    collection: dict[str, Any] = {
        "uri": uri,
        "collection_name": collection_name,
        "layout": "langchain",
        "consistency_level": consistency_level,
        "id_field": primary_field,
        "text_field": text_field,
        "doc_id_field": None,
        "id_type": "int64" if auto_id else "varchar",
        "auto_id": bool(auto_id),
        "id_max_length": MAX_LENGTH,
        "text_max_length": MAX_LENGTH,
    }
    if bm25 is not None and bm25.analyzer is not None:
        collection["analyzer"] = bm25.analyzer
    collection = with_layout(collection, layout)
    metric = collection.get("metric") or DEFAULT_METRIC
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
        mode=_mode(layout),
        drop_old=bool(drop_old),
        auto_id=bool(auto_id),
        infer_metadata=not enable_dynamic_field and not metadata_field,
        metadata_types=types,
        primary_field=primary_field,
        metadata_field=metadata_field or None,
        partition_key_field=partition_key_field,
        metric=metric,
        layout=layout,
    )


#: the store options the vector fields declare (see ``vector_fields.fields_options``)
_LAYOUT_KEYS = (
    "vector_field",
    "dim",
    "metric",
    "index_type",
    "index_params",
    "search_params",
    "enable_dense",
    "enable_bm25",
    "sparse_field",
    "bm25_k1",
    "bm25_b",
    "extra_vector_fields",
)


def with_layout(options: Mapping[str, Any], layout: FieldLayout) -> dict[str, Any]:
    """``options`` with the vector fields of ``layout`` (what they declare replaced)."""
    out = fields_options(
        list(layout.fields), {k: v for k, v in options.items() if k not in _LAYOUT_KEYS}
    )
    if not out["enable_dense"]:  # the (unused) primary settings: langchain-milvus's
        out.update(vector_field=_unused_name(VECTOR_FIELD, layout.names), metric="L2")
    if not out["enable_bm25"]:
        out["sparse_field"] = _unused_name(SPARSE_FIELD, layout.names)
    return out


def _mode(layout: FieldLayout) -> RetrievalMode:
    """The retrieval mode of a store of one dense field and / or BM25 (dense, BM25, or
    both fused); stores of other fields search every field (legs, see the front)."""
    if not any(f.is_dense for f in layout.fields):
        return RetrievalMode.SPARSE
    return RetrievalMode.HYBRID if layout.bm25 is not None else RetrievalMode.DENSE


def _unused_name(name: str, taken: Sequence[str]) -> str:
    """``name``, or ``name_0``, ``name_1``... : the first not in ``taken``."""
    i, out = 0, name
    while out in taken:
        out, i = f"{name}_{i}", i + 1
    return out


def _refuse(value: Any, default: Any, name: str, instead: str) -> None:
    if value != default:
        raise ConfigError(f"{name}={value!r} has no counterpart in milvus-rag: {instead}")


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
