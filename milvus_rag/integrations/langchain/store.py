"""LangChain vector store over the milvus-rag async core (dense, BM25 and hybrid search).

A drop-in replacement for ``langchain_milvus.Milvus``: sync and async APIs, ``Document.id``
honoured (re-adding an id updates it), any metadata keys in any document (one JSON field),
the milvus-rag filter dicts or raw Milvus expressions, and relevance scores in [0, 1] in
every retrieval mode. Collections are shared with the LlamaIndex store and the core
:class:`~milvus_rag.client.MilvusStore`.

Every operation has one async implementation; each sync method runs it on the milvus-rag
background loop (``run_sync``), so sync calls also work inside a running event loop.

Example:
    >>> from milvus_rag.integrations.langchain import MilvusVectorStore
    >>> from milvus_rag.embeddings.langchain import SentenceTransformerEmbeddings
    >>> store = MilvusVectorStore(  # doctest: +SKIP
    ...     embedding=SentenceTransformerEmbeddings(), uri="./x.db", collection_name="docs"
    ... )
    >>> store.add_texts(["Milvus is a vector database."], [{"source": "a"}])  # doctest: +SKIP
    >>> store.similarity_search("what is milvus?", k=1, filter={"source": "a"})  # doctest: +SKIP
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.fanout import fanout_queries, fanout_search
from milvus_rag.client.legs import default_fields
from milvus_rag.client.records import Hit
from milvus_rag.client.request import (
    DEFAULT_K,
    DENSE_OPTIONS,
    SEARCH_OPTIONS,
    Ranker,
    RetrievalMode,
    SearchRequest,
    check_alpha,
    check_k,
    resolve_ranker,
)
from milvus_rag.client.store import AsyncMilvusStore
from milvus_rag.client.sync import MilvusStore, run_sync
from milvus_rag.integrations.fronts import core_store, pop_tenancy
from milvus_rag.integrations.templates import Templates, shape_key

try:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import VectorStore
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'milvus_rag.integrations.langchain needs langchain-core: pip install "milvus-rag[langchain]"'
    ) from exc

__all__ = ["MilvusVectorStore", "MilvusVectorStoreRetriever"]

VST = TypeVar("VST", bound="MilvusVectorStore")


from milvus_rag.integrations.langchain.documents import (  # noqa: E402
    combine_filter,
    document_to_record,
    records_to_documents,
    resolve_ids,
    texts_to_documents,
)
from milvus_rag.integrations.langchain.fields import (  # noqa: E402
    FieldEmbedders,
    embedder_dim,
    search_legs,
)
from milvus_rag.integrations.langchain.store_retriever import (  # noqa: E402
    MilvusVectorStoreRetriever,
)

_SEARCH_NAMES = frozenset(SEARCH_OPTIONS)
_DENSE_NAMES = frozenset(DENSE_OPTIONS)

# --- the store ---------------------------------------------------------------------------


class MilvusVectorStore(VectorStore):
    """LangChain ``VectorStore`` on Milvus Lite or a Milvus server, via milvus-rag's core.

    Args:
        embedding: any LangChain ``Embeddings`` (of the primary dense field; ``None`` on a
            collection without a dense field). Its dim is read from ``embedding.dim`` or
            from one probe embedding, lazily, on first use.
        embeddings: the other client-side vector fields' embedders by field name, with
            ``vector_fields=[VectorField...]`` (a collection option): an ``Embeddings`` per
            dense field, a sparse embedder (``embed_query(text) -> {index: weight}``,
            ``embed_documents(texts)``) per client-side sparse field. Searches take
            ``fields=[...]`` (default: every vector field in hybrid mode) and ``weights=``.
        uri, token, collection_name: where the data lives (default ``./milvus_rag.db``).
        retrieval_mode: ``"dense"``, ``"sparse"`` (BM25) or ``"hybrid"`` (default).
        ranker: hybrid fusion, ``"rrf"`` (default) or ``"weighted"``; ``alpha`` (weight of the
            dense leg, in [0, 1]) implies ``"weighted"``.
        store: an existing :class:`AsyncMilvusStore` (or :class:`MilvusStore`) to use instead.
        **options: collection / connection options of :class:`AsyncMilvusStore`
            (``metric``, ``batch_size``, ``timeout``...).

    Nothing is created or contacted in ``__init__``: the collection is created, indexed and
    loaded on first use.

    Example:
        >>> store = MilvusVectorStore(embedding=emb, uri="./x.db",  # doctest: +SKIP
        ...                           collection_name="docs", retrieval_mode="hybrid")
        >>> store.add_documents([Document(page_content="hello", id="a")])  # doctest: +SKIP
        >>> store.similarity_search_with_relevance_scores("hi", k=1)  # doctest: +SKIP
    """

    def __init__(
        self,
        embedding: Embeddings | None,
        *,
        embeddings: Mapping[str, Any] | None = None,
        uri: str | None = None,
        token: str | None = None,
        collection_name: str | None = None,
        retrieval_mode: RetrievalMode | str = RetrievalMode.HYBRID,
        ranker: Ranker | None = None,
        alpha: float | None = None,
        dim: int | None = None,
        store: AsyncMilvusStore | MilvusStore | None = None,
        tenant: str | None = None,
        **options: Any,
    ) -> None:
        if embedding is not None and not isinstance(embedding, Embeddings):
            raise ConfigError(
                f"embedding must be a langchain Embeddings, got {type(embedding).__name__}"
            )
        self.embedding: Embeddings = embedding  # type: ignore[assignment]  # None: no dense
        self.field_embedders = FieldEmbedders(embedding, embeddings)
        self.retrieval_mode = RetrievalMode.parse(retrieval_mode)
        self.alpha = check_alpha(alpha)
        self.ranker: Ranker = resolve_ranker(ranker, self.alpha)
        self.store = core_store(
            store,
            settings_given=bool(uri or token or collection_name or dim is not None or options),
            build=lambda: AsyncMilvusStore(
                uri, token=token, collection_name=collection_name, dim=dim, **options
            ),
            tenant=tenant,
        )
        self._templates = Templates()  # prepared requests by call shape (see _request)
        cfg = self.store.config
        self.field_embedders.check(cfg)
        if cfg.enable_dense and not cfg.extra_vector_fields:
            if self.retrieval_mode is not RetrievalMode.DENSE and not cfg.enable_bm25:
                raise ConfigError(
                    f"retrieval_mode={self.retrieval_mode.value!r} needs BM25: leave "
                    "enable_bm25 on or use retrieval_mode='dense'"
                )
        else:  # several vector fields: the mode's fields must exist
            default_fields(cfg, self.retrieval_mode)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.store.connection!r}, "
            f"collection={self.store.name!r}, retrieval_mode={self.retrieval_mode.value!r})"
        )

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding

    @property
    def collection_name(self) -> str:
        return self.store.name

    @property
    def sync_store(self) -> MilvusStore:
        """The core sync store over the same collection."""
        return MilvusStore.from_async(self.store)

    # --- plumbing ----------------------------------------------------------------------

    async def _ensure_dim(self) -> None:
        """Give the core store the embeddings' dims (once; :func:`.fields.embedder_dim`)."""
        cfg = self.store.config
        if (cfg.dim is not None or not cfg.enable_dense) and not cfg.extra_vector_fields:
            return  # every dim known: nothing to learn (the usual call)
        if cfg.enable_dense:
            await self.store.ensure_dim(lambda: embedder_dim(self.embedding))
        await self.field_embedders.ensure_dims(self.store)

    def _request(
        self, query: str | None, k: int, kwargs: dict[str, Any], method: str, **options: Any
    ) -> SearchRequest:
        """The call's one search value, prepared for the store (filter compiled) before any
        embedding or I/O (:meth:`_shaped`)."""
        return self._for_query(self._shaped(query, k, kwargs, method, **options), query)

    @staticmethod
    def _for_query(shaped: tuple[SearchRequest, bool], query: str | None) -> SearchRequest:
        """:meth:`_shaped`'s request for ``query``."""
        request, own = shaped
        return request if own else request.for_query(query)

    def _shaped(
        self,
        query: str | None,
        k: int,
        kwargs: dict[str, Any],
        method: str,
        *,
        dense_only: bool = False,
        leg_params: Mapping[str, Mapping[str, Any]] | None = None,
        **fixed: Any,
    ) -> tuple[SearchRequest, bool]:
        """The prepared search value of the call's shape, and whether it is ``query``'s own
        (just built) or another query's (the shape's, kept:
        :mod:`milvus_rag.integrations.templates`; ``for_query`` gives ``query``'s).
        Keyword arguments are :class:`SearchRequest` fields, plus ``filter`` / ``expr``,
        ``retrieval_mode`` (or ``mode``), ``fields`` / ``weights`` (the vector fields
        searched and their weights; ``leg_params``: their search params); ``None`` means
        "the store's setting"."""
        cfg = self.store.config
        key = shape_key(
            method, k, dense_only, self.retrieval_mode, self.ranker, self.alpha, kwargs, fixed,
            leg_params,
        )  # fmt: skip
        template = self._templates.get(cfg, key)
        if template is not None:
            if query is not None and not isinstance(query, str):
                raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
            return template, False
        if key is not None:  # kept: the caller's values must not change it later
            kwargs, fixed, leg_params = copy.deepcopy((kwargs, fixed, leg_params))
        request = self._prepared(query, k, kwargs, method, dense_only, leg_params, fixed)
        return self._templates.put(key, request), True

    def _prepared(
        self,
        query: str | None,
        k: int,
        kwargs: dict[str, Any],
        method: str,
        dense_only: bool,
        leg_params: Mapping[str, Mapping[str, Any]] | None,
        fixed: dict[str, Any],
    ) -> SearchRequest:
        """:meth:`_request`'s request, built and prepared."""
        kwargs, fixed = dict(kwargs), dict(fixed)
        flt = combine_filter(kwargs.pop("filter", None), kwargs.pop("expr", None))
        names = _DENSE_NAMES if dense_only else _SEARCH_NAMES
        opts: dict[str, Any] = {}
        for n in [n for n in kwargs if n in names]:  # the call's options, not every name
            value = kwargs.pop(n)
            if value is not None:  # given as None: the store's setting
                opts[n] = value
        if not dense_only:
            mode, alias = kwargs.pop("retrieval_mode", None), kwargs.pop("mode", None)
            mode = RetrievalMode.parse(
                self.retrieval_mode if mode is None and alias is None else mode or alias
            )
            fields, weights = kwargs.pop("fields", None), kwargs.pop("weights", None)
            cfg = self.store.config
            classic = cfg.enable_dense and not cfg.extra_vector_fields  # a dense + BM25 one
            if fields is None and weights is None and classic:
                fixed.setdefault("mode", mode)  # the mode's default fields
                if "ranker" not in opts and "alpha" not in opts:  # a call's alpha: weighted
                    opts["ranker"] = self.ranker
                opts.setdefault("alpha", self.alpha)
            else:
                fixed["legs"] = search_legs(cfg, mode, fields, weights, leg_params)
                if "alpha" in opts:
                    raise ConfigError(
                        "alpha weighs the dense and BM25 legs: with fields=, pass weights="
                    )
                if weights is None and "ranker" not in opts:
                    opts["ranker"] = self.ranker if self.alpha is None else "weighted"
        if kwargs:
            raise ConfigError(f"{method}() got unexpected keyword argument(s) {sorted(kwargs)}")
        if query is not None and not isinstance(query, str):
            raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
        return self.store.prepare(SearchRequest(text=query, k=k, filter=flt, **opts, **fixed))

    @staticmethod
    def _tenancy(kwargs: dict[str, Any]) -> dict[str, Any]:
        """``tenant=`` / ``all_tenants=`` of a call (popped), for the core store."""
        return pop_tenancy(kwargs)

    @staticmethod
    def _no_more(kwargs: dict[str, Any], method: str) -> None:
        if kwargs:
            raise ConfigError(f"{method}() got unexpected keyword argument(s) {sorted(kwargs)}")

    # --- writes ------------------------------------------------------------------------

    async def aadd_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Add or update documents; ids from ``ids=``, then ``Document.id``, else uuid4.
        ``batch_size=``: at most that many rows a write request (LangChain's ``index()``)."""
        ids = kwargs.pop("ids", None)
        batch_size = kwargs.pop("batch_size", None)
        self.store.with_batch_size(batch_size)  # a bad one fails before anything
        tenancy = self._tenancy(kwargs)
        self._no_more(kwargs, "add_documents")
        self.store.scope(operation="add_documents", **tenancy)  # a tenant is named, or raise
        documents = list(documents)
        resolved = resolve_ids(documents, ids)
        records = [document_to_record(d, i) for d, i in zip(documents, resolved, strict=True)]
        if not records:
            return []
        await self._ensure_dim()
        records = await self.field_embedders.with_vectors(self.store.config, records)
        store = self.store.with_batch_size(batch_size)  # a view, after the dim is known
        embed = self.embedding.aembed_documents if self.store.config.enable_dense else None
        return await store.upsert(records, embed=embed, **tenancy)

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Add or update documents; ids from ``ids=``, then ``Document.id``, else uuid4."""
        return run_sync(self.aadd_documents(documents, **kwargs))

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and add ``texts`` (with ``metadatas`` and ``ids`` when given)."""
        docs = texts_to_documents(texts, metadatas)
        return await self.aadd_documents(docs, ids=ids, **kwargs)

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and add ``texts`` (with ``metadatas`` and ``ids`` when given)."""
        return run_sync(self.aadd_texts(texts, metadatas, ids=ids, **kwargs))

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete by ids and/or ``filter=`` (dict or raw expression) / ``expr=``.

        Missing ids are not an error. Deleting everything needs :meth:`adrop`.
        """
        flt = combine_filter(kwargs.pop("filter", None), kwargs.pop("expr", None))
        tenancy = self._tenancy(kwargs)
        self._no_more(kwargs, "delete")
        self.store.scope(flt, operation="delete", **tenancy)  # fails before the dim probe
        if ids is None and flt is None:
            raise ConfigError("delete needs ids or filter=/expr=; use drop() to remove everything")
        if ids is not None and len(ids) == 0 and flt is None:
            return True
        await self._ensure_dim()
        await self.store.delete(ids, filter=flt, **tenancy)
        return True

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete by ids and/or ``filter=`` (dict or raw expression) / ``expr=``."""
        return run_sync(self.adelete(ids, **kwargs))

    async def adrop(self) -> None:
        """Drop the whole collection (it is recreated, empty, on next use)."""
        await self.store.drop()

    def drop(self) -> None:
        """Drop the whole collection (it is recreated, empty, on next use)."""
        run_sync(self.adrop())

    async def aclose(self) -> None:
        """Release the connections (and a Milvus Lite file's lock)."""
        await self.store.aclose()

    def close(self) -> None:
        """Release the connections (and a Milvus Lite file's lock)."""
        run_sync(self.aclose())

    # --- reads -------------------------------------------------------------------------

    async def aget_by_ids(
        self, ids: Sequence[str], /, *, tenant: str | None = None, all_tenants: bool = False
    ) -> list[Document]:
        """Documents by id, in the order asked; missing ids (and other tenants') are left
        out."""
        self.store.scope(operation="get_by_ids", tenant=tenant, all_tenants=all_tenants)
        ids = list(ids)
        if not ids:
            return []
        await self._ensure_dim()
        got = await self.store.get(ids, tenant=tenant, all_tenants=all_tenants)
        return records_to_documents(got)

    def get_by_ids(
        self, ids: Sequence[str], /, *, tenant: str | None = None, all_tenants: bool = False
    ) -> list[Document]:
        """Documents by id, in the order asked; missing ids are left out."""
        return run_sync(self.aget_by_ids(ids, tenant=tenant, all_tenants=all_tenants))

    async def _ahits(
        self, query: str, k: int, kwargs: dict[str, Any], method: str, relevance: bool = False
    ) -> list[Hit]:
        """The hits of one search; ``relevance``: the caller reports ``Hit.relevance``."""
        request, own = self._shaped(query, k, kwargs, method, relevance=relevance)
        if not own and not (type(query) is str and query.strip()):
            request, own = request.for_query(query), True  # may raise: before embedding
        await self._ensure_dim()
        vector = await self.embedding.aembed_query(query) if request.needs_vector else None
        if not own:  # the shape's request: this query's text and vector at once
            request = request.for_query(query, vector)
        elif vector is not None:
            request = request.with_vector(vector)
        if request.legs is not None:  # the other fields' queries
            request = await self.field_embedders.with_queries(request, query)
        return await self.store.search(request)

    async def afanout_search(
        self,
        queries: Sequence[str],
        k: int = DEFAULT_K,
        *,
        fetch_k: int = 20,
        rrf_k: int | None = None,
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Search every query string concurrently (top ``fetch_k`` each) and fuse the lists
        by reciprocal rank fusion; returns the top ``k`` with relevance in [0, 1].

        Keyword args as :meth:`similarity_search` (``filter``, ``retrieval_mode``,
        ``search_params``...), applied to every query. Blank and repeated queries are left
        out (:func:`milvus_rag.client.fanout.fanout_queries`).

        Example:
            >>> await store.afanout_search(["what is bm25", "bm25 ranking"], k=4)  # doctest: +SKIP
        """
        if isinstance(queries, str):
            raise InvalidInputError("queries must be a list of str, not one str")
        if not queries:
            return []
        qs = fanout_queries(queries[0], given=queries[1:])
        template = self._request(qs[0], fetch_k, kwargs, "fanout_search", relevance=True)
        await self._ensure_dim()
        hits = await fanout_search(
            self.store,
            template,
            qs,
            self.field_embedders.primary_query,
            k=k,
            rrf_k=rrf_k,
            fill=self.field_embedders.with_queries,
        )
        docs = records_to_documents([h.record for h in hits])
        return [(d, min(1.0, max(0.0, h.relevance))) for d, h in zip(docs, hits, strict=True)]

    def fanout_search(
        self, queries: Sequence[str], k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Search every query string concurrently and fuse by RRF; see :meth:`afanout_search`."""
        return run_sync(self.afanout_search(queries, k, **kwargs))

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents and the score that ranks them, best first, never increasing down the
        list (:attr:`milvus_rag.client.Hit.score`): the cosine in dense mode, the BM25 score
        in sparse mode, the fused (RRF or weighted) score in hybrid mode. The relevance in
        [0, 1] (the embedding similarity, the same whichever mode found the document; in
        hybrid mode it need not decrease down the list) is what
        :meth:`similarity_search_with_relevance_scores` returns.

        Keyword args: ``filter`` (dict or raw expression), ``expr``, ``retrieval_mode``,
        ``fields`` (the vector fields searched; default: the mode's, every field in hybrid
        mode) and ``weights`` (one per field, or a dict: weighted fusion),
        ``ranker``, ``alpha``, ``candidates``, ``rrf_k``, ``search_params`` (e.g.
        ``{"ef": 64}``), ``radius`` / ``range_filter`` (dense range search),
        ``consistency_level``, ``timeout`` (see :class:`~milvus_rag.client.SearchRequest`).
        """
        hits = await self._ahits(query, k, kwargs, "similarity_search_with_score")
        docs = records_to_documents([h.record for h in hits])
        return [(d, h.score) for d, h in zip(docs, hits, strict=True)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents and the score that ranks them, best first; see the async variant."""
        return run_sync(self.asimilarity_search_with_score(query, k, **kwargs))

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` documents best matching ``query`` in the store's retrieval mode."""
        hits = await self._ahits(query, k, kwargs, "similarity_search")
        return records_to_documents([h.record for h in hits])

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` documents best matching ``query`` in the store's retrieval mode."""
        return run_sync(self.asimilarity_search(query, k, **kwargs))

    async def _asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        hits = await self._ahits(query, k, kwargs, "similarity_search_with_relevance_scores", True)
        docs = records_to_documents([h.record for h in hits])
        return [(d, min(1.0, max(0.0, h.relevance))) for d, h in zip(docs, hits, strict=True)]

    def _similarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return run_sync(self._asimilarity_search_with_relevance_scores(query, k, **kwargs))

    async def asimilarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        """Dense search with a query vector (keyword args: ``filter``, ``expr`` and the dense
        options of :meth:`similarity_search`)."""
        request = self._request(
            None, k, kwargs, "similarity_search_by_vector", dense_only=True, mode="dense"
        )
        await self._ensure_dim()
        hits = await self.store.search(request.with_vector(embedding))
        return records_to_documents([h.record for h in hits])

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        """Dense search with a query vector."""
        return run_sync(self.asimilarity_search_by_vector(embedding, k, **kwargs))

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """MMR over the ``fetch_k`` nearest dense candidates of ``embedding`` (keyword args:
        ``filter``, ``expr`` and the dense options of :meth:`similarity_search`)."""
        flt = combine_filter(kwargs.pop("filter", None), kwargs.pop("expr", None))
        opts = {n: kwargs.pop(n) for n in DENSE_OPTIONS if n in kwargs}
        self._no_more(kwargs, "max_marginal_relevance_search")
        await self._ensure_dim()
        hits = await self.store.mmr_search(
            embedding, k=k, fetch_k=fetch_k, lambda_mult=lambda_mult, filter=flt, **opts
        )
        return records_to_documents([h.record for h in hits])

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """MMR over the ``fetch_k`` nearest dense candidates of ``embedding``."""
        return run_sync(
            self.amax_marginal_relevance_search_by_vector(
                embedding, k, fetch_k, lambda_mult, **kwargs
            )
        )

    async def amax_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """MMR over the ``fetch_k`` nearest dense candidates of ``query``."""
        check_k(k)
        check_k(fetch_k, "fetch_k")
        await self._ensure_dim()
        vector = await self.embedding.aembed_query(query)
        return await self.amax_marginal_relevance_search_by_vector(
            vector, k, fetch_k, lambda_mult, **kwargs
        )

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """MMR over the ``fetch_k`` nearest dense candidates of ``query``."""
        return run_sync(
            self.amax_marginal_relevance_search(query, k, fetch_k, lambda_mult, **kwargs)
        )

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Relevance scores are computed by the core (:meth:`_similarity_search_with_relevance_scores`
        overrides LangChain's mapping); a score already in [0, 1] maps to itself."""
        return lambda s: min(1.0, max(0.0, s))

    # --- construction ------------------------------------------------------------------

    @classmethod
    async def afrom_texts(
        cls: type[VST],
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> VST:
        """A store (``kwargs`` go to the constructor) holding ``texts``."""
        store = cls(embedding, **kwargs)
        await store.aadd_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    def from_texts(
        cls: type[VST],
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> VST:
        """A store (``kwargs`` go to the constructor) holding ``texts``."""
        return run_sync(cls.afrom_texts(texts, embedding, metadatas, ids=ids, **kwargs))

    @classmethod
    async def afrom_documents(
        cls: type[VST], documents: list[Document], embedding: Embeddings, **kwargs: Any
    ) -> VST:
        """A store (``kwargs`` go to the constructor, except ``ids``) holding ``documents``."""
        ids = kwargs.pop("ids", None)
        store = cls(embedding, **kwargs)
        await store.aadd_documents(list(documents), ids=ids)
        return store

    @classmethod
    def from_documents(
        cls: type[VST], documents: list[Document], embedding: Embeddings, **kwargs: Any
    ) -> VST:
        """A store (``kwargs`` go to the constructor, except ``ids``) holding ``documents``."""
        return run_sync(cls.afrom_documents(documents, embedding, **kwargs))

    def as_retriever(self, **kwargs: Any) -> MilvusVectorStoreRetriever:
        """A retriever; ``search_type`` is ``similarity`` (store's mode), ``mmr``,
        ``similarity_score_threshold`` or ``hybrid``.

        Example:
            >>> store.as_retriever(search_type="hybrid",  # doctest: +SKIP
            ...                    search_kwargs={"k": 4, "filter": {"lang": "en"}})
        """
        tags = kwargs.pop("tags", None) or [*self._get_retriever_tags()]
        return MilvusVectorStoreRetriever(vectorstore=self, tags=tags, **kwargs)
