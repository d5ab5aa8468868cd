"""Pure parts of the client layer: config, validation, batching, fusion, schema checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from milvus_rag import (
    CollectionConfig,
    ConfigError,
    ConnectionConfig,
    InvalidInputError,
    Record,
    RetrievalMode,
    SchemaMismatchError,
)
from milvus_rag.client.fusion import (
    BM25_HALF,
    bm25_relevance,
    cosine_relevance,
    dense_relevance,
    mmr_select,
    normalize_scores,
    rrf_fuse,
    weighted_fuse,
)
from milvus_rag.client.records import Limits, plan_batches, validate_records
from milvus_rag.client.schema import build_schema, check_compatible, index_specs, parse_description


def test_connection_config_redacts_and_resolves(tmp_path) -> None:
    c = ConnectionConfig(uri=str(tmp_path / "a.db"), token="secret-xyz")
    assert c.is_local and c.uri.startswith("/")
    assert "secret-xyz" not in repr(c) and "***" in repr(c)
    assert "secret-xyz" not in str(c.key)
    assert not ConnectionConfig(uri="http://h:19530").is_local
    with pytest.raises(ConfigError, match=r"\.db"):
        ConnectionConfig(uri=str(tmp_path / "a.sqlite"))
    with pytest.raises(ConfigError, match="does not exist"):
        ConnectionConfig(uri=str(tmp_path / "missing" / "a.db"))
    with pytest.raises(ConfigError):
        ConnectionConfig(uri="")


def test_collection_config_validation() -> None:
    assert CollectionConfig(metric="cosine").metric == "COSINE"
    for bad in (
        {"name": "bad name"},
        {"dim": 0},
        {"dim": True},
        {"metric": "HAMMING"},
        {"text_field": "id"},
        {"bm25_b": 2.0},
        {"batch_size": 0},
        {"write_concurrency": 0},
    ):
        with pytest.raises(ConfigError):
            CollectionConfig(**bad)
    assert RetrievalMode.parse("HYBRID") is RetrievalMode.HYBRID
    with pytest.raises(ConfigError, match="dense"):
        RetrievalMode.parse("fuzzy")


def test_validate_records_normalises_and_rejects() -> None:
    lim = Limits(dim=2, id_max_length=8, text_max_length=10)
    out = validate_records(
        [Record(id="a", text="t", vector=np.array([1, 2]), metadata={"x": (1, 2)})], lim
    )
    assert list(out[0].vector) == [1.0, 2.0] and out[0].metadata == {"x": [1, 2]}
    cases = [
        (Record(id="a" * 9, text="t", vector=[1, 2]), "max_length"),
        (Record(id="a", text="t" * 11, vector=[1, 2]), "max_length"),
        (Record(id="a", text="t", vector=[1, 2, 3]), "dim"),
        (Record(id="a", text="t", vector=None), "missing"),
        (Record(id="a", text="t", vector=["x", 1]), "numbers"),
        (Record(id="a", text="t", vector=[1, 2], metadata=[1]), "dict"),  # type: ignore[arg-type]
        (Record(id="a", text="t", vector=[1, 2], metadata={1: "x"}), "keys"),
        (Record(id="a", text="\ud800", vector=[1, 2]), "unicode"),
    ]
    for rec, why in cases:
        with pytest.raises(InvalidInputError, match=why):
            validate_records([rec], lim)
    # without vectors when an embedder will supply them
    assert (
        validate_records([Record(id="a", text="t")], lim, require_vectors=False)[0].vector is None
    )


def test_plan_batches_by_rows_and_bytes() -> None:
    recs = [Record(id=str(i), text="x" * 1000, vector=[0.0] * 4) for i in range(10)]
    assert [len(b) for b in plan_batches(recs, 4, max_rows=4, max_bytes=10**9)] == [4, 4, 2]
    by_bytes = plan_batches(recs, 4, max_rows=100, max_bytes=2500)
    assert all(len(b) == 2 for b in by_bytes) and sum(map(len, by_bytes)) == 10
    assert plan_batches([], 4, 10, 10) == []


def test_rrf_by_hand() -> None:
    fused = dict(rrf_fuse([["a", "b", "c"], ["c", "a"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62)
    assert [k for k, _ in rrf_fuse([["a", "b", "c"], ["c", "a"]], k=60)] == ["a", "c", "b"]


def test_weighted_fusion_normalises_each_leg() -> None:
    dense = [("a", 0.9), ("b", 0.8), ("c", 0.7)]
    sparse = [("c", 30.0), ("d", 10.0)]
    fused = dict(weighted_fuse(dense, sparse, alpha=0.5))
    assert fused == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.5, "d": 0.0})
    assert [k for k, _ in weighted_fuse(dense, sparse, alpha=1.0)][:1] == ["a"]
    assert [k for k, _ in weighted_fuse(dense, sparse, alpha=0.0)][:1] == ["c"]
    assert normalize_scores([2.0, 2.0]).tolist() == [1.0, 1.0]
    assert normalize_scores([1.0, 2.0, 3.0]).tolist() == [0.0, 0.5, 1.0]


def test_relevance_functions() -> None:
    assert dense_relevance("COSINE", 1.0) == 1.0 and dense_relevance("COSINE", -1.0) == 0.0
    assert dense_relevance("COSINE", 0.07) == pytest.approx(0.07)  # unrelated: near 0
    assert dense_relevance("IP", 0.0) == 0.0 and dense_relevance("IP", 1.7) == 1.0
    # L2: Milvus's squared distance; 1 - d/2 is the cosine for unit vectors
    assert dense_relevance("L2", 0.0) == 1.0 and dense_relevance("L2", 1.0) == 0.5
    assert dense_relevance("L2", 4.0) == 0.0
    assert bm25_relevance(0.0) == 0.0 and bm25_relevance(BM25_HALF) == 0.5
    assert bm25_relevance(-3.0) == 0.0 and 0.9 < bm25_relevance(1000.0) < 1.0
    q = np.array([1.0, 0.0])
    vecs = np.array([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.0], [3.0, 4.0]])
    assert cosine_relevance(q, vecs, "COSINE") == pytest.approx([1.0, 0.0, 0.0, 0.6])
    unit = vecs[[0, 2]]
    assert cosine_relevance(q, unit, "L2") == pytest.approx(cosine_relevance(q, unit, "COSINE"))
    assert cosine_relevance(q, np.zeros((0, 2)), "IP") == []


def test_mmr_prefers_diverse() -> None:
    q = np.array([1.0, 0.0])
    cands = np.array([[1.0, 0.0], [0.99, 0.01], [0.7, 0.7]])
    assert mmr_select(q, cands, 2, lambda_mult=1.0) == [0, 1]
    assert mmr_select(q, cands, 2, lambda_mult=0.3) == [0, 2]
    assert mmr_select(q, np.zeros((0, 2)), 2) == []


def _desc(dim: int = 8, bm25: bool = True) -> tuple[dict, dict]:
    fields = [
        {"name": "id", "params": {"max_length": 512}},
        {"name": "text", "params": {"max_length": 65535, "analyzer_params": '{"type": "english"}'}},
        {"name": "dense", "params": {"dim": dim}},
        {"name": "doc_id", "params": {}},
        {"name": "metadata", "params": {}},
    ]
    if bm25:
        fields.append({"name": "sparse", "params": {}, "is_function_output": True})
    indexes = {"dense": {"metric_type": "COSINE"}, "sparse": {"metric_type": "BM25"}}
    return {"collection_name": "c", "fields": fields, "functions": []}, indexes


def test_schema_build_parse_and_check() -> None:
    cfg = CollectionConfig(name="c", dim=8)
    schema = build_schema(cfg, {"type": "english"})
    assert [f.name for f in schema.fields] == [
        "id",
        "text",
        "dense",
        "sparse",
        "doc_id",
        "metadata",
    ]
    assert [s.metric_type for s in index_specs(cfg)] == ["COSINE", "BM25"]
    info = parse_description(*_desc(), cfg)
    assert (info.dim, info.metric, info.has_bm25) == (8, "COSINE", True)
    check_compatible(cfg, info)
    check_compatible(CollectionConfig(name="c"), info)  # dim None: taken from the collection
    with pytest.raises(SchemaMismatchError, match="expected 16, found 8"):
        check_compatible(CollectionConfig(name="c", dim=16), info)
    with pytest.raises(SchemaMismatchError, match="sparse"):
        check_compatible(cfg, parse_description(*_desc(bm25=False), cfg))
    with pytest.raises(SchemaMismatchError, match="analyzer"):
        check_compatible(CollectionConfig(name="c", dim=8, analyzer="standard"), info)
    with pytest.raises(ConfigError, match="dim"):
        build_schema(CollectionConfig(name="c"))
    assert not math.isnan(info.dim)


def test_relevance_is_computed_only_where_asked_for() -> None:
    """Issue 27: fused hits carry relevance only when their search asked for it; reading it
    otherwise raises, naming the flag (never a made-up value)."""
    from milvus_rag import CollectionConfig, ConfigError, Hit, Record, SearchRequest
    from milvus_rag.client import rows

    with pytest.raises(ConfigError, match="relevance must be a bool"):
        SearchRequest(text="q", relevance="yes")  # type: ignore[arg-type]
    assert SearchRequest(text="q", relevance=True).fetches_vectors
    assert SearchRequest(text="q", with_vectors=True).fetches_vectors
    assert not SearchRequest(text="q").fetches_vectors

    cfg = CollectionConfig(dim=2)
    no_vec = [[{"id": "a", "distance": 0.1, "entity": {"text": "x"}}]]
    hit = rows.rrf_hits(cfg, no_vec, query=[1.0, 0.0])[0]
    assert not hit.has_relevance and hit.computed_relevance is None
    with pytest.raises(ConfigError, match="relevance=True"):
        _ = hit.relevance
    assert hit.to_dict()["relevance"] is None  # JSON of a hit: null, never a made-up value
    # client-side fusion: the dense leg's relevance from its distance, the BM25 leg's from
    # its returned vector; none at all unless asked for (the same whichever leg found it)
    dense = rows.field_hits(cfg, [[{"id": "a", "distance": 0.5, "entity": {}}]])
    with_vec = [[{"id": "b", "distance": 3.0, "entity": {"dense": [0.6, 0.8]}}]]
    sparse = rows.field_hits(
        cfg, with_vec, kind="bm25", relevance="vectors", query=[1.0, 0.0], keep_vectors=False
    )
    assert sparse[0].relevance == pytest.approx(0.6) and sparse[0].record.vector is None
    for fused in (
        rows.fused_hits([dense, sparse], 2, weights=[0.5, 0.5], relevance=True),
        rows.fused_hits([dense, sparse], 2, rrf_k=20, relevance=True),
    ):
        assert {h.id: h.relevance for h in fused} == pytest.approx({"a": 0.5, "b": 0.6})
    assert not any(
        h.has_relevance
        for h in rows.fused_hits([dense, sparse], 2, weights=[0.5, 0.5], relevance=False)
    )
    # fan-out: the best relevance known for a hit; none where no list computed one
    unknown = Hit("a", 1.0, 1.0, Record("a", "t"))
    assert rows.fanout_hits([[unknown], dense], 1, 60)[0].relevance == pytest.approx(0.5)
    assert not rows.fanout_hits([[unknown]], 1, 60)[0].has_relevance


def test_filter_key_tells_apart_what_compiles_apart() -> None:
    """The searcher caches compiled filters by this key (issue 27)."""
    from datetime import date

    from milvus_rag.client.filters import filter_key

    assert filter_key({"a": 1, "b": [1, "x"]}) == filter_key({"a": 1, "b": [1, "x"]})
    keys = [filter_key(v) for v in ({"a": 1}, {"a": 1.0}, {"a": True}, {"a": "1"}, None, "a")]
    assert len(set(keys)) == len(keys)
    assert filter_key({"a": [1]}) != filter_key({"a": (1,)})
    assert filter_key({"a": 1, "b": 2}) != filter_key({"b": 2, "a": 1})  # order kept
    assert filter_key({"a": date(2020, 1, 1)}) is None  # not cached: compiled each time
    assert filter_key({1: "a"}) is None
