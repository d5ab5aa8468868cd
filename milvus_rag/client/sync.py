"""MilvusStore: the sync API, running the async core on one background event loop.

One daemon thread per process runs an event loop; every sync call submits the matching
coroutine of :class:`AsyncMilvusStore` there and waits. Calls made from inside a running
loop (Jupyter) work, since the work runs on the other thread.

Example:
    >>> from milvus_rag import MilvusStore, Record
    >>> store = MilvusStore(uri="./x.db", collection_name="docs", dim=2)
    >>> # store.upsert([Record(id="a", text="hi", vector=[1.0, 0.0])]); store.close()
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from typing import Any, Literal, TypeVar, overload

import numpy as np
from pymilvus import AsyncMilvusClient, MilvusClient

from milvus_rag.client.config import CollectionConfig, ConnectionConfig
from milvus_rag.client.errors import MilvusRAGError
from milvus_rag.client.expansion import Expanded
from milvus_rag.client.filters import Dialect
from milvus_rag.client.iterate import DEFAULT_BATCH
from milvus_rag.client.records import Hit, Record
from milvus_rag.client.request import DEFAULT_K, Leg, Ranker, RetrievalMode, SearchRequest
from milvus_rag.client.schema import CollectionInfo
from milvus_rag.client.store import AsyncMilvusStore, EmbedFn
from milvus_rag.client.tenancy import Scope
from milvus_rag.client.vector_fields import VectorField

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_lock = threading.Lock()


def background_loop() -> asyncio.AbstractEventLoop:
    """The process-wide background event loop, started on first use."""
    global _loop, _thread
    with _lock:
        if _loop is None or _loop.is_closed() or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            thread = threading.Thread(target=run, name="milvus-rag-loop", daemon=True)
            thread.start()
            ready.wait()
            _loop, _thread = loop, thread
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the background loop and wait for its result."""
    loop = background_loop()
    if threading.current_thread() is _thread:
        coro.close()
        raise MilvusRAGError(
            "a sync milvus-rag call was made from the milvus-rag loop thread itself; "
            "use the async API (AsyncMilvusStore / a*-methods) there"
        )
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


async def _next_page(pages: AsyncIterator[list[T]]) -> list[T] | None:
    try:
        return await pages.__anext__()
    except StopAsyncIteration:
        return None


def pages_sync(pages: AsyncIterator[list[T]]) -> Iterator[list[T]]:
    """A generator of the pages of an async generator, each fetched on the background loop;
    closing the generator closes the pages."""
    try:
        while (page := run_sync(_next_page(pages))) is not None:
            yield page
    finally:
        run_sync(pages.aclose())  # type: ignore[attr-defined]


def iterate_sync(pages: AsyncIterator[list[T]]) -> Iterator[T]:
    """A generator over the items of an async generator of pages (one thread hop per page,
    not per row)."""
    for page in pages_sync(pages):
        yield from page


@atexit.register
def _stop_loop() -> None:
    loop = _loop
    if loop is not None and not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)


class MilvusStore:
    """Sync store with the same API as :class:`AsyncMilvusStore` (which does the work).

    Example:
        >>> store = MilvusStore(uri="./x.db", collection_name="docs", dim=384)
        >>> # store.upsert(records); hits = store.search(text="q", vector=v, k=5)
    """

    def __init__(
        self,
        uri: str | None = None,
        *,
        token: str | None = None,
        collection_name: str | None = None,
        dim: int | None = None,
        connection: ConnectionConfig | None = None,
        collection: CollectionConfig | None = None,
        tenant: str | None = None,
        **options: Any,
    ) -> None:
        self.aio = AsyncMilvusStore(
            uri,
            token=token,
            collection_name=collection_name,
            dim=dim,
            connection=connection,
            collection=collection,
            tenant=tenant,
            **options,
        )

    @classmethod
    def from_async(cls, store: AsyncMilvusStore) -> MilvusStore:
        obj = cls.__new__(cls)
        obj.aio = store
        return obj

    def __repr__(self) -> str:
        return repr(self.aio).replace("AsyncMilvusStore", "MilvusStore", 1)

    @property
    def connection(self) -> ConnectionConfig:
        return self.aio.connection

    @property
    def config(self) -> CollectionConfig:
        return self.aio.config

    @property
    def name(self) -> str:
        return self.aio.name

    @property
    def is_local(self) -> bool:
        return self.aio.is_local

    @property
    def dialect(self) -> Dialect:
        return self.aio.dialect

    @property
    def write_concurrency(self) -> int:
        return self.aio.write_concurrency

    def set_dim(self, dim: int, field: str | None = None) -> None:
        self.aio.set_dim(dim, field)

    def ensure_dim(self, probe: Callable[[], Awaitable[int]] | None = None) -> int | None:
        return run_sync(self.aio.ensure_dim(probe))

    def compile_filter(self, filter: Any) -> str | None:
        return self.aio.compile_filter(filter)

    def ensure_collection(self, *, fresh: bool = False) -> CollectionInfo:
        return run_sync(self.aio.ensure_collection(fresh=fresh))

    @property
    def tenant(self) -> str | None:
        return self.aio.tenant

    def for_tenant(self, tenant: str) -> MilvusStore:
        """A view of this store bound to ``tenant`` (see :meth:`AsyncMilvusStore.for_tenant`)."""
        return MilvusStore.from_async(self.aio.for_tenant(tenant))

    def with_batch_size(self, batch_size: int | None) -> MilvusStore:
        """A view whose writes send at most ``batch_size`` rows a request (see
        :meth:`AsyncMilvusStore.with_batch_size`)."""
        view = self.aio.with_batch_size(batch_size)
        return self if view is self.aio else MilvusStore.from_async(view)

    def drop_tenant(self, tenant: str) -> int:
        return run_sync(self.aio.drop_tenant(tenant))

    def scope(
        self,
        filter: Any = None,
        *,
        tenant: str | None = None,
        all_tenants: bool = False,
        operation: str = "search",
    ) -> Scope:
        return self.aio.scope(filter, tenant=tenant, all_tenants=all_tenants, operation=operation)

    def upsert(
        self,
        records: Sequence[Record],
        *,
        embed: EmbedFn | None = None,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[str]:
        return run_sync(
            self.aio.upsert(records, embed=embed, tenant=tenant, all_tenants=all_tenants)
        )

    def delete(
        self,
        ids: Sequence[str] | None = None,
        *,
        filter: Any = None,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> int:
        return run_sync(self.aio.delete(ids, filter=filter, tenant=tenant, all_tenants=all_tenants))

    def get(
        self,
        ids: Sequence[str],
        *,
        with_vectors: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[Record]:
        return run_sync(
            self.aio.get(ids, with_vectors=with_vectors, tenant=tenant, all_tenants=all_tenants)
        )

    def query(
        self,
        filter: Any = None,
        *,
        limit: int = 1000,
        offset: int = 0,
        with_vectors: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[Record]:
        return run_sync(
            self.aio.query(
                filter,
                limit=limit,
                offset=offset,
                with_vectors=with_vectors,
                tenant=tenant,
                all_tenants=all_tenants,
            )
        )

    def count(
        self, filter: Any = None, *, tenant: str | None = None, all_tenants: bool = False
    ) -> int:
        return run_sync(self.aio.count(filter, tenant=tenant, all_tenants=all_tenants))

    @overload
    def iterate(
        self,
        filter: Any = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        output: Literal["records"] = "records",
        with_vectors: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> Iterator[Record]: ...

    @overload
    def iterate(
        self,
        filter: Any = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        output: Literal["ids"],
        with_vectors: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> Iterator[str]: ...

    def iterate(
        self,
        filter: Any = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        output: Literal["records", "ids"] = "records",
        with_vectors: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> Iterator[Record | str]:
        """Every row matching ``filter``, each once (see :meth:`AsyncMilvusStore.iterate`).

        Example: ``for rec in store.iterate({"lang": "en"}, batch_size=2000): ...``
        """
        return iterate_sync(
            self.aio.iterate_pages(
                filter,
                batch_size=batch_size,
                output=output,
                with_vectors=with_vectors,
                tenant=tenant,
                all_tenants=all_tenants,
            )
        )

    def iterate_pages(
        self,
        filter: Any = None,
        *,
        batch_size: int = DEFAULT_BATCH,
        output: Literal["records", "ids"] = "records",
        with_vectors: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
        after: str | None = None,
    ) -> Iterator[list[Any]]:
        """:meth:`iterate` a page at a time (see :meth:`AsyncMilvusStore.iterate_pages`)."""
        return pages_sync(
            self.aio.iterate_pages(
                filter,
                batch_size=batch_size,
                output=output,
                with_vectors=with_vectors,
                tenant=tenant,
                all_tenants=all_tenants,
                after=after,
            )
        )

    def prepare(self, request: SearchRequest) -> SearchRequest:
        return self.aio.prepare(request)

    def search(
        self,
        text: str | SearchRequest | None = None,
        vector: Sequence[float] | np.ndarray | None = None,
        *,
        k: int = DEFAULT_K,
        mode: RetrievalMode | str | None = None,
        filter: Any = None,
        ranker: Ranker | None = None,
        alpha: float | None = None,
        candidates: int | None = None,
        with_vectors: bool = False,
        relevance: bool = False,
        rrf_k: int | None = None,
        search_params: dict[str, Any] | None = None,
        radius: float | None = None,
        range_filter: float | None = None,
        consistency_level: str | None = None,
        timeout: float | None = None,
        tenant: str | None = None,
        all_tenants: bool = False,
        group_by: str | bool | None = None,
        group_size: int | None = None,
        strict_group_size: bool = False,
        legs: Sequence[Leg] | None = None,
    ) -> list[Hit]:
        return run_sync(
            self.aio.search(
                text,
                vector,
                k=k,
                mode=mode,
                filter=filter,
                ranker=ranker,
                alpha=alpha,
                candidates=candidates,
                with_vectors=with_vectors,
                relevance=relevance,
                rrf_k=rrf_k,
                search_params=search_params,
                radius=radius,
                range_filter=range_filter,
                consistency_level=consistency_level,
                timeout=timeout,
                tenant=tenant,
                all_tenants=all_tenants,
                group_by=group_by,
                group_size=group_size,
                strict_group_size=strict_group_size,
                legs=legs,
            )
        )

    def expand(
        self,
        hits: Sequence[Hit],
        *,
        window: int | None = None,
        parent: bool = False,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[Expanded]:
        """See :meth:`AsyncMilvusStore.expand`."""
        return run_sync(
            self.aio.expand(
                hits, window=window, parent=parent, tenant=tenant, all_tenants=all_tenants
            )
        )

    def search_many(
        self,
        requests: Sequence[SearchRequest],
        *,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[list[Hit]]:
        return run_sync(self.aio.search_many(requests, tenant=tenant, all_tenants=all_tenants))

    def fanout_search(
        self,
        requests: Sequence[SearchRequest],
        *,
        k: int = DEFAULT_K,
        rrf_k: int | None = None,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[Hit]:
        return run_sync(
            self.aio.fanout_search(
                requests, k=k, rrf_k=rrf_k, tenant=tenant, all_tenants=all_tenants
            )
        )

    def mmr_search(
        self,
        vector: Sequence[float] | np.ndarray,
        *,
        k: int = DEFAULT_K,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
        search_params: dict[str, Any] | None = None,
        radius: float | None = None,
        range_filter: float | None = None,
        consistency_level: str | None = None,
        timeout: float | None = None,
        tenant: str | None = None,
        all_tenants: bool = False,
    ) -> list[Hit]:
        return run_sync(
            self.aio.mmr_search(
                vector,
                k=k,
                fetch_k=fetch_k,
                lambda_mult=lambda_mult,
                filter=filter,
                search_params=search_params,
                radius=radius,
                range_filter=range_filter,
                consistency_level=consistency_level,
                timeout=timeout,
                tenant=tenant,
                all_tenants=all_tenants,
            )
        )

    def flush(self) -> None:
        run_sync(self.aio.flush())

    def drop(self) -> None:
        run_sync(self.aio.drop())

    def exists(self) -> bool:
        return run_sync(self.aio.exists())

    def list_collections(self) -> list[str]:
        return run_sync(self.aio.list_collections())

    def list_databases(self) -> list[str]:
        return run_sync(self.aio.list_databases())

    def describe(self) -> dict[str, Any]:
        return run_sync(self.aio.describe())

    def existing_vector_fields(self) -> tuple[VectorField, ...] | None:
        return run_sync(self.aio.existing_vector_fields())

    def pymilvus_client(self) -> MilvusClient:
        """A pymilvus ``MilvusClient`` on this store's Milvus (see
        :meth:`AsyncMilvusStore.pymilvus_client`); closed by :meth:`close`."""
        return self.aio.pymilvus_client()

    def pymilvus_aclient(self) -> AsyncMilvusClient:
        """A pymilvus ``AsyncMilvusClient`` on this store's Milvus; closed by :meth:`close`."""
        return self.aio.pymilvus_aclient()

    def close(self) -> None:
        """Release the clients and the embedded engine's file lock."""
        run_sync(self.aio.aclose())

    def __enter__(self) -> MilvusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
