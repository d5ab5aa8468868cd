"""langchain-milvus 0.4's vector fields mapped onto milvus-rag's: pure, no I/O.

langchain-milvus gives each embedding function a vector field (``vector_field`` as a str or
a list; names it lacks are generated ``vector_{i+1}``) and each built-in function its output
field. The fields in that order (the embedding functions', then the functions') are the
order of every per-field list: ``index_params``, ``search_params``, a search's ``param`` and
a weighted ranker's ``weights``. A dense ``Embeddings`` fills a dense field; a sparse
embedder (langchain-milvus's ``BaseSparseEmbedding``: ``embed_query(text) -> {index:
weight}``, recognised by that base class's name or, not being an ``Embeddings``, by its
``embed_query`` / ``embed_documents``) a client-side sparse field; ``BM25BuiltInFunction`` the
BM25 field. :func:`field_layout` returns them as milvus-rag :class:`VectorField` values.

Example:
    >>> from langchain_core.embeddings import FakeEmbeddings
    >>> emb = FakeEmbeddings(size=4)
    >>> lay = field_layout([emb, emb], None, ["title", "body"], None, None)
    >>> lay.names, [f.metric for f in lay.fields]
    (('title', 'body'), ['L2', 'L2'])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.embeddings import Embeddings

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.vector_fields import DENSE_METRICS, VectorField
from milvus_rag.integrations.fronts import flatten_params
from milvus_rag.integrations.langchain.fields import is_sparse_embedder

#: langchain-milvus's metric of a dense field without index_params
DEFAULT_DENSE_METRIC = "L2"
_BM25_INDEXES = ("AUTOINDEX", "SPARSE_INVERTED_INDEX")


def as_list(value: Any) -> list[Any]:
    """langchain-milvus's ``as_list``: None / [] -> [], a value -> [value]."""
    if value is None or (isinstance(value, list | tuple) and not value):
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def from_list(value: Any) -> Any:
    """langchain-milvus's ``from_list``: a list of one -> its item, else as it is."""
    return value[0] if isinstance(value, list | tuple) and len(value) == 1 else value


def check_embedder(embedder: Any, where: str = "embedding_function") -> None:
    """A dense LangChain ``Embeddings`` or a sparse embedder; anything else raises."""
    if not isinstance(embedder, Embeddings) and not is_sparse_embedder(embedder):
        raise ConfigError(
            f"{where} {type(embedder).__name__} is neither a LangChain Embeddings (dense) nor "
            "a sparse embedder (embed_query(text) -> {index: weight}, embed_documents(texts))"
        )


@dataclass(frozen=True)
class FieldLayout:
    """The vector fields of a langchain-milvus store, in its order (see module).

    ``names``: every vector field; ``embedded``: the embedding functions' fields, in the
    order of the functions; ``bm25``: the BM25 function's field; ``fields``: the milvus-rag
    declarations, in ``names`` order.
    """

    names: tuple[str, ...]
    embedded: tuple[str, ...]
    bm25: str | None
    fields: tuple[VectorField, ...]
    #: the dense fields whose metric the caller set (``index_params``): the others take an
    #: existing collection's (:func:`adopt_metrics`), or langchain-milvus's L2 when new
    set_metrics: frozenset[str] = frozenset()

    @property
    def classic(self) -> bool:
        """One dense embedding field, with or without BM25: the searches of milvus-rag's
        retrieval modes (dense, or hybrid with BM25)."""
        dense = [f for f in self.fields if f.is_dense]
        return len(self.embedded) == 1 and len(dense) == 1

    @property
    def by_legs(self) -> bool:
        """Whether a search goes over every field as legs (not a retrieval mode: several
        embedding fields, or a sparse embedder's)."""
        return not self.classic and bool(self.embedded)

    def field(self, name: str) -> VectorField:
        return self.fields[self.names.index(name)]


def field_names(
    vector_field: str | Sequence[str], n_embeddings: int, function_outputs: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(embedding functions' fields, functions' fields) as langchain-milvus names them: the
    names in ``vector_field`` that no function writes go to the embedding functions in
    order, the rest generated ``vector_{i+1}``; more names than functions raise."""
    names = as_list(vector_field)
    if len(set(names)) != len(names):
        raise ConfigError(f"vector_field names must be distinct, got {names}")
    if len(set(function_outputs)) != len(function_outputs):
        raise ConfigError(f"built-in functions write the same field twice: {function_outputs}")
    for_embeddings = [n for n in names if n not in function_outputs]
    if len(for_embeddings) > n_embeddings:
        raise ConfigError(
            f"vector_field {for_embeddings} are more than the embedding functions "
            f"({n_embeddings}) and no built-in function writes them: pass one embedding "
            "function per vector field"
        )
    for_embeddings += [f"vector_{i + 1}" for i in range(len(for_embeddings), n_embeddings)]
    return for_embeddings, list(function_outputs)


def per_field(
    value: Any,
    names: Sequence[str],
    embedded: Sequence[str],
    vector_field: str | Sequence[str],
    what: str,
) -> dict[str, Any]:
    """langchain-milvus's per-vector-field list (``index_params``, ``search_params``) by
    field name. One item: the one embedding field's (BM25's settings are milvus-rag's own);
    several: one per field, in the order of ``vector_field`` where it names them all (with
    both embedding and built-in functions), else in ``names`` order."""
    items = as_list(value)
    if not items:
        return {}
    if len(items) == 1:
        if len(names) == 1:
            return {names[0]: items[0]}
        if len(embedded) == 1:  # BM25's settings are milvus-rag's own: the embedding field's
            return {embedded[0]: items[0]}
        raise ConfigError(
            f"one {what} for the vector fields {list(names)}: pass a list, one per field in "
            "the order of vector_field"
        )
    given = as_list(vector_field)
    both = bool(embedded) and len(embedded) < len(names)
    order = given if both and len(given) == len(items) else list(names)
    if len(order) != len(items) or set(order) != set(names):
        raise ConfigError(
            f"{len(items)} {what} for the vector fields {list(names)}: pass one per vector "
            "field, in the order of vector_field"
        )
    return dict(zip(order, items, strict=True))


def index_settings(params: Any, where: str) -> tuple[str | None, str | None, dict[str, Any]]:
    """One langchain-milvus index dict as (metric, index type, build params)."""
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where} must be a dict, got {params!r}")
    flat = flatten_params(params, where)
    metric = flat.pop("metric_type", None)
    kind = flat.pop("index_type", None)
    return (
        str(metric).upper() if metric is not None else None,
        str(kind).upper() if kind is not None else None,
        flat,
    )


def search_settings(params: Any, metric: str, where: str) -> dict[str, Any]:
    """A langchain-milvus search dict (``{"metric_type": "L2", "params": {"ef": 10}}``) as
    milvus-rag's search params (the inner ``params``); another metric raises."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where} must be a dict such as {{'params': {{'ef': 64}}}}")
    flat = flatten_params(params, where)
    given = flat.pop("metric_type", None)
    if given is not None and str(given).upper() != metric:
        raise ConfigError(
            f"{where} metric_type={given!r} but the index metric is {metric!r}: a search uses "
            "the index's metric; leave metric_type out"
        )
    return flat


def _bm25_field(name: str, index: Any, search: Any) -> VectorField:
    if index is not None:
        metric, kind, params = index_settings(index, "index_params")
        if (metric or "BM25") != "BM25" or (kind or "AUTOINDEX") not in _BM25_INDEXES or params:
            raise ConfigError(
                f"index_params={dict(index)!r} for the BM25 field: milvus-rag builds its BM25 "
                "index itself (metric BM25, AUTOINDEX); leave it out or pass "
                "{'metric_type': 'BM25', 'index_type': 'AUTOINDEX'}"
            )
    if search_settings(search, "BM25", "search_params"):
        raise ConfigError("search parameters of the BM25 field have no counterpart: leave them out")
    return VectorField.sparse(name, bm25=True)


def _embedded_field(name: str, embedder: Any, index: Any, search: Any) -> VectorField:
    metric, kind, params = (
        (None, None, {}) if index is None else index_settings(index, "index_params")
    )
    if is_sparse_embedder(embedder):
        metric = metric or "IP"
        searched = search_settings(search, metric, "search_params")
        return VectorField.sparse(
            name, metric=metric, index_type=kind, index_params=params, search_params=searched
        )
    metric = metric or DEFAULT_DENSE_METRIC
    searched = search_settings(search, metric, "search_params")
    return VectorField.dense(
        name, metric=metric, index_type=kind, index_params=params, search_params=searched
    )


def field_layout(
    embeddings: Sequence[Any],
    bm25_output: str | None,
    vector_field: str | Sequence[str],
    index_params: Any,
    search_params: Any,
) -> FieldLayout:
    """The vector fields of ``Milvus(embedding_function=embeddings, builtin_function=BM25,
    vector_field=..., index_params=..., search_params=...)`` (see module)."""
    for emb in embeddings:
        check_embedder(emb)
    outputs = [bm25_output] if bm25_output is not None else []
    if not embeddings and not outputs:
        raise ConfigError(
            "no vector field: pass an embedding_function, or builtin_function="
            "BM25BuiltInFunction() for a full-text (BM25) store"
        )
    embedded, functions = field_names(vector_field, len(embeddings), outputs)
    names = [*embedded, *functions]
    index = per_field(index_params, names, embedded, vector_field, "index_params")
    search = per_field(search_params, names, embedded, vector_field, "search_params")
    fields = [
        _embedded_field(n, e, index.get(n), search.get(n))
        for n, e in zip(embedded, embeddings, strict=True)
    ]
    fields += [_bm25_field(n, index.get(n), search.get(n)) for n in functions]
    set_metrics = frozenset(
        n for n in embedded if index.get(n) is not None and index_settings(index[n], "")[0]
    )
    return FieldLayout(tuple(names), tuple(embedded), bm25_output, tuple(fields), set_metrics)


def adopt_metrics(layout: FieldLayout, found: Mapping[str, str]) -> FieldLayout:
    """``layout`` with each dense field whose metric the caller left unset taking the
    metric of the existing collection's index on it (``found``: metric by field name), as
    langchain-milvus searches an existing collection with the indexes it has."""
    fields = []
    for f in layout.fields:
        metric = found.get(f.name)
        if f.is_dense and f.name not in layout.set_metrics and metric in DENSE_METRICS:
            f = dataclasses.replace(f, metric=metric)
        fields.append(f)
    return dataclasses.replace(layout, fields=tuple(fields))


def leg_weights(weights: Sequence[Any], names: Sequence[str]) -> dict[str, float]:
    """A weighted ranker's ``weights`` (one per vector field, in langchain-milvus's order)
    by field name."""
    weights = list(weights)
    if len(weights) != len(names):
        raise ConfigError(
            f"weighted ranker weights {weights}: pass one per vector field {list(names)}"
        )
    out: dict[str, float] = {}
    for name, w in zip(names, weights, strict=True):
        if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
            raise ConfigError(f"weighted ranker weights must be numbers >= 0, got {weights}")
        out[name] = float(w)
    if not sum(out.values()) > 0:
        raise ConfigError(f"weighted ranker weights {weights}: not all zero")
    return out


def leg_params(param: Any, layout: FieldLayout) -> dict[str, dict[str, Any]]:
    """A search's ``param`` (one dict, or one per vector field in langchain-milvus's order)
    as each leg's search params."""
    items = as_list(param)
    if not items:
        return {}
    if len(items) != len(layout.names):
        raise ConfigError(
            f"{len(items)} search param dicts for the vector fields {list(layout.names)}: "
            "pass one per vector field, in their order"
        )
    out = {}
    for name, p in zip(layout.names, items, strict=True):
        f = layout.field(name)
        params = search_settings(p, str(f.metric), "param")
        if params and f.is_bm25:
            raise ConfigError("search parameters of the BM25 field have no counterpart")
        out[name] = params
    return out
