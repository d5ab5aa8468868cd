"""The only place that constructs pymilvus clients: one per (store, running event loop).

Also starts and releases the embedded Milvus Lite engine, and maps pymilvus and gRPC errors
to the :mod:`milvus_rag.client.errors` tree, with a bounded retry for transient failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from pymilvus import AsyncMilvusClient

from milvus_rag.client import lite_lock
from milvus_rag.client.config import ConnectionConfig
from milvus_rag.client.errors import BackendError, BackendUnavailableError, MilvusRAGError
from milvus_rag.client.filters import Dialect

log = logging.getLogger("milvus_rag")
T = TypeVar("T")

_UNAVAILABLE_CODES = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN"}
_UNAVAILABLE_WORDS = (
    "fail connecting",
    "failed to connect",
    "server unavailable",
    "connection refused",
    "connect failed",
    "unavailable",
    "deadline exceeded",
    "goaway",
    "too_many_pings",
    "socket closed",
    "connection reset",
    "broken pipe",
    "channel closed",
)


class _IndexWaitNoise(logging.Filter):
    """pymilvus logs an ERROR when a Milvus Lite 3 server cannot answer the AllocTimestamp
    call used to wait for an index; the store handles that case (it polls), so drop it."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not ("UNIMPLEMENTED" in msg and "index" in msg)


logging.getLogger("pymilvus.decorators").addFilter(_IndexWaitNoise())


# --- process-wide locks usable from any thread and event loop ---------------------------

_named_locks: dict[tuple[object, ...], threading.Lock] = {}
_named_guard = threading.Lock()


@contextlib.asynccontextmanager
async def process_lock(*key: object) -> AsyncIterator[None]:
    """Hold the process-wide lock ``key`` without blocking the event loop.

    Polls (every 2 ms) rather than waiting in a worker thread, so a cancelled waiter never
    leaves the lock held. Used to serialise writes to one Milvus Lite file (single writer)
    and collection creation across stores, threads and loops.
    """
    with _named_guard:
        lock = _named_locks.setdefault(key, threading.Lock())
    while not lock.acquire(blocking=False):
        await asyncio.sleep(0.002)
    try:
        yield
    finally:
        lock.release()


# --- embedded Milvus Lite ------------------------------------------------------------

_lite_lock = threading.Lock()
_lite_refs: dict[str, int] = {}


def _lite_acquire(path: str) -> None:
    """Start (or share) the Milvus Lite engine for ``path``; blocking, run in a thread."""
    try:
        from milvus_lite.server_manager import server_manager_instance
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise BackendUnavailableError(
            "a Milvus Lite file needs the milvus-lite package: pip install 'milvus-lite<3'",
            operation="connect",
        ) from e
    with _lite_lock:
        running = str(Path(path).resolve()) in getattr(server_manager_instance, "_servers", {})
        lite_lock.acquire(path, engine_running=running)  # one process per file
        try:
            uri = server_manager_instance.start_and_get_uri(path)
        except BaseException:
            lite_lock.release(path)
            raise
        if uri is None:
            lite_lock.release(path)
            raise BackendUnavailableError(
                f"could not open the Milvus Lite file {path!r}: is another process using it? "
                "(Milvus Lite allows one process per file)",
                operation="connect",
            )
        _lite_refs[path] = _lite_refs.get(path, 0) + 1


def _lite_release(path: str) -> None:
    """Drop one reference; the last one stops the engine and frees the file's lock."""
    with _lite_lock:
        n = _lite_refs.get(path, 0) - 1
        if n > 0:
            _lite_refs[path] = n
            lite_lock.release(path)
            return
        _lite_refs.pop(path, None)
        try:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(path)
        finally:
            lite_lock.release(path)  # after the engine stopped


@functools.cache
def lite_dialect() -> Dialect:
    try:
        import milvus_lite

        major = int(str(getattr(milvus_lite, "__version__", "2")).split(".")[0] or 2)
    except (ImportError, ValueError):  # pragma: no cover
        major = 2
    return Dialect.LITE25 if major < 3 else Dialect.MILVUS


_warm_lock = threading.Lock()
_warmed = False


def _warm_pymilvus() -> None:
    """pymilvus imports scipy.sparse lazily on its first search or insert (about 0.3 s);
    do it once in a worker thread so it never stalls an event loop."""
    global _warmed
    with _warm_lock:
        if _warmed:
            return
        try:
            from pymilvus.client.utils import SciPyHelper

            SciPyHelper.is_spmatrix(None)
        except Exception:
            log.debug("pymilvus warm-up skipped", exc_info=True)
        _warmed = True


# --- pymilvus's per-loop connection manager -----------------------------------------

_seen_loops: dict[int, weakref.ref[asyncio.AbstractEventLoop]] = {}
_seen_lock = threading.Lock()


def _forget_stale_manager(loop: asyncio.AbstractEventLoop) -> None:
    """pymilvus keys its async connection manager by ``id(loop)``; a new loop can reuse the
    id of a closed one (``asyncio.run`` twice) and inherit its dead channels and lock."""
    with _seen_lock:
        ref = _seen_loops.get(id(loop))
        if ref is not None and ref() is loop:
            return
        _seen_loops[id(loop)] = weakref.ref(loop)
        if ref is None:
            return
    try:
        from pymilvus.client.connection_manager import AsyncConnectionManager
    except ImportError:  # pragma: no cover - older pymilvus has no manager
        return
    with AsyncConnectionManager._instances_lock:
        AsyncConnectionManager._instances.pop(id(loop), None)


class ClientPool:
    """One ``AsyncMilvusClient`` per running event loop, created on first use there."""

    def __init__(self, conn: ConnectionConfig) -> None:
        self.conn = conn
        self._lock = threading.Lock()
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncMilvusClient]
        self._clients = weakref.WeakKeyDictionary()
        self._lite_held = False
        self._closed = False

    @property
    def dialect(self) -> Dialect:
        return lite_dialect() if self.conn.is_local else Dialect.MILVUS

    async def get(self) -> AsyncMilvusClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.get(loop)
        if client is not None:
            return client
        if self._closed:
            self._closed = False  # reopened after close(): allowed, like a file handle
        if self.conn.is_local:
            with self._lock:
                need = not self._lite_held
                self._lite_held = True
            if need:
                try:
                    await asyncio.to_thread(_lite_acquire, self.conn.uri)
                except BaseException:
                    with self._lock:
                        self._lite_held = False
                    raise
        if not _warmed:
            await asyncio.to_thread(_warm_pymilvus)
        _forget_stale_manager(loop)
        kwargs: dict[str, Any] = {"dedicated": True}
        kwargs["grpc_options"] = {
            # gRPC servers (Milvus Lite 3, and the Lite 2.5 engine behind a .db file) answer
            # pings more often than every 5 minutes with GOAWAY too_many_pings, which gRPC
            # prints on stderr; pymilvus pings every 10 s by default.
            "grpc.keepalive_time_ms": 360_000,
            "grpc.keepalive_permit_without_calls": False,
        }
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
            raise map_error(e, "connect", "") from e
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
            lite = self._lite_held
            self._lite_held = False
            self._closed = True
        for loop, client in items:
            if loop is current:
                await _quiet_close(client)
            elif not loop.is_closed() and loop.is_running():
                # Scheduled, not awaited: that loop may be the one blocked in a sync call
                # waiting for this close (MilvusStore.close() inside Jupyter's loop).
                asyncio.run_coroutine_threadsafe(_quiet_close(client), loop)
        if lite:
            if current is not None:
                await asyncio.to_thread(_lite_release, self.conn.uri)
            else:
                _lite_release(self.conn.uri)


async def _quiet_close(client: AsyncMilvusClient) -> None:
    try:
        await client.close()
    except Exception:
        log.debug("closing a pymilvus client failed", exc_info=True)


# --- errors ---------------------------------------------------------------------------


def _code_name(e: BaseException) -> str:
    code = getattr(e, "code", None)
    if callable(code):
        try:
            c = code()
            return str(getattr(c, "name", c)).upper()
        except Exception:
            return ""
    return ""


def is_unimplemented(e: BaseException) -> bool:
    return _code_name(e) == "UNIMPLEMENTED"


def is_unavailable(e: BaseException) -> bool:
    if isinstance(e, BackendUnavailableError):
        return True
    if isinstance(e, ConnectionError | TimeoutError | asyncio.TimeoutError):
        return True
    if _code_name(e) in _UNAVAILABLE_CODES:
        return True
    if type(e).__name__ == "MilvusUnavailableException":
        return True
    text = str(e).lower()
    return any(w in text for w in _UNAVAILABLE_WORDS)


def map_error(e: BaseException, operation: str, collection: str) -> MilvusRAGError:
    """Translate a pymilvus / gRPC exception; ``MilvusRAGError`` passes through."""
    if isinstance(e, MilvusRAGError):
        return e
    details = getattr(e, "details", None)
    message = details() if callable(details) else getattr(e, "message", None)
    text = str(message or e).strip() or type(e).__name__
    code = getattr(e, "code", None)
    code_int = code if isinstance(code, int) else None
    cls = BackendUnavailableError if is_unavailable(e) else BackendError
    return cls(text, operation=operation, collection=collection, code=code_int)


async def with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    operation: str,
    collection: str,
    retries: int,
    backoff: float,
) -> T:
    """Run ``fn``; retry transient (unavailable) failures with capped exponential backoff."""
    attempt = 0
    while True:
        try:
            return await fn()
        except asyncio.CancelledError:
            raise
        except Exception as e:
            err = map_error(e, operation, collection)
            if not isinstance(err, BackendUnavailableError) or attempt >= retries:
                raise err from (None if err is e else e)
            delay = min(2.0, backoff * (2**attempt)) * (0.5 + random.random() / 2)
            log.debug(
                "%s on %r failed (%s); retry %d in %.2f s",
                operation,
                collection,
                type(e).__name__,
                attempt + 1,
                delay,
            )
            attempt += 1
            await asyncio.sleep(delay)
