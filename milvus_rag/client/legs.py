"""The legs of a search: which vector fields it searches, with what query and parameters.

A search searches one or more vector fields of the collection, each a *leg*. A
:class:`~milvus_rag.client.request.SearchRequest` names them in ``legs`` or by its mode,
a shorthand over the default fields: DENSE is the primary dense field with ``vector``,
SPARSE the BM25 field with ``text``, HYBRID both. This module resolves either against the
collection's config, once per search, into :class:`LegPlan` values the searcher sends;
pure functions, no I/O.

Rules (checked here, with errors naming the field and what it needs):

- each leg names a vector field of the collection, each field once;
- its query matches the field: a dense field takes a vector of its dim, the BM25 field
  text, a client-side sparse field a sparse vector ``{index: weight}``; a leg without a
  query takes the request's ``text`` (BM25 field) or ``vector`` (primary dense field);
- search parameters: the field's (``VectorField.search_params``; the primary's are the
  collection's ``search_params``), then the request's ``search_params`` (primary dense leg
  only: a request with them and no such leg is refused), then the leg's own;
- range search (``radius``): one dense leg;
- relevance: see :mod:`milvus_rag.client.fusion` (``relevance=True`` where it is not
  defined is refused).

:func:`default_fields` is the one place the frameworks' fronts ask which fields a search
in a mode uses.

Example:
    >>> from milvus_rag.client.config import CollectionConfig
    >>> from milvus_rag.client.vector_fields import VectorField
    >>> cfg = CollectionConfig(dim=2, extra_vector_fields=(VectorField.dense("title", dim=2),))
    >>> [f.name for f in default_fields(cfg, "hybrid")]
    ['dense', 'sparse', 'title']
    >>> [f.name for f in default_fields(cfg, "dense")], [f.name for f in default_fields(cfg, "sparse")]
    (['dense'], ['sparse'])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple, cast

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.fusion import leg_weights
from milvus_rag.client.request import Leg, RetrievalMode, SearchRequest, check_range
from milvus_rag.client.rows import HitKind, RelevanceFrom
from milvus_rag.client.vector_fields import VectorField


class LegPlan(NamedTuple):
    """One leg, ready to send: the field, its query, the ``search_params`` argument of the
    search (``metric_type`` and ``params``), its share in weighted fusion, where its hits'
    relevance comes from, whether it is the primary dense field, and what it searches."""

    field: VectorField
    query: Any
    param: dict[str, Any]
    weight: float
    relevance: RelevanceFrom
    primary: bool
    kind: HitKind


def _kind(f: VectorField) -> HitKind:
    return "dense" if f.is_dense else "bm25" if f.is_bm25 else "sparse"


class LegsPlan(NamedTuple):
    """The resolved legs of one search and the primary field's query vector (relevance is
    computed from it for hits of legs that are not the primary one)."""

    legs: tuple[LegPlan, ...]
    primary_query: list[float] | None


#: ``LegPlan(*values)`` / ``LegsPlan(*values)`` without their Python ``__new__`` (as their
#: ``_make``; the mode's legs are built on every search)
_leg: Callable[[tuple[Any, ...]], LegPlan] = partial(tuple.__new__, LegPlan)
_legs: Callable[[tuple[Any, ...]], LegsPlan] = partial(tuple.__new__, LegsPlan)


def default_fields(
    cfg: CollectionConfig, mode: RetrievalMode | str, fields: Sequence[str] | None = None
) -> tuple[VectorField, ...]:
    """The vector fields a framework search in ``mode`` uses: ``fields`` (names) when given,
    else for HYBRID every vector field of the collection, for DENSE the primary dense one,
    for SPARSE the BM25 field (or the only sparse field). :class:`ConfigError` naming the
    fields where there is none to search."""
    if fields is not None:
        if isinstance(fields, str) or not isinstance(fields, Sequence):
            raise ConfigError(f"fields must be a list of vector field names, got {fields!r}")
        if not fields:
            raise ConfigError("fields is empty: name at least one vector field")
        if len(set(fields)) != len(fields):
            raise ConfigError(f"fields {list(fields)} name a field twice: name each once")
        return tuple(cfg.vector_field_named(name) for name in fields)
    m = RetrievalMode.parse(mode)
    if m is RetrievalMode.HYBRID:
        return cfg.vector_fields
    if m is RetrievalMode.DENSE:
        if not cfg.enable_dense:
            raise ConfigError(
                f"collection {cfg.name!r} has no dense field: search its sparse fields "
                f"{[f.name for f in cfg.vector_fields]} (mode 'sparse')"
            )
        return (cfg.primary_dense,)
    sparse = [f for f in cfg.vector_fields if not f.is_dense]
    bm25 = [f for f in sparse if f.is_bm25]
    if bm25:
        return (bm25[0],)
    if len(sparse) == 1:
        return (sparse[0],)
    if not sparse:
        raise ConfigError(f"collection {cfg.name!r} has no sparse field: use mode='dense'")
    raise ConfigError(
        f"collection {cfg.name!r} has sparse fields {[f.name for f in sparse]} and no BM25 "
        "field: name the field searched"
    )


def _mode_plan(r: SearchRequest, cfg: CollectionConfig, fields: dict[str, VectorField]) -> LegsPlan:
    """The legs of a request without ``legs``: its mode over the default fields (the path
    of every search before vector fields: kept short, it runs per search)."""
    mode = r.mode
    if mode is not RetrievalMode.SPARSE:
        if not cfg.enable_dense:
            raise ConfigError(f"collection {cfg.name!r} has no dense field: use mode='sparse'")
        vector = cast("list[float] | None", r.vector)  # a list once built
        if vector is None:
            raise InvalidInputError(f"{RetrievalMode(mode).value} search needs a query vector")
        if cfg.dim is not None and len(vector) != cfg.dim:
            raise InvalidInputError(
                f"query vector has dim {len(vector)}, the collection's is {cfg.dim}"
            )
        params = {**cfg.search_params, **(r.search_params or {})}
        if r.radius is not None:
            params["radius"] = r.radius
            if r.range_filter is not None:
                params["range_filter"] = r.range_filter
        param: dict[str, Any] = {"metric_type": cfg.metric}
        if params:
            param["params"] = params
        alpha = 1.0 if r.ranker != "weighted" else 0.5 if r.alpha is None else r.alpha
        primary = fields[cfg.vector_field]
        dense = _leg((primary, vector, param, alpha, "distance", True, "dense"))
        if mode is RetrievalMode.DENSE:
            return _legs(((dense,), vector))
    bm25 = fields.get(cfg.sparse_field)  # where it is, unless the config has none
    if bm25 is None or not bm25.is_bm25:
        bm25 = next((f for f in fields.values() if f.is_bm25), None)
    if bm25 is None:
        others = [f.name for f in fields.values() if f.is_client_sparse]
        hint = (
            f"search its sparse field(s) {others} with legs=[Leg(field, {{index: weight}})]"
            if others
            else "use mode='dense'"
        )
        raise ConfigError(f"collection {cfg.name!r} has no BM25 field: {hint}")
    if mode is RetrievalMode.SPARSE:
        leg = _leg((bm25, r.text, {"metric_type": "BM25"}, 1.0, "bm25", False, "bm25"))
        return _legs(((leg,), None))
    w = 1.0 if r.ranker != "weighted" else 1.0 - dense.weight
    leg = _leg((bm25, r.text, {"metric_type": "BM25"}, w, "vectors", False, "bm25"))
    return _legs(((dense, leg), vector))


def _field(cfg: CollectionConfig, fields: dict[str, VectorField], name: str) -> VectorField:
    f = fields.get(name)
    if f is None:
        raise ConfigError(
            f"collection {cfg.name!r} has no vector field {name!r}; its vector fields are "
            f"{list(fields)}"
        )
    return f


def _needs(f: VectorField) -> str:
    """What a leg on ``f`` takes as its query, in words."""
    if f.is_bm25:
        return "query text (the BM25 field searches text)"
    if f.is_client_sparse:
        return "a sparse vector {index: weight} (a client-side sparse field)"
    dim = f"of dim {f.dim}" if f.dim is not None else "(floats)"
    return f"a dense vector {dim}"


def _check_query(f: VectorField, query: Any) -> None:
    """A given query's kind matches the field (dims are checked once known, see
    :func:`plan_legs`)."""
    ok = (
        isinstance(query, str)
        if f.is_bm25
        else isinstance(query, dict)
        if f.is_client_sparse
        else isinstance(query, list)
    )
    if not ok:
        got = (
            "text"
            if isinstance(query, str)
            else "a sparse vector"
            if isinstance(query, dict)
            else "a dense vector"
        )
        raise InvalidInputError(f"leg {f.name!r} takes {_needs(f)}, got {got}")


def check_legs(
    r: SearchRequest,
    cfg: CollectionConfig,
    fields: dict[str, VectorField],
    schema_read: bool = True,
) -> None:
    """What ``prepare`` checks of a request's legs (no I/O; queries may come later): the
    fields exist, given queries match them, ``search_params`` and ``radius`` apply. Before
    the store has read an existing collection's schema (``schema_read=False``) a field the
    config does not name may still be the collection's: it is checked at execution
    (:func:`plan_legs`), once the store has adopted the collection's fields."""
    if r.legs is None:
        if r.radius is not None:
            check_range(cfg.metric, r.radius, r.range_filter)
        return
    if not schema_read and any(leg.field not in fields for leg in r.legs):
        return
    for leg in r.legs:
        f = _field(cfg, fields, leg.field)
        if leg.query is not None:
            _check_query(f, leg.query)
    _check_placement(r, cfg, [fields[leg.field] for leg in r.legs])


def _check_placement(r: SearchRequest, cfg: CollectionConfig, fs: list[VectorField]) -> None:
    primary = cfg.vector_field if cfg.enable_dense else None
    if r.search_params and all(f.name != primary for f in fs):
        raise ConfigError(
            f"search_params tune the primary dense field {primary!r}, which this search does "
            "not search: give the legs their own (Leg(field, query, search_params=...))"
            if primary is not None
            else f"search_params tune a dense index and collection {cfg.name!r} has none: "
            "give the legs their own (Leg(field, query, search_params=...))"
        )
    if r.radius is not None:
        f = fs[0]
        if not f.is_dense:
            raise ConfigError(
                f"radius / range_filter are a dense range search: leg {f.name!r} is sparse"
            )
        check_range(str(f.metric), r.radius, r.range_filter)


def vector_fields_by_name(cfg: CollectionConfig, has_bm25: bool = False) -> dict[str, VectorField]:
    """``cfg.vector_fields`` by name (a searcher keeps it per config); ``has_bm25``: the
    collection has its BM25 field even where the config leaves it out (``enable_bm25=False``
    on a collection built with it), as the searches before vector fields allowed."""
    out = {f.name: f for f in cfg.vector_fields}
    if has_bm25 and not cfg.enable_bm25 and cfg.sparse_field not in out:
        out[cfg.sparse_field] = VectorField.sparse(cfg.sparse_field, bm25=True)
    return out


def plan_legs(r: SearchRequest, cfg: CollectionConfig, fields: dict[str, VectorField]) -> LegsPlan:
    """The legs ``r`` searches, resolved against ``cfg`` (``fields``: its vector fields by
    name): queries filled and checked (dims included), parameters merged, weights and
    relevance decided. Raises :class:`ConfigError` / :class:`InvalidInputError`."""
    if r.legs is None:
        return _mode_plan(r, cfg, fields)
    legs = r.legs
    fs = [_field(cfg, fields, leg.field) for leg in legs]
    _check_placement(r, cfg, fs)
    primary = cfg.vector_field if cfg.enable_dense else None
    if r.vector is not None and primary is None:
        raise ConfigError(
            f"collection {cfg.name!r} has no dense field: vector= has nothing to search "
            "(give each leg its query)"
        )
    queries = [_query(r, f, leg, primary) for leg, f in zip(legs, fs, strict=True)]
    primary_query = cast("list[float] | None", r.vector)  # a list once built
    for f, q in zip(fs, queries, strict=True):
        if f.name == primary:
            primary_query = q
    weights = (
        leg_weights([leg.weight for leg in legs]) if r.ranker == "weighted" else [1.0] * len(legs)
    )
    out = []
    for leg, f, q, w in zip(legs, fs, queries, weights, strict=True):
        rel = _relevance_from(f, f.name == primary, len(legs), primary_query is not None)
        out.append(
            LegPlan(
                field=f,
                query=q,
                param=_param(r, f, leg, f.name == primary, cfg),
                weight=w,
                relevance=rel,
                primary=f.name == primary,
                kind=_kind(f),
            )
        )
    plan = LegsPlan(tuple(out), primary_query)
    if r.relevance and any(leg.relevance == "none" for leg in plan.legs):
        raise ConfigError(_no_relevance(cfg, primary))
    return plan


def _relevance_from(f: VectorField, is_primary: bool, n: int, known: bool) -> RelevanceFrom:
    if is_primary or (n == 1 and f.is_dense):
        return "distance"
    if n == 1 and f.is_bm25:
        return "bm25"
    return "vectors" if known else "none"


def _no_relevance(cfg: CollectionConfig, primary: str | None) -> str:
    if primary is None:
        return (
            f"relevance is the similarity by the primary dense field's embeddings, and "
            f"collection {cfg.name!r} has no dense field: it is not defined for this search "
            "(search without relevance=True)"
        )
    return (
        f"relevance is the similarity by the primary dense field {primary!r}: pass its query "
        f"embedding (vector=, or a leg on {primary!r}) to compute it, or search without "
        "relevance=True"
    )


def _query(r: SearchRequest, f: VectorField, leg: Leg, primary: str | None) -> Any:
    """The leg's query: its own, else the request's ``text`` / ``vector``; checked."""
    q = leg.query
    if q is None:
        if f.is_bm25:
            q = r.text
            if q is None or not q.strip():
                raise InvalidInputError(
                    f"leg {f.name!r} (BM25) needs query text: text=, or Leg({f.name!r}, 'the text')"
                )
            return q
        if f.name == primary and r.vector is not None:
            q = r.vector
        else:
            fill = " (or vector= for the primary dense field)" if f.name == primary else ""
            raise InvalidInputError(
                f"leg {f.name!r} has no query: it takes {_needs(f)}, as Leg({f.name!r}, "
                f"query){fill}"
            )
    elif f.name == primary and r.vector is not None and list(q) != r.vector:
        raise ConfigError(
            f"the primary dense field {f.name!r} has two queries: its leg's and vector=; give one"
        )
    _check_query(f, q)
    if f.is_dense and f.dim is not None and len(q) != f.dim:
        raise InvalidInputError(
            f"leg {f.name!r}: query vector has dim {len(q)}, the field's is {f.dim}"
        )
    return q


def _param(
    r: SearchRequest, f: VectorField, leg: Leg, is_primary: bool, cfg: CollectionConfig
) -> dict[str, Any]:
    """The search's ``search_params`` argument for this leg (see the module docs)."""
    params: dict[str, Any] = {
        **(cfg.search_params if is_primary else f.search_params),
        **(r.search_params if is_primary and r.search_params else {}),
        **(leg.search_params or {}),
    }
    if f.is_dense and r.radius is not None:
        params["radius"] = r.radius
        if r.range_filter is not None:
            params["range_filter"] = r.range_filter
    out: dict[str, Any] = {"metric_type": str(f.metric)}
    if params:
        out["params"] = params
    return out
