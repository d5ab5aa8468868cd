"""A search pays for relevance only when its caller asks for it (issue 27).

A hybrid (RRF or weighted) or fan-out hit's relevance is its dense one, computed from the
hit's stored vector and the query vector; fetching those vectors cost 0.3 ms of the client's
CPU per search at k=10 (pymilvus decodes them, we converted them). So the vectors are
requested only by a search that asks for relevance (``relevance=True``) or for the vectors
(``with_vectors=True``); what the requests ask for is read on the wire (tests.spies), on
both backends, for every hybrid path: server-side RRF, client-side weighted fusion, the
client-side residual filter (NOT on Milvus Lite 2.5) and fan-out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from milvus_rag import AsyncMilvusStore, ConfigError, Record, SearchRequest
from tests.spies import RequestSpy

pytestmark = pytest.mark.integration

DIM = 8
N = 40
VECTOR = "dense"  # the collection's vector field (the default)
CASES: dict[str, dict[str, Any]] = {
    "rrf": {},
    "weighted": {"alpha": 0.5},
    "rrf, NOT filter": {"filter": {"$not": {"i": 3}}},  # client-side residual on Lite 2.5
    "weighted, NOT filter": {"alpha": 0.3, "filter": {"$not": {"i": 3}}},
}


def _expected(vectors: dict[str, np.ndarray], q: np.ndarray, ids: list[str]) -> list[float]:
    """The one meaning of relevance: the cosine of hit and query, clipped to [0, 1]."""
    out = []
    for i in ids:
        v = vectors[i]
        out.append(float(np.clip(v @ q / (np.linalg.norm(v) * np.linalg.norm(q)), 0.0, 1.0)))
    return out


async def test_hybrid_fetches_vectors_only_when_relevance_is_asked_for(
    make_async_store: Callable[..., AsyncMilvusStore], request_spy: RequestSpy
) -> None:
    store = make_async_store(dim=DIM)
    rng = np.random.default_rng(27)
    vecs = rng.normal(size=(N, DIM)).astype(np.float32)
    by_id = {f"r{i}": v for i, v in enumerate(vecs)}
    await store.upsert(
        [
            Record(id=f"r{i}", text=f"alpha word{i % 5} beta", vector=v, metadata={"i": i % 7})
            for i, v in enumerate(vecs)
        ]
    )
    q = vecs[0] + 0.5 * rng.normal(size=DIM).astype(np.float32)
    for case, kwargs in CASES.items():
        request_spy.clear()
        plain = await store.search("alpha word1", q, k=8, **kwargs)
        sent = request_spy.output_fields()
        assert sent and all(VECTOR not in fields for fields in sent), (case, sent)
        assert len(plain) == 8 and not any(h.has_relevance for h in plain), case
        with pytest.raises(ConfigError, match="relevance=True"):
            _ = plain[0].relevance

        request_spy.clear()
        asked = await store.search("alpha word1", q, k=8, relevance=True, **kwargs)
        assert any(VECTOR in fields for fields in request_spy.output_fields()), case
        assert [h.id for h in asked] == [h.id for h in plain], case  # the same ranking
        ids = [h.id for h in asked]
        assert [h.relevance for h in asked] == pytest.approx(_expected(by_id, q, ids), abs=1e-5)
        assert all(h.record.vector is None for h in asked), case  # fetched for relevance only

        kept = await store.search("alpha word1", q, k=8, with_vectors=True, **kwargs)
        assert all(h.has_relevance and h.record.vector is not None for h in kept), case

    # dense and BM25-only hits carry their relevance (from the distance) and no vectors
    request_spy.clear()
    dense = await store.search("alpha", q, k=8, mode="dense")
    sparse = await store.search("alpha word1", k=8, mode="sparse")
    assert all(VECTOR not in fields for fields in request_spy.output_fields())
    assert [h.relevance for h in dense] == pytest.approx(
        _expected(by_id, q, [h.id for h in dense]), abs=1e-5
    )
    assert all(0.0 <= h.relevance < 1.0 for h in sparse)

    # fan-out: the best relevance over its lists, when its requests ask for it
    reqs = [SearchRequest(text=t, vector=q, k=6) for t in ("alpha word1", "beta word2")]
    request_spy.clear()
    fused = await store.fanout_search(reqs, k=6)
    assert all(VECTOR not in fields for fields in request_spy.output_fields())
    assert fused and not any(h.has_relevance for h in fused)
    asked_reqs = [SearchRequest(text=r.text, vector=q, k=6, relevance=True) for r in reqs]
    fused = await store.fanout_search(asked_reqs, k=6)
    ids = [h.id for h in fused]
    assert [h.relevance for h in fused] == pytest.approx(_expected(by_id, q, ids), abs=1e-5)
