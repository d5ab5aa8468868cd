"""A LlamaIndex retriever returning documents, not chunks: a grouped search
(``similarity_top_k`` distinct documents by ``ref_doc_id``) whose hits come back as their
whole document (``window=None``, the default: auto-merging / parent retrieval without a
docstore) or as a window of ``window`` nodes on each side (sentence-window retrieval),
reassembled from the nodes' ``start_char_idx`` (what LlamaIndex's node parsers set; see
:mod:`milvus_rag.client.expansion`).

Example:
    >>> # retriever = ExpandingRetriever(store, embed_model=emb, similarity_top_k=3, window=1)
    >>> # nodes = await retriever.aretrieve("question")
"""

from __future__ import annotations

from typing import Any

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.expansion import Expanded, check_window
from milvus_rag.client.grouping import DEFAULT_GROUP_FIELD
from milvus_rag.client.records import Hit, public_metadata
from milvus_rag.client.request import check_k
from milvus_rag.client.sync import run_sync

try:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.callbacks.base import CallbackManager
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import (
        NodeRelationship,
        NodeWithScore,
        QueryBundle,
        RelatedNodeInfo,
        TextNode,
    )
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

from milvus_rag.integrations.llama_index.retrievers import query_embedding
from milvus_rag.integrations.llama_index.store import MilvusVectorStore

__all__ = ["ExpandingRetriever", "expanded_node"]

_MODES = {
    "dense": VectorStoreQueryMode.DEFAULT,
    "sparse": VectorStoreQueryMode.SPARSE,
    "hybrid": VectorStoreQueryMode.HYBRID,
}


def expanded_node(hit: Hit, expanded: Expanded, parent: bool) -> NodeWithScore:
    """An expanded hit as a scored ``TextNode``: the reassembled text; id the document's
    (a parent) or the hit's (a window); metadata the matched node's plus ``matched_id``,
    ``matched_span`` and ``chunk_ids``; the source relationship names the document."""
    meta = public_metadata(hit.record.metadata)
    meta.update(
        matched_id=hit.id,
        matched_span=list(expanded.span),
        chunk_ids=[c.id for c in expanded.chunks],
    )
    doc_id = hit.record.doc_id
    node = TextNode(
        id_=doc_id if parent else hit.id,
        text=expanded.text,
        metadata=meta,
        excluded_embed_metadata_keys=["matched_id", "matched_span", "chunk_ids"],
        excluded_llm_metadata_keys=["matched_id", "matched_span", "chunk_ids"],
    )
    if doc_id:
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc_id)
    # the store's similarities: relevance, or (llama-index-milvus vocabulary) the raw score
    return NodeWithScore(node=node, score=hit.relevance if hit.has_relevance else hit.distance)


class ExpandingRetriever(BaseRetriever):
    """``similarity_top_k`` documents for a query, each whole or a window around its best
    node. ``mode``: ``"hybrid"`` (default), ``"dense"`` or ``"sparse"``; ``group_by``: the
    field naming a node's document (default its ``ref_doc_id``); ``vector_store_kwargs``:
    query keywords of the store (``search_params``, ``tenant``, ``group_size``...)."""

    def __init__(
        self,
        vector_store: MilvusVectorStore,
        embed_model: BaseEmbedding | None = None,
        similarity_top_k: int = 4,
        window: int | None = None,
        mode: str = "hybrid",
        filters: MetadataFilters | None = None,
        *,
        group_by: str = DEFAULT_GROUP_FIELD,
        vector_store_kwargs: dict[str, Any] | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if not isinstance(vector_store, MilvusVectorStore):
            raise ConfigError("vector_store must be a milvus_rag MilvusVectorStore")
        if mode not in _MODES:
            raise ConfigError(f"mode must be one of {list(_MODES)}, got {mode!r}")
        if mode != "sparse" and embed_model is None:
            raise ConfigError(f"mode {mode!r} embeds the query: pass embed_model")
        check_window(window)
        self.vector_store = vector_store
        self.embed_model = embed_model
        self.similarity_top_k = check_k(similarity_top_k, "similarity_top_k")
        self.window = window
        self.mode = mode
        self.filters = filters
        self.group_by = group_by
        self.vector_store_kwargs = dict(vector_store_kwargs or {})
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        vector = None
        if self.mode != "sparse" and self.embed_model is not None:
            vector = await query_embedding(self.embed_model, query_bundle)
        kwargs = {"group_by": self.group_by, **self.vector_store_kwargs}
        hits = await self.vector_store.ahits(
            VectorStoreQuery(
                query_embedding=None if vector is None else list(vector),
                query_str=query_bundle.query_str,
                similarity_top_k=self.similarity_top_k,
                mode=_MODES[self.mode],
                filters=self.filters,
            ),
            **kwargs,
        )
        tenancy = {n: kwargs[n] for n in ("tenant", "all_tenants") if n in kwargs}
        parent = self.window is None
        expanded = await self.vector_store.store.expand(
            hits, window=self.window, parent=parent, **tenancy
        )
        return [expanded_node(h, e, parent) for h, e in zip(hits, expanded, strict=True)]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return run_sync(self._aretrieve(query_bundle))
