"""Spies on what is sent: the real calls go through, a copy of each protobuf search request
is kept where it is sent (pymilvus's public calls, and milvus-rag's prepared requests in
``client/wire.py``), so tests see that an option reached the wire (not mocks of Milvus)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from pymilvus import AsyncMilvusClient
from pymilvus.client.async_grpc_handler import AsyncGrpcHandler
from pymilvus.grpc_gen import common_pb2

from milvus_rag.client import calls, wire


@dataclass
class SentSearch:
    """One protobuf SearchRequest (a search, or one leg of a hybrid search)."""

    anns_field: str
    metric_type: str
    params: dict[str, Any]
    consistency_level: str
    output_fields: list[str] = field(default_factory=list)
    group_by: str = ""  # the group_by_field of a grouping search


@dataclass
class RequestSpy:
    searches: list[SentSearch] = field(default_factory=list)
    hybrid_levels: list[str] = field(default_factory=list)
    timeouts: list[float | None] = field(default_factory=list)
    #: the output fields of each hybrid search request (its legs' are in ``searches``)
    hybrid_output_fields: list[list[str]] = field(default_factory=list)

    def clear(self) -> None:
        self.searches.clear()
        self.hybrid_levels.clear()
        self.timeouts.clear()
        self.hybrid_output_fields.clear()

    def output_fields(self) -> list[list[str]]:
        """The output fields of every request sent (searches, then hybrid searches)."""
        return [s.output_fields for s in self.searches] + self.hybrid_output_fields

    def dense(self) -> list[SentSearch]:
        return [s for s in self.searches if s.metric_type != "BM25"]


def _level(req: Any) -> str:
    """The request's consistency level; "Default" where it leaves the collection's."""
    if req.use_default_consistency:
        return "Default"
    return str(common_pb2.ConsistencyLevel.Name(req.consistency_level))


@pytest.fixture
def request_spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[RequestSpy]:
    spy = RequestSpy()

    def on_search(req: Any) -> None:
        kv = {p.key: p.value for p in req.search_params}
        params = json.loads(kv.get("params", "{}"))
        params.pop("metric_type", None)  # pymilvus copies it in; the tests look at the rest
        spy.searches.append(
            SentSearch(
                anns_field=kv.get("anns_field", ""),
                metric_type=kv.get("metric_type", ""),
                params=params,
                consistency_level=_level(req),
                output_fields=list(req.output_fields),
                group_by=kv.get("group_by_field", ""),
            )
        )

    def on_hybrid(req: Any) -> None:
        for leg in req.requests:
            on_search(leg)
        spy.hybrid_levels.append(_level(req))
        spy.hybrid_output_fields.append(list(req.output_fields))

    # what is sent, where it is sent: pymilvus's public calls, and milvus-rag's prepared
    # requests (client/wire.py)
    execute_search = AsyncGrpcHandler._execute_search
    execute_hybrid = AsyncGrpcHandler._execute_hybrid_search
    send_search, send_hybrid = wire.send_search, wire.send_hybrid_search

    async def public_search(self: Any, request: Any, *a: Any, **kw: Any) -> Any:
        on_search(request)
        return await execute_search(self, request, *a, **kw)

    async def public_hybrid(self: Any, request: Any, *a: Any, **kw: Any) -> Any:
        on_hybrid(request)
        return await execute_hybrid(self, request, *a, **kw)

    async def wire_search(t: Any, request: Any) -> Any:
        on_search(request)
        return await send_search(t, request)

    async def wire_hybrid(t: Any, request: Any) -> Any:
        on_hybrid(request)
        return await send_hybrid(t, request)

    monkeypatch.setattr(AsyncGrpcHandler, "_execute_search", public_search)
    monkeypatch.setattr(AsyncGrpcHandler, "_execute_hybrid_search", public_hybrid)
    monkeypatch.setattr(wire, "send_search", wire_search)
    monkeypatch.setattr(wire, "send_hybrid_search", wire_hybrid)
    real_within = calls.within

    async def within(aw: Any, timeout: float | None, operation: str, collection: str) -> Any:
        # a search's deadline is milvus-rag's (calls.within), not sent to pymilvus
        if operation in ("search", "hybrid_search"):
            spy.timeouts.append(timeout)
        return await real_within(aw, timeout, operation, collection)

    monkeypatch.setattr(calls, "within", within)
    for name in ("search", "hybrid_search"):
        real = getattr(AsyncMilvusClient, name)

        def wrapped(client: Any, *a: Any, _real: Any = real, **kw: Any) -> Any:
            assert kw.get("timeout") is None, "a search's deadline is calls.within's"
            return _real(client, *a, **kw)

        monkeypatch.setattr(AsyncMilvusClient, name, wrapped)
    yield spy
