"""The search methods of :class:`~milvus_rag.client.AsyncMilvusStore`: one search (by a
:class:`SearchRequest` or its fields as arguments), expansion of hits to their context, many
searches, fan-out and MMR. A mixin over the store's :class:`~milvus_rag.client.search.Searcher`
(which executes every search) and its data calls; the store itself is the one async
implementation, :mod:`milvus_rag.client.sync` its bridge.

Example:
    >>> # hits = await store.search("what is bm25", k=5)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import ConfigError
from milvus_rag.client.expansion import Expanded, expand_hit
from milvus_rag.client.reads import QUERY_WINDOW
from milvus_rag.client.records import Hit, Record
from milvus_rag.client.request import (
    DEFAULT_K,
    Leg,
    Ranker,
    RetrievalMode,
    SearchRequest,
    check_k,
    check_legs,
)
from milvus_rag.client.schema import CollectionInfo
from milvus_rag.client.search import Searcher

__all__ = ["SearchAccess"]


class SearchAccess:
    """The store's search methods (a mixin of :class:`~milvus_rag.client.AsyncMilvusStore`).

    Example:
        >>> # await store.search(SearchRequest(text="q", k=3))
    """

    _searcher: Searcher
    config: CollectionConfig
    if TYPE_CHECKING:  # the store's own
        _ready: Callable[[], Awaitable[None]]
        _known: Callable[[], CollectionInfo | None]
        query: Callable[..., Awaitable[list[Record]]]

    def prepare(self, request: SearchRequest) -> SearchRequest:
        """``request`` ready for this store: its filter compiled for the backend, its range
        checked against the metric (no I/O). Validate a search before embedding its query."""
        return self._searcher.prepare(request)

    async def search(
        self,
        text: str | SearchRequest | None = None,
        vector: Sequence[float] | np.ndarray | None = None,
        *,
        k: int = DEFAULT_K,
        mode: RetrievalMode | str | None = None,
        filter: Any = None,
        ranker: Ranker | None = None,
        alpha: float | None = None,
        candidates: int | None = None,
        with_vectors: bool = False,
        relevance: bool = False,
        rrf_k: int | None = None,
        search_params: dict[str, Any] | None = None,
        radius: float | None = None,
        range_filter: float | None = None,
        consistency_level: str | None = None,
        timeout: float | None = None,
        tenant: str | None = None,
        all_tenants: bool = False,
        group_by: str | bool | None = None,
        group_size: int | None = None,
        strict_group_size: bool = False,
        legs: Sequence[Leg] | None = None,
    ) -> list[Hit]:
        """Top ``k`` hits, best first: ``search(SearchRequest(...))``, or the request's fields
        as arguments (see :class:`SearchRequest`). HYBRID (the default mode) fuses by RRF
        server-side, or with ``ranker="weighted"`` (default when ``alpha`` is given) by
        ``alpha * dense + (1 - alpha) * bm25`` over min-max-normalised scores of both legs,
        client-side. ``legs=[Leg(field, query), ...]`` searches those vector fields instead
        of a mode's (one leg: that field alone; several: fused the same ways).
        ``relevance=True``: compute each hybrid hit's ``relevance`` (from its stored vector,
        fetched for it); dense and BM25-only hits always have theirs.
        ``group_by`` (``True``: ``doc_id``) returns ``k`` groups of ``group_size`` chunks."""
        if isinstance(text, SearchRequest):
            rest = (vector, filter, ranker, alpha, candidates, rrf_k, search_params, radius)
            if (
                k != DEFAULT_K
                or mode is not None
                or legs is not None
                or with_vectors
                or relevance
                or all_tenants
                or strict_group_size
                or group_by is not None
                or group_size is not None
                or any(
                    x is not None for x in (*rest, range_filter, consistency_level, timeout, tenant)
                )
            ):
                raise ConfigError("pass a SearchRequest alone, or the search's arguments")
            await self._ready()
            return await self._searcher.search(text)
        request = SearchRequest._of(
            text=text,
            vector=vector,
            k=k,
            mode=mode,
            filter=filter,
            ranker=ranker,
            alpha=alpha,
            candidates=candidates,
            rrf_k=rrf_k,
            search_params=search_params,
            radius=radius,
            range_filter=range_filter,
            consistency_level=consistency_level,
            timeout=timeout,
            with_vectors=with_vectors,
            tenant=tenant,
            all_tenants=all_tenants,
            relevance=relevance,
            group_by=group_by,
            group_size=group_size,
            strict_group_size=strict_group_size,
            legs=None if legs is None else check_legs(legs),
        )
        known = self._known()
        if known is None:
            await self._ready()
        # else nothing to adopt or check (and no await before the searcher runs)
        return await self._searcher.search(request, own=True, known=known)

    async def expand(
        self,
        hits: Sequence[Hit],
        *,
        window: int | None = None,
        parent: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[Expanded]:
        """Each hit with its context, read from its document's chunks (the same ``doc_id``,
        of the call's tenant only): ``window=n`` chunks on each side, or ``parent=True`` the
        whole document; reassembled in order from the chunks' positions, overlaps removed
        (see :mod:`milvus_rag.client.expansion`). ``ConfigError`` where chunks carry no
        position or no ``doc_id``."""
        if parent == (window is not None) or not isinstance(parent, bool):
            raise ConfigError("expand: pass window=n (chunks on each side) or parent=True")
        if self.config.doc_id_field is None:
            raise ConfigError(
                f"collection {self.config.name!r} has no doc_id field: expansion reads the chunks "
                "that share a hit's doc_id"
            )
        tenant_field = self.config.tenant_field
        docs: dict[tuple[str | None, str], list[Record]] = {}
        out = []
        for h in hits:
            doc_id = h.record.doc_id
            if not doc_id:
                raise ConfigError(
                    f"cannot expand hit {h.id!r}: it has no doc_id (its document is unknown)"
                )
            owner = tenant
            if all_tenants and tenant_field is not None:  # the hit's own tenant, only
                owner, all_ = h.record.metadata.get(tenant_field), False
            else:
                all_ = all_tenants
            key = (owner, doc_id)
            if key not in docs:
                docs[key] = await self.query(
                    {"doc_id": doc_id}, limit=QUERY_WINDOW, tenant=owner, all_tenants=all_
                )
            out.append(expand_hit(h.record, docs[key], window=None if parent else window))
        return out

    async def search_many(
        self,
        requests: Sequence[SearchRequest],
        *,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[list[Hit]]:
        """Run many searches concurrently (at most ``read_concurrency`` in flight); every
        request is checked before the first is sent. ``tenant`` / ``all_tenants`` apply to
        the requests that name no tenant themselves."""
        scoped = [r.for_tenant(tenant, all_tenants) for r in requests]
        await self._ready()
        return await self._searcher.search_many(scoped)

    async def fanout_search(
        self,
        requests: Sequence[SearchRequest],
        *,
        k: int = DEFAULT_K,
        rrf_k: int | None = None,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[Hit]:
        """Several searches (e.g. rewrites of one question) run concurrently and fused
        client-side by RRF; ``relevance`` is the fused score over its maximum."""
        scoped = [r.for_tenant(tenant, all_tenants) for r in requests]
        await self._ready()
        return await self._searcher.fanout(scoped, k, rrf_k)

    async def mmr_search(
        self,
        vector: Sequence[float] | np.ndarray,
        *,
        k: int = DEFAULT_K,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
        search_params: dict[str, Any] | None = None,
        radius: float | None = None,
        range_filter: float | None = None,
        consistency_level: str | None = None,
        timeout: float | None = None,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[Hit]:
        """Maximal marginal relevance over the ``fetch_k`` nearest dense candidates."""
        check_k(k)
        check_k(fetch_k, "fetch_k")
        request = SearchRequest._of(
            vector=vector,
            k=max(k, fetch_k),
            mode=RetrievalMode.DENSE,
            filter=filter,
            search_params=search_params,
            radius=radius,
            range_filter=range_filter,
            consistency_level=consistency_level,
            timeout=timeout,
            with_vectors=True,
            tenant=tenant,
            all_tenants=all_tenants,
        )
        await self._ready()
        return await self._searcher.mmr(request, k, lambda_mult)
