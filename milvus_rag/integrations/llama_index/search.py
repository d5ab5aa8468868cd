"""A LlamaIndex ``VectorStoreQuery`` -> the core's one :class:`SearchRequest`.

Two shapes, one set of sizes (:func:`sizes`):

- :func:`default_request`: a collection with the default fields (one dense, BM25 or none):
  the query mode is the core's mode (``DEFAULT`` dense, ``SPARSE`` / ``TEXT_SEARCH`` BM25,
  ``HYBRID`` both, RRF or ``alpha``-weighted), exactly as before vector fields existed;
- :func:`legs_request`: a collection with more vector fields, a sparse-only one, or a query
  naming its ``fields=``: one :class:`~milvus_rag.client.request.Leg` per field searched
  (:func:`milvus_rag.client.legs.default_fields`: every vector field in ``HYBRID``, the
  primary dense one in ``DEFAULT``, the sparse one in ``SPARSE`` / ``TEXT_SEARCH``), each
  query embedded by its field's embedder
  (:class:`~milvus_rag.integrations.llama_index.fields.FieldEmbedders`), fused by RRF or
  weighted: ``weights=`` (one per field searched, a list in their order or a dict by name),
  or ``alpha`` over two fields (``alpha`` on the dense one, ``1 - alpha`` on the other).

``k``: ``similarity_top_k``; ``sparse_top_k`` in sparse modes; ``hybrid_top_k`` for fused
searches, whose legs fetch ``max(similarity_top_k, sparse_top_k)`` candidates each when
``sparse_top_k`` or ``hybrid_top_k`` is given (LlamaIndex's per-leg sizes), else the core's
``hybrid_candidates``.

Example:
    >>> from llama_index.core.vector_stores.types import VectorStoreQuery
    >>> q = VectorStoreQuery(query_str="q", similarity_top_k=3, sparse_top_k=5)
    >>> sizes(VectorStoreQueryMode.HYBRID, q), sizes(VectorStoreQueryMode.SPARSE, q)
    ((3, 5), (5, None))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import ConfigError
from milvus_rag.client.legs import default_fields
from milvus_rag.client.request import Leg, RetrievalMode, SearchRequest
from milvus_rag.integrations.llama_index.compat_kwargs import LlamaQueryOptions
from milvus_rag.integrations.llama_index.fields import FieldEmbedders

__all__ = [
    "CORE_MODES",
    "alpha_weights",
    "default_request",
    "field_weights",
    "legs_request",
    "query_of",
    "sizes",
]

#: LlamaIndex query modes -> the core's mode over the default fields
CORE_MODES = {
    VectorStoreQueryMode.DEFAULT: RetrievalMode.DENSE,
    VectorStoreQueryMode.SPARSE: RetrievalMode.SPARSE,
    VectorStoreQueryMode.TEXT_SEARCH: RetrievalMode.SPARSE,
    VectorStoreQueryMode.HYBRID: RetrievalMode.HYBRID,
}


def sizes(mode: VectorStoreQueryMode, query: VectorStoreQuery) -> tuple[int, int | None]:
    """``(k, candidates per leg)`` of a search in ``mode`` (see the module docs)."""
    k = query.similarity_top_k
    core = CORE_MODES[mode]
    if core is RetrievalMode.DENSE:
        return k, None
    if core is RetrievalMode.SPARSE:
        return query.sparse_top_k or k, None
    candidates = None
    if query.sparse_top_k is not None or query.hybrid_top_k is not None:
        candidates = max(k, query.sparse_top_k or 0)
    return query.hybrid_top_k or k, candidates


def query_of(
    mode: VectorStoreQueryMode, query: VectorStoreQuery
) -> tuple[str | None, list[float] | None]:
    """The query text and embedding a search in ``mode`` over the default fields takes:
    the embedding (dense), the text (BM25), both (hybrid)."""
    core = CORE_MODES[mode]
    if core is RetrievalMode.DENSE:
        return None, query.query_embedding
    if core is RetrievalMode.SPARSE:
        return query.query_str, None
    return query.query_str, query.query_embedding


def default_request(
    mode: VectorStoreQueryMode,
    query: VectorStoreQuery,
    flt: Any,
    alpha: float | None,
    options: dict[str, Any],
) -> SearchRequest:
    """The search in the query's mode over the default fields."""
    k, candidates = sizes(mode, query)
    core = CORE_MODES[mode]
    text, vector = query_of(mode, query)
    if core is not RetrievalMode.HYBRID:
        return SearchRequest(text=text, vector=vector, k=k, mode=core, filter=flt, **options)
    return SearchRequest(
        text=text,
        vector=vector,
        k=k,
        mode=core,
        filter=flt,
        alpha=alpha,
        candidates=candidates,
        **options,
    )


def alpha_weights(legs: list[Leg], primary: str | None, alpha: float) -> list[Leg]:
    """``alpha`` (the dense weight of hybrid search) over two legs: ``alpha`` on the primary
    dense one, ``1 - alpha`` on the other (weighted fusion)."""
    names = [leg.field for leg in legs]
    if len(legs) != 2 or primary not in names:
        raise ConfigError(
            f"alpha weighs the dense field against the sparse one; this search has legs "
            f"{names}: search two fields (fields=[...]) or leave alpha out (RRF)"
        )
    return [
        Leg(leg.field, leg.query, alpha if leg.field == primary else 1.0 - alpha) for leg in legs
    ]


def field_weights(legs: list[Leg], weights: Sequence[float] | Mapping[str, float]) -> list[Leg]:
    """``weights=``: one weight per leg, in the legs' order or by field name (weighted
    fusion; the core checks the numbers)."""
    names = [leg.field for leg in legs]
    if isinstance(weights, Mapping):
        if set(weights) != set(names):
            raise ConfigError(
                f"weights names {sorted(weights)}, the search's fields are {names}: give one "
                "weight per field searched"
            )
        given = [weights[n] for n in names]
    else:
        given = list(weights)
        if len(given) != len(legs):
            raise ConfigError(
                f"weights has {len(given)} values for the {len(legs)} fields searched {names}"
            )
    return [Leg(leg.field, leg.query, w) for leg, w in zip(legs, given, strict=True)]


async def legs_request(
    cfg: CollectionConfig,
    embedders: FieldEmbedders,
    mode: VectorStoreQueryMode,
    query: VectorStoreQuery,
    flt: Any,
    alpha: float | None,
    opts: LlamaQueryOptions,
    raw: bool,
) -> SearchRequest:
    """The search over the fields of ``opts.fields`` or of the mode, one leg each (see the
    module docs); ``raw``: similarities are Milvus's scores, no relevance computed."""
    primary = cfg.vector_field if cfg.enable_dense else None
    legs = [
        await embedders.leg(f, primary, query.query_str, query.query_embedding)
        for f in default_fields(cfg, CORE_MODES[mode], opts.fields)
    ]
    if opts.weights is not None:
        if alpha is not None:
            raise ConfigError("weights= and alpha both weigh the legs: pass one of them")
        legs = field_weights(legs, opts.weights)
    elif alpha is not None and len(legs) > 1:
        legs = alpha_weights(legs, primary, alpha)
    k, candidates = sizes(mode, query)
    vector = query.query_embedding if primary is not None else None
    return SearchRequest(
        text=query.query_str,
        vector=vector,
        legs=tuple(legs),
        k=k,
        filter=flt,
        candidates=candidates if len(legs) > 1 else None,
        relevance=not raw and vector is not None,
        **opts.search,
    )
