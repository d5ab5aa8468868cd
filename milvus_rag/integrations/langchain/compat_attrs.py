"""langchain-milvus's ``Milvus`` attribute names (``_primary_field``, ``fields``...), read
from the milvus-rag store's configuration (as configured, or as adopted from an existing
collection), and its pymilvus ``client`` / ``aclient``. A mixin of
:class:`milvus_rag.integrations.langchain.Milvus`; no I/O but connecting those clients."""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings
from pymilvus import AsyncMilvusClient, MilvusClient

from milvus_rag.client.store import AsyncMilvusStore
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.integrations.langchain.compat_col import CollectionView
from milvus_rag.integrations.langchain.compat_fields import FieldLayout


class LangchainMilvusAttributes:
    """The attributes langchain-milvus users read off a ``Milvus`` store.

    Example:
        >>> store.fields  # doctest: +SKIP
        ['pk', 'text', 'vector', 'page']
    """

    store: AsyncMilvusStore
    embedding: Embeddings
    layout: FieldLayout
    #: the embedding function(s) as given (one, or a list with several)
    embedding_func: Any
    _index_params: Any
    _search_params: Any

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
    def col(self) -> CollectionView | None:
        """The collection as langchain-milvus's ``col`` (``schema.fields``, ``indexes``),
        read through :attr:`client`; ``None`` while it does not exist."""
        client = self.client
        if not client.has_collection(self.store.name):
            return None
        return CollectionView(client, self.store.name)

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
        """The vector fields in langchain-milvus's order (the embedding functions', then the
        BM25 function's; an adopted collection's others after them)."""
        return [f.name for f in self._fields()]

    def _fields(self) -> list[VectorField]:
        order = {name: i for i, name in enumerate(self.layout.names)}
        fields = self.store.config.vector_fields
        return sorted(fields, key=lambda f: order.get(f.name, len(order)))

    @property
    def embeddings(self) -> Any:
        """The embedding function(s), as given."""
        return self.embedding_func

    @property
    def index_params(self) -> Any:
        """The index settings, as given, or as langchain-milvus describes the collection's:
        a dict per vector field (one: the dict)."""
        if self._index_params is not None:
            return self._index_params
        out = [
            {"metric_type": f.metric, "index_type": f.built_index_type, "params": f.index_params}
            for f in self._fields()
        ]
        return out[0] if len(out) == 1 else out

    @property
    def search_params(self) -> Any:
        """The search settings, as given, or as langchain-milvus describes them: a dict per
        vector field (one: the dict)."""
        if self._search_params is not None:
            return self._search_params
        cfg = self.store.config
        out = [
            {
                "metric_type": f.metric,
                "params": dict(
                    cfg.search_params if f.name == cfg.vector_field else f.search_params
                ),
            }
            for f in self._fields()
        ]
        return out[0] if len(out) == 1 else out

    @property
    def fields(self) -> list[str]:
        """The collection's field names (as configured or adopted; dynamic keys not
        included)."""
        cfg = self.store.config
        names = [cfg.id_field, cfg.text_field, *self.vector_fields]
        names += [n for n in (cfg.metadata_field, cfg.doc_id_field, cfg.tenant_field) if n]
        names += list(cfg.metadata_fields)
        return list(dict.fromkeys(names))
