"""Server faults on a dedicated Milvus Lite 3 server: killed during an ingest and restarted,
stopped and restarted inside the retry window, unreachable addresses.

Every test here runs against its own server (``fault_server``), never the session one, and
uses a token: it must not leak into logs (DEBUG, pymilvus and grpc included) or errors.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from pymilvus import AsyncMilvusClient

from milvus_rag import (
    AsyncMilvusStore,
    BackendError,
    BackendUnavailableError,
    ConnectionConfig,
    MilvusStore,
    Record,
)
from tests.backends import LiteServer, free_port
from tests.conftest import new_name
from tests.reliability.conftest import SECRET, ListHandler, capture_all_logs

# serial: each test bounds a failure by wall-clock time (`make test` runs these alone)
pytestmark = [pytest.mark.integration, pytest.mark.serial]

DIM = 8


def _records(n: int, prefix: str = "id") -> list[Record]:
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(n, DIM)).astype(np.float32)
    return [
        Record(id=f"{prefix}{i}", text=f"row {i} word{i % 31}", vector=vecs[i], metadata={"i": i})
        for i in range(n)
    ]


def _assert_no_secret(logs: ListHandler, *errors: BaseException) -> None:
    for text in logs.texts():
        assert SECRET not in text
    for e in errors:
        assert SECRET not in str(e) and SECRET not in repr(e)
        assert SECRET not in "".join(traceback.format_exception(e))
        assert SECRET not in repr(vars(e))


def _retry_lines(logs: ListHandler) -> list[str]:
    return [
        r.getMessage()
        for r in logs.records
        if r.name == "milvus_rag" and "; retry " in r.getMessage()
    ]


async def _until_reachable(store: AsyncMilvusStore, limit_s: float = 30.0) -> float:
    """Poll ``count()`` until the restarted server answers; seconds it took."""
    t0 = time.monotonic()
    while True:
        try:
            await store.count()
            return time.monotonic() - t0
        except BackendUnavailableError:
            if time.monotonic() - t0 > limit_s:
                raise
            await asyncio.sleep(0.2)


@pytest.fixture
def kill_after_upserts(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """Kill ``state["server"]`` right after the ``state["after"]``-th acknowledged upsert."""
    state: dict[str, Any] = {"done": 0, "after": None, "server": None, "killed_at": None}
    original = AsyncMilvusClient.upsert

    async def upsert(self: Any, *args: Any, **kwargs: Any) -> Any:
        res = await original(self, *args, **kwargs)
        state["done"] += 1
        if state["after"] is not None and state["done"] == state["after"]:
            state["server"].kill()  # SIGKILL: no graceful shutdown
            state["killed_at"] = time.monotonic()
        return res

    monkeypatch.setattr(AsyncMilvusClient, "upsert", upsert)
    yield state


def test_kill_during_ingest_then_reingest_is_exact(
    fault_server: LiteServer, kill_after_upserts: dict[str, Any]
) -> None:
    n, batch = 6000, 500
    records = _records(n)
    ids = [r.id for r in records]
    name = new_name("fault")
    store = AsyncMilvusStore(
        fault_server.uri,
        token=SECRET,
        collection_name=name,
        dim=DIM,
        batch_size=batch,
        timeout=10.0,
        connect_timeout=2.0,
        retries=2,
        retry_backoff=0.1,
    )
    port, data_dir = fault_server.port, fault_server.data_dir
    result: dict[str, Any] = {}

    async def ingest_until_killed() -> None:
        await store.ensure_collection()
        kill_after_upserts.update(server=fault_server, after=4, done=0)
        with pytest.raises(BackendUnavailableError) as info:
            await store.upsert(records)
        result["err"] = info.value
        result["fail_s"] = time.monotonic() - kill_after_upserts["killed_at"]
        await store.aclose()

    async def restart_and_reingest() -> None:
        result["reconnect_s"] = await _until_reachable(store)
        result["written_present"] = len(await store.get(result["err"].written_ids))
        t0 = time.monotonic()
        result["again"] = await store.upsert(records)
        result["reingest_s"] = time.monotonic() - t0
        result["count"] = await store.count()
        got = await store.get(ids)
        result["got"] = [r.id for r in got]
        result["sample"] = {r.id: r.metadata for r in got[:: n // 10]}
        await store.drop()
        await store.aclose()

    with capture_all_logs() as logs:
        asyncio.run(ingest_until_killed())
        kill_after_upserts["after"] = None
        fault_server.start()
        assert (fault_server.port, fault_server.data_dir) == (port, data_dir)
        asyncio.run(restart_and_reingest())

    err: BackendUnavailableError = result["err"]
    written = err.written_ids
    print(
        f"\nwritten_ids={len(written)} of {n}; error {result['fail_s']:.2f} s after the kill; "
        f"reconnected {result['reconnect_s']:.2f} s after restart; re-ingest "
        f"{result['reingest_s']:.2f} s"
    )
    assert err.operation == "upsert" and err.collection == name
    assert f"{len(written)} ids were written" in str(err)
    assert 0 < len(written) < n
    assert len(set(written)) == len(written) and set(written) <= set(ids)
    assert len(written) % batch == 0  # whole batches only
    assert len(written) >= 4 * batch - batch  # the acknowledged batches (one may be in flight)
    assert result["fail_s"] < 10.0  # bounded: not timeout x retries
    # Not asserted: that every id reported as written survived the server's SIGKILL. The
    # Milvus Lite 3 server writes its manifest non-atomically; after a SIGKILL it sometimes
    # reopens with "Input is a zero-length, empty document" and without the acknowledged,
    # unflushed rows (2 of 5 runs here). That is the engine's durability, recorded in
    # RELIABILITY.md; the embedded file keeps every acknowledged row (test_durability.py).
    print(f"acknowledged rows present after the restart: {result['written_present']}")
    # the same ingest again: exact, nothing missing, nothing duplicated
    assert result["again"] == ids
    assert result["count"] == n
    assert len(result["got"]) == n and set(result["got"]) == set(ids)
    assert all(meta == {"i": int(i[2:])} for i, meta in result["sample"].items())
    _assert_no_secret(logs, err)


def test_same_store_reads_after_restart(fault_server: LiteServer) -> None:
    records = _records(50)
    store = AsyncMilvusStore(
        fault_server.uri, token=SECRET, collection_name=new_name("restart"), dim=DIM, retries=3
    )

    async def before() -> None:
        await store.upsert(records)
        await store.flush()

    async def after() -> None:
        await _until_reachable(store)
        try:
            assert len(await store.get([r.id for r in records])) == 50
            assert len(await store.query({"i": {"$lt": 10}})) == 10
            hits = await store.search(vector=records[3].vector, k=1, mode="dense")
            assert hits[0].id == records[3].id
        finally:
            await store.aclose()

    asyncio.run(before())
    fault_server.kill()
    fault_server.start()
    asyncio.run(after())


def test_transient_outage_inside_retry_window_succeeds(fault_server: LiteServer) -> None:
    """Stop the server, call, restart it 0.5 s later: the call retries and succeeds."""
    store = AsyncMilvusStore(
        fault_server.uri,
        token=SECRET,
        collection_name=new_name("blip"),
        dim=DIM,
        connect_timeout=2.0,
        retries=10,
        retry_backoff=0.25,
    )
    records = _records(20, prefix="blip")
    out: dict[str, Any] = {}

    async def main() -> None:
        await store.upsert(records[:10])
        fault_server.stop()
        restarter = threading.Timer(0.5, fault_server.start)
        restarter.start()
        t0 = time.monotonic()
        try:
            out["written"] = await store.upsert(records[10:])
        finally:
            out["elapsed"] = time.monotonic() - t0
            restarter.join()
        out["count"] = await store.count()
        await store.drop()
        await store.aclose()

    with capture_all_logs() as logs:
        asyncio.run(main())
    retries = _retry_lines(logs)
    print(f"\nsucceeded after {len(retries)} retries, {out['elapsed']:.2f} s: {retries}")
    assert out["written"] == [r.id for r in records[10:]]
    assert out["count"] == 20
    assert 1 <= len(retries) <= 10
    assert out["elapsed"] < 20.0
    _assert_no_secret(logs)


def test_retries_are_bounded_when_the_server_stays_down(fault_server: LiteServer) -> None:
    retries, backoff = 2, 0.1
    store = AsyncMilvusStore(
        fault_server.uri,
        token=SECRET,
        collection_name=new_name("down"),
        dim=DIM,
        connect_timeout=1.0,
        retries=retries,
        retry_backoff=backoff,
    )
    out: dict[str, Any] = {}

    async def main() -> None:
        await store.upsert(_records(5))
        fault_server.kill()
        t0 = time.monotonic()
        with pytest.raises(BackendUnavailableError) as info:
            await store.upsert(_records(5, prefix="late"))
        out["elapsed"] = time.monotonic() - t0
        out["err"] = info.value
        await store.aclose()

    with capture_all_logs() as logs:
        asyncio.run(main())
    lines = _retry_lines(logs)
    bound = (retries + 1) * (1.0 + 0.5) + sum(min(2.0, backoff * 2**i) for i in range(retries))
    print(f"\ngave up after {len(lines)} retries in {out['elapsed']:.2f} s (bound {bound:.2f})")
    assert len(lines) == retries
    assert out["elapsed"] < bound
    assert out["err"].written_ids == []
    _assert_no_secret(logs, out["err"])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never answers: a hung server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield int(s.getsockname()[1])


@pytest.mark.parametrize(("connect_timeout", "retries"), [(0.5, 0), (1.0, 1), (0.5, 3)])
def test_silent_address_fails_within_bound(
    silent_port: int, connect_timeout: float, retries: int
) -> None:
    backoff = 0.1
    conn = ConnectionConfig(
        uri=f"http://127.0.0.1:{silent_port}",
        token=SECRET,
        connect_timeout=connect_timeout,
        retries=retries,
        retry_backoff=backoff,
    )
    store = AsyncMilvusStore(connection=conn, collection_name=new_name(), dim=DIM)
    out: dict[str, Any] = {}

    async def main() -> None:
        t0 = time.monotonic()
        try:
            with pytest.raises(BackendUnavailableError) as info:
                await store.count()
        finally:
            out["elapsed"] = time.monotonic() - t0
            await store.aclose()
        out["err"] = info.value

    with capture_all_logs() as logs:
        asyncio.run(main())
    attempts = retries + 1
    lower = attempts * connect_timeout
    # + 1 s once: the first client of a process imports scipy in a worker thread
    bound = (
        attempts * (connect_timeout + 0.5)
        + sum(min(2.0, backoff * 2**i) for i in range(retries))
        + 1.0
    )
    print(f"\nconnect_timeout={connect_timeout} retries={retries}: {out['elapsed']:.2f} s")
    assert lower * 0.9 <= out["elapsed"] < bound
    msg = str(out["err"])
    assert "could not connect" in msg and f"{connect_timeout:g} s" in msg
    assert len(_retry_lines(logs)) == retries
    _assert_no_secret(logs, out["err"])


def test_refused_address_fails_fast_sync_and_async() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    times = []
    for _ in range(2):
        t0 = time.monotonic()
        store = MilvusStore(
            uri, token=SECRET, collection_name=new_name(), dim=DIM, retries=1, retry_backoff=0.05
        )
        try:
            with pytest.raises(BackendUnavailableError) as info:
                store.count()
        finally:
            store.close()
        times.append(time.monotonic() - t0)
        assert "127.0.0.1" in str(info.value) and SECRET not in str(info.value)

    async def main() -> float:
        store = AsyncMilvusStore(uri, token=SECRET, collection_name=new_name(), dim=DIM, retries=0)
        t0 = time.monotonic()
        try:
            with pytest.raises(BackendError):
                await store.count()
        finally:
            await store.aclose()
        return time.monotonic() - t0

    times.append(asyncio.run(main()))
    print(f"\nrefused address: {[round(t, 3) for t in times]} s")
    assert max(times) < 3.0


def test_hung_server_call_is_bounded_by_timeout(fault_server: LiteServer) -> None:
    """SIGSTOP the server: connections stay open, requests hang. The call must give up
    within ``timeout`` (plus slack), retries included."""
    timeout, retries = 2.0, 2
    store = AsyncMilvusStore(
        fault_server.uri,
        token=SECRET,
        collection_name=new_name("hung"),
        dim=DIM,
        timeout=timeout,
        connect_timeout=1.0,
        retries=retries,
        retry_backoff=0.1,
    )
    out: dict[str, Any] = {}

    async def main() -> None:
        await store.upsert(_records(5))
        assert fault_server.proc is not None
        os.kill(fault_server.proc.pid, signal.SIGSTOP)
        t0 = time.monotonic()
        try:
            with pytest.raises(BackendError) as info:
                await store.count()
            out["err"] = info.value
        finally:
            out["elapsed"] = time.monotonic() - t0
            os.kill(fault_server.proc.pid, signal.SIGCONT)
            await store.aclose()

    asyncio.run(main())
    err = out["err"]
    print(
        f"\nhung server: gave up after {out['elapsed']:.2f} s (timeout {timeout} s): "
        f"{type(err).__name__}: {err}"
    )
    assert SECRET not in str(err)
    assert out["elapsed"] < timeout + 1.5
