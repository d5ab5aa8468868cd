"""LlamaIndex retrievers over :class:`~milvus_rag.integrations.llama_index.MilvusVectorStore`:
hybrid (dense + BM25 in one request) and fan-out (several query strings fused by RRF).

Each has one async body (``_aretrieve``); ``_retrieve`` runs it on milvus-rag's background
event loop. Scores are :attr:`milvus_rag.client.Hit.relevance`, in [0, 1].

Example:
    >>> # retriever = HybridRetriever(store, embed_model=emb, similarity_top_k=5)
    >>> # nodes = await retriever.aretrieve("what is milvus?")
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.fanout import fanout_queries, fanout_search, generate_queries
from milvus_rag.client.request import SearchRequest, check_alpha, check_k
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

from milvus_rag.integrations.llama_index.store import MilvusVectorStore

__all__ = ["FanOutRetriever", "HybridRetriever"]

QueryGenerator = Callable[[str], Sequence[str] | Awaitable[Sequence[str]]]


async def query_embedding(embed_model: BaseEmbedding, bundle: QueryBundle) -> list[float]:
    """The bundle's embedding, or the model's (aggregated over ``embedding_strs``)."""
    if bundle.embedding is not None:
        return list(bundle.embedding)
    strs = bundle.embedding_strs or [bundle.query_str]
    return list(await embed_model.aget_agg_embedding_from_queries(strs))


def _to_scored(result_nodes: Sequence[Any], scores: Sequence[float]) -> list[NodeWithScore]:
    return [NodeWithScore(node=n, score=s) for n, s in zip(result_nodes, scores, strict=True)]


class HybridRetriever(BaseRetriever):
    """Dense + BM25 retrieval in one request, fused by RRF, or weighted when ``alpha`` is
    given (``alpha`` on dense, ``1 - alpha`` on BM25, over normalised scores).
    ``vector_store_kwargs``: query keywords of the store (``search_params``, ``radius``,
    ``range_filter``, ``consistency_level``, ``timeout``).

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
        vector_store_kwargs: dict[str, Any] | None = None,
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
        self.vector_store_kwargs = dict(vector_store_kwargs or {})
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        vector = await query_embedding(self.embed_model, query_bundle)
        result = await self.vector_store.aquery(
            VectorStoreQuery(
                query_embedding=vector,
                query_str=query_bundle.query_str,
                similarity_top_k=self.similarity_top_k,
                mode=VectorStoreQueryMode.HYBRID,
                alpha=self.alpha,
                filters=self.filters,
            ),
            **self.vector_store_kwargs,
        )
        return _to_scored(result.nodes or [], result.similarities or [])

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return run_sync(self._aretrieve(query_bundle))


class FanOutRetriever(BaseRetriever):
    """Several query strings searched concurrently and fused client-side by RRF.

    The strings are the question itself (``include_original``), then ``queries``, then what
    ``query_generator`` (sync or async) makes of the question: the rule shared with
    LangChain, :func:`milvus_rag.client.fanout.fanout_queries`.
    Each is a hybrid search (or ``mode``) of ``per_query_top_k`` hits; the fused top
    ``similarity_top_k`` are returned, scored by their relevance (the best of each hit in
    any of its lists; see ``milvus_rag.client.fusion``). ``vector_store_kwargs``: options of
    each search (``search_params``, ``radius``, ``consistency_level``, ``timeout``...).

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
        vector_store_kwargs: dict[str, Any] | None = None,
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
        self.vector_store_kwargs = dict(vector_store_kwargs or {})
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    async def query_strings(self, question: str) -> list[str]:
        """The distinct query strings searched for ``question`` (the shared rule,
        :func:`milvus_rag.client.fanout.fanout_queries`)."""
        return fanout_queries(
            question,
            include_original=self.include_original,
            given=self.queries,
            generated=await generate_queries(self.query_generator, question),
        )

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        strings = await self.query_strings(query_bundle.query_str)
        template = SearchRequest(
            text=strings[0],
            k=self.per_query_top_k,
            mode=self.mode,
            filter=self.vector_store.build_filter(self.filters),
            alpha=self.alpha,
            relevance=True,  # the nodes' scores
            **self.vector_store_kwargs,
        )
        hits = await fanout_search(
            await self.vector_store.aready(),
            template,
            strings,
            self.embed_model.aget_query_embedding,
            k=self.similarity_top_k,
            rrf_k=self.rrf_k,
        )
        result = MilvusVectorStore.hits_to_result(hits)
        return _to_scored(result.nodes or [], result.similarities or [])

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return run_sync(self._aretrieve(query_bundle))
