"""The plumbing of langchain-milvus's ``Milvus`` on milvus-rag (the base of
:class:`~milvus_rag.integrations.langchain.Milvus`): the first-use step (``drop_old``, then
the layout: an existing collection adopted, a new one's typed columns inferred from the first
write), rows <-> documents as langchain-milvus returns them, and the searches (one field, or
several fused: every vector field, as langchain-milvus searches them).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.documents import Document

from milvus_rag.client.errors import InvalidInputError
from milvus_rag.client.records import Hit, Record, public_metadata
from milvus_rag.client.request import DENSE_OPTIONS, RetrievalMode, SearchRequest
from milvus_rag.client.store import AsyncMilvusStore
from milvus_rag.integrations.fronts import FirstUse, with_leg_queries
from milvus_rag.integrations.langchain import compat_search as search_kw
from milvus_rag.integrations.langchain import compat_settings as compat
from milvus_rag.integrations.langchain.compat_attrs import LangchainMilvusAttributes
from milvus_rag.integrations.langchain.compat_fields import FieldLayout, adopt_metrics
from milvus_rag.integrations.langchain.documents import combine_filter, doc_id_of
from milvus_rag.integrations.langchain.store import MilvusVectorStore

__all__ = ["CompatBase"]

log = logging.getLogger("milvus_rag")


class CompatBase(LangchainMilvusAttributes, MilvusVectorStore):
    """First use, rows <-> documents and searches of :class:`Milvus` (which sets the
    attributes below in its constructor)."""

    _plan: compat.CompatPlan
    layout: FieldLayout
    _first_use: FirstUse
    _dropped_logged: set[tuple[str, ...]]

    # --- first use: drop_old, then the layout ------------------------------------------

    async def _settle(
        self, metadata: Mapping[str, Any] | None = None, *, write: bool, ids: bool = True
    ) -> bool:
        """Drop the old collection (``drop_old``, once), then settle the layout: an existing
        collection is adopted as it is; a new one takes the first write's metadata keys as
        typed columns (langchain-milvus's default) and, written without ids, Milvus's
        auto ids. False: no collection yet and this is a read (it finds nothing, and
        creates nothing: the first write decides the layout)."""

        async def settle() -> bool:
            if await self.store.exists():
                await self._adopt_metrics()
                return True
            if not write:  # langchain-milvus: no collection yet, nothing found
                return False
            options = dict(self._plan.store_options)
            if self._plan.infer_metadata:
                reserved = [*self.vector_fields, self._primary_field, self._text_field]
                given = self._plan.metadata_types  # metadata_schema's types win
                rest = {k: v for k, v in (metadata or {}).items() if k not in given}
                inferred = compat.infer_metadata_types(rest, reserved)
                if self._plan.partition_key_field is not None:
                    inferred.pop(self._plan.partition_key_field, None)
                options = self._plan.with_metadata_types(inferred)
            if not ids and not self._plan.auto_id:  # langchain-milvus switches to auto ids
                options.update(id_type="int64", auto_id=True)
            if options != self._plan.store_options:
                old, self.store = self.store, AsyncMilvusStore(**options)
                self.store.share_handles(old)  # the pymilvus clients handed out stay open
                await old.aclose()
            return True

        return await self._first_use.run(self.store.drop, settle)

    async def _adopt_metrics(self) -> None:
        """An existing collection: the dense fields whose metric the caller left unset take
        the metric of the collection's index (langchain-milvus searches with the indexes a
        collection has)."""
        if all(not f.is_dense or f.name in self.layout.set_metrics for f in self.layout.fields):
            return
        existing = await self.store.existing_vector_fields()
        found = {f.name: f.metric for f in existing or () if f.metric}
        layout = adopt_metrics(self.layout, found)
        if layout == self.layout:
            return
        options = compat.with_layout(self._plan.store_options, layout)
        self.layout, self._plan = (
            layout,
            dataclasses.replace(
                self._plan, store_options=options, layout=layout, metric=options["metric"]
            ),
        )
        old, self.store = self.store, AsyncMilvusStore(**options)
        self.store.share_handles(old)  # the pymilvus clients handed out stay open
        await old.aclose()

    async def _ensure_dim(self) -> None:
        await self._settle(write=False)
        await super()._ensure_dim()

    def _tenancy_default(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """langchain-milvus's partition key is a column, not a scope: calls cover every
        tenant unless they name one."""
        if self.store.config.tenant_field is not None and kwargs.get("tenant") is None:
            kwargs.setdefault("all_tenants", True)
        return kwargs

    # --- rows <-> documents ------------------------------------------------------------

    def _pk(self, id: Any) -> Any:
        """An id as langchain-milvus returns it: an int on an INT64 key (the core's ids are
        their decimal strings there), else the str."""
        return int(id) if self.store.config.id_type == "int64" else id

    def _to_document(self, record: Record) -> Document:
        metadata = public_metadata(record.metadata)
        if self.store.config.metadata_field is None:  # langchain-milvus: the row's fields
            metadata[self._primary_field] = self._pk(record.id)
        return Document(id=str(record.id), page_content=record.text, metadata=metadata)

    def _to_record(self, text: str, metadata: Mapping[str, Any] | None, id: Any) -> Record:
        if metadata is not None and not isinstance(metadata, Mapping):
            raise InvalidInputError(f"metadata must be a dict, got {type(metadata).__name__}")
        meta = {k: v for k, v in (metadata or {}).items() if k != self._primary_field}
        return Record(id=id, text=text, metadata=meta, doc_id=doc_id_of(meta))

    def _drop_uncolumned(self, records: list[Record]) -> list[Record]:
        """langchain-milvus without a metadata field or dynamic fields: keys that have no
        column are not written (logged once per set of keys), as langchain-milvus does."""
        cfg = self.store.config
        columns = [*cfg.metadata_fields, *([cfg.tenant_field] if cfg.tenant_field else [])]
        out = []
        for r in records:
            kept, dropped = compat.split_uncolumned(r.metadata, columns)
            if dropped and tuple(dropped) not in self._dropped_logged:
                self._dropped_logged.add(tuple(dropped))
                log.warning(
                    "milvus-rag: metadata %s not stored: collection %r has no column for it "
                    "and no JSON or dynamic field (as langchain-milvus; enable_dynamic_field=True "
                    "or metadata_field= keeps any key)",
                    dropped,
                    cfg.name,
                )
            out.append(dataclasses.replace(r, metadata=kept) if dropped else r)
        return out

    def _shaped(
        self,
        query: str | None,
        k: int,
        kwargs: dict[str, Any],
        method: str,
        *,
        dense_only: bool = False,
        **fixed: Any,
    ) -> tuple[SearchRequest, bool]:
        kwargs = self._tenancy_default(dict(kwargs))
        if self.layout.by_legs and not dense_only:  # every field, as langchain-milvus
            options = search_kw.legs_options(kwargs, self.layout)
            params = options.pop("leg_params", None)
            kwargs.update(options)
            return super()._shaped(query, k, kwargs, method, leg_params=params, **fixed)
        hybrid = not dense_only and self.retrieval_mode is RetrievalMode.HYBRID
        kwargs.update(search_kw.search_options(kwargs, self.store.config.metric, hybrid=hybrid))
        return super()._shaped(query, k, kwargs, method, dense_only=dense_only, **fixed)

    async def _scored(
        self, query: str, k: int, kwargs: dict[str, Any], method: str, relevance: bool = False
    ) -> list[tuple[Document, Hit]]:
        if not await self._settle(write=False):
            return []
        hits = await self._ahits(query, k, kwargs, method, relevance)
        return [(self._to_document(h.record), h) for h in hits]

    def _raw(self, kwargs: Mapping[str, Any]) -> bool:
        """Whether a search's score is Milvus's raw distance (one field searched) rather
        than a fused score."""
        if self.layout.by_legs:
            return len(self.layout.names) == 1
        return self._plan_mode(kwargs) is RetrievalMode.DENSE

    async def asimilarity_search_with_score(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents and Milvus's score: the raw distance of a search of one field (L2:
        lower is closer), the fused score of several (a hybrid search)."""
        raw = self._raw(kwargs)
        hits = await self._scored(query, k, kwargs, "similarity_search_with_score")
        return [(d, h.distance if raw else h.score) for d, h in hits]

    async def asimilarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` documents best matching ``query`` (every vector field searched: dense,
        BM25 and sparse fields fused)."""
        return [d for d, _ in await self._scored(query, k, kwargs, "similarity_search")]

    async def _asimilarity_search_with_relevance_scores(
        self, query: str, k: int = 4, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        raw = self._raw(kwargs)
        method = "similarity_search_with_relevance_scores"
        hits = await self._scored(query, k, kwargs, method, relevance=not raw)
        if raw:  # langchain-milvus's map
            metric = self.layout.fields[0].metric if self.layout.by_legs else None
            fn = search_kw.relevance_fn(str(metric or self.store.config.metric))
            return [(d, fn(h.distance)) for d, h in hits]
        return [(d, min(1.0, max(0.0, h.relevance))) for d, h in hits]

    def _plan_mode(self, kwargs: Mapping[str, Any]) -> RetrievalMode:
        mode = kwargs.get("retrieval_mode") or kwargs.get("mode")
        return self.retrieval_mode if mode is None else RetrievalMode.parse(mode)

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """langchain-milvus's: L2 ``1 - d/4``, IP / COSINE ``(s + 1) / 2``."""
        return search_kw.relevance_fn(self.store.config.metric)

    async def asimilarity_search_by_vector(
        self, embedding: list[float] | dict[int, float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        """A search of one field with a query vector (``param``, ``expr``, ``timeout``...):
        the dense field, or with a sparse vector ``{index: weight}`` the sparse one."""
        if not await self._settle(write=False):
            return []
        method = "similarity_search_by_vector"
        if self.layout.by_legs:
            name = search_kw.field_of_vector(embedding, self.layout)
            kwargs = {**self._tenancy_default(dict(kwargs)), "fields": [name]}
            kwargs.update(
                search_kw.search_options(kwargs, str(self.layout.field(name).metric), hybrid=False)
            )
            params = kwargs.pop("search_params", None)
            shaped = MilvusVectorStore._shaped(  # the options are translated above
                self, None, k, kwargs, method, leg_params={name: params} if params else None
            )
            request = self._for_query(shaped, None)
            await self._ensure_dim()
            request = with_leg_queries(request, {name: embedding})
        else:
            request = self._request(None, k, kwargs, method, dense_only=True, mode="dense")
            await self._ensure_dim()
            request = request.with_vector(embedding)  # type: ignore[arg-type]
        hits = await self.store.search(request)
        return [self._to_document(h.record) for h in hits]

    async def amax_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """MMR over the ``fetch_k`` nearest candidates of ``query`` by the dense field."""
        search_kw.check_mmr(self.layout)
        return await super().amax_marginal_relevance_search(
            query, k, fetch_k, lambda_mult, **kwargs
        )

    async def amax_marginal_relevance_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        **kwargs: Any,
    ) -> list[Document]:
        """MMR over the ``fetch_k`` nearest dense candidates of ``embedding``."""
        search_kw.check_mmr(self.layout)
        if not await self._settle(write=False):
            return []
        kwargs = self._tenancy_default(dict(kwargs))
        kwargs.update(search_kw.search_options(kwargs, self.store.config.metric, hybrid=False))
        flt = combine_filter(kwargs.pop("filter", None), kwargs.pop("expr", None))
        opts = {n: kwargs.pop(n) for n in DENSE_OPTIONS if n in kwargs}
        self._no_more(kwargs, "max_marginal_relevance_search")
        await self._ensure_dim()
        hits = await self.store.mmr_search(
            embedding, k=k, fetch_k=fetch_k, lambda_mult=lambda_mult, filter=flt, **opts
        )
        return [self._to_document(h.record) for h in hits]
