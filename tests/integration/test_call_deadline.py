"""Issue 27: a backend call's deadline enforced by milvus-rag (``calls.within``) rather than
by pymilvus (which runs every call given a ``timeout=`` in an ``asyncio.wait_for`` task of its
own): the call is cancelled at the deadline, fails with a BackendError that says so, and is
not retried; a call in time answers as before; a ``TimeoutError`` of the call's own is not
taken for the deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from milvus_rag import AsyncMilvusStore, BackendError, Record
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
