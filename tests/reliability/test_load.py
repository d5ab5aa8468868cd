"""Load on one store, on both backends: 2,000 concurrent async searches (requests in flight
bounded by ``read_concurrency``, memory bounded, no errors), and 8 sync threads plus 2 event
loops (the same ``AsyncMilvusStore`` from two ``asyncio.run`` threads) writing at once."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import tracemalloc
from collections import Counter
from typing import Any

import numpy as np
import pytest
from pymilvus import AsyncMilvusClient

from milvus_rag import AsyncMilvusStore, MilvusStore, Record
from milvus_rag.client import wire
from tests.backends import Backend
from tests.conftest import new_name

pytestmark = pytest.mark.integration

DIM = 8
N_SEARCHES = 2000
READ_CONCURRENCY = 8
RSS_GROWTH_BOUND_MB = 150
HEAP_PEAK_BOUND_MB = 100


def _rss() -> int:
    """Resident set size of this process in bytes (Linux /proc; psutil is not a dependency)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class InFlight:
    """Counts backend requests in flight (every search and hybrid_search of any client)."""

    def __init__(self) -> None:
        self.now = 0
        self.max = 0
        self.calls = 0
        self._lock = threading.Lock()  # clients of several event loops (threads) count here

    def wrap(self, fn: Any) -> Any:
        async def wrapped(client: Any, *args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.now += 1
                self.calls += 1
                self.max = max(self.max, self.now)
            try:
                return await fn(client, *args, **kwargs)
            finally:
                with self._lock:
                    self.now -= 1

        return wrapped


@pytest.fixture
def in_flight(monkeypatch: pytest.MonkeyPatch) -> InFlight:
    counter = InFlight()
    for name in ("search", "hybrid_search"):  # every search RPC of a store (client/wire.py)
        monkeypatch.setattr(wire, name, counter.wrap(getattr(wire, name)))
    return counter


def _records(n: int, prefix: str, seed: int = 0) -> list[Record]:
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(n, DIM)).astype(np.float32)
    return [
        Record(id=f"{prefix}{i}", text=f"alpha beta word{i % 50} {prefix}", vector=vecs[i])
        for i in range(n)
    ]


def test_2000_concurrent_searches(backend: Backend, in_flight: InFlight) -> None:
    store = AsyncMilvusStore(
        backend.uri,
        token=backend.token or None,
        collection_name=new_name("load"),
        dim=DIM,
        read_concurrency=READ_CONCURRENCY,
    )
    rng = np.random.default_rng(1)
    queries = rng.normal(size=(N_SEARCHES, DIM)).astype(np.float32)
    modes = ["dense", "sparse", "hybrid"]
    out: dict[str, Any] = {}

    async def one(i: int) -> Any:
        return await store.search(
            text=f"word{i % 50} beta", vector=queries[i], k=5, mode=modes[i % 3]
        )

    async def main() -> None:
        await store.upsert(_records(300, "doc"))
        if not backend.is_local:
            await store.flush()
        await asyncio.gather(*(one(i) for i in range(60)))  # warm up every path
        gc.collect()
        rss0 = _rss()
        peak = rss0
        stop = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _rss())
                await asyncio.sleep(0.05)

        sampler = asyncio.ensure_future(sample())
        in_flight.max = in_flight.calls = 0
        tracemalloc.start()
        heap0 = tracemalloc.get_traced_memory()[0]
        t0 = time.monotonic()
        results = await asyncio.gather(*(one(i) for i in range(N_SEARCHES)), return_exceptions=True)
        out["elapsed"] = time.monotonic() - t0
        out["heap_peak_mb"] = (tracemalloc.get_traced_memory()[1] - heap0) / 2**20
        tracemalloc.stop()
        stop.set()
        await sampler
        out["errors"] = [r for r in results if isinstance(r, BaseException)]
        out["empty"] = sum(1 for r in results if not isinstance(r, BaseException) and not r)
        del results
        gc.collect()
        out["peak_mb"] = (peak - rss0) / 2**20
        out["after_mb"] = (_rss() - rss0) / 2**20
        await store.drop()
        await store.aclose()

    asyncio.run(main())
    print(
        f"\n{backend.name}: {N_SEARCHES} searches in {out['elapsed']:.2f} s, max in flight "
        f"{in_flight.max} (read_concurrency {READ_CONCURRENCY}), {in_flight.calls} requests, "
        f"Python heap peak +{out['heap_peak_mb']:.1f} MB (tracemalloc), RSS peak "
        f"+{out['peak_mb']:.1f} MB, after {out['after_mb']:+.1f} MB"
    )
    assert out["errors"] == []
    assert out["empty"] == 0
    assert in_flight.calls == N_SEARCHES
    assert 2 <= in_flight.max <= READ_CONCURRENCY
    assert out["heap_peak_mb"] < HEAP_PEAK_BOUND_MB
    assert out["peak_mb"] < RSS_GROWTH_BOUND_MB


def test_weighted_hybrid_respects_read_concurrency(backend: Backend, in_flight: InFlight) -> None:
    store = AsyncMilvusStore(
        backend.uri,
        token=backend.token or None,
        collection_name=new_name("weighted"),
        dim=DIM,
        read_concurrency=4,
    )
    rng = np.random.default_rng(2)

    async def main() -> None:
        await store.upsert(_records(100, "w"))
        try:
            await asyncio.gather(
                *(
                    store.search(text="alpha", vector=rng.normal(size=DIM), k=3, alpha=0.5)
                    for _ in range(64)
                )
            )
        finally:
            await store.drop()
            await store.aclose()

    asyncio.run(main())
    print(f"\nweighted: max in flight {in_flight.max} (read_concurrency 4)")
    assert in_flight.max <= 4


def _write_concurrently(
    backend: Backend,
    name: str,
    per_worker: int,
    shared: list[Record],
    precreate: bool,
    calls: int = 3,
) -> dict[str, Any]:
    """8 threads on one MilvusStore and 2 threads running asyncio.run on one
    AsyncMilvusStore, all upserting into collection ``name`` at once."""
    sync_store = MilvusStore(
        backend.uri, token=backend.token or None, collection_name=name, dim=DIM
    )
    async_store = AsyncMilvusStore(
        backend.uri, token=backend.token or None, collection_name=name, dim=DIM
    )
    barrier = threading.Barrier(10)
    errors: list[BaseException] = []
    step = per_worker // calls

    def sync_worker(w: int) -> None:
        rows = _records(per_worker, f"s{w}-", seed=w)
        try:
            barrier.wait(30)
            for c in range(calls):
                sync_store.upsert(rows[c * step : (c + 1) * step])
                if shared:
                    sync_store.upsert(shared)
        except BaseException as e:
            errors.append(e)

    def loop_worker(w: int) -> None:
        rows = _records(per_worker, f"a{w}-", seed=100 + w)

        async def main() -> None:
            if not shared:
                chunks = [rows[c * step : (c + 1) * step] for c in range(calls)]
                await asyncio.gather(*(async_store.upsert(chunk) for chunk in chunks))
                return
            for c in range(calls):
                await asyncio.gather(
                    async_store.upsert(rows[c * step : (c + 1) * step]),
                    async_store.upsert(shared),
                )

        try:
            barrier.wait(30)
            asyncio.run(main())
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=sync_worker, args=(w,)) for w in range(8)]
    threads += [threading.Thread(target=loop_worker, args=(w,)) for w in range(2)]
    try:
        if precreate:
            sync_store.count()
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads)
        elapsed = time.monotonic() - t0
        all_ids = [f"s{w}-{i}" for w in range(8) for i in range(per_worker)]
        all_ids += [f"a{w}-{i}" for w in range(2) for i in range(per_worker)]
        all_ids += [r.id for r in shared]
        out: dict[str, Any] = {"errors": errors, "elapsed": elapsed, "all_ids": all_ids}
        if not errors:
            out["count"] = sync_store.count()
            out["got"] = [r.id for r in sync_store.get(all_ids)]
            listed = Counter(r.id for r in sync_store.query(None, limit=5000))
            out["listed"] = sum(listed.values())
        return out
    finally:
        try:
            sync_store.drop()
        finally:
            sync_store.close()
            asyncio.run(async_store.aclose())


def test_threads_and_two_loops_write_one_store(backend: Backend) -> None:
    per_worker = 120
    out = _write_concurrently(backend, new_name("writers"), per_worker, [], precreate=True)
    assert out["errors"] == []
    print(
        f"\n{backend.name}: 8 threads + 2 loops wrote {out['count']} rows in {out['elapsed']:.2f} s"
    )
    assert out["count"] == 10 * per_worker == out["listed"]
    assert out["got"] == out["all_ids"]


def test_concurrent_upserts_of_the_same_ids_keep_count_exact(backend: Backend) -> None:
    per_worker = 120
    shared = _records(40, "shared-", seed=99)  # every worker upserts these, six times
    expected = 10 * per_worker + len(shared)
    for rnd in range(1 if backend.is_local else 2):
        out = _write_concurrently(
            backend, new_name("same"), per_worker, shared, precreate=True, calls=6
        )
        assert out["errors"] == []
        print(
            f"\n{backend.name} round {rnd}: count {out['count']}, listed {out['listed']}, "
            f"expected {expected}, {out['elapsed']:.2f} s"
        )
        assert out["listed"] == expected
        assert out["got"] == out["all_ids"]
        if not backend.is_local:
            assert out["count"] == expected
        # Milvus Lite 2.5: count() is too high in about 2 rounds of 3 (problem 3), a race, so
        # it is not asserted here; test_lite_writes_are_serialised_across_clients pins the cause.


def test_lite_writes_are_serialised_across_clients(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """The embedded engine is single-writer: one upsert at a time per file, whatever the
    store, thread or event loop. Unserialised, concurrent upserts of the same ids leave
    count() too high for good (measured: RELIABILITY.md, problem 3)."""
    if not backend.is_local:
        pytest.skip("a server takes concurrent writes")
    counter = InFlight()
    monkeypatch.setattr(AsyncMilvusClient, "upsert", counter.wrap(AsyncMilvusClient.upsert))
    shared = _records(40, "shared-", seed=99)
    out = _write_concurrently(backend, new_name("serial"), 60, shared, precreate=True, calls=3)
    assert out["errors"] == []
    print(f"\nlite: max upserts in flight on one file: {counter.max} ({counter.calls} calls)")
    assert counter.max == 1


def test_concurrent_first_use_creates_the_collection_once(
    backend: Backend, request: pytest.FixtureRequest
) -> None:
    # the race does not always bite: five fresh collections on the server
    for _ in range(2 if backend.is_local else 5):
        out = _write_concurrently(backend, new_name("first"), 30, [], precreate=False)
        assert [str(e) for e in out["errors"]] == []
        assert out["count"] == 300
