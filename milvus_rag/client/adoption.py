"""The store's side of opening another library's collection: adopting its layout.

A store whose config does not describe an existing collection (a langchain-milvus or
llama-index-vector-stores-milvus one; see :mod:`milvus_rag.client.layout`) takes the
collection's layout where the config does not contradict it, and rebuilds what depends on
the config (filter field names, typed columns, tenancy, its components). Mixed into
:class:`~milvus_rag.client.store.AsyncMilvusStore`.
"""

from __future__ import annotations

import asyncio
from abc import abstractmethod

from milvus_rag.client import rows
from milvus_rag.client.config import CollectionConfig, ConnectionConfig
from milvus_rag.client.filters import Column, FieldNames
from milvus_rag.client.locks import PerLoop, process_lock
from milvus_rag.client.schema import SCHEMA_CACHE, CollectionInfo, adopted_config
from milvus_rag.client.tenancy import Tenancy


class LayoutAdoption:
    """Adopting an existing collection's layout (mixin of the store)."""

    config: CollectionConfig
    connection: ConnectionConfig
    _fields: FieldNames
    _tenancy: Tenancy
    _columns: tuple[Column, ...]
    _schema_read: bool = False
    _ensure_locks: PerLoop[asyncio.Lock]
    #: the (schema, config) pair last adopted: the next data call with both skips adopting
    _adopted: tuple[CollectionInfo, CollectionConfig] | None = None

    @property
    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    async def exists(self) -> bool: ...

    @abstractmethod
    async def ensure_collection(self) -> CollectionInfo: ...

    @abstractmethod
    def _bind(self) -> None: ...

    def _derive(self) -> None:
        """What the filters and tenancy need from the config (again after adopting a layout).
        Until the schema is read, a config without ``tenant_field`` leaves the tenancy
        pending: the collection may have a tenant field to adopt."""
        self._fields = rows.filter_fields(self.config)
        field = self.config.tenant_field
        read = getattr(self, "_schema_read", False)
        self._tenancy = Tenancy(field, pending=field is None and not read)
        self._columns = rows.filter_columns(self.config)

    def _settle(self, cfg: CollectionConfig) -> None:
        """The schema is known: use ``cfg`` and rebuild what depends on it if it changed."""
        pending = self._tenancy.pending
        self._schema_read = True
        if cfg != self.config or pending:
            self.config = cfg
            self._derive()
            self._bind()

    def _adopt(self, info: CollectionInfo) -> None:
        """Take the layout (and the tenant and typed fields) of an existing collection this
        store's config does not describe, where the config does not contradict it (see
        :func:`~milvus_rag.client.schema.adopted_config`)."""
        seen = self._adopted  # every data call comes here: once per pair is enough
        if seen is not None and seen[0] is info and seen[1] is self.config:
            return
        self._settle(adopted_config(self.config, info.field_names, info.layout))
        self._adopted = (info, self.config)

    async def _ready(self) -> None:
        """Before a data call: adopt the layout of an existing collection, so that the call's
        filter and rows are built for it (no request when the schema is cached; an existing
        collection is described once, a missing one is not created here)."""
        key = self.connection.key
        info = SCHEMA_CACHE.get(key, self.name)
        if info is None:
            # as ensure_collection: one first request at a time (concurrent first clients of
            # a Lite file fail to open it)
            async with self._ensure_locks.get(), process_lock("ensure", key, self.name):
                info = SCHEMA_CACHE.get(key, self.name)
                found = info is not None or await self.exists()
            if info is None and found:
                info = await self.ensure_collection()
        if info is not None:
            self._adopt(info)
        else:  # no collection yet: the config is what will be created
            self._settle(self.config)
