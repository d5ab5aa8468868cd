"""Event-loop health and secrets: no slow callbacks, no token anywhere."""

from __future__ import annotations

import asyncio
import gc
import logging

import numpy as np
import pytest

from milvus_rag import (
    AsyncMilvusStore,
    BackendUnavailableError,
    ConnectionConfig,
    Record,
    SearchRequest,
)
from tests.backends import Backend, LiteServer, free_port
from tests.conftest import new_name

pytestmark = pytest.mark.integration

DIM = 384
SECRET = "sk-FAKE-SECRET-token-9f8e7d"


@pytest.mark.parametrize("where", ["lite", "server"])
def test_no_slow_callbacks(where: str, tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    # The server runs at low CPU priority: on this 2-core machine a Milvus Lite 3 server busy
    # indexing otherwise preempts the test's loop thread, and asyncio's wall-clock timer
    # reports that as a slow callback (measured: 0.07-0.28 s at normal priority, none niced).
    # The threshold is asyncio's default, 0.1 s: at 0.05 s, 50-73 ms callbacks inside gRPC
    # and pymilvus's hybrid_search failed 3 of ~6 full-suite runs on this shared 2-core VM
    # (twice in both attempts), while writing 5,000 rows in one request (no byte cap on
    # batches) still fails at 0.1 s on both backends (checked). A stall our code causes shows
    # in every run, the OS descheduling the loop thread in some only: a run with slow
    # callbacks is repeated once, and both must show them to fail.
    server = LiteServer(tmp_path / "srv", nice=19).start() if where == "server" else None
    backend = Backend(where, server.uri if server else str(tmp_path / "slow.db"))
    if backend.engine == "lite3":
        # A Milvus Lite 3 file's engine runs in this process, in Python threads that share the
        # GIL with the loop (measured beside langchain-milvus: 0.16-0.18 s callbacks while it
        # indexes 5,000 rows, both runs): no async client can keep the loop free of that. README
        # ("Installing beside langchain-milvus") says so; the server variant checks the client.
        pytest.skip("the embedded Milvus Lite 3 engine shares this process's GIL")
    try:
        first = _slow_callbacks(backend, caplog)
        if first:
            caplog.clear()
            second = _slow_callbacks(backend, caplog)
            assert not second, {"first run": first[:3], "second run": second[:3]}
    finally:
        if server:
            server.stop()


def _slow_callbacks(backend: Backend, caplog: pytest.LogCaptureFixture) -> list[str]:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5000, DIM)).astype(np.float32)
    rows = [
        Record(
            id=f"id{i}",
            text=f"row {i} word{i % 97} other{i % 13}",
            vector=vectors[i],
            metadata={"i": i},
        )
        for i in range(5000)
    ]
    store = AsyncMilvusStore(
        backend.uri, token=backend.token or None, collection_name=new_name(), dim=DIM
    )

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.slow_callback_duration = 0.1  # asyncio's own default
        await store.ensure_collection()
        await store.upsert(rows)
        results = await store.search_many(
            [SearchRequest(text=f"word{i}", vector=vectors[i], k=5) for i in range(100)]
        )
        assert all(len(r) == 5 for r in results)
        assert await store.count() == 5000
        await store.drop()
        await store.aclose()

    # The heap the whole suite builds (torch, transformers and both frameworks imported:
    # ~540k objects) makes one full garbage collection take up to hundreds of ms (369 ms
    # measured), and it lands in whichever callback allocates at the time (seen: 50-110 ms
    # inside pymilvus's hybrid_search): freeze that heap, so what is measured is our work.
    gc.collect()
    gc.freeze()
    try:
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            asyncio.run(main(), debug=True)
    finally:
        gc.unfreeze()
    return [r.getMessage() for r in caplog.records if "took" in r.getMessage()]


def test_token_never_leaks(backend: Backend, caplog: pytest.LogCaptureFixture) -> None:
    conn = ConnectionConfig(
        uri=f"http://127.0.0.1:{free_port()}",
        token=SECRET,
        connect_timeout=1.0,
        retries=1,
        retry_backoff=0.05,
    )
    assert SECRET not in repr(conn) and SECRET not in str(conn)
    store = AsyncMilvusStore(connection=conn, collection_name=new_name(), dim=4)
    assert SECRET not in repr(store) and SECRET not in str(store)
    pw = ConnectionConfig(uri="http://127.0.0.1:1", user="u", password=SECRET)
    assert SECRET not in repr(pw)

    async def fail() -> BaseException:
        try:
            await store.count()
        except BackendUnavailableError as e:
            return e
        finally:
            await store.aclose()
        raise AssertionError("a dead address must fail")

    with caplog.at_level(logging.DEBUG):
        err = asyncio.run(fail())
        assert SECRET not in str(err) and SECRET not in repr(err)
        # a working backend with the token set, at DEBUG too
        ok = AsyncMilvusStore(
            backend.uri, token=backend.token or SECRET, collection_name=new_name(), dim=4
        )

        async def work() -> None:
            await ok.upsert([Record(id="a", text="hello", vector=[1.0, 0, 0, 0])])
            await ok.search(text="hello", vector=[1.0, 0, 0, 0], k=1)
            await ok.drop()
            await ok.aclose()

        if not backend.is_local:  # a local file takes no token
            asyncio.run(work())
    for rec in caplog.records:
        assert SECRET not in rec.getMessage()
        assert SECRET not in str(rec.args)
        if rec.exc_info:
            assert SECRET not in logging.Formatter().formatException(rec.exc_info)
