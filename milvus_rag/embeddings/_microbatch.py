"""Micro-batching of async query embeddings, and the encoder's query-vector LRU cache.

The queries that coroutines of one event loop ask for within ``max_batch_wait_ms`` of each
other, or while the previous batch is being encoded, go to the model in one call (at most
``max_micro_batch`` texts; identical texts are encoded once). State is kept per running loop.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
_T = TypeVar("_T")


class BatchOwner(Protocol):
    """What the batcher uses of its encoder (``SentenceTransformerEncoder``; a protocol, so
    that this module does not import the encoder that imports it)."""

    max_micro_batch: int
    max_batch_wait_ms: float

    async def _run_in_worker(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T: ...

    def _encode(self, texts: list[str], *, query: bool) -> FloatArray: ...

    def _store(self, texts: list[str], vectors: FloatArray) -> dict[str, FloatArray]: ...


class LRUCache:
    """A small thread-safe LRU of read-only vectors."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[tuple[str, str], FloatArray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, str]) -> FloatArray | None:
        if self.size <= 0:
            return None
        with self._lock:
            vec = self._data.get(key)
            if vec is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return vec

    def put(self, key: tuple[str, str], vec: FloatArray) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[key] = vec
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._data)


def frozen_row(row: npt.ArrayLike) -> FloatArray:
    vec = np.array(row, dtype=np.float32, copy=True)
    vec.flags.writeable = False
    return vec


class LoopBatcher:
    """Micro-batching state of one event loop. Only ever touched from that loop's thread.

    Between batches it holds nothing bound to the loop (no task, event or future), so the
    encoder's weak map can drop a closed loop together with its batcher.
    """

    def __init__(self, owner: BatchOwner) -> None:
        self._owner = owner
        self._pending: dict[str, asyncio.Future[FloatArray]] = {}  # insertion-ordered
        self._inflight: dict[str, asyncio.Future[FloatArray]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None  # set when a batch fills up early

    def submit(self, text: str) -> asyncio.Future[FloatArray]:
        fut = self._inflight.get(text) or self._pending.get(text)
        if fut is not None:  # identical text already asked for: share its result
            return fut
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending[text] = fut
        if self._task is None:
            self._task = loop.create_task(self._run())
        elif (
            len(self._pending) >= self._owner.max_micro_batch
            and self._wake is not None
            and not self._wake.done()
        ):
            self._wake.set_result(None)
        return fut

    async def _gather_window(self, wait_s: float) -> None:
        """Let the requests made in this loop step, and the next ``wait_s`` seconds, join."""
        if wait_s <= 0:
            await asyncio.sleep(0)
            return
        self._wake = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait((self._wake,), timeout=wait_s)
        finally:
            self._wake.cancel()
            self._wake = None

    async def _run(self) -> None:
        owner = self._owner
        just_encoded = False
        try:
            while self._pending:
                if not just_encoded and len(self._pending) < owner.max_micro_batch:
                    await self._gather_window(owner.max_batch_wait_ms / 1000.0)
                texts = list(itertools.islice(self._pending, owner.max_micro_batch))
                batch = {text: self._pending.pop(text) for text in texts}
                self._inflight.update(batch)
                try:
                    vectors = await owner._run_in_worker(owner._encode, texts, query=True)
                except Exception as exc:  # every waiter of the batch gets the model's error
                    for fut in batch.values():
                        if not fut.done():
                            fut.set_exception(exc)
                else:
                    for text, vec in owner._store(texts, vectors).items():
                        if not batch[text].done():
                            batch[text].set_result(vec)
                # (a cancellation skips this: the handler below releases the in-flight waiters)
                for text in texts:
                    self._inflight.pop(text, None)
                # What arrived while that batch was encoding has waited long enough.
                just_encoded = True
        except BaseException as exc:  # cancelled (loop shutting down) or worse: release waiters
            for fut in itertools.chain(self._pending.values(), self._inflight.values()):
                if fut.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    fut.cancel()
                else:
                    fut.set_exception(exc)
            self._pending.clear()
            self._inflight.clear()
            raise
        finally:
            self._task = None
