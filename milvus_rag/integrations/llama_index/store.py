"""LlamaIndex vector store over the milvus-rag core: one collection shared with LangChain.

``MilvusVectorStore`` is a ``BasePydanticVectorStore`` holding an
:class:`~milvus_rag.client.AsyncMilvusStore`. Every operation has one async implementation;
each sync method runs it on milvus-rag's background event loop
(:func:`milvus_rag.client.sync.run_sync`). Nothing is sent to Milvus before the first
operation: the collection is created (or checked and loaded) lazily.

Query modes (``VectorStoreQuery.mode``):

- ``DEFAULT``: dense search on ``query_embedding``, ``similarity_top_k`` hits.
- ``SPARSE`` / ``TEXT_SEARCH``: BM25 full text on ``query_str``, ``sparse_top_k`` (or
  ``similarity_top_k``) hits.
- ``HYBRID``: dense + BM25 in one request, fused by RRF, or by weighted fusion of normalised
  scores when ``alpha`` is given (``alpha`` on dense, ``1 - alpha`` on BM25). Returns
  ``hybrid_top_k`` (or ``similarity_top_k``) hits; each leg fetches the core's
  ``hybrid_candidates`` (100) candidates, or ``max(similarity_top_k, sparse_top_k)`` when
  ``sparse_top_k`` or ``hybrid_top_k`` is given (LlamaIndex's meaning: per-leg sizes).
- ``MMR``: maximal marginal relevance over dense candidates; ``query.mmr_threshold`` (or the
  query kwarg ``mmr_threshold``, e.g. ``as_retriever(vector_store_kwargs=...)``) is
  ``lambda_mult`` (default 0.5; 1 = pure relevance). Query kwargs ``mmr_prefetch_k`` or
  ``mmr_prefetch_factor`` (default 4, at least 20 candidates) size the candidate pool.

Vector fields: a collection may hold several (``vector_fields=[VectorField...]``, each field
but the nodes' embeddings filled by its embedder in ``embed_models={name: ...}``, see
:mod:`milvus_rag.integrations.llama_index.fields`); a query then searches the mode's fields
(``HYBRID``: every one) or those its ``fields=`` keyword names, fused by RRF or ``weights=``
(:mod:`milvus_rag.integrations.llama_index.search`). ``client`` / ``aclient`` are pymilvus
clients on the same Milvus; :attr:`MilvusVectorStore.store` is milvus-rag's core store.

``similarities`` are :attr:`milvus_rag.client.Hit.relevance`, in [0, 1], higher is better, in
every mode: dense cosine ``(1 + cos) / 2``; BM25 the score over the best score of the list;
RRF the fused score over its maximum possible; weighted the fused normalised score.
A store built with llama-index-vector-stores-milvus's keywords (``vocabulary ==
"llama_index"``, see :mod:`milvus_rag.integrations.llama_index.compat`) returns Milvus's raw scores
instead (``Hit.distance``: inner product, L2 distance, BM25 score, fused score), as that
library does, and takes its query keywords too (``milvus_search_config``,
``milvus_scalar_filters``, ``string_expr``; :mod:`milvus_rag.integrations.llama_index.compat_kwargs`).

Filters: ``query.filters`` / ``filters=`` take LlamaIndex ``MetadataFilters`` (every operator,
``AND``/``OR``/``NOT``, nested; see
:mod:`milvus_rag.integrations.llama_index.filters`); ``query.doc_ids`` and ``query.node_ids``
restrict the search further (empty lists, which ``as_retriever()`` passes, do not). The keys ``id`` and ``doc_id`` address the node id and
``ref_doc_id``; other keys (dotted paths allowed) address metadata.

Example:
    >>> from llama_index.core import StorageContext, VectorStoreIndex
    >>> store = MilvusVectorStore(uri="./x.db", collection_name="docs", dim=384)
    >>> # index = VectorStoreIndex.from_documents(
    >>> #     docs, storage_context=StorageContext.from_defaults(vector_store=store))
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, cast

from pymilvus import AsyncMilvusClient, MilvusClient

from milvus_rag.client.config import (
    DEFAULT_COLLECTION,
    DEFAULT_URI,
    CollectionConfig,
    ConnectionConfig,
)
from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.reads import ids_within
from milvus_rag.client.records import Hit, Record
from milvus_rag.client.request import GROUP_OPTIONS, SearchRequest
from milvus_rag.client.store import QUERY_WINDOW, AsyncMilvusStore
from milvus_rag.client.sync import MilvusStore, run_sync
from milvus_rag.integrations.fronts import FirstUse, core_store, pop_tenancy

try:
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.schema import BaseNode
    from llama_index.core.vector_stores.types import (
        BasePydanticVectorStore,
        MetadataFilters,
        VectorStoreQuery,
        VectorStoreQueryMode,
        VectorStoreQueryResult,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "milvus_rag.integrations.llama_index needs llama-index-core: "
        'pip install "milvus-rag[llama-index]"'
    ) from exc

from milvus_rag.integrations.llama_index.compat import (
    BM25BuiltInFunction,
    IndexManagement,
    check_get_nodes_args,
    llama_store_settings,
    unsupported_mode,
)
from milvus_rag.integrations.llama_index.compat_kwargs import (
    LlamaQueryOptions,
    llama_query_options,
    llama_write_options,
)
from milvus_rag.integrations.llama_index.fields import FieldEmbedders
from milvus_rag.integrations.llama_index.filters import combine_filters, metadata_filters_to_dict
from milvus_rag.integrations.llama_index.nodes import node_to_record, record_to_node
from milvus_rag.integrations.llama_index.search import default_request, legs_request, query_of
from milvus_rag.integrations.templates import Templates, shape_key

__all__ = [
    "BM25BuiltInFunction",
    "IndexManagement",
    "MilvusVectorStore",
    "metadata_filters_to_dict",
    "node_to_record",
    "record_to_node",
]


# get_nodes() reads every matching node: 4,096 per request (a request costs a scan of the
# collection on a Milvus Lite 3 server: 50,000 nodes took 244 s at 1,000 a page there).
_NODE_PAGE = 4096
_SUPPORTED_MODES = (
    VectorStoreQueryMode.DEFAULT,
    VectorStoreQueryMode.SPARSE,
    VectorStoreQueryMode.TEXT_SEARCH,
    VectorStoreQueryMode.HYBRID,
    VectorStoreQueryMode.MMR,
)
_BM25_MODES = (
    VectorStoreQueryMode.SPARSE,
    VectorStoreQueryMode.TEXT_SEARCH,
    VectorStoreQueryMode.HYBRID,
)


class MilvusVectorStore(BasePydanticVectorStore):
    """LlamaIndex vector store on Milvus (a Milvus Lite file or a server), via milvus-rag.

    ``dim`` may be omitted when the collection exists (or is first written with embedded
    nodes). Core options (``enable_bm25``, ``metric``, ``analyzer``, ``batch_size``, ...) pass
    through to :class:`~milvus_rag.client.CollectionConfig`. ``store=`` wraps an existing core
    store instead.

    llama-index-vector-stores-milvus's keywords (``overwrite``, ``similarity_metric``,
    ``enable_sparse``, ``hybrid_ranker``, ``text_key``, ``index_config``, ``search_config``,
    ...) are accepted with its meaning and defaults: see
    :mod:`milvus_rag.integrations.llama_index.compat` (``vocabulary`` says which one a store
    speaks).

    Example:
        >>> store = MilvusVectorStore(uri="./x.db", collection_name="docs", dim=384)
        >>> # VectorStoreIndex.from_vector_store(store, embed_model=emb).as_retriever(
        >>> #     vector_store_query_mode="hybrid").retrieve("question")
        >>> # or, as llama-index-vector-stores-milvus spells it:
        >>> # MilvusVectorStore(uri="./x.db", dim=384, overwrite=True, enable_sparse=True)
    """

    stores_text: bool = True
    flat_metadata: bool = False
    uri: str = DEFAULT_URI
    collection_name: str = DEFAULT_COLLECTION
    dim: int | None = None
    vocabulary: str = "milvus_rag"

    _store: AsyncMilvusStore = PrivateAttr()
    _first_use: FirstUse = PrivateAttr(default_factory=lambda: FirstUse(drop=False))
    _output_fields: tuple[str, ...] = PrivateAttr(default=())
    _alpha: float | None = PrivateAttr(default=None)
    _adopt: dict[str, Any] | None = PrivateAttr(default=None)
    _embedders: FieldEmbedders = PrivateAttr(default_factory=FieldEmbedders)
    _embed_models: dict[str, Any] = PrivateAttr(default_factory=dict)
    _no_validation: bool = PrivateAttr(default=False)
    _sparse_fn: Any = PrivateAttr(default=None)
    _doc_key: str = PrivateAttr(default="doc_id")
    _async_client: bool = PrivateAttr(default=True)
    _templates: Templates = PrivateAttr(default_factory=Templates)

    def __init__(
        self,
        uri: str | None = None,
        *,
        collection_name: str | None = None,
        dim: int | None = None,
        token: str | None = None,
        store: AsyncMilvusStore | MilvusStore | None = None,
        connection: ConnectionConfig | None = None,
        collection: CollectionConfig | None = None,
        tenant: str | None = None,
        **options: Any,
    ) -> None:
        embed_models = dict(options.pop("embed_models", None) or {})
        settings = llama_store_settings(uri, collection_name, options)
        if settings.sparse_function is not None:
            if settings.sparse_field in embed_models:
                raise ConfigError(
                    f"sparse_embedding_function and embed_models[{settings.sparse_field!r}] "
                    "both fill the sparse field: pass one of them"
                )
            embed_models[str(settings.sparse_field)] = settings.sparse_function
        if store is None and settings.vocabulary != "milvus_rag" and (connection or collection):
            raise ConfigError(
                "llama-index-vector-stores-milvus keywords configure the connection and "
                "collection themselves: pass uri= / token= instead of connection= / "
                "collection="
            )
        core = core_store(
            store,
            settings_given=any(
                x is not None for x in (uri, collection_name, dim, token, connection, collection)
            )
            or bool(options),
            build=lambda: AsyncMilvusStore(
                settings.uri,
                token=token or None,
                collection_name=settings.collection_name,
                dim=dim,
                connection=connection,
                collection=collection,
                **settings.options,
            ),
            tenant=tenant,
        )
        fields: dict[str, Any] = {
            "uri": core.connection.uri,
            "collection_name": core.name,
            "dim": core.config.dim,
            "vocabulary": settings.vocabulary,
        }
        super().__init__(**fields)
        self._store = core
        self._first_use = FirstUse(drop=settings.overwrite)
        self._output_fields = settings.output_fields
        self._alpha = settings.alpha
        if store is None and settings.existing is not None:
            self._adopt = {"dim": dim, **settings.existing}
        self._embed_models = embed_models
        self._embedders = FieldEmbedders.build(core.config, embed_models)
        self._no_validation = settings.no_validation
        if settings.sparse_function is not None:
            self._sparse_fn = settings.sparse_function.fn
        if settings.doc_id_is_id:  # doc_id_field="id": a node's doc id is its id
            self._doc_key = "id"
        self._async_client = settings.async_client

    @classmethod
    def class_name(cls) -> str:
        return "MilvusRAGVectorStore"

    def __repr__(self) -> str:
        return f"MilvusVectorStore({self._store.connection!r}, collection={self.collection_name!r})"

    @property
    def store(self) -> AsyncMilvusStore:
        """The core :class:`~milvus_rag.client.AsyncMilvusStore` doing the work. A store
        speaking llama-index-vector-stores-milvus's vocabulary settles it at its first
        operation: an existing collection is then opened with the user's own settings only."""
        return self._store

    @property
    def sparse_embedding_function(self) -> Any:
        """The client-side sparse encoder given as ``sparse_embedding_function`` (``None``:
        Milvus's BM25 function, or no sparse field)."""
        return self._sparse_fn

    @property
    def client(self) -> MilvusClient:
        """A pymilvus ``MilvusClient`` on this store's Milvus (llama-index-vector-stores-
        milvus's ``client``; on a Lite file the same engine), closed with the store
        (:meth:`~milvus_rag.client.AsyncMilvusStore.pymilvus_client`). The store's first-use
        step (``overwrite``, adopting an existing collection) runs first, so the client sees
        the collection as the store does. milvus-rag's core store is :attr:`store`."""
        run_sync(self._learn_dim())
        return self._store.pymilvus_client()

    @property
    def aclient(self) -> AsyncMilvusClient | None:
        """A pymilvus ``AsyncMilvusClient`` on this store's Milvus (see :attr:`client`);
        ``None`` with llama's ``use_async_client=False``."""
        if not self._async_client:
            return None
        run_sync(self._learn_dim())
        return self._store.pymilvus_aclient()

    # --- helpers ----------------------------------------------------------------------

    def _privates(self) -> dict[str, Any]:
        """This store's private attributes, pydantic's own dict: a query reads them through
        it (``self._store`` costs pydantic's ``__getattr__``, 1.8 µs a read)."""
        return cast(dict[str, Any], self.__pydantic_private__)

    async def _learn_dim(self) -> None:
        """Before every operation: ``overwrite=True`` drops the collection (once, before the
        store's first operation); a store opened without ``dim`` takes it from the existing
        collection (the core's :meth:`~milvus_rag.client.AsyncMilvusStore.ensure_dim`)."""
        private = self._privates()
        first: FirstUse = private["_first_use"]
        if not first.ready:
            await first.run(self._drop_for_overwrite, self._adopt_existing)
        dim = await private["_store"].ensure_dim()  # read after run: adopting replaces it
        if dim != self.dim or "dim" not in self.__pydantic_fields_set__:
            self.dim = dim

    @property
    def _overwrite(self) -> bool:
        """``overwrite=True`` and the collection not dropped yet."""
        return self._first_use.drop_pending

    async def _drop_for_overwrite(self) -> None:
        self._adopt = None  # nothing left to adopt
        await self._store.drop()

    async def aready(self) -> AsyncMilvusStore:
        """The core store, settled for use (``overwrite`` done, an existing collection
        adopted, ``dim`` learned): for code that searches the core directly (the fan-out
        retriever)."""
        await self._learn_dim()
        return self._store

    def _field_embedders(self) -> FieldEmbedders:
        """The embedders of the vector fields, checked against the collection as it is now
        (an existing one adopted at first use may hold other fields than configured)."""
        self._embedders.check(self._store.config)
        return self._embedders

    async def _adopt_existing(self) -> bool:
        """A store speaking llama-index-vector-stores-milvus's vocabulary opens an existing
        collection with the user's own settings only: the core adopts its layout, metric and
        analyzer instead of the defaults a new collection gets (as that library does). Runs
        under the first-use lock (:class:`~milvus_rag.integrations.fronts.FirstUse`)."""
        options, old = self._adopt, self._store
        if options is not None and await old.exists():
            core = AsyncMilvusStore(connection=old.connection, collection_name=old.name, **options)
            self._store = core.for_tenant(old.tenant) if old.tenant is not None else core
            core.share_handles(old)  # the pymilvus clients handed out stay open
            await old.aclose()
        self._adopt = None
        if self.vocabulary == "llama_index":
            await self._create_as_llama()
        return True

    async def _create_as_llama(self) -> None:
        """llama-index-vector-stores-milvus creates a missing collection when the store is
        built: so does this store at its first use (``client`` included), when it knows the
        dense dim (or has no dense field). ``index_management='no_validation'`` leaves an
        existing collection as it is; the default opens (checks and loads) it."""
        cfg, core = self._store.config, self._store
        if await core.exists():
            if not self._no_validation:  # read again: its indexes may have changed
                await core.ensure_collection(fresh=True)
        elif cfg.dim is not None or not cfg.enable_dense:
            await core.ensure_collection()

    @staticmethod
    def build_filter(
        filters: MetadataFilters | None,
        node_ids: Sequence[str] | None = None,
        doc_ids: Sequence[str] | None = None,
        doc_key: str = "doc_id",
    ) -> dict[str, Any] | None:
        """The core filter dict for LlamaIndex filters, restricted to ids / doc ids
        (``doc_key``: the key doc ids are matched on, ``"id"`` with ``doc_id_field="id"``)."""
        return combine_filters(
            metadata_filters_to_dict(filters),
            {"id": {"$in": list(node_ids)}} if node_ids is not None else None,
            {doc_key: {"$in": list(doc_ids)}} if doc_ids is not None else None,
        )

    @staticmethod
    def hits_to_result(
        hits: Sequence[Hit], *, raw: bool = False, output_fields: Sequence[str] = ()
    ) -> VectorStoreQueryResult:
        """Nodes, similarities and ids of ``hits``, best first. Similarities are
        ``Hit.relevance``, or with ``raw`` Milvus's own scores (``Hit.distance``, what
        llama-index-vector-stores-milvus returns). ``output_fields``: the metadata keys the
        nodes keep (all when empty)."""
        nodes = [record_to_node(h.record) for h in hits]
        if output_fields:
            keep = set(output_fields)
            for node in nodes:
                node.metadata = {k: v for k, v in node.metadata.items() if k in keep}
        return VectorStoreQueryResult(
            nodes=nodes,
            similarities=[
                float(h.relevance if not raw and h.has_relevance else h.distance) for h in hits
            ],
            ids=[h.id for h in hits],
        )

    # --- writes -----------------------------------------------------------------------

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        """Upsert nodes (embeddings set); returns their ids."""
        dense = self._store.config.enable_dense
        missing = [n.node_id for n in nodes if n.embedding is None] if dense else []
        if missing:
            raise InvalidInputError(
                f"{len(missing)} node(s) have no embedding (first: {missing[0]!r}): embed them "
                "first, e.g. give VectorStoreIndex an embed_model or put one in the "
                "IngestionPipeline's transformations"
            )
        opts = llama_write_options(kwargs, "add")
        tenancy = pop_tenancy(opts)
        self._store.scope(operation="add", **tenancy)  # a tenant is named, or raise
        records = [node_to_record(n) for n in nodes]
        if not records:
            return []
        await self._learn_dim()
        embedders = self._field_embedders()
        if not self._store.config.enable_dense:  # sparse-only: nothing holds an embedding
            for r in records:
                r.vector = None
        vectors = await embedders.vectors([r.text for r in records])
        for r, v in zip(records, vectors, strict=True):
            r.vectors.update(v)
        ids = await self._store.upsert(records, **tenancy)  # a new collection takes their dim
        self.dim = self._store.config.dim
        if opts.get("force_flush"):
            await self._store.flush()
        return ids

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        return run_sync(self.async_add(nodes, **kwargs))

    async def adelete(self, ref_doc_id: str | list[str], **delete_kwargs: Any) -> None:
        """Delete every node whose ``ref_doc_id`` is ``ref_doc_id`` (or one of a list), of
        the tenant (with llama's ``doc_id_field="id"``: the nodes of those ids)."""
        tenancy = pop_tenancy(llama_write_options(delete_kwargs, "delete"))
        self._store.scope(operation="delete", **tenancy)
        await self._learn_dim()
        ref: Any = {"$in": list(ref_doc_id)} if isinstance(ref_doc_id, list) else ref_doc_id
        await self._store.delete(filter={self._doc_key: ref}, **tenancy)

    def delete(self, ref_doc_id: str | list[str], **delete_kwargs: Any) -> None:
        run_sync(self.adelete(ref_doc_id, **delete_kwargs))

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete nodes by id and/or filters (both given: the nodes matching both).

        With neither, nothing is deleted (use :meth:`clear` to remove everything)."""
        flt = metadata_filters_to_dict(filters)
        t = pop_tenancy(llama_write_options(delete_kwargs, "delete"))
        self._store.scope(flt, operation="delete_nodes", **t)
        if node_ids is None and flt is None:
            return
        await self._learn_dim()
        if flt is None:
            await self._store.delete(ids=list(node_ids or []), **t)
        elif node_ids is None:
            await self._store.delete(filter=flt, **t)
        else:
            for _, within in ids_within(list(node_ids), flt):
                await self._store.delete(filter=within, **t)

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        run_sync(self.adelete_nodes(node_ids, filters, **delete_kwargs))

    async def aclear(self) -> None:
        """Drop the collection; the next operation recreates it (same dim and options)."""
        await self._learn_dim()
        await self._store.drop()

    def clear(self) -> None:
        run_sync(self.aclear())

    # --- reads ------------------------------------------------------------------------

    async def aget_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **kwargs: Any,
    ) -> list[BaseNode]:
        """Nodes by id (in the order asked) and/or matching ``filters``, equal to the nodes
        stored (their ``embedding`` included: the primary dense field's vector).

        With neither, every node (read past the 16,384-row window, a page at a time, by
        ``AsyncMilvusStore.iterate``). A store speaking llama-index-vector-stores-milvus's
        vocabulary takes exactly one of them, as that library does (``ValueError``
        otherwise)."""
        t = pop_tenancy(llama_write_options(kwargs, "get_nodes"))
        flt = metadata_filters_to_dict(filters)
        if self.vocabulary == "llama_index":
            check_get_nodes_args(node_ids, filters, flt)
        self._store.scope(flt, operation="get_nodes", **t)
        await self._learn_dim()
        vec = self._store.config.enable_dense
        if node_ids is not None and flt is None:
            records = await self._store.get(list(node_ids), with_vectors=vec, **t)
        elif node_ids is not None:
            ids = list(dict.fromkeys(node_ids))
            found: dict[str, Record] = {}
            for chunk, within in ids_within(ids, flt):
                for r in await self._store.query(within, limit=len(chunk), with_vectors=vec, **t):
                    found[r.id] = r
            records = [found[i] for i in ids if i in found]
        else:
            pages = self._store.iterate(flt, batch_size=_NODE_PAGE, with_vectors=vec, **t)
            records = [r async for r in pages]
        return [record_to_node(r) for r in records]

    def get_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **kwargs: Any,
    ) -> list[BaseNode]:
        return run_sync(self.aget_nodes(node_ids, filters, **kwargs))

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Search in the query's mode; see the module docs for modes, similarities and the
        query keywords (``search_params``, ``radius``, ``range_filter``,
        ``consistency_level``, ``timeout``, ``group_by`` / ``group_size`` /
        ``strict_group_size``: ``similarity_top_k`` documents, not chunks; MMR's ``mmr_*``; llama-index-vector-stores-milvus's
        ``milvus_search_config``, ``milvus_scalar_filters``, ``string_expr``)."""
        hits = await self.ahits(query, **kwargs)
        return self.hits_to_result(
            hits,
            raw=self.vocabulary == "llama_index",
            output_fields=query.output_fields or self._privates()["_output_fields"],
        )

    async def ahits(self, query: VectorStoreQuery, **kwargs: Any) -> list[Hit]:
        """The core's hits of :meth:`aquery` (before they become nodes)."""
        mode = VectorStoreQueryMode(query.mode)
        if mode not in _SUPPORTED_MODES:
            raise unsupported_mode(mode.value, [m.value for m in _SUPPORTED_MODES])
        private = self._privates()
        cfg = private["_store"].config
        opts = llama_query_options(kwargs, cfg.metric)
        if (
            self.vocabulary == "llama_index"
            and mode in _BM25_MODES
            and not any(not f.is_dense for f in cfg.vector_fields)
        ):
            raise ConfigError(
                f"query mode {mode.value!r} needs a sparse field: create the store with "
                "enable_sparse=True"
            )
        # LlamaIndex passes empty id lists for "no restriction" (as_retriever() does)
        flt: Any = combine_filters(
            self.build_filter(
                query.filters, query.node_ids or None, query.doc_ids or None, private["_doc_key"]
            ),
            opts.filter,
        )
        if opts.string_expr is not None:
            if flt is not None:
                raise ConfigError(
                    "string_expr (a raw Milvus expression) cannot be combined with filters, "
                    "doc_ids, node_ids or milvus_scalar_filters: put it all in one of them"
                )
            flt = opts.string_expr
        await self._learn_dim()
        if mode is VectorStoreQueryMode.MMR:
            return await self._mmr(query, flt, opts)
        raw = self.vocabulary == "llama_index"  # similarities: distances, not relevance
        alpha = query.alpha if query.alpha is not None else private["_alpha"]
        store: AsyncMilvusStore = private["_store"]
        cfg = store.config
        if opts.fields is None and not cfg.extra_vector_fields and cfg.enable_dense:
            request = self._default_request(store, mode, query, flt, alpha, raw, opts)
        else:  # several vector fields, or a sparse-only collection: one leg per field
            embedders = self._field_embedders()
            request = await legs_request(cfg, embedders, mode, query, flt, alpha, opts, raw)
        return await store.search(request)

    def _default_request(
        self,
        store: AsyncMilvusStore,
        mode: VectorStoreQueryMode,
        query: VectorStoreQuery,
        flt: Any,
        alpha: float | None,
        raw: bool,
        opts: LlamaQueryOptions,
    ) -> SearchRequest:
        """:func:`~.search.default_request`, prepared once per call shape (everything but
        the query: :mod:`milvus_rag.integrations.templates`)."""
        templates: Templates = self._privates()["_templates"]
        sizes = (query.similarity_top_k, query.sparse_top_k, query.hybrid_top_k)
        key = shape_key(mode, *sizes, alpha, raw, flt, opts.search)
        template = templates.get(store.config, key)
        if template is not None:
            return template.for_query(*query_of(mode, query))
        if key is not None:  # kept: the caller's values must not change it later
            flt, opts = copy.deepcopy((flt, opts))
        request = default_request(mode, query, flt, alpha, {"relevance": not raw, **opts.search})
        return templates.put(key, store.prepare(request))

    async def _mmr(self, query: VectorStoreQuery, flt: Any, opts: LlamaQueryOptions) -> list[Hit]:
        k = query.similarity_top_k
        if query.query_embedding is None:
            raise ConfigError("MMR needs a query_embedding")
        grouped = sorted(n for n in GROUP_OPTIONS if opts.search.get(n) not in (None, False))
        if grouped:
            raise ConfigError(f"MMR does not group its hits: drop {grouped} or use another mode")
        prefetch = opts.mmr_prefetch_k
        if prefetch is None:
            factor = float(opts.mmr_prefetch_factor or 4)
            prefetch = max(20, int(k * factor))
        threshold = query.mmr_threshold
        if threshold is None:
            threshold = opts.mmr_threshold  # as LlamaIndex's own stores read it
        lam = 0.5 if threshold is None else float(threshold)
        hits = await self._store.mmr_search(
            query.query_embedding,
            k=k,
            fetch_k=min(max(int(prefetch), k), QUERY_WINDOW),
            lambda_mult=lam,
            filter=flt,
            **opts.search,
        )
        for h in hits:
            h.record.vector = None  # the candidates' vectors were only needed for MMR
        return hits

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        return run_sync(self.aquery(query, **kwargs))

    # --- lifecycle --------------------------------------------------------------------

    async def aclose(self) -> None:
        """Release the core store's clients (and the Milvus Lite file lock)."""
        await self._store.aclose()

    def close(self) -> None:
        run_sync(self.aclose())
