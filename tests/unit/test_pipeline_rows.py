"""The write pipeline and the pure row/hit conversions."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from milvus_rag import CollectionConfig, InvalidInputError, Record
from milvus_rag.client import rows
from milvus_rag.client.errors import is_missing_collection
from milvus_rag.client.pipeline import run_pipeline


def test_pipeline_overlaps_prepare_with_writes_and_bounds_in_flight() -> None:
    events: list[str] = []
    in_flight = peak = 0

    async def prepare(b: list[str]) -> list[str]:
        await asyncio.sleep(0.01)
        events.append(f"prepared{b[0]}")
        return b

    async def write(b: list[str]) -> list[str]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        events.append(f"write{b[0]}")
        await asyncio.sleep(0.03)
        in_flight -= 1
        return b

    written, err = asyncio.run(run_pipeline([["a"], ["b"], ["c"], ["d"]], prepare, write, 2))
    assert err is None and sorted(written) == ["a", "b", "c", "d"] and peak == 2
    # batch b is embedded while batch a is being written
    assert events.index("writea") < events.index("preparedb") < events.index("writeb")


def test_pipeline_stops_at_first_failure_and_keeps_in_flight_results() -> None:
    async def write(b: list[str]) -> list[str]:
        await asyncio.sleep(0.01 if b[0] != "b" else 0.0)
        if b[0] == "b":
            raise RuntimeError("boom")
        return b

    written, err = asyncio.run(run_pipeline([["a"], ["b"], ["c"]], None, write, 2))
    assert written == ["a"] and isinstance(err, RuntimeError)

    async def bad_prepare(b: list[str]) -> list[str]:
        if b[0] == "b":
            raise ValueError("embedder down")
        return b

    async def ok(b: list[str]) -> list[str]:
        return b

    written, err = asyncio.run(run_pipeline([["a"], ["b"], ["c"]], bad_prepare, ok, 1))
    assert written == ["a"] and isinstance(err, ValueError)


def test_row_and_hit_conversions() -> None:
    cfg = CollectionConfig(dim=2)
    r = Record(id="a", text="t", vector=[1.0, 0.0], metadata={"k": 1}, doc_id="d")
    assert rows.to_row(cfg, r) == {
        "id": "a",
        "text": "t",
        "dense": [1.0, 0.0],
        "doc_id": "d",
        "metadata": {"k": 1},
    }
    res = [
        [
            {"id": "a", "distance": -3.0, "entity": {"text": "x"}},
            {"id": "b", "distance": -1.5, "entity": {"text": "y"}},
        ]
    ]
    sparse = rows.field_hits(cfg, res, kind="bm25", relevance="bm25")  # negative (Lite 3)
    # BM25 only: s / (s + BM25_HALF), absolute (not the score over the best one)
    assert [(h.id, h.score) for h in sparse] == [("a", 3.0), ("b", 1.5)]
    assert [h.relevance for h in sparse] == pytest.approx([3 / 23, 1.5 / 21.5])
    dense = rows.dense_hits(cfg, [[{"id": "a", "distance": 0.5, "entity": {}}]])
    assert dense[0].relevance == pytest.approx(0.5)  # the cosine itself
    # fused hits: relevance is the dense one, from the vector returned with the hit
    top = 2 / (cfg.rrf_k + 1)  # first in both legs
    hit = {"id": "a", "distance": top, "entity": {"text": "x", "dense": [0.6, 0.8]}}
    off = {"id": "b", "distance": top / 2, "entity": {"text": "y", "dense": [0.0, -1.0]}}
    rrf = rows.rrf_hits(cfg, [[hit, off]], query=[1.0, 0.0], keep_vectors=False)
    assert [h.score for h in rrf] == pytest.approx([top, top / 2])  # the rank order
    assert [h.relevance for h in rrf] == pytest.approx([0.6, 0.0])  # not 1.0 and 0.5
    assert all(h.record.vector is None for h in rrf)
    assert rows.rrf_hits(cfg, [[hit]], query=[1.0, 0.0])[0].record.vector == [0.6, 0.8]
    fused = rows.fanout_hits([dense, sparse], k=2, rrf_k=60)
    assert fused[0].id == "a" and fused[0].relevance == pytest.approx(0.5)  # best of its lists
    with pytest.raises(InvalidInputError, match="shape"):
        rows.with_vectors([Record(id="x", text="t")], np.zeros((1, 3)), dim=2)
    with pytest.raises(InvalidInputError):
        rows.check_ids("abc")
    assert is_missing_collection(RuntimeError("collection 'x' does not exist"))
