"""A LangChain retriever returning documents, not chunks: a grouped search (``k`` distinct
documents by ``doc_id``) whose hits are expanded to their whole document (``window=None``,
the default: LangChain's parent-document retrieval without a second docstore) or to
``window`` chunks on each side, reassembled from the chunks' positions (``start_index``,
what LangChain's text splitters write with ``add_start_index=True``; see
:mod:`milvus_rag.client.expansion`).

Example:
    >>> from milvus_rag.retrievers.langchain import ExpandingRetriever
    >>> retriever = ExpandingRetriever(vectorstore=store, k=3)  # doctest: +SKIP
    >>> docs = retriever.invoke("how are chunks reassembled?")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from milvus_rag.client.expansion import Expanded, check_window
from milvus_rag.client.grouping import DEFAULT_GROUP_FIELD
from milvus_rag.client.records import Hit, public_metadata
from milvus_rag.client.request import check_k
from milvus_rag.integrations.langchain.retrievers import ScopedRetriever
from milvus_rag.integrations.langchain.store import MilvusVectorStore

try:
    from langchain_core.documents import Document
    from pydantic import ConfigDict, Field, model_validator
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'milvus_rag.retrievers.langchain needs langchain-core: pip install "milvus-rag[langchain]"'
    ) from exc

__all__ = ["ExpandingRetriever", "expanded_document"]


def expanded_document(hit: Hit, expanded: Expanded, parent: bool) -> Document:
    """The LangChain view of an expanded hit: the reassembled text; id the ``doc_id`` (a
    parent) or the hit's id (a window); metadata the matched chunk's, plus ``matched_id``,
    ``matched_span`` (its ``[start, end)`` in the text), ``chunk_ids`` and ``relevance``."""
    meta = public_metadata(hit.record.metadata)
    meta.update(
        doc_id=hit.record.doc_id,
        matched_id=hit.id,
        matched_span=list(expanded.span),
        chunk_ids=[c.id for c in expanded.chunks],
        relevance=hit.relevance,
    )
    return Document(
        id=hit.record.doc_id if parent else hit.id, page_content=expanded.text, metadata=meta
    )


class ExpandingRetriever(ScopedRetriever):
    """``k`` documents for a query, each its whole text or a window around its best chunk.

    Args:
        vectorstore: the store of chunks (each with its ``doc_id`` and position).
        k: documents returned (a grouped search: ``k`` groups).
        window: ``None`` (default) the whole document; ``n``: ``n`` chunks each side.
        group_by: the field naming a chunk's document (default ``doc_id``).
        filter: a milvus-rag filter dict, or a raw Milvus expression string.
        search_kwargs: more options of the search (``retrieval_mode``, ``search_params``,
            ``alpha``, ``tenant``...), as :meth:`MilvusVectorStore.similarity_search`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    vectorstore: MilvusVectorStore
    k: int = 4
    window: int | None = None
    group_by: str = DEFAULT_GROUP_FIELD
    filter: Any = None
    search_kwargs: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ExpandingRetriever:
        check_k(self.k)
        check_window(self.window)
        return self

    async def _asearch(self, query: str, filter: Any, tenant: str | None) -> list[Document]:
        kwargs: dict[str, Any] = {
            **self.search_kwargs,
            "group_by": self.group_by,
            "filter": self.filter if filter is None else filter,
        }
        if tenant is not None:
            kwargs["tenant"] = tenant
        tenancy = {n: kwargs[n] for n in ("tenant", "all_tenants") if n in kwargs}
        hits = await self.vectorstore._ahits(
            query,
            self.k,
            kwargs,
            "ExpandingRetriever",
            relevance=True,  # in each metadata
        )
        parent = self.window is None
        expanded = await self.vectorstore.store.expand(
            hits, window=self.window, parent=parent, **tenancy
        )
        return [expanded_document(h, e, parent) for h, e in zip(hits, expanded, strict=True)]
