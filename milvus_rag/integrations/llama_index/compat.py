"""llama-index-vector-stores-milvus 1.2's vocabulary -> milvus-rag's settings: pure, no I/O.

:class:`~milvus_rag.integrations.llama_index.MilvusVectorStore` accepts the constructor
keywords and query / write keywords of ``llama_index.vector_stores.milvus.MilvusVectorStore``
with the same meaning; this module maps them onto the core's
:class:`~milvus_rag.client.CollectionConfig` options and
:class:`~milvus_rag.client.SearchRequest` options. What has no counterpart raises
:class:`~milvus_rag.client.errors.ConfigError` naming what to use instead; nothing is
silently dropped.

A store built with any keyword that only llama-index-vector-stores-milvus has (``overwrite``,
``similarity_metric``, ``enable_sparse``, ``text_key``, ``embedding_field``, ... see
:data:`LLAMA_ONLY`) speaks *its* vocabulary and gets its defaults where a user would notice
them: file ``./milvus_llamaindex.db``, collection ``llamacollection``, metric ``IP``, no BM25
unless ``enable_sparse=True`` (then Milvus's ``standard`` analyzer, as its
``BM25BuiltInFunction`` builds), RRF ``k=60`` (``WeightedRanker`` weights ``[1, 1]``), its
field names (``id``, ``embedding``, ``text``, ``doc_id``, ``sparse_embedding``, 65,535-byte
ids), and ``similarities`` that are Milvus's raw scores (``Hit.distance``) as it returns
them. Without such a keyword the store keeps milvus-rag's own defaults.

Example:
    >>> s = llama_store_settings(None, None, {"dim": 8, "similarity_metric": "cosine",
    ...                                       "enable_sparse": True})
    >>> s.uri, s.collection_name, s.options["metric"], s.options["enable_bm25"]
    ('./milvus_llamaindex.db', 'llamacollection', 'COSINE', True)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.integrations.fronts import (
    SCALAR_TYPES,
    enum_name,
    flatten_params,
    refuse_bm25_extras,
)
from milvus_rag.integrations.llama_index.compat_kwargs import metric_name, search_config_options
from milvus_rag.integrations.llama_index.sparse import SparseFunction, is_sparse_function

__all__ = [
    "LLAMA_ONLY",
    "BM25BuiltInFunction",
    "IndexManagement",
    "LlamaStoreSettings",
    "check_get_nodes_args",
    "llama_store_settings",
    "unsupported_mode",
]

#: Constructor keywords only llama-index-vector-stores-milvus has (any one selects its
#: vocabulary and defaults). ``uri``, ``token``, ``collection_name``, ``dim``,
#: ``doc_id_field``, ``consistency_level`` and ``batch_size`` are milvus-rag's words too.
LLAMA_ONLY = frozenset(
    {
        "overwrite",
        "upsert_mode",
        "collection_properties",
        "text_key",
        "scalar_field_names",
        "scalar_field_types",
        "enable_dense",
        "embedding_field",
        "enable_sparse",
        "sparse_embedding_field",
        "sparse_embedding_function",
        "sparse_index_config",
        "index_management",
        "index_config",
        "search_config",
        "similarity_metric",
        "output_fields",
        "hybrid_ranker",
        "hybrid_ranker_params",
        "use_async_client",
    }
)
#: Its defaults, where they differ from milvus-rag's and a user would notice them.
LLAMA_URI = "./milvus_llamaindex.db"
LLAMA_COLLECTION = "llamacollection"
LLAMA_RRF_K = 60
_LLAMA_FIELDS = {
    "id_field": "id",
    "text_field": "text",
    "vector_field": "embedding",
    "doc_id_field": "doc_id",
    "sparse_field": "sparse_embedding",
}
_LLAMA_MAX_LENGTH = 65_535
#: its row layout: metadata and the node content (``_node_content``...) as dynamic fields,
#: so llama-index-vector-stores-milvus reads what this store writes
_LLAMA_LAYOUT: dict[str, Any] = {
    "layout": "llama_index",
    "metadata_field": None,
    "dynamic_field": True,
}
#: milvus-rag option -> the llama keyword that sets the same thing (both given: an error)
_SAME = {
    "metric": "similarity_metric",
    "enable_bm25": "enable_sparse",
    "text_field": "text_key",
    "vector_field": "embedding_field",
    "sparse_field": "sparse_embedding_field",
    "search_params": "search_config",
    "index_type": "index_config",
    "index_params": "index_config",
    "analyzer": "sparse_embedding_function",
    "metadata_fields": "scalar_field_names",
    "rrf_k": "hybrid_ranker_params",
}
#: pymilvus DataType names -> typed metadata column types (``metadata_fields``); not widened
#: (see integrations/fronts.py: why the LangChain front widens INT8/16/32 and FLOAT)
_SCALAR_TYPES = SCALAR_TYPES


class IndexManagement(enum.Enum):
    """llama-index-vector-stores-milvus's index strategy: ``CREATE_IF_NOT_EXISTS`` (the
    default) creates a collection's missing vector indexes when the store opens it;
    ``NO_VALIDATION`` leaves an existing collection's indexes as they are (a new
    collection is created with its indexes either way: Milvus loads none without)."""

    NO_VALIDATION = "no_validation"
    CREATE_IF_NOT_EXISTS = "create_if_not_exists"


class BM25BuiltInFunction:
    """Milvus's BM25 function on the text field, spelled as llama-index-vector-stores-milvus
    spells it (``from llama_index.vector_stores.milvus.utils import BM25BuiltInFunction``);
    pass it as ``sparse_embedding_function`` with ``enable_sparse=True``. Theirs is accepted
    too. ``analyzer_params`` becomes the collection's analyzer.

    Example:
        >>> fn = BM25BuiltInFunction(analyzer_params={"type": "english"})
        >>> fn.input_field_names, fn.output_field_names
        ('text', 'sparse_embedding')
    """

    type = "BM25"

    def __init__(
        self,
        input_field_names: str | list[str] = "text",
        output_field_names: str | list[str] = "sparse_embedding",
        function_name: str | None = None,
        function_description: str = "",
        function_params: dict[str, Any] | None = None,
        analyzer_params: dict[str, Any] | None = None,
        multi_analyzer_params: dict[str, Any] | None = None,
        enable_match: bool = False,
    ) -> None:
        self.input_field_names = input_field_names
        self.output_field_names = output_field_names
        self.name = function_name or "bm25"
        self.description = function_description
        self.params = function_params
        self.analyzer_params = analyzer_params
        self.multi_analyzer_params = multi_analyzer_params
        self.enable_match = enable_match

    def __repr__(self) -> str:
        return f"BM25BuiltInFunction(analyzer_params={self.analyzer_params!r})"


@dataclass(frozen=True)
class LlamaStoreSettings:
    """What a constructor call means: the core store's arguments and the adapter's own
    settings (``overwrite``: drop before the first operation; ``output_fields``: the
    metadata keys results carry; ``alpha``: the hybrid weight of ``WeightedRanker``)."""

    uri: str | None
    collection_name: str | None
    options: dict[str, Any]
    vocabulary: Literal["llama_index", "milvus_rag"] = "milvus_rag"
    overwrite: bool = False
    output_fields: tuple[str, ...] = ()
    alpha: float | None = None
    #: the options for a collection that exists already: the user's own settings only, so
    #: the core adopts the collection's layout, metric and analyzer (as llama-index-vector-
    #: stores-milvus uses what it finds); ``None``: the same as ``options``
    existing: dict[str, Any] | None = None
    #: a client-side ``sparse_embedding_function`` (its ``encode_documents`` fill the sparse
    #: field ``sparse_field``; ``None``: Milvus's BM25 function, or no sparse field)
    sparse_function: SparseFunction | None = None
    #: the client-side sparse field's name
    sparse_field: str | None = None
    #: ``index_management="no_validation"``: indexes are neither checked nor created
    no_validation: bool = False
    #: ``doc_id_field`` equal to the primary key (``"id"``): a node's doc id is its id, so
    #: ``delete(ref_doc_id)`` and ``VectorStoreQuery.doc_ids`` address node ids (the core
    #: keeps its own ``doc_id`` column, holding ``ref_doc_id`` as always)
    doc_id_is_id: bool = False
    #: ``use_async_client``: whether ``aclient`` hands out a pymilvus ``AsyncMilvusClient``
    #: (the store's async methods work either way)
    async_client: bool = True

    @property
    def raw_similarities(self) -> bool:
        """Whether query results carry Milvus's raw scores (llama's) or ``Hit.relevance``."""
        return self.vocabulary == "llama_index"


def _words(value: str | Sequence[str], what: str) -> str:
    """One field name (llama takes a str or a one-element list)."""
    if isinstance(value, str):
        return value
    names = list(value)
    if len(names) != 1 or not isinstance(names[0], str):
        raise ConfigError(f"{what} must name one field, got {value!r}")
    return names[0]


def _bool(options: dict[str, Any], name: str, default: bool) -> bool:
    value = options.pop(name, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return value


def _index_config(config: Mapping[str, Any], vector_field: str, out: dict[str, Any]) -> None:
    """``index_config`` (flat: ``{"index_type": "HNSW", "M": 16, ...}``) -> index_type,
    metric, index_params."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"index_config must be a dict, got {config!r}")
    params = dict(config)
    for key in ("field_name", "index_name"):
        name = params.pop(key, vector_field)
        if name != vector_field:
            raise ConfigError(
                f"index_config[{key!r}]={name!r}: milvus-rag indexes the dense field "
                f"{vector_field!r} under its own name; leave {key!r} out (set the field with "
                "embedding_field=)"
            )
    if "index_type" in params:
        out["index_type"] = str(params.pop("index_type"))
    metric = params.pop("metric_type", None)
    if metric is not None:
        metric = metric_name(metric)
        if out.get("metric", metric) != metric:
            raise ConfigError(
                f"index_config['metric_type']={metric!r} disagrees with "
                f"similarity_metric={out['metric']!r}: set it once"
            )
        out["metric"] = metric
    if params:
        out["index_params"] = params


def _hybrid(ranker: Any, params: Any, out: dict[str, Any]) -> float | None:
    """``hybrid_ranker`` / ``hybrid_ranker_params`` -> the collection's ``rrf_k``, or the
    dense weight ``alpha`` of weighted fusion (returned)."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"hybrid_ranker_params must be a dict, got {params!r}")
    if ranker == "RRFRanker":
        unknown = sorted(set(params) - {"k"})
        if unknown:
            raise ConfigError(f"hybrid_ranker_params {unknown}: RRFRanker takes only 'k'")
        out["rrf_k"] = params.get("k", LLAMA_RRF_K)
        return None
    if ranker == "WeightedRanker":
        unknown = sorted(set(params) - {"weights"})
        if unknown:
            raise ConfigError(
                f"hybrid_ranker_params {unknown}: WeightedRanker takes only 'weights'"
            )
        weights = params.get("weights", [1.0, 1.0])
        if (
            not isinstance(weights, Sequence)
            or len(weights) != 2
            or not all(isinstance(w, int | float) and not isinstance(w, bool) for w in weights)
            or min(weights) < 0
            or sum(weights) <= 0
        ):
            raise ConfigError(
                "hybrid_ranker_params['weights'] must be two non-negative numbers, [dense, "
                f"sparse], not both 0; got {weights!r}"
            )
        # the same ranking as w_dense * dense + w_sparse * sparse (scaled by the sum)
        return float(weights[0]) / float(weights[0] + weights[1])
    raise ConfigError(f"hybrid_ranker must be 'RRFRanker' or 'WeightedRanker', got {ranker!r}")


def _sparse_function(fn: Any, text_field: str, sparse_field: str, out: dict[str, Any]) -> None:
    """A BM25BuiltInFunction (ours, theirs, or a pymilvus BM25 Function) -> the analyzer."""
    if enum_name(getattr(fn, "type", None)) != "BM25":
        raise ConfigError(
            f"sparse_embedding_function must be a BM25BuiltInFunction or a client-side "
            f"sparse encoder (encode_documents / encode_queries), got {fn!r}"
        )
    inputs = _words(getattr(fn, "input_field_names", text_field), "BM25 input_field_names")
    outputs = _words(getattr(fn, "output_field_names", sparse_field), "BM25 output_field_names")
    if inputs != text_field or outputs != sparse_field:
        raise ConfigError(
            f"BM25BuiltInFunction maps {inputs!r} -> {outputs!r}, but the store's text field "
            f"is {text_field!r} and its sparse field {sparse_field!r}: set text_key= / "
            "sparse_embedding_field= to those names, or leave the function's fields default"
        )
    refuse_bm25_extras(fn, "BM25 k1 / b: pass sparse_index_config={'bm25_k1': ..., 'bm25_b': ...}")
    analyzer = getattr(fn, "analyzer_params", None)
    if analyzer is not None:
        out["analyzer"] = dict(analyzer)


def _client_sparse_field(config: Any, name: str) -> VectorField:
    """The client-side sparse field (``sparse_index_config``: index type, ``IP``, build
    parameters such as ``drop_ratio_build``)."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"sparse_index_config must be a dict, got {config!r}")
    params = flatten_params(config, "sparse_index_config")
    for key in ("field_name", "index_name"):
        value = params.pop(key, name)
        if value != name:
            raise ConfigError(
                f"sparse_index_config[{key!r}]={value!r}: the index is on the sparse field "
                f"{name!r} (set its name with sparse_embedding_field=)"
            )
    metric = str(params.pop("metric_type", "IP")).upper()
    if metric != "IP":
        raise ConfigError(
            f"sparse_index_config['metric_type']={metric!r}: client-side sparse vectors are "
            "searched by inner product (IP)"
        )
    index_type = params.pop("index_type", None)
    return VectorField.sparse(name, index_type=index_type, index_params=params)


def _sparse_index(config: Any, sparse_field: str, out: dict[str, Any]) -> None:
    if not isinstance(config, Mapping):
        raise ConfigError(f"sparse_index_config must be a dict, got {config!r}")
    params = dict(config)
    for key, want in (
        ("field_name", sparse_field),
        ("index_name", sparse_field),
        ("index_type", "SPARSE_INVERTED_INDEX"),
        ("metric_type", "BM25"),
    ):
        value = params.pop(key, want)
        if str(value) != want:
            raise ConfigError(
                f"sparse_index_config[{key!r}]={value!r}: milvus-rag builds {want!r} (BM25 "
                "on a SPARSE_INVERTED_INDEX); leave it out"
            )
    for key, name in (("bm25_k1", "bm25_k1"), ("bm25_b", "bm25_b")):
        if key in params:
            out[name] = params.pop(key)
    if params:
        raise ConfigError(
            f"sparse_index_config {sorted(params)} have no counterpart; it takes bm25_k1 and bm25_b"
        )


def _scalar_fields(names: Any, types: Any) -> dict[str, str]:
    if names is None and types is None:
        return {}
    if names is None or types is None or len(names) != len(types):
        raise ConfigError("scalar_field_names and scalar_field_types must have the same length")
    out: dict[str, str] = {}
    for name, kind in zip(names, types, strict=True):
        key = enum_name(kind)
        if key not in _SCALAR_TYPES:
            raise ConfigError(
                f"scalar field {name!r} of type {kind!r}: typed metadata columns are INT64, "
                "DOUBLE, VARCHAR or BOOL (arrays: metadata_fields={'k': 'array<varchar>'})"
            )
        out[str(name)] = _SCALAR_TYPES[key]
    return out


def llama_store_settings(
    uri: str | None, collection_name: str | None, options: Mapping[str, Any]
) -> LlamaStoreSettings:
    """Map a constructor call; ``options`` are its keywords other than ``uri`` /
    ``collection_name`` (milvus-rag's own options pass through)."""
    opts = dict(options)
    llama = sorted(LLAMA_ONLY & set(opts))
    if not llama:
        return LlamaStoreSettings(uri, collection_name, opts)
    for ours, theirs in _SAME.items():
        if ours in opts and theirs in opts:
            raise ConfigError(f"{ours}= and {theirs}= set the same thing: pass one of them")
    out: dict[str, Any] = {
        k: v for k, v in opts.items() if k not in LLAMA_ONLY and k not in _LLAMA_FIELDS
    }
    # what only a new collection gets (an existing one is adopted as it is, see `existing`)
    defaulted: set[str] = set()
    spelled = {"text_field": "text_key", "vector_field": "embedding_field"}
    spelled["sparse_field"] = "sparse_embedding_field"
    for key, default in _LLAMA_FIELDS.items():
        theirs = spelled.get(key, key)
        out[key] = opts.get(theirs, opts.get(key, default))
        if theirs not in opts and key not in opts:
            defaulted.add(key)
    doc_id_is_id = out["doc_id_field"] == out["id_field"]
    if doc_id_is_id:  # its doc id is the node id: no column of its own, delete(ref) by id
        out["doc_id_field"] = _LLAMA_FIELDS["doc_id_field"]
        defaulted.add("doc_id_field")
    for key in ("id_max_length", "text_max_length"):
        if key not in out:
            out[key] = _LLAMA_MAX_LENGTH
            defaulted.add(key)
    out.update(_LLAMA_LAYOUT)
    defaulted.update(k for k in _LLAMA_LAYOUT if k not in opts)
    out["metric"] = str(opts.get("metric", "IP")).upper()
    if "similarity_metric" in opts:
        out["metric"] = metric_name(opts["similarity_metric"])
    if "metric" not in opts and "similarity_metric" not in opts:
        defaulted.add("metric")
    overwrite = _bool(opts, "overwrite", False)
    _bool(opts, "upsert_mode", False)  # milvus-rag writes are upserts (see the README)
    # both APIs always work; without it, `aclient` is None (as llama's is)
    async_client = _bool(opts, "use_async_client", True)
    if opts.get("collection_properties"):
        raise ConfigError(
            f"collection_properties {sorted(opts['collection_properties'])} have no "
            "counterpart: set TTL / mmap once with pymilvus "
            "(MilvusClient.alter_collection_properties) on the collection"
        )
    dense = _bool(opts, "enable_dense", True)
    sparse = _bool(opts, "enable_sparse", bool(opts.get("enable_bm25", False)))
    if not dense and not sparse:
        raise ConfigError(
            "enable_dense=False and enable_sparse=False leave the collection no vector "
            "field: enable one of them"
        )
    if not dense:
        out["enable_dense"] = False
    out["enable_bm25"] = sparse
    if not sparse:  # an existing collection's BM25 is kept (dense queries work as before)
        defaulted.add("enable_bm25")
    fn = opts.get("sparse_embedding_function")
    if (fn is not None or opts.get("sparse_index_config")) and not sparse:
        raise ConfigError("sparse_embedding_function / sparse_index_config need enable_sparse=True")
    client_fn: SparseFunction | None = None
    client_field: str | None = None
    if sparse and fn is not None and is_sparse_function(fn):
        # a client-side encoder: a sparse field it fills, no BM25 function
        client_fn, client_field = SparseFunction(fn), str(out.pop("sparse_field"))
        field = _client_sparse_field(opts.get("sparse_index_config") or {}, client_field)
        out.update(enable_bm25=False, extra_vector_fields=(field,))
        for key in ("analyzer", "bm25_k1", "bm25_b"):
            if key in out:
                raise ConfigError(
                    f"{key}= sets up Milvus's BM25 function, but sparse_embedding_function="
                    f"{type(fn).__name__} encodes the sparse vectors on the client: leave it out"
                )
    elif sparse:
        if "analyzer" not in out:
            out["analyzer"] = "standard"  # what BM25BuiltInFunction() builds
            defaulted.add("analyzer")
        if fn is not None:
            _sparse_function(fn, out["text_field"], out["sparse_field"], out)
        if opts.get("sparse_index_config"):
            _sparse_index(opts["sparse_index_config"], out["sparse_field"], out)
    given = opts.get("index_management", IndexManagement.CREATE_IF_NOT_EXISTS)
    management = str(getattr(given, "value", given))
    if management not in ("create_if_not_exists", "no_validation"):
        raise ConfigError(
            f"index_management={management!r}: use 'create_if_not_exists' (the default) or "
            "'no_validation'"
        )
    typed = _scalar_fields(opts.get("scalar_field_names"), opts.get("scalar_field_types"))
    if typed:
        out["metadata_fields"] = typed
    if opts.get("index_config"):
        _index_config(opts["index_config"], out["vector_field"], out)
        if "metric_type" in opts["index_config"]:
            defaulted.discard("metric")
    if opts.get("search_config"):
        cfg = search_config_options(opts["search_config"], out["metric"])
        if "radius" in cfg or "range_filter" in cfg:
            raise ConfigError(
                "search_config radius / range_filter: pass them per query, "
                "vector_store_kwargs={'radius': ..., 'range_filter': ...}"
            )
        out["search_params"] = cfg.get("search_params", {})
    alpha = None
    if "hybrid_ranker" in opts or "hybrid_ranker_params" in opts:
        ranker = opts.get("hybrid_ranker", "RRFRanker")
        alpha = _hybrid(ranker, opts.get("hybrid_ranker_params"), out)
    out.setdefault("rrf_k", LLAMA_RRF_K)
    fields = opts.get("output_fields") or ()
    if isinstance(fields, str) or not all(isinstance(f, str) for f in fields):
        raise ConfigError(f"output_fields must be a list of field names, got {fields!r}")
    existing = {k: v for k, v in out.items() if k not in defaulted}
    return LlamaStoreSettings(
        uri if uri is not None else LLAMA_URI,
        collection_name if collection_name is not None else LLAMA_COLLECTION,
        out,
        vocabulary="llama_index",
        overwrite=overwrite,
        output_fields=tuple(fields),
        alpha=alpha,
        existing=existing if defaulted else None,
        sparse_function=client_fn,
        sparse_field=client_field,
        no_validation=management == "no_validation",
        doc_id_is_id=doc_id_is_id,
        async_client=async_client,
    )


def check_get_nodes_args(node_ids: Any, filters: Any, compiled: Any) -> None:
    """llama-index-vector-stores-milvus's ``get_nodes`` takes ``node_ids`` or ``filters``:
    neither, or both (non-empty filters), raise :class:`ConfigError` (a ``ValueError``) with
    its words.

    Example:
        >>> check_get_nodes_args(["n1"], None, None)
    """
    if node_ids is None and filters is None:
        raise ConfigError(
            "Either node_ids or filters must be provided. (get_nodes() reads nodes by id or "
            "by metadata filters; pass filters=MetadataFilters(filters=[]) for every node)"
        )
    if node_ids is not None and compiled is not None:
        raise ConfigError(
            "Only one of node_ids or filters can be provided. (to read the nodes of some ids "
            "that also match filters, filter the nodes read by id)"
        )


def unsupported_mode(mode: str, supported: Sequence[str]) -> ConfigError:
    """The error of a query mode the store does not search (worded as
    llama-index-vector-stores-milvus words it: "... does not support ...").

    Example:
        >>> str(unsupported_mode("svm", ["default"]))
        "MilvusVectorStore does not support query mode 'svm'; use one of ['default']"
    """
    return ConfigError(
        f"MilvusVectorStore does not support query mode {mode!r}; use one of {list(supported)}"
    )
