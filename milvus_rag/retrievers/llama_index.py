"""LlamaIndex retrievers over :class:`~milvus_rag.integrations.llama_index.MilvusVectorStore`:
hybrid (dense + BM25 in one request) and fan-out (several query strings fused by RRF).

Each has one async body (``_aretrieve``); ``_retrieve`` runs it on milvus-rag's background
event loop. Scores are :attr:`milvus_rag.client.Hit.relevance`, in [0, 1].

Example:
    >>> # retriever = HybridRetriever(store, embed_model=emb, similarity_top_k=5)
    >>> # nodes = await retriever.aretrieve("what is milvus?")
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from milvus_rag.client.errors import BackendError, ConfigError
from milvus_rag.client.records import SearchRequest, check_alpha, check_k
from milvus_rag.client.sync import run_sync

try:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.callbacks.base import CallbackManager
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle
    from llama_index.core.vector_stores.types import (
        MetadataFilters,
        VectorStoreQuery,
        VectorStoreQueryMode,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "milvus_rag.retrievers.llama_index needs llama-index-core: "
        'pip install "milvus-rag[llama-index]"'
    ) from exc

from milvus_rag.integrations.llama_index import MilvusVectorStore

__all__ = ["FanOutRetriever", "HybridRetriever"]

QueryGenerator = Callable[[str], Sequence[str] | Awaitable[Sequence[str]]]


async def _query_embedding(embed_model: BaseEmbedding, bundle: QueryBundle) -> list[float]:
    if bundle.embedding is not None:
        return list(bundle.embedding)
    strs = bundle.embedding_strs or [bundle.query_str]
    return list(await embed_model.aget_agg_embedding_from_queries(strs))


def _to_scored(result_nodes: Sequence[Any], scores: Sequence[float]) -> list[NodeWithScore]:
    return [NodeWithScore(node=n, score=s) for n, s in zip(result_nodes, scores, strict=True)]


class HybridRetriever(BaseRetriever):
    """Dense + BM25 retrieval in one request, fused by RRF, or weighted when ``alpha`` is
    given (``alpha`` on dense, ``1 - alpha`` on BM25, over normalised scores).

    Example:
        >>> # r = HybridRetriever(store, embed_model=emb, similarity_top_k=5, alpha=None)
        >>> # r.retrieve("question")
    """

    def __init__(
        self,
        vector_store: MilvusVectorStore,
        embed_model: BaseEmbedding,
        similarity_top_k: int = 4,
        alpha: float | None = None,
        filters: MetadataFilters | None = None,
        *,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if not isinstance(vector_store, MilvusVectorStore):
            raise ConfigError("vector_store must be a milvus_rag MilvusVectorStore")
        self.vector_store = vector_store
        self.embed_model = embed_model
        self.similarity_top_k = check_k(similarity_top_k, "similarity_top_k")
        self.alpha = check_alpha(alpha)
        self.filters = filters
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        vector = await _query_embedding(self.embed_model, query_bundle)
        result = await self.vector_store.aquery(
            VectorStoreQuery(
                query_embedding=vector,
                query_str=query_bundle.query_str,
                similarity_top_k=self.similarity_top_k,
                mode=VectorStoreQueryMode.HYBRID,
                alpha=self.alpha,
                filters=self.filters,
            )
        )
        return _to_scored(result.nodes or [], result.similarities or [])

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return run_sync(self._aretrieve(query_bundle))


class FanOutRetriever(BaseRetriever):
    """Several query strings searched concurrently and fused client-side by RRF.

    The strings are ``queries`` if given, else those ``query_generator`` (sync or async)
    makes from the question, with the question itself first when ``include_original``.
    Each is a hybrid search (or ``mode``) of ``per_query_top_k`` hits; the fused top
    ``similarity_top_k`` are returned, scored by their relevance (the best of each hit in
    any of its lists; see ``milvus_rag.client.fusion``).

    Example:
        >>> # r = FanOutRetriever(store, embed_model=emb, similarity_top_k=5,
        >>> #                     query_generator=lambda q: [q, q + " definition"])
    """

    def __init__(
        self,
        vector_store: MilvusVectorStore,
        embed_model: BaseEmbedding,
        similarity_top_k: int = 4,
        *,
        queries: Sequence[str] | None = None,
        query_generator: QueryGenerator | None = None,
        include_original: bool = True,
        mode: str = "hybrid",
        alpha: float | None = None,
        per_query_top_k: int | None = None,
        rrf_k: int | None = None,
        filters: MetadataFilters | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if not isinstance(vector_store, MilvusVectorStore):
            raise ConfigError("vector_store must be a milvus_rag MilvusVectorStore")
        if isinstance(queries, str):
            raise ConfigError("queries must be a list of strings, not one string")
        self.vector_store = vector_store
        self.embed_model = embed_model
        self.similarity_top_k = check_k(similarity_top_k, "similarity_top_k")
        self.queries = list(queries) if queries is not None else None
        self.query_generator = query_generator
        self.include_original = include_original
        self.mode = mode
        self.alpha = check_alpha(alpha)
        self.per_query_top_k = check_k(
            per_query_top_k or max(2 * similarity_top_k, 10), "per_query_top_k"
        )
        self.rrf_k = rrf_k
        self.filters = filters
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    async def query_strings(self, question: str) -> list[str]:
        """The distinct query strings searched for ``question``."""
        if self.queries is not None:
            generated: Sequence[str] = self.queries
        elif self.query_generator is not None:
            out = self.query_generator(question)
            generated = await out if inspect.isawaitable(out) else out
        else:
            generated = []
        strings = [question] if self.include_original or not generated else []
        strings.extend(str(q) for q in generated)
        return [q for q in dict.fromkeys(strings) if q.strip()]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        strings = await self.query_strings(query_bundle.query_str)
        if not strings:
            return []
        vectors = await asyncio.gather(*(self.embed_model.aget_query_embedding(q) for q in strings))
        flt = self.vector_store.build_filter(self.filters)
        requests = [
            SearchRequest(
                text=q,
                vector=v,
                k=self.per_query_top_k,
                mode=self.mode,
                filter=flt,
                alpha=self.alpha,
                ranker="weighted" if self.alpha is not None else "rrf",
            )
            for q, v in zip(strings, vectors, strict=True)
        ]
        try:
            hits = await self.vector_store.store.fanout_search(
                requests, k=self.similarity_top_k, rrf_k=self.rrf_k
            )
        except BackendError as e:
            if not await self.vector_store.empty_bm25_error(e):
                raise
            return []
        result = MilvusVectorStore.hits_to_result(hits)
        return _to_scored(result.nodes or [], result.similarities or [])

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return run_sync(self._aretrieve(query_bundle))
