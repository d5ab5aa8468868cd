"""Executing a :class:`~milvus_rag.client.request.SearchRequest`: one vector field or several
fused (server-side RRF with ``hybrid_search``, client-side RRF or weighted fusion), grouped,
many at once, fan-out and MMR.

A search's legs (the fields searched, each with its query and parameters) are resolved by
:func:`~milvus_rag.client.legs.plan_legs`; the modes are shorthands over the default fields.
One leg is a plain search of its field. Two or more are fused: RRF on the server
(``hybrid_search`` with one ``AnnSearchRequest`` per leg and ``RRFRanker``) where it can,
client-side where it cannot (a filter with a client-side residual, see
:mod:`milvus_rag.client.residual`) or where the request asks (``fusion="client"``), with
the same rows either way; weighted fusion is always client-side (Milvus's
``WeightedRanker`` scored below either leg, see DESIGN.md).

:class:`Searcher` is a component of the store, given a narrow :class:`SearchPort` (run a
backend call, ensure the collection, take a read slot, count rows); it knows nothing else
of the store. It reads each execution default in one place (:meth:`Searcher._plan`).

Example:
    >>> # searcher = Searcher(port, target)       (AsyncMilvusStore builds its own)
    >>> # hits = await searcher.search(searcher.prepare(SearchRequest(text="q", vector=v)))
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from pymilvus import AnnSearchRequest, RRFRanker

from milvus_rag.client import rows, wire
from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import BackendError, ConfigError
from milvus_rag.client.errors import is_empty_collection as _is_empty_collection
from milvus_rag.client.filters import filter_key
from milvus_rag.client.fusion import mmr_select
from milvus_rag.client.grouping import Grouping, deepen_groups
from milvus_rag.client.legs import LegPlan, LegsPlan, check_legs, plan_legs, vector_fields_by_name
from milvus_rag.client.records import Hit
from milvus_rag.client.request import SearchRequest, Target, check_k
from milvus_rag.client.residual import deepen
from milvus_rag.client.schema import CollectionInfo
from milvus_rag.client.tenancy import Scope
from milvus_rag.client.vector_fields import VectorField

Call = Callable[[str, Callable[[Any], Awaitable[Any]], float | None], Awaitable[Any]]
_SCOPES = 256
"""Compiled scopes a searcher keeps (then it starts again)."""


@dataclass(frozen=True)
class SearchPort:
    """What searching needs from the store, and nothing more.

    ``call(operation, fn, timeout)`` runs ``fn(client)`` with retries and error mapping,
    each try within ``timeout`` seconds;
    ``ensure()`` returns the collection's description (creating / loading it);
    ``read_slot()`` bounds backend requests in flight; ``count()`` counts every row;
    ``config()`` the collection's current settings; ``timeout`` the connection's default;
    ``scope(filter, tenant, all_tenants)`` the tenant clause + filter expression and the
    client-side residual of one call (the store's single scoping function);
    ``schema_read()`` whether the collection's fields are known yet.
    """

    name: str
    config: Callable[[], CollectionConfig]
    call: Call
    ensure: Callable[[], Awaitable[CollectionInfo]]
    read_slot: Callable[[], AbstractAsyncContextManager[Any]]
    count: Callable[[], Awaitable[int]]
    timeout: float | None
    scope: Callable[[Any, str | None, bool], Scope]
    #: whether the store has read the collection's schema (or knows there is none yet):
    #: before, a leg may name a field the config does not (see ``legs.check_legs``)
    schema_read: Callable[[], bool] = lambda: True
    #: the collection's description when ``ensure()`` has nothing to do (no I/O: cached,
    #: adopted and checked), else ``None``: a search then skips awaiting ``ensure()``
    known: Callable[[], CollectionInfo | None] = lambda: None


class _Plan(NamedTuple):
    """A request's execution settings, defaults resolved, and its legs (a named tuple: one
    is built per search)."""

    candidates: int
    rrf_k: int
    kwargs: dict[str, Any]  # consistency_level (and a grouping search's)
    legs: LegsPlan
    #: each backend request's deadline, enforced by the store's call (``calls.within``):
    #: pymilvus given a ``timeout=`` runs the request in an ``asyncio.wait_for`` task
    timeout: float | None = None


class Searcher:
    """Runs search requests against one collection through a :class:`SearchPort`."""

    def __init__(self, port: SearchPort, target: Target) -> None:
        self.port = port
        self.target = target
        # the scope (tenant clause + compiled filter) of each (filter, tenant) searched:
        # compiled once per store view (a view is rebuilt when its config changes)
        self._scopes: dict[Hashable, Scope] = {}
        # the config's vector fields by name, for the config (and BM25 flag) they are of
        self._fields: tuple[CollectionConfig, bool, dict[str, VectorField]] | None = None
        # the output fields of a search, by (with_vectors, relevance vectors), for a config
        self._outputs: tuple[CollectionConfig | None, dict[tuple[bool, bool], list[str]]]
        self._outputs = (None, {})

    def _vector_fields(self, cfg: CollectionConfig, has_bm25: bool) -> dict[str, VectorField]:
        seen = self._fields
        if seen is None or seen[0] is not cfg or seen[1] != has_bm25:
            seen = (cfg, has_bm25, vector_fields_by_name(cfg, has_bm25))
            self._fields = seen
        return seen[2]

    # --- preparing ----------------------------------------------------------------------

    def prepare(self, request: SearchRequest, *, own: bool = False) -> SearchRequest:
        """``request`` with its filter compiled for this backend, its range checked against
        the metric and its legs against the collection's vector fields (no I/O). A request
        prepared for this target passes as it is. ``own``: the caller built ``request`` for
        this search alone (see ``SearchRequest.compiled``)."""
        target = request.target
        if target is not None and (target is self.target or target == self.target):
            return request
        if request.legs is not None or request.radius is not None:
            cfg = self.port.config()
            seen = self._fields  # the BM25 flag of the schema, once a search has read it
            has_bm25 = seen[1] if seen is not None and seen[0] is cfg else cfg.enable_bm25
            check_legs(request, cfg, self._vector_fields(cfg, has_bm25), self.port.schema_read())
        return request.compiled(self.target, self._scope(request), own=own)

    def _scope(self, r: SearchRequest) -> Scope:
        fkey = filter_key(r.filter)
        if fkey is None:
            return self.port.scope(r.filter, r.tenant, r.all_tenants)
        key = (fkey, r.tenant, r.all_tenants)
        sc = self._scopes.get(key)
        if sc is None:
            sc = self.port.scope(r.filter, r.tenant, r.all_tenants)
            if len(self._scopes) >= _SCOPES:
                self._scopes.clear()
            self._scopes[key] = sc
        return sc

    def _plan(self, r: SearchRequest, legs: LegsPlan, cfg: CollectionConfig | None = None) -> _Plan:
        cfg = cfg or self.port.config()
        kwargs: dict[str, Any] = {}
        if r.consistency_level is not None:
            kwargs["consistency_level"] = r.consistency_level
        return _Plan(
            candidates=max(r.k, r.candidates or cfg.hybrid_candidates),
            rrf_k=r.rrf_k or cfg.rrf_k,
            kwargs=kwargs,
            legs=legs,
            timeout=self.port.timeout if r.timeout is None else r.timeout,
        )

    # --- one search -------------------------------------------------------------------

    async def search(
        self, request: SearchRequest, *, own: bool = False, known: CollectionInfo | None = None
    ) -> list[Hit]:
        """Top ``k`` hits of a request, best first (prepared here if it is not yet;
        ``own``: see :meth:`prepare`; ``known``: what ``port.known()`` just returned)."""
        r = self.prepare(request, own=own)
        # the config now has every dim
        info = known or self.port.known() or await self.port.ensure()
        cfg = self.port.config()
        plan = self._plan(r, plan_legs(r, cfg, self._vector_fields(cfg, info.has_bm25)), cfg)
        try:
            if r.grouping is not None:
                return await self._grouped(r, plan, r.grouping)
            return await self._execute(r, plan)
        except BackendError as e:
            # Milvus Lite 2.5 fails BM25 on an empty collection ("Invalid sparse row: NaN")
            # and vector reads on one never written to: an empty collection has no hits.
            if _is_empty_collection(e) and await self.port.count() == 0:
                return []
            raise

    # _execute and _run pick the coroutine that runs a search and hand it back (no frame
    # of their own: a search's result comes back through every frame that awaits it)

    def _execute(self, r: SearchRequest, plan: _Plan) -> Awaitable[list[Hit]]:
        if r.scope is not None and r.scope.residual is not None:
            return self._run_residual(r, plan, r.scope)
        return self._run(r, plan)

    # --- grouped search -------------------------------------------------------------------

    def _group_column(self, g: Grouping) -> str | None:
        """The column a grouping reads, or ``None`` for a metadata key; refuses ``doc_id``
        on a collection without that column."""
        cfg = self.port.config()
        if g.field == "doc_id":
            if cfg.doc_id_field is None:
                raise ConfigError(
                    f"collection {self.port.name!r} has no doc_id field: group_by a metadata "
                    "key that names the source document (e.g. group_by='source')"
                )
            return cfg.doc_id_field
        if g.field in (cfg.id_field, cfg.tenant_field):
            return g.field
        scalar = {f.name for f in cfg.typed_fields if not f.array}
        return g.field if g.field in scalar else None

    def _server_groups(self, r: SearchRequest, plan: _Plan, g: Grouping) -> str | None:
        """The column Milvus groups by on the server for this request, or ``None`` to group
        client-side. Measured (pymilvus 3.0): Milvus Lite 2.5 and Lite 3 both accept
        ``group_by_field`` on a scalar column in search and hybrid_search; Lite 2.5 ignores
        ``group_size`` (one hit per group) and Lite 3 fills groups of more than one chunk
        only partly (or, strict, drops earlier groups), and neither groups by a JSON key.
        Server-side: one chunk per group, one leg (a dense field or BM25), a column, no
        range and no client-side filter residual; fused legs fuse chunks first, then group
        (client-side: Lite 2.5's grouped hybrid_search differed from fuse-then-group on 5 of
        5 queries, the Lite 3 server's on none)."""
        column = self._group_column(g)
        legs = plan.legs.legs
        if (
            column is None
            or g.size != 1
            or len(legs) != 1
            or legs[0].kind == "sparse"
            or r.radius is not None
            or (r.scope is not None and r.scope.residual is not None)
        ):
            return None
        return column

    async def _grouped(self, r: SearchRequest, plan: _Plan, g: Grouping) -> list[Hit]:
        column = self._server_groups(r, plan, g)
        if column is not None:
            grouped = {**plan.kwargs, "group_by_field": column, "group_size": 1}
            return await self._run(r, plan._replace(kwargs=grouped))

        async def fetch(n: int) -> list[Hit]:
            return await self._execute(
                r.ungrouped(n), plan._replace(candidates=max(n, plan.candidates))
            )

        return await deepen_groups(fetch, g, r.k, start=max(4 * r.k * g.size, 16))

    def _run(self, r: SearchRequest, plan: _Plan) -> Awaitable[list[Hit]]:
        # each backend request takes its own read slot (see _leg_hits)
        legs = plan.legs.legs
        if len(legs) == 1:
            return self._leg_hits(r, legs[0], r.k, plan)
        if r.ranker == "rrf" and r.fusion == "auto":
            return self._hybrid_rrf(r, plan)
        return self._client_fused(r, plan)

    async def _client_fused(self, r: SearchRequest, plan: _Plan) -> list[Hit]:
        """Every leg searched (concurrently), fused client-side."""
        hits = await asyncio.gather(
            *(self._leg_hits(r, leg, plan.candidates, plan) for leg in plan.legs.legs)
        )
        return self._fuse(r, plan, list(hits))

    def _fuse(self, r: SearchRequest, plan: _Plan, hits: list[list[Hit]]) -> list[Hit]:
        """Client-side fusion of the legs' hits (RRF as the server's, or weighted)."""
        legs = plan.legs.legs
        prefer = next((i for i, leg in enumerate(legs) if leg.primary), 0)
        if r.ranker == "weighted":
            weights = [leg.weight for leg in legs]
            return rows.fused_hits(
                hits, r.k, weights=weights, relevance=r.fetches_vectors, prefer=prefer
            )
        return rows.fused_hits(
            hits, r.k, rrf_k=plan.rrf_k, relevance=r.fetches_vectors, prefer=prefer
        )

    async def _run_residual(self, r: SearchRequest, plan: _Plan, sc: Scope) -> list[Hit]:
        """A filter with a client-side part (NOT / EXISTS on Milvus Lite 2.5): each leg is
        fetched deeper until enough hits pass (see ``residual.deepen``); several legs are
        fused client-side over the passing hits, as the server fuses exactly filtered legs."""

        def leg(one: LegPlan, want: int) -> Awaitable[list[Hit]]:
            return deepen(
                lambda n: self._leg_hits(r, one, n, plan), want, sc.admits, start=max(2 * want, 16)
            )

        legs = plan.legs.legs
        if len(legs) == 1:
            return await leg(legs[0], r.k)
        hits = await asyncio.gather(*(leg(one, plan.candidates) for one in legs))
        return self._fuse(r, plan, list(hits))

    def _output(
        self, cfg: CollectionConfig, r: SearchRequest, relevance_vectors: bool
    ) -> list[str]:
        """The fields a search returns: the vectors when asked for, and the primary dense
        vector where the hits' relevance is computed from it (see ``fusion``); kept per
        config (a new list each call: the caller's to keep)."""
        key = (r.with_vectors, relevance_vectors and r.fetches_vectors)
        seen = self._outputs
        if seen[0] is not cfg:
            seen = self._outputs = (cfg, {})
        out = seen[1].get(key)
        if out is None:
            out = rows.output_fields(cfg, r.with_vectors)
            if key[1] and cfg.vector_field not in out:
                out = [*out, cfg.vector_field]
            seen[1][key] = out
        return list(out)

    async def _leg_hits(self, r: SearchRequest, leg: LegPlan, k: int, plan: _Plan) -> list[Hit]:
        """The top ``k`` hits of one leg (one backend search, in its own read slot)."""
        cfg = self.port.config()
        output = self._output(cfg, r, leg.relevance == "vectors")
        async with self.port.read_slot():
            res = await self.port.call(
                "search",
                lambda c: wire.search(
                    c,
                    self.port.name,
                    data=[leg.query],
                    anns_field=leg.field.name,
                    limit=k,
                    filter=r.expr or "",
                    output_fields=output,
                    search_params=leg.param,
                    arrays=True,
                    **plan.kwargs,
                ),
                plan.timeout,
            )
        return rows.field_hits(
            cfg,
            res,
            kind=leg.kind,
            metric=leg.field.metric,
            relevance=leg.relevance,
            query=plan.legs.primary_query,
            keep_vectors=r.with_vectors,
        )

    async def _hybrid_rrf(self, r: SearchRequest, plan: _Plan) -> list[Hit]:
        """Server-side RRF: one ``hybrid_search`` with a request per leg."""
        cfg = self.port.config()
        reqs = [
            AnnSearchRequest(
                data=[leg.query],
                anns_field=leg.field.name,
                param=leg.param,
                limit=plan.candidates,
                expr=r.expr or None,
            )
            for leg in plan.legs.legs
        ]
        # vectors only when relevance is computed from them (see fusion)
        output = self._output(cfg, r, plan.legs.primary_query is not None)
        async with self.port.read_slot():
            res = await self.port.call(
                "hybrid_search",
                lambda c: wire.hybrid_search(
                    c,
                    self.port.name,
                    reqs,
                    RRFRanker(plan.rrf_k),
                    limit=r.k,
                    output_fields=output,
                    arrays=True,
                    **plan.kwargs,
                ),
                plan.timeout,
            )
        return rows.rrf_hits(cfg, res, plan.legs.primary_query, r.with_vectors)

    # --- many -------------------------------------------------------------------------

    async def search_many(self, requests: Sequence[SearchRequest]) -> list[list[Hit]]:
        """Run many searches concurrently (at most ``read_concurrency`` in flight)."""
        prepared = [self.prepare(r) for r in requests]  # every one valid before any I/O
        tasks: list[asyncio.Task[list[Hit]]] = []
        try:
            for i, r in enumerate(prepared):
                if i and i % 16 == 0:
                    await asyncio.sleep(0)  # start tasks in slices: no long loop step
                tasks.append(asyncio.ensure_future(self.search(r)))
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            raise

    async def fanout(
        self, requests: Sequence[SearchRequest], k: int, rrf_k: int | None
    ) -> list[Hit]:
        """The searches fused client-side by RRF (constant ``rrf_k``, default the
        collection's); ``relevance`` is the fused score over its maximum."""
        check_k(k)
        if rrf_k is not None:
            check_k(rrf_k, "rrf_k")
        if not requests:
            return []
        results = await self.search_many(requests)
        return rows.fanout_hits(results, k, rrf_k or self.port.config().rrf_k)

    async def mmr(self, request: SearchRequest, k: int, lambda_mult: float) -> list[Hit]:
        """Maximal marginal relevance: ``k`` of the dense candidates of ``request`` (which
        fetches them, with vectors)."""
        check_k(k)
        if not 0.0 <= lambda_mult <= 1.0:
            raise ConfigError("lambda_mult must be in [0, 1]")
        hits = await self.search(request)
        if not hits:
            return []
        cands = np.asarray([h.record.vector for h in hits], dtype=np.float32)
        query = np.asarray(request.vector, dtype=np.float32)
        return [hits[i] for i in mmr_select(query, cands, k, lambda_mult)]
