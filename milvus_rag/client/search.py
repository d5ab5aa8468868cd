"""Executing a :class:`~milvus_rag.client.request.SearchRequest`: dense, BM25, hybrid
(server-side RRF or client-side weighted fusion), many at once, fan-out and MMR.

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
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from pymilvus import AnnSearchRequest, RRFRanker

from milvus_rag.client import rows
from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import BackendError, ConfigError, InvalidInputError
from milvus_rag.client.errors import is_empty_collection as _is_empty_collection
from milvus_rag.client.filters import filter_key
from milvus_rag.client.fusion import mmr_select
from milvus_rag.client.grouping import Grouping, deepen_groups
from milvus_rag.client.records import Hit
from milvus_rag.client.request import (
    RetrievalMode,
    SearchRequest,
    Target,
    check_k,
    check_range,
)
from milvus_rag.client.residual import deepen
from milvus_rag.client.schema import CollectionInfo
from milvus_rag.client.tenancy import Scope

Call = Callable[[str, Callable[[Any], Awaitable[Any]]], Awaitable[Any]]
_SCOPES = 256
"""Compiled scopes a searcher keeps (then it starts again)."""


@dataclass(frozen=True)
class SearchPort:
    """What searching needs from the store, and nothing more.

    ``call(operation, fn)`` runs ``fn(client)`` with retries and error mapping;
    ``ensure()`` returns the collection's description (creating / loading it);
    ``read_slot()`` bounds backend requests in flight; ``count()`` counts every row;
    ``config()`` the collection's current settings; ``timeout`` the connection's default;
    ``scope(filter, tenant, all_tenants)`` the tenant clause + filter expression and the
    client-side residual of one call (the store's single scoping function).
    """

    name: str
    config: Callable[[], CollectionConfig]
    call: Call
    ensure: Callable[[], Awaitable[CollectionInfo]]
    read_slot: Callable[[], AbstractAsyncContextManager[Any]]
    count: Callable[[], Awaitable[int]]
    timeout: float | None
    scope: Callable[[Any, str | None, bool], Scope]


@dataclass(frozen=True)
class _Plan:
    """A request's execution settings, defaults resolved."""

    candidates: int
    rrf_k: int
    dense_params: dict[str, Any]
    kwargs: dict[str, Any]  # timeout, consistency_level


class Searcher:
    """Runs search requests against one collection through a :class:`SearchPort`."""

    def __init__(self, port: SearchPort, target: Target) -> None:
        self.port = port
        self.target = target
        # the scope (tenant clause + compiled filter) of each (filter, tenant) searched:
        # compiled once per store view (a view is rebuilt when its config changes)
        self._scopes: dict[Hashable, Scope] = {}

    # --- preparing ----------------------------------------------------------------------

    def prepare(self, request: SearchRequest) -> SearchRequest:
        """``request`` with its filter compiled for this backend and its range checked
        against the metric (no I/O). A request prepared for this target passes as it is."""
        if request.target == self.target:
            return request
        t = self.target
        check_range(t.metric, request.radius, request.range_filter)
        return request.compiled(t, self._scope(request))

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

    def _plan(self, r: SearchRequest) -> _Plan:
        cfg = self.port.config()
        params = {**cfg.search_params, **(r.search_params or {})}
        if r.radius is not None:
            params["radius"] = r.radius
        if r.range_filter is not None:
            params["range_filter"] = r.range_filter
        kwargs: dict[str, Any] = {"timeout": self.port.timeout if r.timeout is None else r.timeout}
        if r.consistency_level is not None:
            kwargs["consistency_level"] = r.consistency_level
        return _Plan(
            candidates=max(r.k, r.candidates or cfg.hybrid_candidates),
            rrf_k=r.rrf_k or cfg.rrf_k,
            dense_params=params,
            kwargs=kwargs,
        )

    # --- one search -------------------------------------------------------------------

    async def search(self, request: SearchRequest) -> list[Hit]:
        """Top ``k`` hits of a prepared request, best first."""
        r = self.prepare(request)
        mode = RetrievalMode(r.mode)
        if r.needs_vector and r.vector is None:
            raise InvalidInputError(f"{mode.value} search needs a query vector")
        info = await self.port.ensure()
        if r.vector is not None and len(r.vector) != info.dim:
            raise InvalidInputError(
                f"query vector has dim {len(r.vector)}, the collection's is {info.dim}"
            )
        if mode is not RetrievalMode.DENSE and not info.has_bm25:
            raise ConfigError(f"collection {self.port.name!r} has no BM25 field: use mode='dense'")
        try:
            if r.grouping is not None:
                return await self._grouped(mode, r, r.grouping)
            return await self._execute(mode, r)
        except BackendError as e:
            # Milvus Lite 2.5 fails BM25 on an empty collection ("Invalid sparse row: NaN")
            # and vector reads on one never written to: an empty collection has no hits.
            if _is_empty_collection(e) and await self.port.count() == 0:
                return []
            raise

    async def _execute(self, mode: RetrievalMode, r: SearchRequest) -> list[Hit]:
        if r.scope is not None and r.scope.residual is not None:
            return await self._run_residual(mode, r, self._plan(r), r.scope)
        return await self._run(mode, r, self._plan(r))

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

    def _server_groups(self, mode: RetrievalMode, r: SearchRequest, g: Grouping) -> str | None:
        """The column Milvus groups by on the server for this request, or ``None`` to group
        client-side. Measured (pymilvus 3.0): Milvus Lite 2.5 and Lite 3 both accept
        ``group_by_field`` on a scalar column in search and hybrid_search; Lite 2.5 ignores
        ``group_size`` (one hit per group) and Lite 3 fills groups of more than one chunk
        only partly (or, strict, drops earlier groups), and neither groups by a JSON key.
        Server-side: one chunk per group, one leg (dense or BM25), a column, no range and no
        client-side filter residual; hybrid fuses chunks first, then groups (client-side:
        Lite 2.5's grouped hybrid_search differed from fuse-then-group on 5 of 5 queries,
        the Lite 3 server's on none)."""
        column = self._group_column(g)
        if (
            column is None
            or g.size != 1
            or mode is RetrievalMode.HYBRID
            or r.radius is not None
            or (r.scope is not None and r.scope.residual is not None)
        ):
            return None
        return column

    async def _grouped(self, mode: RetrievalMode, r: SearchRequest, g: Grouping) -> list[Hit]:
        column = self._server_groups(mode, r, g)
        if column is not None:
            plan = self._plan(r)
            grouped = {**plan.kwargs, "group_by_field": column, "group_size": 1}
            return await self._run(mode, r, replace(plan, kwargs=grouped))

        async def fetch(n: int) -> list[Hit]:
            return await self._execute(mode, r.ungrouped(n))

        return await deepen_groups(fetch, g, r.k, start=max(4 * r.k * g.size, 16))

    async def _run(self, mode: RetrievalMode, r: SearchRequest, plan: _Plan) -> list[Hit]:
        # each backend request takes its own read slot (see _leg)
        if mode is RetrievalMode.DENSE:
            return await self._dense(r, r.k, plan)
        if mode is RetrievalMode.SPARSE:
            return await self._sparse(r, r.k, plan)
        if r.ranker == "rrf":
            return await self._hybrid_rrf(r, plan)
        legs = await asyncio.gather(
            self._dense(r, plan.candidates, plan), self._sparse_leg(r, plan.candidates, plan)
        )
        return self._weighted(r, legs[0], legs[1])

    def _weighted(self, r: SearchRequest, dense: list[Hit], sparse: list[Hit]) -> list[Hit]:
        alpha = 0.5 if r.alpha is None else r.alpha
        return rows.weighted_hits(dense, sparse, alpha, r.k, r.fetches_vectors)

    async def _run_residual(
        self, mode: RetrievalMode, r: SearchRequest, plan: _Plan, sc: Scope
    ) -> list[Hit]:
        """A filter with a client-side part (NOT / EXISTS on Milvus Lite 2.5): each leg is
        fetched deeper until enough hits pass (see ``residual.deepen``); hybrid legs are
        fused client-side over the passing hits, as the server fuses exactly filtered legs."""

        def leg(fetch: Callable[..., Awaitable[list[Hit]]], want: int) -> Awaitable[list[Hit]]:
            return deepen(lambda n: fetch(r, n, plan), want, sc.admits, start=max(2 * want, 16))

        if mode is RetrievalMode.DENSE:
            return await leg(self._dense, r.k)
        if mode is RetrievalMode.SPARSE:
            return await leg(self._sparse, r.k)
        dense, sparse = await asyncio.gather(
            leg(self._dense, plan.candidates), leg(self._sparse_leg, plan.candidates)
        )
        if r.ranker == "rrf":
            return rows.rrf_fused_hits(dense, sparse, r.k, plan.rrf_k, r.fetches_vectors)
        return self._weighted(r, dense, sparse)

    async def _leg(
        self,
        field: str,
        data: Any,
        param: dict[str, Any],
        k: int,
        r: SearchRequest,
        plan: _Plan,
        vectors: bool = False,
    ) -> Any:
        cfg = self.port.config()
        async with self.port.read_slot():
            return await self.port.call(
                "search",
                lambda c: c.search(
                    self.port.name,
                    data=[data],
                    anns_field=field,
                    limit=k,
                    filter=r.expr or "",
                    output_fields=rows.output_fields(cfg, r.with_vectors or vectors),
                    search_params=param,
                    **plan.kwargs,
                ),
            )

    @staticmethod
    def _dense_param(cfg: CollectionConfig, plan: _Plan) -> dict[str, Any]:
        param: dict[str, Any] = {"metric_type": cfg.metric}
        if plan.dense_params:
            param["params"] = plan.dense_params
        return param

    async def _dense(self, r: SearchRequest, k: int, plan: _Plan) -> list[Hit]:
        cfg = self.port.config()
        param = self._dense_param(cfg, plan)
        res = await self._leg(cfg.vector_field, r.vector, param, k, r, plan, r.with_vectors)
        return rows.dense_hits(cfg, res, r.with_vectors)

    async def _sparse(self, r: SearchRequest, k: int, plan: _Plan) -> list[Hit]:
        cfg = self.port.config()
        res = await self._leg(
            cfg.sparse_field, r.text, {"metric_type": "BM25"}, k, r, plan, r.with_vectors
        )
        return rows.sparse_hits(cfg, res, r.with_vectors)

    async def _sparse_leg(self, r: SearchRequest, k: int, plan: _Plan) -> list[Hit]:
        """The BM25 leg of a client-side fusion: with the hits' vectors when the request
        computes relevance (a fused hit's relevance is its dense one, see ``fusion``)."""
        cfg = self.port.config()
        vectors = r.fetches_vectors
        res = await self._leg(
            cfg.sparse_field, r.text, {"metric_type": "BM25"}, k, r, plan, vectors
        )
        return rows.leg_hits(cfg, res, r.vector, r.with_vectors)

    async def _hybrid_rrf(self, r: SearchRequest, plan: _Plan) -> list[Hit]:
        cfg = self.port.config()
        legs = (
            (r.vector, cfg.vector_field, self._dense_param(cfg, plan)),
            (r.text, cfg.sparse_field, {"metric_type": "BM25"}),
        )
        reqs = [
            AnnSearchRequest(
                data=[data], anns_field=f, param=p, limit=plan.candidates, expr=r.expr or None
            )
            for data, f, p in legs
        ]
        async with self.port.read_slot():
            res = await self.port.call(
                "hybrid_search",
                lambda c: c.hybrid_search(
                    self.port.name,
                    reqs,
                    RRFRanker(plan.rrf_k),
                    limit=r.k,
                    # vectors only when relevance is computed from them (see fusion)
                    output_fields=rows.output_fields(cfg, r.fetches_vectors),
                    **plan.kwargs,
                ),
            )
        return rows.rrf_hits(cfg, res, r.vector, r.with_vectors)

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
