"""Search methods of :class:`~milvus_rag.client.store.AsyncMilvusStore`: dense, BM25, hybrid
(server-side RRF or client-side weighted fusion), many at once, fan-out and MMR.

A mixin so that the store module stays about one idea (lifecycle, writes, reads by id); the
methods use the store's plumbing (``_call``, ``_read_sem``, ``ensure_collection``), declared
below for the type checker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from pymilvus import AnnSearchRequest, RRFRanker

from milvus_rag.client import rows
from milvus_rag.client.errors import BackendError, ConfigError, InvalidInputError
from milvus_rag.client.fusion import mmr_select
from milvus_rag.client.records import (
    Hit,
    Ranker,
    RetrievalMode,
    SearchRequest,
    check_alpha,
    check_k,
)

if TYPE_CHECKING:
    from milvus_rag.client.config import CollectionConfig
    from milvus_rag.client.schema import CollectionInfo


class SearchMixin:
    """The search half of ``AsyncMilvusStore`` (see there for the example)."""

    if TYPE_CHECKING:
        config: CollectionConfig

        @property
        def name(self) -> str: ...

        @property
        def _timeout(self) -> float | None: ...

        async def ensure_collection(self) -> CollectionInfo: ...

        def compile_filter(self, filter: Any) -> str | None: ...

        async def count(self, filter: Any = None) -> int: ...

        def _read_sem(self) -> asyncio.Semaphore: ...

        def _output_fields(self, with_vectors: bool) -> list[str]: ...

        async def _call(self, operation: str, fn: Callable[[Any], Awaitable[Any]]) -> Any: ...

    async def search(
        self,
        text: str | None = None,
        vector: Sequence[float] | np.ndarray | None = None,
        *,
        k: int = 4,
        mode: RetrievalMode | str = RetrievalMode.HYBRID,
        filter: Any = None,
        ranker: Ranker | None = None,
        alpha: float | None = None,
        candidates: int | None = None,
        with_vectors: bool = False,
    ) -> list[Hit]:
        """Top ``k`` hits, best first. DENSE needs ``vector``, SPARSE ``text``, HYBRID both.

        HYBRID fuses by RRF server-side (one ``hybrid_search``), or with ``ranker="weighted"``
        (default when ``alpha`` is given) by ``alpha * dense + (1 - alpha) * bm25`` over
        min-max-normalised scores of both legs.
        """
        m = RetrievalMode.parse(mode)
        check_k(k)
        alpha = check_alpha(alpha)
        rk: Ranker = ranker or ("weighted" if alpha is not None else "rrf")
        if rk not in ("rrf", "weighted"):
            raise ConfigError(f"ranker must be 'rrf' or 'weighted', got {ranker!r}")
        expr = self.compile_filter(filter)
        vec = self._check_query_vector(vector) if m is not RetrievalMode.SPARSE else None
        if m is not RetrievalMode.DENSE and (not isinstance(text, str) or not text.strip()):
            raise InvalidInputError(f"{m.value} search needs a non-empty query text")
        if m is RetrievalMode.DENSE and vec is None:
            raise InvalidInputError("dense search needs a query vector")
        info = await self.ensure_collection()
        if vec is not None and len(vec) != info.dim:
            raise InvalidInputError(
                f"query vector has dim {len(vec)}, the collection's is {info.dim}"
            )
        if m is not RetrievalMode.DENSE and not info.has_bm25:
            raise ConfigError(f"collection {self.name!r} has no BM25 field: use mode='dense'")
        n_cand = max(k, candidates or self.config.hybrid_candidates)
        try:
            return await self._search(m, rk, text, vec, k, n_cand, expr, alpha, with_vectors)
        except BackendError as e:
            # Milvus Lite 2.5 fails BM25 on an empty collection ("Invalid sparse row: NaN")
            # and vector reads on one never written to: an empty collection has no hits.
            if rows.is_empty_collection_error(e) and await self.count() == 0:
                return []
            raise

    async def _search(
        self,
        m: RetrievalMode,
        rk: Ranker,
        text: str | None,
        vec: Any,
        k: int,
        n_cand: int,
        expr: str | None,
        alpha: float | None,
        with_vectors: bool,
    ) -> list[Hit]:
        # each backend request takes its own read_concurrency slot (see _leg)
        if m is RetrievalMode.DENSE:
            return await self._dense(vec, k, expr, with_vectors)
        if m is RetrievalMode.SPARSE:
            return await self._sparse(str(text), k, expr, with_vectors)
        if rk == "rrf":
            return await self._hybrid_rrf(str(text), vec, k, n_cand, expr, with_vectors)
        # vectors come back with the hits: relevance is the dense one (see fusion)
        legs = await asyncio.gather(
            self._dense(vec, n_cand, expr, True),
            self._sparse(str(text), n_cand, expr, True),
        )
        a = 0.5 if alpha is None else alpha
        return rows.weighted_hits(legs[0], legs[1], a, k, vec, self.config.metric, with_vectors)

    def _check_query_vector(self, vector: Any) -> list[float] | None:
        if vector is None:
            return None
        arr = np.asarray(vector, dtype=np.float32)
        if arr.ndim != 1 or not np.isfinite(arr).all():
            raise InvalidInputError("query vector must be one finite vector")
        out: list[float] = arr.tolist()
        return out

    async def _leg(
        self, field: str, data: Any, metric: str, k: int, expr: str | None, with_vectors: bool
    ) -> Any:
        async with self._read_sem():
            return await self._call_search(field, data, metric, k, expr, with_vectors)

    async def _call_search(
        self, field: str, data: Any, metric: str, k: int, expr: str | None, with_vectors: bool
    ) -> Any:
        return await self._call(
            "search",
            lambda c: c.search(
                self.name,
                data=[data],
                anns_field=field,
                limit=k,
                filter=expr or "",
                output_fields=self._output_fields(with_vectors),
                search_params={"metric_type": metric},
                timeout=self._timeout,
            ),
        )

    async def _dense(self, vec: Any, k: int, expr: str | None, with_vectors: bool) -> list[Hit]:
        cfg = self.config
        res = await self._leg(cfg.vector_field, vec, cfg.metric, k, expr, with_vectors)
        return rows.dense_hits(cfg, res)

    async def _sparse(self, text: str, k: int, expr: str | None, with_vectors: bool) -> list[Hit]:
        res = await self._leg(self.config.sparse_field, text, "BM25", k, expr, with_vectors)
        return rows.sparse_hits(self.config, res)

    async def _hybrid_rrf(
        self, text: str, vec: Any, k: int, n_cand: int, expr: str | None, with_vectors: bool
    ) -> list[Hit]:
        cfg = self.config
        legs = ((vec, cfg.vector_field, cfg.metric), (text, cfg.sparse_field, "BM25"))
        reqs = [
            AnnSearchRequest(
                data=[data],
                anns_field=f,
                param={"metric_type": m},
                limit=n_cand,
                expr=expr or None,
            )
            for data, f, m in legs
        ]
        async with self._read_sem():  # vectors come back: relevance is the dense one
            res = await self._hybrid_call(reqs, k, True)
        return rows.rrf_hits(cfg, res, vec, with_vectors)

    async def _hybrid_call(self, reqs: list[AnnSearchRequest], k: int, with_vectors: bool) -> Any:
        cfg = self.config
        return await self._call(
            "hybrid_search",
            lambda c: c.hybrid_search(
                self.name,
                reqs,
                RRFRanker(cfg.rrf_k),
                limit=k,
                output_fields=self._output_fields(with_vectors),
                timeout=self._timeout,
            ),
        )

    async def search_many(self, requests: Sequence[SearchRequest]) -> list[list[Hit]]:
        """Run many searches concurrently (at most ``read_concurrency`` in flight)."""
        tasks: list[asyncio.Task[list[Hit]]] = []
        try:
            for i, r in enumerate(requests):
                if i and i % 16 == 0:
                    await asyncio.sleep(0)  # start tasks in slices: no long loop step
                tasks.append(
                    asyncio.ensure_future(
                        self.search(
                            r.text,
                            r.vector,
                            k=r.k,
                            mode=r.mode,
                            filter=r.filter,
                            ranker=r.ranker,
                            alpha=r.alpha,
                            candidates=r.candidates,
                        )
                    )
                )
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for t in tasks:
                t.cancel()
            raise

    async def fanout_search(
        self, requests: Sequence[SearchRequest], *, k: int = 4, rrf_k: int | None = None
    ) -> list[Hit]:
        """Several searches (e.g. rewrites of one question) run concurrently and fused
        client-side by RRF; ``relevance`` is the hit's best relevance in any of them."""
        check_k(k)
        if not requests:
            return []
        results = await self.search_many(requests)
        return rows.fanout_hits(results, k, rrf_k or self.config.rrf_k)

    async def mmr_search(
        self,
        vector: Sequence[float] | np.ndarray,
        *,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
    ) -> list[Hit]:
        """Maximal marginal relevance over the ``fetch_k`` nearest dense candidates."""
        check_k(k)
        check_k(fetch_k, "fetch_k")
        if not 0.0 <= lambda_mult <= 1.0:
            raise ConfigError("lambda_mult must be in [0, 1]")
        hits = await self.search(
            vector=vector,
            k=max(k, fetch_k),
            mode=RetrievalMode.DENSE,
            filter=filter,
            with_vectors=True,
        )
        if not hits:
            return []
        cands = np.asarray([h.record.vector for h in hits], dtype=np.float32)
        chosen = mmr_select(np.asarray(vector, dtype=np.float32), cands, k, lambda_mult)
        return [hits[i] for i in chosen]
