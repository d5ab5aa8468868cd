"""llama-index-vector-stores-milvus 1.2's per-call keywords -> milvus-rag's: pure, no I/O.

Query keywords (``query(q, **kwargs)``, ``as_retriever(vector_store_kwargs=...)``):
milvus-rag's own (``search_params``, ``radius``, ``range_filter``, ``consistency_level``,
``timeout``, ``tenant``, ``all_tenants``, MMR's ``mmr_prefetch_k`` / ``mmr_prefetch_factor``
/ ``mmr_threshold``) and llama-index-vector-stores-milvus's: ``milvus_search_config`` (the
dense search's parameters, :func:`search_config_options`), ``milvus_scalar_filters``
(:func:`scalar_filters_to_dict`), ``string_expr`` (a raw Milvus expression: milvus-rag's
escape hatch) and ``milvus_partition_names``. Write keywords: ``milvus_partition_name``,
``force_flush``. Named partitions have no counterpart (:class:`ConfigError` says to use
tenants); an unknown keyword is a :class:`ConfigError` too.

Example:
    >>> llama_query_options({"milvus_search_config": {"params": {"ef": 64}}}, "IP").search
    {'search_params': {'ef': 64}}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.request import DENSE_OPTIONS, GROUP_OPTIONS
from milvus_rag.integrations.fronts import flatten_params

__all__ = [
    "LlamaQueryOptions",
    "llama_query_options",
    "llama_write_options",
    "scalar_filters_to_dict",
    "search_config_options",
]

_METRICS = {"ip": "IP", "l2": "L2", "euclidean": "L2", "cosine": "COSINE"}
_PARTITIONS_HINT = (
    "milvus-rag does not read or write named Milvus partitions; it partitions by tenant: "
    "create the store with tenant_field='...' (a partition key on servers) and pass "
    "tenant='...' to add / query / delete (or bind one with MilvusVectorStore(tenant=...))"
)


def metric_name(value: Any, what: str = "similarity_metric") -> str:
    """llama's metric spelling (case-insensitive; ``euclidean`` is L2) -> the core's."""
    if not isinstance(value, str) or value.lower() not in _METRICS:
        raise ConfigError(
            f"{what} must be one of 'IP', 'COSINE', 'L2' (or 'euclidean'), got {value!r}"
        )
    return _METRICS[value.lower()]


def search_config_options(
    config: Mapping[str, Any] | None, metric: str | None, where: str = "search_config"
) -> dict[str, Any]:
    """A llama ``search_config`` / ``milvus_search_config`` (``{"nprobe": 10}``,
    ``{"params": {"ef": 64}}``, with ``metric_type``, ``radius``, ``range_filter``) ->
    ``search_params`` (+ ``radius`` / ``range_filter``) of a search. ``metric_type`` must
    be the collection's metric.

    Example:
        >>> search_config_options({"metric_type": "IP", "params": {"ef": 64}}, "IP")
        {'search_params': {'ef': 64}}
    """
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise ConfigError(f"{where} must be a dict such as {{'ef': 64}}, got {config!r}")
    params = flatten_params(config, where)
    given = params.pop("metric_type", None)
    if (
        given is not None
        and metric is not None
        and metric_name(given, f"{where}['metric_type']") != metric
    ):
        raise ConfigError(
            f"{where}['metric_type']={given!r}: the collection's metric is {metric!r} "
            "(a search cannot change it; set similarity_metric= when it is created)"
        )
    out: dict[str, Any] = {}
    for key in ("radius", "range_filter"):
        if key in params:
            out[key] = params.pop(key)
    if params:
        out["search_params"] = params
    return out


#: query keywords milvus-rag has itself (passed to the SearchRequest as they are)
SEARCH_KWARGS = (*DENSE_OPTIONS, *GROUP_OPTIONS)
_QUERY_KWARGS = (
    *SEARCH_KWARGS,
    "fields",
    "weights",
    "mmr_prefetch_k",
    "mmr_prefetch_factor",
    "mmr_threshold",
    "milvus_search_config",
    "milvus_partition_names",
    "milvus_scalar_filters",
    "string_expr",
)


@dataclass(frozen=True)
class LlamaQueryOptions:
    """A query call's keywords: ``search`` options of the SearchRequest, a filter from
    ``milvus_scalar_filters``, a raw ``string_expr``, MMR sizes."""

    search: dict[str, Any] = field(default_factory=dict)
    filter: dict[str, Any] | None = None
    string_expr: str | None = None
    mmr_prefetch_k: int | None = None
    mmr_prefetch_factor: float | None = None
    mmr_threshold: float | None = None
    #: the vector fields searched (milvus-rag's ``fields=``; ``None``: the mode's)
    fields: tuple[str, ...] | None = None
    #: weighted fusion of the fields searched: a weight per field (a list in the fields'
    #: order, or a dict by field name); ``None``: RRF (or ``alpha``)
    weights: Sequence[float] | Mapping[str, float] | None = None


def _no_partitions(kwargs: Mapping[str, Any], name: str) -> None:
    if kwargs.get(name):
        raise ConfigError(f"{name}={kwargs[name]!r}: {_PARTITIONS_HINT}")


def llama_query_options(kwargs: Mapping[str, Any], metric: str | None) -> LlamaQueryOptions:
    """Map ``query(q, **kwargs)`` / ``as_retriever(vector_store_kwargs=...)``."""
    unknown = set(kwargs) - set(_QUERY_KWARGS)
    if unknown:
        raise ConfigError(
            f"unknown query keyword(s) {sorted(unknown)}; MilvusVectorStore takes "
            f"{list(_QUERY_KWARGS)}"
        )
    _no_partitions(kwargs, "milvus_partition_names")
    search = {n: kwargs[n] for n in SEARCH_KWARGS if kwargs.get(n) is not None}
    cfg = search_config_options(kwargs.get("milvus_search_config"), metric, "milvus_search_config")
    for key, value in cfg.items():
        if key in search:
            raise ConfigError(f"{key} given both as a keyword and in milvus_search_config")
        search[key] = value
    if kwargs.get("mmr_prefetch_k") is not None and kwargs.get("mmr_prefetch_factor") is not None:
        raise ConfigError("mmr_prefetch_factor and mmr_prefetch_k cannot both be given")
    expr = kwargs.get("string_expr") or None
    if expr is not None and not isinstance(expr, str):
        raise ConfigError(f"string_expr must be a Milvus expression str, got {expr!r}")
    fields = kwargs.get("fields")
    if fields is not None and (isinstance(fields, str) or not isinstance(fields, Sequence)):
        raise ConfigError(f"fields must be a list of vector field names, got {fields!r}")
    weights = kwargs.get("weights")
    if weights is not None and (
        isinstance(weights, str) or not isinstance(weights, Sequence | Mapping)
    ):
        raise ConfigError(
            f"weights must be a list (one per field searched) or a dict by field name, got {weights!r}"
        )
    return LlamaQueryOptions(
        fields=tuple(fields) if fields is not None else None,
        weights=weights,
        search=search,
        filter=scalar_filters_to_dict(kwargs.get("milvus_scalar_filters")),
        string_expr=expr,
        mmr_prefetch_k=kwargs.get("mmr_prefetch_k"),
        mmr_prefetch_factor=kwargs.get("mmr_prefetch_factor"),
        mmr_threshold=kwargs.get("mmr_threshold"),
    )


_WRITE_KWARGS = {
    "add": ("tenant", "all_tenants", "milvus_partition_name", "force_flush"),
    "delete": ("tenant", "all_tenants", "milvus_partition_name"),
    "get_nodes": ("tenant", "all_tenants", "milvus_partition_names"),
}


def llama_write_options(kwargs: Mapping[str, Any], operation: str) -> dict[str, Any]:
    """The tenancy (``tenant`` / ``all_tenants``) and ``force_flush`` of an add / delete /
    get_nodes call; a named partition or an unknown keyword raises ConfigError."""
    allowed = _WRITE_KWARGS[operation]
    unknown = set(kwargs) - set(allowed)
    if unknown:
        raise ConfigError(
            f"unknown {operation} keyword(s) {sorted(unknown)}; MilvusVectorStore takes "
            f"{list(allowed)}"
        )
    for name in ("milvus_partition_name", "milvus_partition_names"):
        _no_partitions(kwargs, name)
    names = ("tenant", "all_tenants", "force_flush")
    return {n: kwargs[n] for n in names if kwargs.get(n) is not None}


# llama's ScalarMetadataFilter operators (their enum's names and values) -> the core's
_SCALAR_OPS = {
    "ARRAY_CONTAINS": ("$contains", False),
    "NARRAY_CONTAINS": ("$contains", True),
    "ARRAY_CONTAINS_ANY": ("$any", False),
    "NARRAY_CONTAINS_ANY": ("$any", True),
    "ARRAY_CONTAINS_ALL": ("$all", False),
    "NARRAY_CONTAINS_ALL": ("$all", True),
}
_SCALAR_VALUES = {
    "ARRAY_CONTAINS({key}, {value})": "ARRAY_CONTAINS",
    "not ARRAY_CONTAINS({key}, {value})": "NARRAY_CONTAINS",
    "ARRAY_CONTAINS_ANY({key}, {value})": "ARRAY_CONTAINS_ANY",
    "not ARRAY_CONTAINS_ANY({key}, {value})": "NARRAY_CONTAINS_ANY",
    "ARRAY_CONTAINS_ALL({key}, {value})": "ARRAY_CONTAINS_ALL",
    "not ARRAY_CONTAINS_ALL({key}, {value})": "NARRAY_CONTAINS_ALL",
    "ARRAY_LENGTH({key}) == {value}": "ARRAY_LENGTH",
    "ARRAY_LENGTH({key}) != {value}": "NARRAY_LENGTH",
}


def scalar_filters_to_dict(filters: Any) -> dict[str, Any] | None:
    """``milvus_scalar_filters`` (``ScalarMetadataFilters(...).to_dict()``: a list of
    ``{"key", "value", "operator"}``, ANDed) -> a core filter dict.

    Example:
        >>> scalar_filters_to_dict([{"key": "tags", "value": "a",
        ...                          "operator": "ARRAY_CONTAINS({key}, {value})"}])
        {'tags': {'$contains': 'a'}}
    """
    if filters is None:
        return None
    if hasattr(filters, "to_dict"):
        filters = filters.to_dict()
    if isinstance(filters, Mapping) or not isinstance(filters, Sequence):
        raise ConfigError(
            "milvus_scalar_filters must be ScalarMetadataFilters(...).to_dict(): a list of "
            f"{{'key', 'value', 'operator'}}, got {filters!r}"
        )
    parts: list[dict[str, Any]] = []
    for f in filters:
        if not isinstance(f, Mapping) or not {"key", "value"} <= set(f):
            raise ConfigError(f"a scalar filter is {{'key', 'value', 'operator'}}, got {f!r}")
        raw = f.get("operator", "ARRAY_CONTAINS({key}, {value})")
        raw = str(getattr(raw, "value", raw))
        name = _SCALAR_VALUES.get(raw, raw.upper())
        if name not in _SCALAR_OPS:
            raise ConfigError(
                f"scalar filter operator {raw!r} has no counterpart (ARRAY_LENGTH cannot be "
                "filtered on; store the length as a metadata key); use ARRAY_CONTAINS[_ANY"
                "|_ALL] or their negations"
            )
        op, negated = _SCALAR_OPS[name]
        leaf = {str(f["key"]): {op: f["value"]}}
        parts.append({"$not": leaf} if negated else leaf)
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}
