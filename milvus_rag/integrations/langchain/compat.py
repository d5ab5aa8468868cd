"""``Milvus``: langchain-milvus 0.4's constructor, methods and keywords over milvus-rag.

Only the import changes::

    from langchain_milvus import Milvus                     # before
    from milvus_rag.integrations.langchain import Milvus    # after

The vocabulary is mapped by the pure :mod:`.compat_settings`; this class is the I/O side:
it drops the old collection (``drop_old``) and settles the collection's layout on first use
(langchain-milvus's typed metadata columns are inferred from the first metadata written), and
maps langchain-milvus's methods (``get_pks``, ``upsert(ids, documents)``,
``search_by_metadata``, ``add_embeddings``...) onto :class:`MilvusVectorStore`, whose
LangChain API it keeps.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.records import Record
from milvus_rag.client.sync import run_sync
from milvus_rag.integrations.fronts import FirstUse
from milvus_rag.integrations.langchain import compat_settings as compat
from milvus_rag.integrations.langchain.compat_base import CompatBase
from milvus_rag.integrations.langchain.compat_fields import as_list, from_list

__all__ = ["Milvus"]

_COMPAT_ARGS = (
    "collection_description",
    "collection_properties",
    "index_params",
    "search_params",
    "drop_old",
    "auto_id",
    "primary_field",
    "text_field",
    "vector_field",
    "enable_dynamic_field",
    "metadata_field",
    "partition_key_field",
    "num_partitions",
    "partition_names",
    "replica_number",
    "timeout",
    "num_shards",
    "vector_schema",
    "metadata_schema",
)


class Milvus(CompatBase):
    """langchain-milvus's ``Milvus`` on milvus-rag: the same arguments with the same meaning.

    Defaults are langchain-milvus's: ``connection_args={"uri": "http://localhost:19530"}``,
    collection ``LangChainCollection``, fields ``pk`` / ``text`` / ``vector``, metric L2,
    consistency ``Session``, the first write's metadata keys as typed columns (or
    ``enable_dynamic_field=True`` / ``metadata_field="metadata"``), dense search; with
    ``builtin_function=BM25BuiltInFunction()`` searches are hybrid (dense + BM25, fused by
    RRF). Several vector fields as langchain-milvus has them: ``embedding_function`` as a list
    (dense ``Embeddings`` and sparse embedders), ``vector_field`` / ``index_params`` /
    ``search_params`` as lists, a search over every field fused (a weighted reranker's
    weights in the fields' order; see :mod:`.compat_fields`). ``similarity_search_with_score``
    returns Milvus's raw distance of a one-field search (lower is closer for L2), and
    ``Document.metadata`` carries the primary key under ``pk``, as langchain-milvus does. Settings with no counterpart raise :class:`ConfigError` (see README, "From
    langchain-milvus").

    Example:
        >>> store = Milvus(embedding_function=emb,  # doctest: +SKIP
        ...                connection_args={"uri": "./milvus_example.db"})
        >>> two = Milvus(embedding_function=[emb, sparse_emb],  # doctest: +SKIP
        ...              vector_field=["dense", "splade"], connection_args={"uri": "./x.db"})
        >>> store.add_documents(docs, ids=["1", "2"])  # doctest: +SKIP
        >>> store.similarity_search("thud", k=1, expr="baz == 'baz'")  # doctest: +SKIP
    """

    def __init__(
        self,
        embedding_function: Any,  # Embeddings, a sparse embedder, a list of them, or None
        collection_name: str = compat.DEFAULT_COLLECTION,
        collection_description: str = "",
        collection_properties: dict[str, Any] | None = None,
        connection_args: dict[str, Any] | None = None,
        consistency_level: str = compat.DEFAULT_CONSISTENCY,
        index_params: dict[str, Any] | list[dict[str, Any]] | None = None,
        search_params: dict[str, Any] | list[dict[str, Any]] | None = None,
        drop_old: bool | None = False,
        auto_id: bool = False,
        *,
        primary_field: str = compat.PRIMARY_FIELD,
        text_field: str = compat.TEXT_FIELD,
        vector_field: str | list[str] = compat.VECTOR_FIELD,
        enable_dynamic_field: bool = False,
        metadata_field: str | None = None,
        partition_key_field: str | None = None,
        num_partitions: int | None = None,
        partition_names: list[str] | None = None,
        replica_number: int = 1,
        timeout: float | None = None,
        num_shards: int | None = None,
        vector_schema: dict[str, Any] | list[dict[str, Any]] | None = None,
        metadata_schema: dict[str, Any] | None = None,
        builtin_function: Any = None,
    ) -> None:
        args = dict(locals())
        self._plan = compat.plan(
            embedding_function=embedding_function,
            builtin_function=builtin_function,
            collection_name=collection_name,
            connection_args=connection_args,
            consistency_level=consistency_level,
            **{name: args[name] for name in _COMPAT_ARGS},
        )
        self.layout = layout = self._plan.layout
        by_field = dict(zip(layout.embedded, as_list(embedding_function), strict=True))
        primary = next((f.name for f in layout.fields if f.is_dense), None)
        super().__init__(
            by_field.pop(primary) if primary is not None else None,
            embeddings=by_field,
            retrieval_mode=self._plan.mode,
            **self._plan.store_options,
        )
        self.embedding_func = from_list(embedding_function)
        self._index_params = index_params
        self._search_params = search_params
        self.builtin_func = builtin_function
        self._first_use = FirstUse(drop=self._plan.drop_old)
        self._dropped_logged: set[tuple[str, ...]] = set()

    def _with_given(self, record: Record, vector: Any) -> Record:
        """``record`` with ``add_embeddings``' vector for it: one per embedding function
        (a list of them, in their order, with several)."""
        names = self.layout.embedded
        given = list(vector) if len(names) > 1 else [vector]
        if len(given) != len(names):
            raise InvalidInputError(
                f"add_embeddings: each text takes {len(names)} embeddings, one per embedding "
                f"function (fields {list(names)}), got {len(given)}"
            )
        cfg = self.store.config
        by_field = dict(zip(names, given, strict=True))
        primary = by_field.pop(cfg.vector_field) if cfg.enable_dense else None
        return dataclasses.replace(record, vector=primary, vectors=by_field)

    @staticmethod
    def _no_timeout(timeout: float | None, method: str) -> None:
        if timeout is not None:
            raise ConfigError(
                f"{method}(timeout=) has no counterpart: set timeout= on the store "
                "(it bounds every request)"
            )

    async def _write(
        self,
        texts: Any,
        metadatas: Sequence[Mapping[str, Any] | None] | None,
        ids: Sequence[Any] | None,
        vectors: Sequence[Sequence[float]] | None,
        kwargs: dict[str, Any],
        method: str,
        replace: bool = False,
        batch_size: int | None = None,
    ) -> list[Any]:
        """Add (or, with ``replace``, upsert by id) rows; embeds unless ``vectors``;
        ``batch_size``: at most that many rows a write request."""
        self.store.with_batch_size(batch_size)  # a bad one fails before anything
        if isinstance(texts, str):
            raise InvalidInputError("texts must be a list of str, not one str")
        texts = list(texts)
        metas = list(metadatas) if metadatas is not None else [None] * len(texts)
        if len(metas) != len(texts) or (vectors is not None and len(vectors) != len(texts)):
            raise InvalidInputError(f"{method}: pass one metadata / embedding per text")
        if ids is not None and len(ids) != len(texts):
            raise InvalidInputError(f"{method}: got {len(ids)} ids for {len(texts)} texts")
        tenancy = self._tenancy(self._tenancy_default(kwargs))
        self._no_more(kwargs, method)
        if not texts:
            return []
        await self._settle(metas[0], write=True, ids=ids is not None)
        if self.auto_id and ids is not None:
            if not replace:
                raise ConfigError(
                    f"{method}(ids=) on an auto_id collection: Milvus assigns the ids; use "
                    "upsert(ids, documents) to replace rows"
                )
            # Milvus assigns auto ids: replacing a row is deleting it and adding a new one
            await super()._ensure_dim()
            await self.store.delete(list(ids), **tenancy)
            ids = None
        if ids is None and not self.auto_id:
            ids = [str(uuid.uuid4()) for _ in texts]
        row_ids: list[Any] = list(ids) if ids is not None else [""] * len(texts)
        records = [self._to_record(t, m, i) for t, m, i in zip(texts, metas, row_ids, strict=True)]
        if vectors is not None:
            records = [self._with_given(r, v) for r, v in zip(records, vectors, strict=True)]
        await super()._ensure_dim()
        if self.store.config.metadata_storage == "columns":
            await self.store.ensure_collection()  # an existing collection's columns adopted
            records = self._drop_uncolumned(records)
        cfg = self.store.config
        embed = None
        if vectors is None:
            records = await self.field_embedders.with_vectors(cfg, records)
            embed = self.embedding.aembed_documents if cfg.enable_dense else None
        store = self.store.with_batch_size(batch_size)  # a view, after the dim is known
        written = await store.upsert(records, embed=embed, **tenancy)
        return [self._pk(i) for i in written]

    # --- writes ------------------------------------------------------------------------

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        timeout: float | None = None,
        batch_size: int | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and add ``texts``; without ids (and ``auto_id``) Milvus assigns them."""
        self._no_timeout(timeout, "add_texts")
        texts = list(texts) if not isinstance(texts, str) else texts
        return await self._write(
            texts, metadatas, ids, None, kwargs, "add_texts", batch_size=batch_size
        )

    def add_texts(self, texts: Iterable[str], *args: Any, **kwargs: Any) -> list[str]:
        """Embed and add ``texts``; without ids (and ``auto_id``) Milvus assigns them."""
        return run_sync(self.aadd_texts(texts, *args, **kwargs))

    async def aadd_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Add documents; ids from ``ids=``, then ``Document.id``, else assigned."""
        documents = list(documents)
        ids = kwargs.pop("ids", None)
        if ids is None and documents and all(d.id for d in documents):
            ids = [d.id for d in documents]
        return await self.aadd_texts(
            [d.page_content for d in documents], [d.metadata for d in documents], ids=ids, **kwargs
        )

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Add documents; ids from ``ids=``, then ``Document.id``, else assigned."""
        return run_sync(self.aadd_documents(documents, **kwargs))

    async def aadd_embeddings(
        self,
        texts: list[str],
        embeddings: list[list[float]],
        metadatas: list[dict[str, Any]] | None = None,
        timeout: float | None = None,
        batch_size: int | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Add ``texts`` with their precomputed ``embeddings`` (nothing is embedded)."""
        self._no_timeout(timeout, "add_embeddings")
        return await self._write(
            texts, metadatas, ids, embeddings, kwargs, "add_embeddings", batch_size=batch_size
        )

    def add_embeddings(
        self, texts: list[str], embeddings: list[list[float]], *args: Any, **kwargs: Any
    ) -> list[str]:
        """Add ``texts`` with their precomputed ``embeddings`` (nothing is embedded)."""
        return run_sync(self.aadd_embeddings(texts, embeddings, *args, **kwargs))

    async def aupsert(
        self,
        ids: list[Any] | None = None,
        documents: list[Document] | None = None,
        batch_size: int | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        """Replace the rows ``ids`` by ``documents`` (without ids: add them). On an
        ``auto_id`` collection the old rows are deleted and the documents added under new
        ids (Milvus assigns them)."""
        self._no_timeout(timeout, "upsert")
        if not documents:
            return
        if not ids:
            await self.aadd_documents(documents, batch_size=batch_size, **kwargs)
            return
        if len(set(ids)) != len(documents):
            raise InvalidInputError("upsert: pass one distinct id per document")
        texts, metas = [d.page_content for d in documents], [d.metadata for d in documents]
        await self._write(
            texts, metas, ids, None, kwargs, "upsert", replace=True, batch_size=batch_size
        )

    def upsert(self, *args: Any, **kwargs: Any) -> None:
        """Replace the rows ``ids`` by ``documents`` (without ids: add them)."""
        run_sync(self.aupsert(*args, **kwargs))

    async def adelete(
        self, ids: list[Any] | None = None, expr: str | None = None, **kwargs: Any
    ) -> bool | None:
        """Delete by ids or by a boolean expression ``expr``; True when done."""
        if ids and expr is not None:
            raise ConfigError("delete: pass ids or expr, not both")
        if not await self._settle(write=False):
            return True
        if expr is not None:
            kwargs["expr"] = expr
        return await super().adelete(ids or None, **self._tenancy_default(kwargs))

    def delete(
        self, ids: list[Any] | None = None, expr: str | None = None, **kwargs: Any
    ) -> bool | None:
        """Delete by ids or by a boolean expression ``expr``; True when done."""
        return run_sync(self.adelete(ids, expr, **kwargs))

    # --- reads -------------------------------------------------------------------------

    async def aget_pks(self, expr: str, **kwargs: Any) -> list[Any] | None:
        """Primary keys of the rows matching ``expr`` (None when there is no collection)."""
        self._no_more(kwargs, "get_pks")
        if not await self._settle(write=False) or not await self.store.exists():
            return None
        tenancy = self._tenancy(self._tenancy_default({}))
        return [self._pk(r.id) async for r in self.store.iterate(expr, **tenancy)]

    def get_pks(self, expr: str, **kwargs: Any) -> list[Any] | None:
        """Primary keys of the rows matching ``expr`` (None when there is no collection)."""
        return run_sync(self.aget_pks(expr, **kwargs))

    async def asearch_by_metadata(
        self, expr: str, fields: list[str] | None = None, limit: int = 10
    ) -> list[Document]:
        """Documents matching ``expr`` (no ranking), at most ``limit``; ``fields`` keeps
        only those metadata keys."""
        if not await self._settle(write=False) or not await self.store.exists():
            return []
        tenancy = self._tenancy(self._tenancy_default({}))
        docs = [self._to_document(r) for r in await self.store.query(expr, limit=limit, **tenancy)]
        if fields is not None:
            for d in docs:
                d.metadata = {k: v for k, v in d.metadata.items() if k in fields}
        return docs

    def search_by_metadata(
        self, expr: str, fields: list[str] | None = None, limit: int = 10
    ) -> list[Document]:
        """Documents matching ``expr`` (no ranking), at most ``limit``."""
        return run_sync(self.asearch_by_metadata(expr, fields, limit))

    async def aget_by_ids(self, ids: Sequence[Any], /, **kwargs: Any) -> list[Document]:
        """Documents by id, in the order asked; missing ids are left out."""
        if not await self._settle(write=False):
            return []
        got = await self.store.get(list(ids), **self._tenancy(self._tenancy_default(kwargs)))
        return [self._to_document(r) for r in got]

    def get_by_ids(self, ids: Sequence[Any], /, **kwargs: Any) -> list[Document]:
        """Documents by id, in the order asked; missing ids are left out."""
        return run_sync(self.aget_by_ids(ids, **kwargs))

    # --- construction ------------------------------------------------------------------

    @classmethod
    async def afrom_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | list[Embeddings] | None,
        metadatas: list[dict[str, Any]] | None = None,
        collection_name: str = compat.DEFAULT_COLLECTION,
        connection_args: dict[str, Any] | None = None,
        consistency_level: str = compat.DEFAULT_CONSISTENCY,
        index_params: dict[str, Any] | list[dict[str, Any]] | None = None,
        search_params: dict[str, Any] | list[dict[str, Any]] | None = None,
        drop_old: bool = False,
        *,
        ids: list[str] | None = None,
        auto_id: bool = False,
        builtin_function: Any = None,
        **kwargs: Any,
    ) -> Milvus:
        """A store holding ``texts``; with ``ids`` the keys are theirs, else Milvus's
        (langchain-milvus's rule: ``auto_id`` follows whether ids are given)."""
        store = cls(
            embedding,
            collection_name=collection_name,
            connection_args=connection_args,
            consistency_level=consistency_level,
            index_params=index_params,
            search_params=search_params,
            drop_old=drop_old,
            auto_id=not ids,
            builtin_function=builtin_function,
            **kwargs,
        )
        await store.aadd_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | list[Embeddings] | None,
        metadatas: list[dict[str, Any]] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Milvus:
        """A store holding ``texts`` (arguments as :meth:`afrom_texts`)."""
        return run_sync(cls.afrom_texts(texts, embedding, metadatas, *args, **kwargs))

    @classmethod
    async def afrom_documents(
        cls, documents: list[Document], embedding: Embeddings, **kwargs: Any
    ) -> Milvus:
        """A store holding ``documents`` (their ids when every one has one)."""
        documents = list(documents)
        if "ids" not in kwargs and documents and all(d.id for d in documents):
            kwargs["ids"] = [d.id for d in documents]
        texts, metas = [d.page_content for d in documents], [d.metadata for d in documents]
        return await cls.afrom_texts(texts, embedding, metas, **kwargs)

    @classmethod
    def from_documents(
        cls, documents: list[Document], embedding: Embeddings, **kwargs: Any
    ) -> Milvus:
        """A store holding ``documents`` (their ids when every one has one)."""
        return run_sync(cls.afrom_documents(documents, embedding, **kwargs))
