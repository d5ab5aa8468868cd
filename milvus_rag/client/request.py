"""The search value: one frozen, validated :class:`SearchRequest` describes every search.

Every caller-facing layer (the stores' keyword API, both adapters, both frameworks'
retrievers, the CLI, the MCP server) builds one ``SearchRequest`` per search and hands it
to the core; the core executes it and validates nothing again. Construction validates what
needs no store; :meth:`AsyncMilvusStore.prepare` adds what needs one, once: the filter
compiled for the backend's dialect and the range checked against the collection's metric.
Each default lives here (``DEFAULT_K``, the ranker) or in
:class:`~milvus_rag.client.config.CollectionConfig` (candidates per leg, ``rrf_k``, the
store's ``search_params``), read in one place at execution.

Example:
    >>> r = SearchRequest(text="what is bm25", k=5, alpha=0.3)
    >>> r.mode.value, r.ranker, r.alpha
    ('hybrid', 'weighted', 0.3)
    >>> r.needs_vector, r.with_vector([0.1, 0.2]).vector
    (True, [0.10000000149011612, 0.20000000298023224])
    >>> SearchRequest(text="q", consistency_level="strong").consistency_level
    'Strong'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.filter_tree import FieldNames
from milvus_rag.client.filters import Dialect
from milvus_rag.client.grouping import Grouping, check_grouping
from milvus_rag.client.query_values import (
    check_query_vector,
    check_sparse_vector,
)
from milvus_rag.client.vector_fields import VectorField

if TYPE_CHECKING:  # only a type here
    from milvus_rag.client.tenancy import Scope

Ranker = Literal["rrf", "weighted"]
Fusion = Literal["auto", "client"]
DEFAULT_K = 4
"""Hits a search returns when the caller does not say."""
MAX_K = 16384
CONSISTENCY_LEVELS = ("Strong", "Bounded", "Session", "Eventually")
RESERVED_SEARCH_PARAMS = {
    "metric_type": "the collection's metric (metric= of the store)",
    "radius": "radius=",
    "range_filter": "range_filter=",
    "params": "search_params= itself (it is the 'params' of the search)",
}
#: The per-call options of any search, dense-only ones (by vector, MMR) included.
DENSE_OPTIONS = (
    "search_params",
    "radius",
    "range_filter",
    "consistency_level",
    "timeout",
    "tenant",
    "all_tenants",
)
#: The grouped-search options (see :mod:`milvus_rag.client.grouping`).
GROUP_OPTIONS = ("group_by", "group_size", "strict_group_size")
#: The keyword names of :class:`SearchRequest` a framework adapter passes through as they are.
SEARCH_OPTIONS = ("ranker", "alpha", "candidates", "rrf_k", *DENSE_OPTIONS, *GROUP_OPTIONS)


class RetrievalMode(str, Enum):
    """How a query is matched: embeddings, BM25 full text, or both fused."""

    DENSE = "dense"
    SPARSE = "sparse"
    HYBRID = "hybrid"

    @classmethod
    def parse(cls, value: RetrievalMode | str) -> RetrievalMode:
        if isinstance(value, RetrievalMode):
            return value
        known = _MODES.get(value) if type(value) is str else None
        if known is not None:  # a mode's value as it is ("dense"): no Enum lookup
            return known
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ConfigError(
                f"unknown retrieval mode {value!r}: use 'dense', 'sparse' or 'hybrid'"
            ) from None


_DENSE = RetrievalMode.DENSE
_MODES = {m.value: m for m in RetrievalMode}


def check_k(k: int, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k > MAX_K:
        raise ConfigError(f"{name} must be an integer in [1, {MAX_K}], got {k!r}")
    return k


def check_alpha(alpha: float | None) -> float | None:
    if alpha is None:
        return None
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, int | float)
        or math.isnan(alpha)
        or not 0.0 <= alpha <= 1.0
    ):
        raise ConfigError(f"alpha must be in [0, 1] (weight of the dense leg), got {alpha!r}")
    return float(alpha)


def resolve_ranker(ranker: str | None, alpha: float | None) -> Ranker:
    """The hybrid fusion: ``ranker`` if given, else ``"weighted"`` when ``alpha`` is, else
    ``"rrf"``. The one place this default is decided."""
    if ranker is None:
        return "weighted" if alpha is not None else "rrf"
    if ranker == "rrf":
        return "rrf"
    if ranker == "weighted":
        return "weighted"
    raise ConfigError(f"ranker must be 'rrf' or 'weighted', got {ranker!r}")


def check_consistency(level: str | None) -> str | None:
    """A Milvus consistency level, case-insensitive, in its canonical spelling."""
    if level is None:
        return None
    by_lower = {c.lower(): c for c in CONSISTENCY_LEVELS}
    if not isinstance(level, str) or level.lower() not in by_lower:
        raise ConfigError(f"consistency_level must be one of {CONSISTENCY_LEVELS}, got {level!r}")
    return by_lower[level.lower()]


def check_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def check_search_params(
    params: Mapping[str, Any] | None, where: str = "search_params"
) -> dict[str, Any]:
    """Index search parameters (``{"ef": 64}``, ``{"nprobe": 16}``, ``{"level": 2}``...),
    sent as the ``params`` of the dense search. Their values are the index's to judge."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where} must be a dict such as {{'ef': 64}}, got {params!r}")
    out: dict[str, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where} keys must be non-empty str, got {key!r}")
        if key in RESERVED_SEARCH_PARAMS:
            raise ConfigError(
                f"{where} must not set {key!r}: use {RESERVED_SEARCH_PARAMS[key]} instead"
            )
        if not isinstance(value, str | int | float | bool | list | dict) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise ConfigError(f"{where}[{key!r}] must be a JSON value, got {value!r}")
        out[key] = value
    return out


def _check_bound(value: float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_range(metric: str, radius: float | None, range_filter: float | None) -> None:
    """Range search in the metric's direction: COSINE / IP keep ``radius < score <=
    range_filter`` (``radius < range_filter``); L2 keeps ``range_filter <= distance <
    radius`` (``radius > range_filter``)."""
    if radius is None or range_filter is None:
        return
    if metric == "L2" and not radius > range_filter:
        raise ConfigError(
            f"with metric L2 (a distance: smaller is closer) radius must be greater than "
            f"range_filter, got radius={radius:g}, range_filter={range_filter:g}"
        )
    if metric != "L2" and not radius < range_filter:
        raise ConfigError(
            f"with metric {metric} (a similarity: larger is closer) radius must be smaller "
            f"than range_filter, got radius={radius:g}, range_filter={range_filter:g}"
        )


def _check_text(mode: RetrievalMode | None, text: object) -> None:
    """The query text: a str; non-empty where the mode searches BM25 (with ``legs``,
    ``mode`` is ``None`` and a BM25 leg without its own query needs it: checked once the
    legs are resolved, see :mod:`milvus_rag.client.legs`)."""
    if text is not None and not isinstance(text, str):
        raise InvalidInputError(f"query text must be a str, got {type(text).__name__}")
    if mode not in (None, RetrievalMode.DENSE) and (text is None or not text.strip()):
        raise InvalidInputError(f"{mode.value} search needs a non-empty query text")


@dataclass(frozen=True, slots=True)
class Leg:
    """One leg of a search: a vector field of the collection and its query.

    ``query``: a dense vector (floats) for a dense field, a sparse vector (``{index:
    weight}``) for a client-side sparse field, or text for the BM25 field. ``weight``: this
    leg's weight in weighted fusion (default: equal weights). ``search_params``: this leg's
    search parameters, merged over the field's (``VectorField.search_params``).

    Example:
        >>> Leg("title", [0.1, 0.2], weight=0.7).weight
        0.7
        >>> Leg("splade", {3: 0.5}).query
        {3: 0.5}
    """

    field: str
    query: Any = None
    weight: float | None = None
    search_params: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.field, str) or not self.field:
            raise ConfigError(f"a leg names a vector field (a str), got {self.field!r}")
        q = self.query
        if isinstance(q, str):
            if not q.strip():
                raise InvalidInputError(f"leg {self.field!r}: the query text is empty")
        elif q is not None and (isinstance(q, Mapping) or hasattr(q, "tocoo")):
            set_(self, "query", check_sparse_vector(q, f"leg {self.field!r}: sparse query"))
        elif q is not None:
            set_(self, "query", check_query_vector(q))
        if self.weight is not None and (
            isinstance(self.weight, bool)
            or not isinstance(self.weight, int | float)
            or not math.isfinite(self.weight)
            or self.weight < 0
        ):
            raise ConfigError(
                f"leg {self.field!r}: weight must be a number >= 0, got {self.weight!r}"
            )
        set_(
            self,
            "search_params",
            check_search_params(self.search_params, f"leg {self.field!r} search_params"),
        )


def check_legs(legs: Any) -> tuple[Leg, ...] | None:
    """``legs`` as a non-empty tuple of :class:`Leg`, each field once (``None`` stays)."""
    if legs is None:
        return None
    if isinstance(legs, Leg | str) or not isinstance(legs, Sequence):
        raise ConfigError(f"legs must be a list of Leg, got {legs!r}")
    out = tuple(legs)
    if not out:
        raise ConfigError("legs is empty: name at least one vector field (Leg(field, query))")
    seen: set[str] = set()
    for leg in out:
        if not isinstance(leg, Leg):
            raise ConfigError(f"legs holds Leg values (Leg(field, query)), got {leg!r}")
        if leg.field in seen:
            raise ConfigError(f"legs name field {leg.field!r} twice: search each field once")
        seen.add(leg.field)
    weights = [leg.weight for leg in out]
    if any(w is not None for w in weights):
        if any(w is None for w in weights):
            raise ConfigError(
                f"legs {[leg.field for leg in out if leg.weight is None]} have no weight: "
                "give every leg a weight, or none (equal weights)"
            )
        if not sum(w for w in weights if w is not None) > 0:
            raise ConfigError("the legs' weights are all 0: give at least one leg a weight > 0")
    return out


@dataclass(frozen=True)
class Target:
    """What a prepared request was compiled for: the backend's dialect, the collection's
    field names and its metric, and the tenant the store view is bound to."""

    dialect: Dialect
    fields: FieldNames
    metric: str
    tenant: str | None = None
    #: what else the compiled scope depends on: the tenancy and the typed columns
    scope_key: tuple[object, ...] = ()
    #: the collection's vector fields (a request's legs are checked against them) and its
    #: primary dense field's name (``None``: no dense field)
    vector_fields: tuple[VectorField, ...] = ()
    primary: str | None = None


@dataclass(frozen=True)
class SearchRequest:
    """One search, validated when built. DENSE needs ``vector``, SPARSE ``text``, HYBRID both.

    - ``k`` hits; ``mode`` (default HYBRID); ``filter``: a filter dict or a raw expression.
    - ``legs``: the vector fields searched, each a :class:`Leg` (field, query, weight,
      search params); one leg is a plain search of that field, two or more are fused. The
      modes are shorthands over the default fields: DENSE is the primary dense field with
      ``vector``, SPARSE the BM25 field with ``text``, HYBRID both. With ``legs``, ``mode``
      stays unset (``None``) and ``alpha`` is refused (give each leg its ``weight``); a leg
      without a query takes ``text`` (the BM25 field) or ``vector`` (the primary dense
      field), so one template serves many queries (fan-out, :meth:`for_query`). ``vector``
      is always the primary dense field's query: relevance is computed from it (see
      ``fusion``). Which fields exist and what query each takes is checked against the
      collection by :meth:`AsyncMilvusStore.prepare` (see :mod:`milvus_rag.client.legs`).
    - Fusion of two or more legs: ``ranker`` ``"rrf"`` (server-side ``hybrid_search`` where
      the backend can, constant ``rrf_k``, default the collection's) or ``"weighted"`` (the
      default when ``alpha``, the dense weight of the two default legs, or a leg weight is
      given: min-max-normalised legs, client-side); ``candidates`` per leg (default the
      collection's ``hybrid_candidates``). ``fusion="client"`` fuses RRF client-side too
      (the same rows as the server's: tests compare both).
    - ``search_params``: the primary dense index's search parameters (``{"ef": 64}``...),
      merged over the collection's ``search_params`` (this request's win). Not in SPARSE
      mode; with ``legs``, only when a leg searches the primary dense field.
    - ``radius`` / ``range_filter``: dense range search (DENSE mode, or one dense leg), in
      the metric's direction: COSINE / IP keep ``radius < score <= range_filter``, L2 keeps
      ``range_filter <= distance < radius``. ``range_filter`` needs ``radius``.
    - ``consistency_level``: Strong, Bounded, Session or Eventually (default: the
      collection's); ``timeout`` in seconds (default: the connection's).
    - ``with_vectors``: return the hits' vectors.
    - ``relevance``: compute ``Hit.relevance`` where it needs the hits' stored vectors
      (fused legs, and fan-out over them): they are fetched for it. Single-leg hits have it
      from their distance (a client-side sparse leg: see ``fusion``); without it, a fused
      hit's relevance is not computed and reading it raises (adapters that report relevance
      set it).
    - ``tenant`` / ``all_tenants``: on a multi-tenant collection, the tenant searched (default:
      the one the store view is bound to), or every tenant.
    - ``group_by``: group the hits by a field (``True`` or a ``group_size`` alone: by
      ``doc_id``); ``k`` then counts groups, each with its best ``group_size`` chunks
      (default 1); ``strict_group_size`` keeps full groups only. See ``client.grouping``.

    ``vector`` may come later (:meth:`with_vector`): callers validate the whole request
    before they embed the query.

    Example:
        >>> req = SearchRequest(text="q", mode="dense", k=3, search_params={"ef": 64})
        >>> # hits = await store.search(store.prepare(req).with_vector(embedding))
        >>> two = SearchRequest(text="q", legs=[Leg("title", [0.1, 0.2]), Leg("sparse")])
        >>> two.mode, [leg.field for leg in two.legs], two.ranker
        (None, ['title', 'sparse'], 'rrf')
    """

    text: str | None = None
    vector: Sequence[float] | np.ndarray | None = None
    k: int = DEFAULT_K
    #: ``None``: HYBRID without ``legs``; with ``legs`` it stays ``None``
    mode: RetrievalMode | str | None = None
    filter: Any = None
    ranker: Ranker | None = None
    alpha: float | None = None
    candidates: int | None = None
    rrf_k: int | None = None
    search_params: Mapping[str, Any] | None = None
    radius: float | None = None
    range_filter: float | None = None
    consistency_level: str | None = None
    timeout: float | None = None
    with_vectors: bool = False
    tenant: str | None = None
    all_tenants: bool = False
    group_by: str | bool | None = None
    group_size: int | None = None
    strict_group_size: bool = False
    relevance: bool = False
    #: The legs searched (see :class:`Leg`); ``None``: the mode's legs over the collection's
    #: default fields (the primary dense field with ``vector``, the BM25 field with ``text``)
    legs: tuple[Leg, ...] | None = None
    #: ``"auto"``: RRF fusion on the server where the backend can; ``"client"``: always
    #: client-side (the same rows)
    fusion: Fusion = "auto"
    #: The validated grouping (``None``: a search for chunks), derived from the three above.
    grouping: Grouping | None = field(default=None, repr=False, compare=False)
    #: Set by :meth:`AsyncMilvusStore.prepare`: the filter compiled for ``target`` (tenant
    #: clause included) and the residual checked client-side (see ``tenancy.Scope``).
    expr: str | None = field(default=None, repr=False, compare=False)
    target: Target | None = field(default=None, repr=False, compare=False)
    scope: Scope | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Every search builds one: an option left unset costs one comparison here, a set
        # one its check (the check functions above, with their messages).
        state = self.__dict__  # (frozen: its fields written here, once, as they are checked)
        legs = self.legs
        if legs is not None:
            legs = check_legs(legs)
            state["legs"] = legs
            if self.mode is not None:
                raise ConfigError(
                    f"pass legs= or mode={self.mode!r}, not both: a mode is a shorthand for "
                    "the default fields' legs (leave mode unset with legs)"
                )
            mode: RetrievalMode | None = None
        else:
            given = self.mode
            if isinstance(given, RetrievalMode):
                mode = given
            else:
                mode = RetrievalMode.parse(given or "hybrid")
                state["mode"] = mode
        k = self.k
        if type(k) is not int or not 0 < k <= MAX_K:
            check_k(k)
        alpha = self.alpha
        if alpha is not None:
            alpha = check_alpha(alpha)
            if legs is not None:
                raise ConfigError(
                    "alpha is the dense weight of the two default legs: with legs=, give each "
                    "leg its weight (Leg(field, query, weight=...))"
                )
            state["alpha"] = alpha
        weighted = legs is not None and any(leg.weight is not None for leg in legs)
        ranker = resolve_ranker(self.ranker, alpha if legs is None else (1.0 if weighted else None))
        if weighted and ranker == "rrf":
            raise ConfigError(
                "leg weights are weighted fusion's: drop them or use ranker='weighted'"
            )
        state["ranker"] = ranker
        if self.candidates is not None:
            check_k(self.candidates, "candidates")
        if self.rrf_k is not None and (
            isinstance(self.rrf_k, bool) or not isinstance(self.rrf_k, int) or self.rrf_k < 1
        ):
            raise ConfigError(f"rrf_k must be an integer >= 1, got {self.rrf_k!r}")
        if self.fusion not in ("auto", "client"):
            raise ConfigError(f"fusion must be 'auto' or 'client', got {self.fusion!r}")
        text = self.text
        if type(text) is not str or (mode is not None and mode is not _DENSE and not text.strip()):
            _check_text(mode, text)
        if self.vector is not None:
            state["vector"] = check_query_vector(self.vector)
        params = self.search_params
        if params is None:
            state["search_params"] = {}
        else:
            params = check_search_params(params)
            state["search_params"] = params
            if params and mode is RetrievalMode.SPARSE:
                raise ConfigError(
                    "search_params tune the dense index: a mode='sparse' (BM25) search has none"
                )
        if self.radius is not None or self.range_filter is not None:
            self._check_range_options(legs, mode)
        if self.consistency_level is not None:
            state["consistency_level"] = check_consistency(self.consistency_level)
        if self.timeout is not None:
            state["timeout"] = check_timeout(self.timeout)
        if type(self.with_vectors) is not bool:
            raise ConfigError(f"with_vectors must be a bool, got {self.with_vectors!r}")
        if type(self.relevance) is not bool:
            raise ConfigError(f"relevance must be a bool, got {self.relevance!r}")
        if self.tenant is not None and not isinstance(self.tenant, str):
            raise ConfigError(f"tenant must be a str, got {self.tenant!r}")
        if type(self.all_tenants) is not bool:
            raise ConfigError(f"all_tenants must be a bool, got {self.all_tenants!r}")
        if self.group_by is None and self.group_size is None and self.strict_group_size is False:
            grouping = None
        else:
            grouping = check_grouping(self.group_by, self.group_size, self.strict_group_size, k)
        state["grouping"] = grouping

    def _check_range_options(
        self, legs: tuple[Leg, ...] | None, mode: RetrievalMode | None
    ) -> None:
        """``radius`` / ``range_filter`` checked and normalised (a dense range search)."""
        radius = _check_bound(self.radius, "radius")
        range_filter = _check_bound(self.range_filter, "range_filter")
        if range_filter is not None and radius is None:
            raise ConfigError("range_filter needs radius (the outer bound of the range)")
        if radius is not None and legs is not None and len(legs) != 1:
            raise ConfigError(
                f"radius / range_filter are a range search of one dense field: give one leg, "
                f"not {len(legs)}"
            )
        if radius is not None and legs is None and mode is not RetrievalMode.DENSE:
            raise ConfigError(
                f"radius / range_filter are a dense range search: use mode='dense', not "
                f"{mode.value if mode is not None else mode!r}"
            )
        self.__dict__.update(radius=radius, range_filter=range_filter)

    @property
    def fetches_vectors(self) -> bool:
        """Whether the hits' stored vectors come back: asked for, or needed for relevance
        (a fused hit's relevance is computed from its vector, see ``fusion``)."""
        return self.with_vectors or self.relevance

    @property
    def needs_vector(self) -> bool:
        """Whether the search wants ``vector``, the primary dense field's query embedding:
        DENSE and HYBRID; with ``legs``, when a leg on the primary dense field has no query
        of its own, or relevance is asked for and no leg gives that query (known once
        prepared, :meth:`AsyncMilvusStore.prepare`; before, whenever a leg has no query)."""
        if self.legs is None:
            return self.mode is not RetrievalMode.SPARSE
        if self.vector is not None:
            return False
        t = self.target
        if t is None:
            return any(leg.query is None for leg in self.legs)
        if t.primary is None:
            return False
        mine = [leg for leg in self.legs if leg.field == t.primary]
        if mine:
            return mine[0].query is None
        if len(self.legs) == 1:  # a lone client-side sparse leg's relevance is the vector's
            kinds = {f.name: f.is_client_sparse for f in t.vector_fields}
            return self.relevance and kinds.get(self.legs[0].field, False)
        return self.relevance

    def with_vector(self, vector: Sequence[float] | np.ndarray | None) -> SearchRequest:
        """This request with the query embedding (only the vector is checked)."""
        return self._evolve(vector=check_query_vector(vector))

    def for_query(
        self, text: str | None, vector: Sequence[float] | np.ndarray | None = None
    ) -> SearchRequest:
        """This request for another query (text and embedding), everything else as it is:
        a prepared request keeps its compiled filter (fan-out searches share one)."""
        _check_text(None if self.mode is None else RetrievalMode(self.mode), text)
        return self._evolve(text=text, vector=check_query_vector(vector))

    def compiled(self, target: Target, scope: Scope, *, own: bool = False) -> SearchRequest:
        """This request, its tenant and filter scoped for ``target`` (by ``prepare``).
        ``own``: the caller built this request for one search and hands it to no one else
        (the store's keyword search): scoped in place, not copied."""
        if not own:
            return self._evolve(target=target, expr=scope.expr, scope=scope)
        state = self.__dict__  # fields left out of eq and hash: the value is unchanged
        state["target"] = target
        state["expr"] = scope.expr
        state["scope"] = scope
        return self

    def for_tenant(self, tenant: str | None, all_tenants: bool = False) -> SearchRequest:
        """This request for ``tenant`` (or every tenant), to be prepared again; a request
        that names its own tenant (or ``all_tenants``) is returned as it is."""
        if self.tenant is not None or self.all_tenants or (tenant is None and not all_tenants):
            return self
        return self._evolve(tenant=tenant, all_tenants=all_tenants, target=None, scope=None)

    def ungrouped(self, k: int) -> SearchRequest:
        """This request for the top ``k`` chunks, ungrouped (client-side grouping's fetch)."""
        return self._evolve(
            k=k, group_by=None, group_size=None, strict_group_size=False, grouping=None
        )

    def _evolve(self, **changes: Any) -> SearchRequest:
        """A copy with ``changes``, without validating the unchanged fields again (the
        fields copied in one dict update: not through ``__init__``)."""
        out = object.__new__(SearchRequest)
        state = out.__dict__
        state.update(self.__dict__)
        state.update(changes)
        return out

    @classmethod
    def _of(cls, **fields: Any) -> SearchRequest:
        """``SearchRequest(**fields)`` for a caller that passes its fields by name (the
        store's keyword search): the same value, validated by the same ``__post_init__``,
        the fields written in one dict update instead of one ``object.__setattr__`` each
        by the generated ``__init__`` (which costs most of a request's building).
        ``tests/unit/test_search_request.py`` holds both to the same values and errors."""
        out = object.__new__(cls)
        state = out.__dict__
        state.update(_DEFAULTS)
        state.update(fields)
        if len(state) != len(_DEFAULTS):  # a name that is no field
            unknown = sorted(state.keys() - _DEFAULTS.keys())
            raise TypeError(f"SearchRequest got unexpected field(s) {unknown}")
        out.__post_init__()
        return out


#: every field's default (the dataclass's own), what :meth:`SearchRequest._of` starts from
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(SearchRequest)}
