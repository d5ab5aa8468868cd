"""Issue 27, the call path. A backend call's deadline enforced by milvus-rag
(``calls.within``) rather than by pymilvus (which runs every call given a ``timeout=`` in an
``asyncio.wait_for`` task of its own): cancelled at the deadline, a BackendError that says
so, not retried; a call in time answers as before; a ``TimeoutError`` of the call's own is
not taken for the deadline. The pool's and ``PerLoop``'s memory of the last loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from milvus_rag import AsyncMilvusStore, BackendError, BackendUnavailableError, Record
from milvus_rag.client.calls import within

pytestmark = pytest.mark.integration


async def test_deadline_cancels_once_and_says_so(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    store = make_async_store(dim=2, retries=3)
    await store.upsert([Record(id="a", text="x", vector=[1.0, 0.0])])
    tries = 0

    def search(c: Any) -> Any:
        nonlocal tries
        tries += 1
        return c.search(store.name, data=[[1.0, 0.0]], anns_field="dense", limit=1)

    res = await store._call("search", search, timeout=30.0)
    assert [h["id"] for h in res[0]] == ["a"] and tries == 1
    tries = 0
    with pytest.raises(BackendError, match=r"within the timeout of 1e-06 s") as info:
        await store._call("search", search, timeout=1e-6)
    assert tries == 1  # a deadline is not retried (as pymilvus's own time-out)
    assert info.value.operation == "search" and info.value.collection == store.name
    assert await store.search(vector=[1.0, 0.0], k=1, mode="dense")  # the client still works


async def test_within_keeps_the_calls_own_errors() -> None:
    async def own() -> None:
        raise TimeoutError("the call's own")

    with pytest.raises(TimeoutError, match="the call's own"):
        await within(own(), 5.0, "search", "c")
    assert await within(asyncio.sleep(0, "done"), 5.0, "search", "c") == "done"
    assert await within(asyncio.sleep(0, "free"), None, "search", "c") == "free"
    with pytest.raises(BackendError, match="timeout"):
        await within(asyncio.sleep(5), 0.01, "search", "c")


async def test_a_deadline_leaves_the_task_as_it_found_it() -> None:
    """The deadline cancels the running task and takes its cancellation back: after the
    BackendError the task's cancel count is what it was and its next await runs."""
    task = asyncio.current_task()
    assert task is not None
    before = task.cancelling()
    with pytest.raises(BackendError, match=r"timeout of 0\.01 s") as info:
        await within(asyncio.sleep(5), 0.01, "search", "c")
    assert info.value.__context__ is None and info.value.collection == "c"
    assert task.cancelling() == before
    assert await asyncio.sleep(0.02, "still runs") == "still runs"


async def test_a_cancellation_from_outside_is_not_taken_for_the_deadline() -> None:
    """Cancelled by its caller before the deadline, or at the same moment as the deadline
    fires: the call is cancelled (CancelledError), not a time-out."""

    async def guarded(timeout: float) -> str:
        return await within(asyncio.sleep(5, "late"), timeout, "search", "c")

    early = asyncio.ensure_future(guarded(10.0))
    await asyncio.sleep(0.01)
    early.cancel()
    with pytest.raises(asyncio.CancelledError):
        await early

    both = asyncio.ensure_future(guarded(0.02))
    await asyncio.sleep(0)  # started: its deadline is set
    time.sleep(0.05)  # the deadline passes while the loop is blocked ...
    both.cancel()  # ... and the caller cancels, before the loop fires the deadline
    with pytest.raises(asyncio.CancelledError):
        await both


async def test_a_closed_pool_hands_out_no_client(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    """The pool remembers the last loop's client (a search asks for it every time); closing
    the pool forgets it, and the next call connects again."""
    store = make_async_store(dim=2)
    await store.upsert([Record(id="a", text="x", vector=[1.0, 0.0])])
    first = store._pool.current()
    assert first is not None and store._pool.current() is first
    await store.aclose()
    assert store._pool.current() is None
    assert [h.id for h in await store.search(vector=[1.0, 0.0], k=1, mode="dense")] == ["a"]
    assert store._pool.current() not in (None, first)


def test_per_loop_items_stay_per_loop() -> None:
    """``PerLoop`` remembers the last loop's item: another loop (another thread, or a later
    ``asyncio.run``) still gets its own."""
    import threading

    from milvus_rag.client.locks import PerLoop

    locks: PerLoop[asyncio.Lock] = PerLoop(asyncio.Lock)

    async def two() -> tuple[asyncio.Lock, asyncio.Lock]:
        return locks.get(), locks.get()

    a, b = asyncio.run(two())
    c, _ = asyncio.run(two())
    out: list[asyncio.Lock] = []
    t = threading.Thread(target=lambda: out.extend(asyncio.run(two())))
    t.start()
    t.join()
    assert a is b and c is not a and out[0] is out[1] and out[0] not in (a, c)


@pytest.mark.parametrize("fails", [0, 1, 3, 4])
async def test_a_call_retries_what_is_unavailable_the_first_try_included(
    make_async_store: Callable[..., AsyncMilvusStore], fails: int
) -> None:
    """The first try of a call on a connected loop runs inline (not in the retry loop's
    coroutines): an unavailable failure there is retried as any other, ``retries`` times,
    then raised mapped; another failure is raised at once, mapped, and not retried."""
    store = make_async_store(dim=2, retries=3, retry_backoff=0.001)
    await store.upsert([Record(id="a", text="x", vector=[1.0, 0.0])])
    tries = 0

    async def flaky(c: Any) -> Any:
        nonlocal tries
        tries += 1
        if tries <= fails:
            raise ConnectionError("connection reset by peer")
        return await c.search(store.name, data=[[1.0, 0.0]], anns_field="dense", limit=1)

    if fails <= 3:
        res = await store._call("search", flaky)
        assert [h["id"] for h in res[0]] == ["a"] and tries == fails + 1
    else:
        with pytest.raises(BackendUnavailableError, match="connection reset") as info:
            await store._call("search", flaky)
        assert tries == 4 and info.value.operation == "search"  # 1 try + 3 retries

    tries = 0

    async def refused(c: Any) -> Any:
        nonlocal tries
        tries += 1
        raise ValueError("no such thing")

    with pytest.raises(BackendError, match="no such thing") as err:
        await store._call("search", refused)
    assert tries == 1 and not isinstance(err.value, BackendUnavailableError)
    assert isinstance(err.value.__cause__, ValueError)


async def test_a_collection_dropped_behind_the_store_is_recreated_once(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    """A search of a collection another client dropped: the store forgets its schema,
    ensures the collection again and tries once more (an empty collection: no hits)."""
    store = make_async_store(dim=2)
    await store.upsert([Record(id="a", text="x", vector=[1.0, 0.0])])
    assert [h.id for h in await store.search(vector=[1.0, 0.0], k=1, mode="dense")] == ["a"]
    other = make_async_store(dim=2, collection_name=store.name)
    await other._call("drop", lambda c: c.drop_collection(store.name))
    assert await store.search(vector=[1.0, 0.0], k=1, mode="dense") == []
    assert await store.exists()
