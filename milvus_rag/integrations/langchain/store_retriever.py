"""What ``MilvusVectorStore.as_retriever()`` returns: LangChain's ``VectorStoreRetriever``
with one more search type, ``"hybrid"``."""

from __future__ import annotations

from typing import Any, ClassVar

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.vectorstores import VectorStoreRetriever

__all__ = ["MilvusVectorStoreRetriever"]


class MilvusVectorStoreRetriever(VectorStoreRetriever):
    """``VectorStoreRetriever`` with one more ``search_type``: ``"hybrid"`` (dense + BM25).

    Example:
        >>> retriever = store.as_retriever(search_type="hybrid", search_kwargs={"k": 4})
        ... # doctest: +SKIP
    """

    allowed_search_types: ClassVar[tuple[str, ...]] = (
        "similarity",
        "similarity_score_threshold",
        "mmr",
        "hybrid",
    )

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        if self.search_type == "hybrid":
            kwargs_ = {"retrieval_mode": "hybrid", **self.search_kwargs, **kwargs}
            return self.vectorstore.similarity_search(query, **kwargs_)
        return super()._get_relevant_documents(query, run_manager=run_manager, **kwargs)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        if self.search_type == "hybrid":
            kwargs_ = {"retrieval_mode": "hybrid", **self.search_kwargs, **kwargs}
            return await self.vectorstore.asimilarity_search(query, **kwargs_)
        return await super()._aget_relevant_documents(query, run_manager=run_manager, **kwargs)
