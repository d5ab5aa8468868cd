"""LangChain retrievers over :class:`~milvus_rag.integrations.langchain.MilvusVectorStore`.

- :class:`MilvusVectorStoreRetriever`: what ``store.as_retriever()`` returns, the standard
  search types plus ``"hybrid"``.
- :class:`HybridRetriever`: dense + BM25 in one Milvus ``hybrid_search`` (RRF or weighted).
- :class:`FanOutRetriever`: several query strings (given, or produced from the question by a
  callable / runnable) searched concurrently and fused client-side by RRF.

Both have one async implementation; the sync path runs it on milvus-rag's background loop.

Example:
    >>> from milvus_rag.retrievers.langchain import HybridRetriever
    >>> retriever = HybridRetriever(vectorstore=store, k=4)  # doctest: +SKIP
    >>> retriever.invoke("how does bm25 rank documents?")  # doctest: +SKIP
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.fanout import fanout_queries, generate_queries
from milvus_rag.client.request import RetrievalMode, check_alpha, check_k
from milvus_rag.client.sync import run_sync
from milvus_rag.integrations.langchain.store import MilvusVectorStore, MilvusVectorStoreRetriever

try:
    from langchain_core.callbacks import (
        AsyncCallbackManagerForRetrieverRun,
        CallbackManagerForRetrieverRun,
    )
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import Runnable
    from pydantic import ConfigDict, Field, model_validator
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'milvus_rag.retrievers.langchain needs langchain-core: pip install "milvus-rag[langchain]"'
    ) from exc

__all__ = ["FanOutRetriever", "HybridRetriever", "MilvusVectorStoreRetriever", "ScopedRetriever"]


QueryGenerator = (
    Callable[[str], Sequence[str]] | Callable[[str], Awaitable[Sequence[str]]] | Runnable[Any, Any]
)


class ScopedRetriever(BaseRetriever):
    """A retriever whose calls may name a ``filter`` and a ``tenant``: subclasses implement
    ``_asearch`` once; the sync path runs it on milvus-rag's background loop."""

    @abstractmethod
    async def _asearch(self, query: str, filter: Any, tenant: str | None) -> list[Document]:
        """The documents of one call (``filter`` / ``tenant``: the call's, or None)."""

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        filter: Any = None,
        tenant: str | None = None,
    ) -> list[Document]:
        return run_sync(self._asearch(query, filter, tenant))

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        filter: Any = None,
        tenant: str | None = None,
    ) -> list[Document]:
        return await self._asearch(query, filter, tenant)


class HybridRetriever(ScopedRetriever):
    """Dense + BM25 retrieval fused in Milvus (RRF by default, weighted with ``alpha``).

    Args:
        vectorstore: the store to search (its collection needs BM25, the default).
        k: documents returned.
        ranker: ``"rrf"`` or ``"weighted"``; ``alpha`` (weight of the dense leg) implies
            ``"weighted"``. Neither given: the store's.
        filter: a milvus-rag filter dict, or a raw Milvus expression string.
        search_kwargs: more options of each search (``search_params``, ``radius``,
            ``range_filter``, ``consistency_level``, ``timeout``, ``candidates``...).

    Example:
        >>> retriever = HybridRetriever(vectorstore=store, k=4, filter={"lang": "en"})
        ... # doctest: +SKIP
        >>> docs = await retriever.ainvoke("what is reciprocal rank fusion?")  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vectorstore: MilvusVectorStore
    k: int = 4
    ranker: Literal["rrf", "weighted"] | None = None
    alpha: float | None = None
    filter: Any = None
    search_kwargs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> HybridRetriever:
        check_k(self.k)
        check_alpha(self.alpha)
        if not self.vectorstore.store.config.enable_bm25:
            raise ConfigError("HybridRetriever needs a collection with BM25 (enable_bm25=True)")
        return self

    async def _asearch(self, query: str, filter: Any, tenant: str | None) -> list[Document]:
        kwargs: dict[str, Any] = {
            **self.search_kwargs,
            "retrieval_mode": RetrievalMode.HYBRID,
            "ranker": self.ranker,
            "alpha": self.alpha,
            "filter": self.filter if filter is None else filter,
        }
        if tenant is not None:
            kwargs["tenant"] = tenant
        return await self.vectorstore.asimilarity_search(query, k=self.k, **kwargs)


class FanOutRetriever(BaseRetriever):
    """Several phrasings of one question, searched concurrently and fused by RRF.

    The query strings are the question itself (``include_original``), the ``queries`` given
    at call time (``retriever.invoke(q, queries=[...])``), and what ``query_generator``
    returns for the question: a function, an async function, or a LangChain runnable (e.g.
    ``prompt | llm | parser``) returning a list of strings (or one per line). The rule is
    :func:`milvus_rag.client.fanout.fanout_queries`, shared with LlamaIndex.

    Args:
        vectorstore: the store to search.
        k: documents returned after fusion; ``fetch_k``: documents per query before fusion.
        retrieval_mode: mode of each search (``"hybrid"`` by default).
        filter: a milvus-rag filter dict, or a raw Milvus expression string.
        rrf_k: the RRF constant of the fusion (default: the collection's ``rrf_k``).
        search_kwargs: more options of each search (``search_params``, ``radius``,
            ``consistency_level``, ``timeout``...).

    Example:
        >>> retriever = FanOutRetriever(  # doctest: +SKIP
        ...     vectorstore=store, k=4, query_generator=lambda q: [q.lower(), q + " meaning"]
        ... )
        >>> retriever.invoke("What is BM25?")  # doctest: +SKIP
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vectorstore: MilvusVectorStore
    k: int = 4
    fetch_k: int = 20
    query_generator: QueryGenerator | None = None
    include_original: bool = True
    retrieval_mode: RetrievalMode | str = RetrievalMode.HYBRID
    filter: Any = None
    rrf_k: int | None = None
    search_kwargs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _parse_mode(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("retrieval_mode") is not None:
            values = {**values, "retrieval_mode": RetrievalMode.parse(values["retrieval_mode"])}
        return values

    @model_validator(mode="after")
    def _check(self) -> FanOutRetriever:
        check_k(self.k)
        check_k(self.fetch_k, "fetch_k")
        if self.rrf_k is not None and (not isinstance(self.rrf_k, int) or self.rrf_k < 1):
            raise ConfigError(f"rrf_k must be an integer >= 1, got {self.rrf_k!r}")
        gen = self.query_generator
        if gen is not None and not isinstance(gen, Runnable) and not callable(gen):
            raise ConfigError("query_generator must be a callable or a LangChain runnable")
        return self

    async def _generate(self, query: str) -> Any:
        gen = self.query_generator
        if isinstance(gen, Runnable):
            out: Any = await gen.ainvoke(query)
        else:
            out = await generate_queries(gen, query)
        content = getattr(out, "content", None)  # a chat model's message
        return content if isinstance(content, str) else out

    async def _asearch(
        self, query: str, queries: Sequence[str] | None, tenant: str | None = None
    ) -> list[Document]:
        qs = fanout_queries(
            query,
            include_original=self.include_original,
            given=queries,
            generated=await self._generate(query),
        )
        options = {
            **self.search_kwargs,
            "filter": self.filter,
            "retrieval_mode": self.retrieval_mode,
        }
        if tenant is not None:
            options["tenant"] = tenant
        hits = await self.vectorstore.afanout_search(
            qs, self.k, fetch_k=self.fetch_k, rrf_k=self.rrf_k, **options
        )
        return [doc for doc, _ in hits]

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        queries: Sequence[str] | None = None,
        tenant: str | None = None,
    ) -> list[Document]:
        return run_sync(self._asearch(query, queries, tenant))

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        queries: Sequence[str] | None = None,
        tenant: str | None = None,
    ) -> list[Document]:
        return await self._asearch(query, queries, tenant)
