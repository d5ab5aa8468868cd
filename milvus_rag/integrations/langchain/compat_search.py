"""langchain-milvus 0.4's per-call search keywords mapped onto milvus-rag's: pure, no I/O.

``param`` (search params), ``reranker`` (a pymilvus RERANK ``Function``), the legacy
``ranker_type`` / ``ranker_params``, ``fetch_k``, and langchain-milvus's relevance map.

Example:
    >>> ranker_options(ranker_type="weighted", ranker_params={"weights": [0.7, 0.3]})
    {'ranker': 'weighted', 'alpha': 0.7}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from milvus_rag.client.errors import ConfigError
from milvus_rag.integrations.langchain.compat_fields import FieldLayout, leg_params, leg_weights
from milvus_rag.integrations.langchain.compat_settings import search_param_options


def ranker_options(
    reranker: Any = None,
    ranker_type: str | None = None,
    ranker_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A hybrid search's ranker (a pymilvus RERANK ``Function`` with params ``reranker``
    ``"weighted"`` / ``"rrf"``, or the legacy ``ranker_type`` / ``ranker_params``) as
    milvus-rag's ``ranker`` / ``alpha`` / ``rrf_k``. Weights are [dense, BM25]."""
    if reranker is not None:
        params = dict(getattr(reranker, "params", None) or {})
        ranker_type = str(params.pop("reranker", "")).lower() or None
        ranker_params = params
        if ranker_type not in ("weighted", "rrf"):
            raise ConfigError(
                f"reranker {ranker_type!r} has no counterpart: use a 'weighted' or 'rrf' "
                "reranker Function"
            )
    if ranker_type is None:
        if ranker_params:
            raise ConfigError("ranker_params without ranker_type: pass ranker_type too")
        return {}
    params = dict(ranker_params or {})
    if ranker_type == "rrf":
        k = params.pop("k", None)
        _no_extra(params, "rrf")
        return {"ranker": "rrf", **({"rrf_k": int(k)} if k is not None else {})}
    if ranker_type == "weighted":
        weights = list(params.pop("weights", [1.0, 1.0]))
        params.pop("norm_score", None)  # milvus-rag always min-max normalises the legs
        _no_extra(params, "weighted")
        if len(weights) != 2 or sum(weights) <= 0:
            raise ConfigError(
                f"weighted ranker weights {weights}: pass two non-negative weights, "
                "[dense, BM25], not both zero"
            )
        return {"ranker": "weighted", "alpha": float(weights[0]) / float(sum(weights))}
    raise ConfigError(f"ranker_type {ranker_type!r} has no counterpart: use 'rrf' or 'weighted'")


def _no_extra(params: Mapping[str, Any], kind: str) -> None:
    if params:
        raise ConfigError(f"{kind} ranker settings {sorted(params)} have no counterpart")


def search_options(kwargs: dict[str, Any], metric: str, *, hybrid: bool) -> dict[str, Any]:
    """langchain-milvus's search keywords (``param``, ``fetch_k``, ``reranker``,
    ``ranker_type``, ``ranker_params``) popped from ``kwargs`` and returned as milvus-rag's;
    the rest stay in ``kwargs`` (``expr``, ``timeout`` and milvus-rag's own keywords pass
    through as they are)."""
    out: dict[str, Any] = {}
    param = kwargs.pop("param", None)
    if isinstance(param, list | tuple):
        if len(param) > 1 and not hybrid:
            raise ConfigError("one vector field: pass one search param dict, not a list")
        dense = [p for p in param if str(dict(p).get("metric_type", metric)).upper() != "BM25"]
        param = dense[0] if dense else None
    if param is not None:
        out["search_params"] = search_param_options(param, metric, "param")
    ranker = ranker_options(
        kwargs.pop("reranker", None),
        kwargs.pop("ranker_type", None),
        kwargs.pop("ranker_params", None),
    )
    fetch_k = kwargs.pop("fetch_k", None)
    if not hybrid and (ranker or fetch_k is not None):
        raise ConfigError(
            "reranker / ranker_type / fetch_k apply to a hybrid search: the store needs a "
            "BM25 function (builtin_function=BM25BuiltInFunction())"
        )
    out.update(ranker)
    if fetch_k is not None:
        out["candidates"] = fetch_k
    if kwargs.get("partition_names") is not None:
        raise ConfigError(
            "partition_names has no counterpart: use partition_key_field= and filter on it"
        )
    kwargs.pop("partition_names", None)
    return out


def legs_options(kwargs: dict[str, Any], layout: FieldLayout) -> dict[str, Any]:
    """A search over every vector field of ``layout`` (langchain-milvus with several
    fields): its keywords (``param`` one dict per field, ``reranker`` / ``ranker_type`` /
    ``ranker_params`` across all fields, ``fetch_k``) popped from ``kwargs`` and returned as
    milvus-rag's ``fields``, ``weights``, ``leg_params``, ``ranker``, ``rrf_k``,
    ``candidates``. Default fusion: RRF (as milvus-rag's hybrid search)."""
    out: dict[str, Any] = {"fields": list(layout.names)}
    params = leg_params(kwargs.pop("param", None), layout)
    if params:
        out["leg_params"] = params
    reranker = kwargs.pop("reranker", None)
    ranker_type, ranker_params = kwargs.pop("ranker_type", None), kwargs.pop("ranker_params", None)
    if reranker is not None:
        ranker_params = dict(getattr(reranker, "params", None) or {})
        ranker_type = str(ranker_params.pop("reranker", "")).lower() or None
        if ranker_type not in ("weighted", "rrf"):
            raise ConfigError(
                f"reranker {ranker_type!r} has no counterpart: use a 'weighted' or 'rrf' "
                "reranker Function"
            )
    if ranker_type is None and ranker_params:
        raise ConfigError("ranker_params without ranker_type: pass ranker_type too")
    rest = dict(ranker_params or {})
    if ranker_type == "rrf":
        k = rest.pop("k", None)
        out.update(ranker="rrf", **({"rrf_k": int(k)} if k is not None else {}))
    elif ranker_type == "weighted":
        weights = rest.pop("weights", [1.0] * len(layout.names))
        rest.pop("norm_score", None)  # milvus-rag always min-max normalises the legs
        out.update(ranker="weighted", weights=leg_weights(weights, layout.names))
    elif ranker_type is not None:
        raise ConfigError(
            f"ranker_type {ranker_type!r} has no counterpart: use 'rrf' or 'weighted'"
        )
    _no_extra(rest, str(ranker_type))
    fetch_k = kwargs.pop("fetch_k", None)
    if fetch_k is not None:
        out["candidates"] = fetch_k
    if kwargs.pop("partition_names", None) is not None:
        raise ConfigError(
            "partition_names has no counterpart: use partition_key_field= and filter on it"
        )
    return out


def field_of_vector(vector: Any, layout: FieldLayout) -> str:
    """The one field a query vector searches (``*_by_vector``): a sparse vector ``{index:
    weight}`` the sparse embedding field, a dense one the dense field; ConfigError where
    there are several (langchain-milvus searches one field by vector)."""
    sparse = isinstance(vector, Mapping) or hasattr(vector, "tocoo")
    names = [n for n in layout.embedded if layout.field(n).is_dense != sparse]
    if len(names) != 1:
        kind = "sparse" if sparse else "dense"
        raise ConfigError(
            f"a search by vector searches one field, and the store has {len(names)} {kind} "
            f"embedding fields {names}: use similarity_search (every field, fused)"
        )
    return names[0]


def check_mmr(layout: FieldLayout) -> None:
    """MMR reorders the candidates of one dense field (the sparse and BM25 fields are not
    searched): the store needs exactly one."""
    dense = [f.name for f in layout.fields if f.is_dense]
    if len(dense) != 1:
        raise ConfigError(
            f"max_marginal_relevance_search reorders the candidates of one dense field, and "
            f"the store has {len(dense)} {dense}: one embedding function, a dense one, or "
            "search with similarity_search"
        )


def relevance_fn(metric: str) -> Callable[[float], float]:
    """langchain-milvus's distance -> relevance map: L2 ``1 - d/4``, IP / COSINE ``(s+1)/2``."""
    if metric == "L2":
        return lambda d: 1.0 - d / 4.0
    if metric in ("IP", "COSINE"):
        return lambda s: (s + 1.0) / 2.0
    raise ConfigError(f"no relevance function for metric {metric!r}")
