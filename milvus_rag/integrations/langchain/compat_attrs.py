"""langchain-milvus's ``Milvus`` attribute names (``_primary_field``, ``fields``...), read
from the milvus-rag store's configuration (as configured, or as adopted from an existing
collection), and its pymilvus ``client`` / ``aclient``. A mixin of
:class:`milvus_rag.integrations.langchain.Milvus`; no I/O but connecting those clients."""

from __future__ import annotations

from langchain_core.embeddings import Embeddings
from pymilvus import AsyncMilvusClient, MilvusClient

from milvus_rag.client.store import AsyncMilvusStore


class LangchainMilvusAttributes:
    """The attributes langchain-milvus users read off a ``Milvus`` store.

    Example:
        >>> store.fields  # doctest: +SKIP
        ['pk', 'text', 'vector', 'page']
    """

    store: AsyncMilvusStore
    embedding: Embeddings

    @property
    def client(self) -> MilvusClient:
        """A pymilvus ``MilvusClient`` on this store's Milvus (on a Lite file the same
        engine), closed with the store (see
        :meth:`~milvus_rag.client.AsyncMilvusStore.pymilvus_client`)."""
        return self.store.pymilvus_client()

    @property
    def aclient(self) -> AsyncMilvusClient:
        """A pymilvus ``AsyncMilvusClient`` on this store's Milvus (see :attr:`client`)."""
        return self.store.pymilvus_aclient()

    @property
    def embedding_func(self) -> Embeddings:
        return self.embedding

    @property
    def auto_id(self) -> bool:
        return bool(getattr(self.store.config, "auto_id", False))

    @property
    def consistency_level(self) -> str:
        return self.store.config.consistency_level

    @property
    def _primary_field(self) -> str:
        return self.store.config.id_field

    @property
    def _text_field(self) -> str:
        return self.store.config.text_field

    @property
    def _vector_field(self) -> str | list[str]:
        return self.vector_fields[0] if len(self.vector_fields) == 1 else self.vector_fields

    @property
    def _metadata_field(self) -> str | None:
        return self.store.config.metadata_field

    @property
    def _partition_key_field(self) -> str | None:
        return self.store.config.tenant_field

    @property
    def vector_fields(self) -> list[str]:
        cfg = self.store.config
        return [cfg.vector_field, *([cfg.sparse_field] if cfg.enable_bm25 else [])]

    @property
    def fields(self) -> list[str]:
        """The collection's field names (as configured or adopted; dynamic keys not
        included)."""
        cfg = self.store.config
        names = [cfg.id_field, cfg.text_field, *self.vector_fields]
        names += [n for n in (cfg.metadata_field, cfg.doc_id_field, cfg.tenant_field) if n]
        names += list(cfg.metadata_fields)
        return list(dict.fromkeys(names))
