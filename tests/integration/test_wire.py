"""The prepared search path (``client/wire.py``) sends what pymilvus's public call sends and
reads what it reads (issue 27), on both backends.

For each request shape (dense, BM25 text, a second dense field; filters, search params,
consistency levels, output fields; hybrid RRF over two and three legs), the request the
public ``AsyncMilvusClient.search`` / ``hybrid_search`` builds (caught where pymilvus sends
it) is compared byte for byte with wire's, for the first query of the shape (pymilvus's
``Prepare``) and for a later one (the template with the query and timestamp set); and the
answers of both paths are compared row for row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from pymilvus import AnnSearchRequest, RRFRanker
from pymilvus.client import ts_utils
from pymilvus.client.async_grpc_handler import AsyncGrpcHandler

from milvus_rag import AsyncMilvusStore, Record, VectorField
from milvus_rag.client import wire

pytestmark = pytest.mark.integration

DIM = 8


def plain(res: Any) -> list[list[dict[str, Any]]]:
    return [[dict(h) for h in hits] for hits in res]


def comparable(request: Any, level: str | None) -> bytes:
    out = type(request)()
    out.CopyFrom(request)
    if level == "Bounded":  # pymilvus's bounded timestamp is the clock's, read per call
        out.guarantee_timestamp = 0
        for sub in getattr(out, "requests", []):
            sub.guarantee_timestamp = 0
    data: bytes = out.SerializeToString(deterministic=True)
    return data


@pytest.fixture
async def filled(make_async_store: Callable[..., AsyncMilvusStore]) -> AsyncMilvusStore:
    fields = [
        VectorField.dense("dense", dim=DIM),
        VectorField.sparse("sparse", bm25=True),
        VectorField.dense("title", dim=DIM),
    ]
    store = make_async_store(dim=DIM, vector_fields=fields)
    rng = np.random.default_rng(3)
    await store.upsert(
        [
            Record(
                id=f"r{i}",
                text=f"alpha word{i % 5} beta",
                vector=rng.normal(size=DIM).astype(np.float32),
                metadata={"i": i % 7, "tag": ["x", "y"][i % 2]},
                vectors={"title": rng.normal(size=DIM).astype(np.float32).tolist()},
            )
            for i in range(40)
        ]
    )
    return store


async def rewrite(store: AsyncMilvusStore) -> None:
    """A write, and the last write timestamp pymilvus keeps for the collection moved, as a
    Milvus server reports it after each write (a default or Session search sends it; Milvus
    Lite reports 0, so the test moves it by hand, to a time long past: nothing waits)."""
    global STAMP
    await store.upsert(
        [Record(id="w", text="alpha written", vector=[1.0] * DIM, vectors={"title": [1.0] * DIM})]
    )
    handler = await store.pymilvus_aclient()._get_connection()
    STAMP += 1
    ts_utils.update_collection_ts(store.name, STAMP, handler.server_address, "")


STAMP = 1000


LEVELS = [None, "Strong", "Session", "Bounded", "Eventually"]


@pytest.mark.parametrize("level", LEVELS)
async def test_search_requests_and_answers_are_pymilvus_s(
    filled: AsyncMilvusStore, monkeypatch: pytest.MonkeyPatch, level: str | None
) -> None:
    client = filled.pymilvus_aclient()
    sent: list[Any] = []
    execute = AsyncGrpcHandler._execute_search

    async def catch(self: Any, request: Any, *a: Any, **kw: Any) -> Any:
        sent.append(request)
        return await execute(self, request, *a, **kw)

    monkeypatch.setattr(AsyncGrpcHandler, "_execute_search", catch)
    rng = np.random.default_rng(5)
    extra = {} if level is None else {"consistency_level": level}
    fields = ["id", "text", "metadata"]
    shapes: list[dict[str, Any]] = [
        {"anns_field": "dense", "search_params": {"metric_type": "COSINE"}},
        {
            "anns_field": "dense",
            "filter": 'metadata["i"] == 3',
            "output_fields": [*fields, "dense"],
        },
        {
            "anns_field": "title",
            "search_params": {"metric_type": "COSINE", "params": {"nprobe": 4}},
            "output_fields": ["id"],
        },
        {"anns_field": "sparse", "search_params": {"metric_type": "BM25"}, "text": True},
    ]
    for shape in shapes:
        shape = dict(shape)
        text = shape.pop("text", False)
        args = {"limit": 5, "output_fields": fields, **shape, **extra}
        for _ in range(3):  # the first query builds the template, the others use it
            await rewrite(filled)  # a write moves the consistency timestamp
            q: Any = "alpha word3" if text else rng.normal(size=DIM).astype(np.float32).tolist()
            sent.clear()
            public = await client.search(filled.name, data=[q], **args)
            prepared = await wire.search_request(client, filled.name, data=[q], **args)
            assert prepared is not None, "the prepared path is not used on this pymilvus"
            assert comparable(prepared[1], level) == comparable(sent[0], level), shape
            ours = await wire.search(client, filled.name, data=[q], **args)
            assert ours == plain(public), shape


@pytest.mark.parametrize("level", [None, "Strong", "Bounded"])
async def test_hybrid_requests_and_answers_are_pymilvus_s(
    filled: AsyncMilvusStore, monkeypatch: pytest.MonkeyPatch, level: str | None
) -> None:
    client = filled.pymilvus_aclient()
    sent: list[Any] = []
    execute = AsyncGrpcHandler._execute_hybrid_search

    async def catch(self: Any, request: Any, *a: Any, **kw: Any) -> Any:
        sent.append(request)
        return await execute(self, request, *a, **kw)

    monkeypatch.setattr(AsyncGrpcHandler, "_execute_hybrid_search", catch)
    rng = np.random.default_rng(6)
    extra = {} if level is None else {"consistency_level": level}
    cosine = {"metric_type": "COSINE"}
    for legs in (("dense", "sparse"), ("dense", "sparse", "title")):
        for expr in (None, 'metadata["tag"] == "x"'):
            for _ in range(3):
                await rewrite(filled)
                reqs = [
                    AnnSearchRequest(
                        ["alpha word2"] if f == "sparse" else [rng.normal(size=DIM).tolist()],
                        f,
                        {"metric_type": "BM25"} if f == "sparse" else cosine,
                        20,
                        expr=expr,
                    )
                    for f in legs
                ]
                args = {"limit": 6, "output_fields": ["id", "text", "metadata"], **extra}
                sent.clear()
                public = await client.hybrid_search(filled.name, reqs, RRFRanker(20), **args)
                prepared = await wire.hybrid_search_request(
                    client, filled.name, reqs, RRFRanker(20), **args
                )
                assert prepared is not None
                assert comparable(prepared[1], level) == comparable(sent[0], level), legs
                ours = await wire.hybrid_search(client, filled.name, reqs, RRFRanker(20), **args)
                assert ours == plain(public), legs


async def test_a_failed_prepared_search_is_pymilvus_s_error(filled: AsyncMilvusStore) -> None:
    """An error is the public call's: its message, its exception, its retries."""
    client = filled.pymilvus_aclient()
    args = {"data": [[0.1] * DIM], "anns_field": "dense", "limit": 3}
    with pytest.raises(Exception) as public:
        await client.search("no_such_collection", **args)
    with pytest.raises(Exception) as ours:
        await wire.search(client, "no_such_collection", **args)
    assert type(ours.value) is type(public.value)
    assert str(ours.value) == str(public.value)


async def test_an_encoding_unlike_pymilvus_s_takes_the_public_call(
    filled: AsyncMilvusStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A placeholder encoded otherwise than pymilvus encodes it (another pymilvus) is
    noticed on the first search of its kind: every search of that kind is public."""
    monkeypatch.setattr(wire, "_ENCODING_OK", {})
    monkeypatch.setattr(wire, "placeholder", lambda kind, q: b"not pymilvus's")
    sent: list[Any] = []
    send = wire.send_search

    async def count(t: Any, request: Any) -> Any:
        sent.append(request)
        return await send(t, request)

    monkeypatch.setattr(wire, "send_search", count)
    q = np.random.default_rng(1).normal(size=DIM).astype(np.float32)
    before = await filled.search(vector=q, k=4, mode="dense")
    again = await filled.search(vector=q, k=4, mode="dense")
    assert [h.id for h in before] == [h.id for h in again] and len(before) == 4
    assert wire._ENCODING_OK == {"vector": False}
    assert sent == []  # no request of ours went out


async def test_a_pymilvus_that_prepares_otherwise_takes_the_public_call(
    filled: AsyncMilvusStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Preparing fails where pymilvus's own call succeeds (another pymilvus): the search is
    answered by the public call, and no search is prepared again in the process; a search
    whose arguments are at fault raises the public call's error and changes nothing."""

    class Other:
        @staticmethod
        def search_requests_with_expr(**kwargs: Any) -> Any:
            raise TypeError("unexpected keyword argument")

    monkeypatch.setattr(wire, "_ON", True)
    monkeypatch.setattr(wire, "_CLIENTS", type(wire._CLIENTS)())  # no templates yet
    client = filled.pymilvus_aclient()
    args = {"anns_field": "dense", "limit": 3, "output_fields": ["id"]}
    bad = {"metric_type": "COSINE", "params": "not a dict"}  # refused while preparing
    with pytest.raises(Exception, match="must be a dict"):
        await wire.search(client, filled.name, data=[[0.1] * DIM], search_params=bad, **args)
    assert wire._ON  # the arguments were at fault
    monkeypatch.setattr(wire, "Prepare", Other)
    q = [0.1] * DIM
    with caplog.at_level("WARNING", logger="milvus_rag"):
        first = await wire.search(client, filled.name, data=[q], **args)
    assert not wire._ON and "public calls from now on" in caplog.text
    assert first == plain(await client.search(filled.name, data=[q], **args))
    hits = await filled.search(vector=q, k=3, mode="dense")  # the store: public calls now
    assert [h.id for h in hits] == [h["id"] for h in first[0]]
