"""The pymilvus clients a store hands out: its escape hatch for what it does not wrap.

:meth:`AsyncMilvusStore.pymilvus_client` returns a pymilvus ``MilvusClient`` and
:meth:`AsyncMilvusStore.pymilvus_aclient` an ``AsyncMilvusClient``, both connected to the
store's Milvus (its ``uri``, ``token``, ``db_name``), each created on first use and closed by
the store's ``close()`` / ``aclose()``; a closed store hands out fresh ones if asked again.
They are the user's, never the store's own clients (:class:`~milvus_rag.client.pool.ClientPool`
keeps those): closing one of them never breaks the store.

On a Milvus Lite file both talk to the one engine this process runs for the file (started by
:func:`milvus_rag.client.lite.acquire`, where pymilvus looks it up, so its own start returns
that engine's address): never a second engine on the file. The handles hold a reference to
the engine until they are closed, so the store closing its own clients first keeps them
working. Rows written through a handle are seen by the store and the reverse.

Creating the ``MilvusClient`` connects (blocking, as pymilvus does); the ``AsyncMilvusClient``
connects on its first call, in the event loop that makes it. On a Lite file the first handle
may start the engine (blocking, about a second).

Example:
    >>> handles = PymilvusHandles(ConnectionConfig(uri="http://localhost:19530"))
    >>> handles.created
    False
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from pymilvus import AsyncMilvusClient, MilvusClient

from milvus_rag.client import lite
from milvus_rag.client.config import ConnectionConfig
from milvus_rag.client.errors import map_backend_error
from milvus_rag.client.pool import GRPC_OPTIONS

__all__ = ["HandleAccess", "PymilvusHandles"]

log = logging.getLogger("milvus_rag")


class PymilvusHandles:
    """A store's pymilvus ``MilvusClient`` and ``AsyncMilvusClient`` (lazy, closed with it).

    Example:
        >>> handles = PymilvusHandles(ConnectionConfig(uri="http://localhost:19530"))
        >>> # handles.client().list_collections(); await handles.aclose()
    """

    def __init__(self, conn: ConnectionConfig) -> None:
        self.conn = conn
        self._lock = threading.Lock()
        self._client: MilvusClient | None = None
        self._aclient: AsyncMilvusClient | None = None
        self._engine_held = False

    @property
    def created(self) -> bool:
        """Whether a client was handed out (and not closed since)."""
        return self._client is not None or self._aclient is not None

    def _options(self) -> dict[str, Any]:
        return {
            "uri": self.conn.uri,
            "token": self.conn.effective_token,
            "db_name": self.conn.db_name,
            "timeout": self.conn.connect_timeout,
            "dedicated": True,  # its own channel: closing it leaves every other client alone
            "grpc_options": dict(GRPC_OPTIONS),
        }

    def _hold_engine(self) -> None:
        """On a Lite file: this process's engine for it, started if needed (under the lock)."""
        if self.conn.is_local and not self._engine_held:
            lite.acquire(self.conn.uri)
            self._engine_held = True

    def client(self) -> MilvusClient:
        """The ``MilvusClient`` (created and connected on the first call)."""
        with self._lock:
            if self._client is None:
                self._hold_engine()
                try:
                    self._client = MilvusClient(**self._options())
                except Exception as e:
                    raise map_backend_error(e, "connect", "") from e
            return self._client

    def aclient(self) -> AsyncMilvusClient:
        """The ``AsyncMilvusClient`` (it connects on its first call, in that event loop)."""
        with self._lock:
            if self._aclient is None:
                self._hold_engine()
                try:
                    self._aclient = AsyncMilvusClient(**self._options())
                except Exception as e:
                    raise map_backend_error(e, "connect", "") from e
            return self._aclient

    def take(self) -> tuple[MilvusClient | None, AsyncMilvusClient | None, bool]:
        """Forget the clients (and the engine reference): what :meth:`aclose` closes."""
        with self._lock:
            out = (self._client, self._aclient, self._engine_held)
            self._client, self._aclient, self._engine_held = None, None, False
            return out

    async def aclose(self) -> None:
        """Close both clients and release the engine reference (idempotent)."""
        client, aclient, held = self.take()
        if aclient is not None:
            try:
                await aclient.close()
            except Exception:  # e.g. it connected in an event loop that has ended
                log.debug("closing a pymilvus AsyncMilvusClient failed", exc_info=True)
        if client is not None or held:
            await asyncio.to_thread(self._close_blocking, client, held)

    def _close_blocking(self, client: MilvusClient | None, held: bool) -> None:
        try:
            if client is not None:
                try:
                    client.close()
                except Exception:
                    log.debug("closing a pymilvus MilvusClient failed", exc_info=True)
        finally:
            if held:
                lite.release(self.conn.uri)


class HandleAccess:
    """The store's methods over its :class:`PymilvusHandles` (a mixin of
    :class:`~milvus_rag.client.AsyncMilvusStore`, whose ``aclose()`` closes them).

    Example:
        >>> # store.pymilvus_client().list_indexes(store.name)
    """

    _handles: PymilvusHandles

    def pymilvus_client(self) -> MilvusClient:
        """A pymilvus ``MilvusClient`` on this store's Milvus (same uri, token, db_name; on a
        Lite file the same engine), for what the store does not wrap. Created on the first
        call (blocking: it connects), closed by the store's ``aclose()``."""
        return self._handles.client()

    def pymilvus_aclient(self) -> AsyncMilvusClient:
        """A pymilvus ``AsyncMilvusClient`` on this store's Milvus (see
        :meth:`pymilvus_client`); it connects on its first call, in that event loop."""
        return self._handles.aclient()

    def share_handles(self, other: HandleAccess) -> None:
        """Hand out ``other``'s pymilvus clients from now on (a front that replaces its core
        store keeps the clients it gave out open); ``other`` gets fresh ones."""
        self._handles, other._handles = other._handles, PymilvusHandles(other._handles.conn)
