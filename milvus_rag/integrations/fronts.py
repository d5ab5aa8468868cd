"""What the LangChain and LlamaIndex fronts do the same way, in one place.

- :func:`core_store`: the core store of a front, from ``store=`` or from connection
  settings (never both), bound to ``tenant=`` when given.
- :func:`pop_tenancy`: the ``tenant=`` / ``all_tenants=`` of a call; ``None`` means "not
  given" on both fronts.
- :class:`FirstUse`: the first-use step of a store (drop once, then adopt an existing
  collection or settle a new one) under one lock per event loop (:class:`PerLoop`).
- several vector fields: :func:`field_weights` (a search's ``weights=``, a list in the order
  of its fields or a dict, by field), :func:`field_legs` (the legs of a search over named
  fields), :func:`with_leg_queries` (those legs' queries, once embedded),
  :func:`check_field_embedders` (one embedder per client-side field, none for another).
- pymilvus-style settings, one policy per question: :func:`enum_name` (``DataType.INT64``,
  ``FunctionType.BM25`` or their names), :data:`SCALAR_TYPES` (pymilvus scalar types ->
  typed metadata columns), :func:`flatten_params` (a settings dict with a nested
  ``params``: merged, a key set both inside and outside raises), :func:`refuse_bm25_extras`
  (what a BM25 function sets that milvus-rag cannot honour raises).
- client-side sparse encoders: :func:`sparse_rows` (an encoder's output for n texts -> n
  validated ``{index: weight}`` dicts: a list of dicts or of one-row matrices, or one
  scipy / pymilvus sparse matrix of n rows).

Example:
    >>> flatten_params({"metric_type": "IP", "params": {"ef": 64}}, "search_params")
    {'metric_type': 'IP', 'ef': 64}
    >>> pop_tenancy({"tenant": None, "all_tenants": True, "k": 4})
    {'all_tenants': True}
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.locks import PerLoop
from milvus_rag.client.query_values import check_sparse_vector
from milvus_rag.client.request import Leg, SearchRequest
from milvus_rag.client.store import AsyncMilvusStore
from milvus_rag.client.sync import MilvusStore
from milvus_rag.client.vector_fields import VectorField

__all__ = [
    "SCALAR_TYPES",
    "TENANT_OPTIONS",
    "WIDENED_SCALAR_TYPES",
    "FirstUse",
    "check_field_embedders",
    "core_store",
    "enum_name",
    "field_legs",
    "field_weights",
    "flatten_params",
    "pop_tenancy",
    "refuse_bm25_extras",
    "sparse_rows",
    "with_leg_queries",
]

TENANT_OPTIONS = ("tenant", "all_tenants")

#: pymilvus scalar DataType names -> typed metadata column types (``metadata_fields``)
SCALAR_TYPES = {"INT64": "int64", "DOUBLE": "double", "VARCHAR": "varchar", "BOOL": "bool"}
#: with the narrower numbers widened (INT8/16/32 -> int64, FLOAT -> double). The two upstream
#: libraries differ on purpose here: langchain-milvus's ``metadata_schema`` describes columns
#: of a collection milvus-rag creates, whose values come back equal when widened, so it maps
#: them; llama-index-vector-stores-milvus's ``scalar_field_types`` names columns that library
#: reads back with their declared type, and a widened column would not be the one declared,
#: so the LlamaIndex front takes :data:`SCALAR_TYPES` only (and says so).
WIDENED_SCALAR_TYPES = {
    **SCALAR_TYPES,
    "INT32": "int64",
    "INT16": "int64",
    "INT8": "int64",
    "FLOAT": "double",
}


def enum_name(value: Any) -> str:
    """``DataType.INT64`` / ``FunctionType.BM25`` (or their names) -> ``"INT64"`` / ``"BM25"``."""
    name = getattr(value, "name", None)
    return str(name if isinstance(name, str) else value).rsplit(".", 1)[-1].upper()


def flatten_params(config: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A pymilvus-style settings dict with its nested ``params`` merged in (both fronts: a key
    set both inside and outside ``params`` raises, never one silently winning)."""
    params = dict(config)
    nested = params.pop("params", None)
    if nested is None:
        return params
    if not isinstance(nested, Mapping):
        raise ConfigError(f"{where}['params'] must be a dict, got {nested!r}")
    clash = sorted(set(nested) & set(params))
    if clash:
        raise ConfigError(f"{where} sets {clash} both inside and outside 'params'")
    params.update(nested)
    return params


def refuse_bm25_extras(function: Any, params_hint: str) -> None:
    """A BM25 function's settings that milvus-rag cannot honour raise ConfigError (both
    fronts): text match, several analyzers, function parameters (``params_hint``: where
    this front takes BM25's k1 / b instead)."""
    if getattr(function, "enable_match", False):
        raise ConfigError(
            "enable_match (text match, TEXT_MATCH) has no counterpart: filter with "
            "milvus-rag's {'key': {'$contains': ...}} or a raw expression instead"
        )
    if getattr(function, "multi_analyzer_params", None) is not None:
        raise ConfigError(
            "multi_analyzer_params has no counterpart (one analyzer per collection): pass one "
            "analyzer as analyzer_params"
        )
    if getattr(function, "params", None):
        raise ConfigError(f"a BM25 function's params have no counterpart: {params_hint}")


def sparse_rows(value: Any, n: int, where: str) -> list[dict[int, float]]:
    """A client-side sparse encoder's output for ``n`` texts as ``n`` ``{index: weight}``
    dicts (both fronts): a sequence of dicts (or of one-row sparse matrices), or one scipy /
    pymilvus sparse matrix of ``n`` rows. :class:`InvalidInputError` naming ``where`` when
    it is anything else or has another number of rows.

    Example:
        >>> sparse_rows([{3: 0.5}, {1: 1}], 2, "encode_documents")
        [{3: 0.5}, {1: 1.0}]
    """
    if hasattr(value, "tocsr") and hasattr(value, "shape"):  # one matrix, a row per text
        csr = value.tocsr()
        rows: list[Any] = [csr.getrow(i) for i in range(csr.shape[0])]
    elif isinstance(value, Mapping | str | bytes):
        raise InvalidInputError(
            f"{where} must return one sparse vector per text (a list), got {type(value).__name__}"
        )
    else:
        try:
            rows = list(value)
        except TypeError:
            raise InvalidInputError(
                f"{where} must return a list of sparse vectors ({{index: weight}} dicts), got "
                f"{type(value).__name__}"
            ) from None
    if len(rows) != n:
        raise InvalidInputError(f"{where} returned {len(rows)} sparse vectors for {n} texts")
    return [check_sparse_vector(r, f"{where} sparse vector") for r in rows]


def pop_tenancy(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Pop ``tenant=`` / ``all_tenants=`` from a call's keywords, for the core store; a
    ``None`` is popped too and means "not given" (the store's own tenant)."""
    out: dict[str, Any] = {}
    for name in TENANT_OPTIONS:
        value = kwargs.pop(name, None)
        if value is not None:
            out[name] = value
    return out


def core_store(
    store: AsyncMilvusStore | MilvusStore | None,
    *,
    settings_given: bool,
    build: Callable[[], AsyncMilvusStore],
    tenant: str | None = None,
) -> AsyncMilvusStore:
    """The core store of a front: ``store`` (a sync one unwrapped) or, without it, ``build()``
    from the connection settings; both given raises. Bound to ``tenant`` when given (every
    call defaults to it; a call's ``tenant=`` wins)."""
    if store is not None:
        if settings_given:
            raise ConfigError(
                "pass either store= or connection / collection settings (uri, token, "
                "collection_name, dim, options), not both"
            )
        core = store.aio if isinstance(store, MilvusStore) else store
        if not isinstance(core, AsyncMilvusStore):
            raise ConfigError(
                f"store must be a MilvusStore or AsyncMilvusStore, got {type(store).__name__}"
            )
    else:
        core = build()
    return core.for_tenant(tenant) if tenant is not None else core


class FirstUse:
    """A store's first-use step (``drop_old`` / ``overwrite``, then adopting an existing
    collection or settling a new one), run by one coroutine at a time per event loop.

    ``drop`` runs once, before anything else; ``settle`` until it returns True (a read
    before any collection exists may leave it for the first write).
    """

    def __init__(self, *, drop: bool) -> None:
        self.drop_pending = drop
        self.settled = False
        self._locks: PerLoop[asyncio.Lock] = PerLoop(asyncio.Lock)

    def lock(self) -> asyncio.Lock:
        """This event loop's lock of the step."""
        return self._locks.get()

    @property
    def ready(self) -> bool:
        """Whether the step is done (nothing left to :meth:`run`)."""
        return self.settled and not self.drop_pending

    async def run(
        self,
        drop: Callable[[], Awaitable[Any]],
        settle: Callable[[], Awaitable[bool]],
    ) -> bool:
        """Drop (once, if pending), then settle (until done); True once settled."""
        if self.ready:
            return True
        async with self.lock():
            if self.drop_pending:
                await drop()
                self.drop_pending = False
            if not self.settled:
                self.settled = await settle()
            return self.settled


# --- several vector fields ----------------------------------------------------------------


def field_weights(weights: Any, fields: Sequence[str]) -> dict[str, float] | None:
    """A search's ``weights=`` by field name: a list (one per field, in the order of
    ``fields``) or a dict naming each field once; ``None`` stays (equal weights, or RRF).

    >>> field_weights([0.7, 0.3], ["title", "sparse"])
    {'title': 0.7, 'sparse': 0.3}
    """
    if weights is None:
        return None
    if isinstance(weights, Mapping):
        unknown = sorted(set(weights) - set(fields))
        missing = [f for f in fields if f not in weights]
        if unknown or missing:
            raise ConfigError(
                f"weights {dict(weights)!r} must name each searched field {list(fields)} once"
                + (f" (not searched: {unknown})" if unknown else "")
            )
        return {f: weights[f] for f in fields}
    if isinstance(weights, str) or not isinstance(weights, Sequence):
        raise ConfigError(f"weights must be a list (one per field) or a dict, got {weights!r}")
    if len(weights) != len(fields):
        raise ConfigError(
            f"{len(weights)} weights for the fields {list(fields)}: pass one per field, in order"
        )
    return dict(zip(fields, weights, strict=True))


def field_legs(
    fields: Sequence[VectorField],
    weights: Mapping[str, float] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Leg, ...]:
    """The legs of a search over ``fields``, without their queries (the BM25 leg takes the
    request's text, the primary dense leg its vector, the others :func:`with_leg_queries`);
    ``weights`` / ``params`` by field name."""
    weights, params = weights or {}, params or {}
    return tuple(
        Leg(f.name, weight=weights.get(f.name), search_params=params.get(f.name) or None)
        for f in fields
    )


def with_leg_queries(request: SearchRequest, queries: Mapping[str, Any]) -> SearchRequest:
    """``request`` (prepared or not) with its legs' queries from ``queries`` (by field
    name; a leg not named keeps its own)."""
    if request.legs is None or not queries:
        return request
    legs = tuple(
        dataclasses.replace(leg, query=queries[leg.field]) if leg.field in queries else leg
        for leg in request.legs
    )
    return dataclasses.replace(request, legs=legs)


def check_field_embedders(
    cfg: CollectionConfig, names: Sequence[str], *, primary: bool, where: str
) -> None:
    """``names`` (the fields a front has embedders for, the primary dense one's given as
    ``primary``) against ``cfg``: each client-side field has one, no other field has one."""
    client = {f.name for f in cfg.client_fields}
    owned = {*names, *([cfg.vector_field] if primary and cfg.enable_dense else [])}
    wrong = sorted(set(names) - client)
    if wrong:
        bm25 = [n for n in wrong if cfg.enable_bm25 and n == cfg.sparse_field]
        raise ConfigError(
            f"{where} names {wrong}, not a client-side vector field of collection "
            f"{cfg.name!r} {sorted(client)}"
            + (" (the BM25 field is Milvus's to fill)" if bm25 else "")
        )
    missing = sorted(client - owned)
    if missing:
        raise ConfigError(
            f"vector field(s) {missing} of collection {cfg.name!r} have no embedder: "
            f"give each one in {where}"
        )
