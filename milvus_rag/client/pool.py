"""The only place that constructs the store's own pymilvus clients: one ``AsyncMilvusClient``
per (store, running event loop), created on first use there and closed by
:meth:`ClientPool.aclose` (the clients a store hands out to its user are
:mod:`milvus_rag.client.handles`')."""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from typing import Any

from pymilvus import AsyncMilvusClient

from milvus_rag.client import compat, lite
from milvus_rag.client.config import ConnectionConfig
from milvus_rag.client.errors import BackendUnavailableError, map_backend_error
from milvus_rag.client.filters import Dialect

log = logging.getLogger("milvus_rag")

#: gRPC servers (Milvus Lite 3, and the Lite 2.5 engine behind a .db file) answer pings more
#: often than every 5 minutes with GOAWAY too_many_pings, which gRPC prints on stderr;
#: pymilvus pings every 10 s by default.
GRPC_OPTIONS = {
    "grpc.keepalive_time_ms": 360_000,
    "grpc.keepalive_permit_without_calls": False,
}


class ClientPool:
    """One ``AsyncMilvusClient`` per running event loop, created on first use there.

    A closed pool may be used again (like a file handle): the next call reconnects.
    """

    def __init__(self, conn: ConnectionConfig) -> None:
        self.conn = conn
        self._lock = threading.Lock()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncMilvusClient]
        self._clients = weakref.WeakKeyDictionary()
        self._lite_held = False

    @property
    def dialect(self) -> Dialect:
        return lite.lite_dialect() if self.conn.is_local else Dialect.MILVUS

    async def get(self) -> AsyncMilvusClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.get(loop)
        if client is not None:
            return client
        if self.conn.is_local:
            with self._lock:
                need = not self._lite_held
                self._lite_held = True
            if need:
                try:
                    await asyncio.to_thread(lite.acquire, self.conn.uri)
                except BaseException:
                    with self._lock:
                        self._lite_held = False
                    raise
        if not compat.is_warm():
            await asyncio.to_thread(compat.warm_pymilvus)
        compat.forget_stale_manager(loop)
        kwargs: dict[str, Any] = {"dedicated": True}
        kwargs["grpc_options"] = dict(GRPC_OPTIONS)
        client = AsyncMilvusClient(
            uri=self.conn.uri,
            token=self.conn.effective_token,
            db_name=self.conn.db_name,
            timeout=self.conn.connect_timeout,
            **kwargs,
        )
        try:
            await asyncio.wait_for(client._connect(), self.conn.connect_timeout)
        except BaseException as e:
            await _quiet_close(client)
            if isinstance(e, asyncio.TimeoutError | TimeoutError):
                raise BackendUnavailableError(
                    f"could not connect to {self.conn.uri} within "
                    f"{self.conn.connect_timeout:g} s: is Milvus running there?",
                    operation="connect",
                ) from None
            raise map_backend_error(e, "connect", "") from e
        with self._lock:
            other = self._clients.get(loop)
            if other is None:
                self._clients[loop] = client
                return client
        await _quiet_close(client)
        return other

    async def aclose(self) -> None:
        """Close every client (each in its own loop where that loop still runs)."""
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        with self._lock:
            items = list(self._clients.items())
            self._clients = weakref.WeakKeyDictionary()
            held = self._lite_held
            self._lite_held = False
        for loop, client in items:
            if loop is current:
                await _quiet_close(client)
            elif not loop.is_closed() and loop.is_running():
                # Scheduled, not awaited: that loop may be the one blocked in a sync call
                # waiting for this close (MilvusStore.close() inside Jupyter's loop).
                asyncio.run_coroutine_threadsafe(_quiet_close(client), loop)
        if held:
            if current is not None:
                await asyncio.to_thread(lite.release, self.conn.uri)
            else:
                lite.release(self.conn.uri)


async def _quiet_close(client: AsyncMilvusClient) -> None:
    try:
        await client.close()
    except Exception:
        log.debug("closing a pymilvus client failed", exc_info=True)
