"""The search value: validated once when built, defaults decided in one place, prepared
(filter compiled, range checked) once per store. Pure: no backend."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from milvus_rag import ConfigError, InvalidInputError, RetrievalMode, SearchRequest
from milvus_rag.client import tenancy as tenancy_module
from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.filters import Dialect, FieldNames
from milvus_rag.client.legs import plan_legs, vector_fields_by_name
from milvus_rag.client.request import (
    DEFAULT_K,
    MAX_K,
    Target,
    check_range,
    resolve_ranker,
)
from milvus_rag.client.search import Searcher, SearchPort
from milvus_rag.client.tenancy import Tenancy

# (kwargs, error type, part of the message) for requests that must be refused when built
INVALID: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"text": "q", "k": 0}, ConfigError, "k must be"),
    ({"text": "q", "k": True}, ConfigError, "k must be"),
    ({"text": "q", "mode": "fuzzy"}, ConfigError, "retrieval mode"),
    ({"text": "q", "ranker": "max"}, ConfigError, "ranker"),
    ({"text": "q", "alpha": 1.5}, ConfigError, "alpha"),
    ({"text": "q", "alpha": float("nan")}, ConfigError, "alpha"),
    ({"text": "q", "candidates": 0}, ConfigError, "candidates"),
    ({"text": "q", "rrf_k": 0}, ConfigError, "rrf_k"),
    ({"text": "  "}, InvalidInputError, "non-empty query text"),
    ({"text": None, "mode": "sparse"}, InvalidInputError, "non-empty query text"),
    ({"text": 3, "mode": "dense"}, InvalidInputError, "must be a str"),
    ({"vector": [1.0, float("nan")], "mode": "dense"}, InvalidInputError, "finite"),
    ({"vector": [[1.0]], "mode": "dense"}, InvalidInputError, "one non-empty"),
    ({"text": "q", "search_params": [("ef", 1)]}, ConfigError, "must be a dict"),
    ({"text": "q", "search_params": {"metric_type": "L2"}}, ConfigError, "metric="),
    ({"text": "q", "search_params": {"radius": 0.1}}, ConfigError, "radius="),
    ({"text": "q", "search_params": {"params": {}}}, ConfigError, "itself"),
    ({"text": "q", "search_params": {"ef": float("inf")}}, ConfigError, "JSON value"),
    ({"text": "q", "search_params": {"ef": object()}}, ConfigError, "JSON value"),
    ({"text": "q", "mode": "sparse", "search_params": {"ef": 8}}, ConfigError, "dense index"),
    ({"vector": [1.0], "mode": "dense", "range_filter": 0.9}, ConfigError, "needs radius"),
    ({"vector": [1.0], "mode": "dense", "radius": "0.5"}, ConfigError, "finite number"),
    ({"text": "q", "radius": 0.5}, ConfigError, "mode='dense'"),
    ({"text": "q", "mode": "sparse", "radius": 0.5}, ConfigError, "mode='dense'"),
    ({"text": "q", "consistency_level": "Customized"}, ConfigError, "consistency_level"),
    ({"text": "q", "consistency_level": 1}, ConfigError, "consistency_level"),
    ({"text": "q", "timeout": 0}, ConfigError, "timeout"),
    ({"text": "q", "timeout": -1.0}, ConfigError, "timeout"),
    ({"text": "q", "timeout": float("inf")}, ConfigError, "timeout"),
    ({"text": "q", "with_vectors": "yes"}, ConfigError, "with_vectors"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), INVALID)
def test_invalid_requests_are_refused_when_built(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        SearchRequest(**kwargs)


def test_defaults_and_normalisation() -> None:
    r = SearchRequest(text="q")
    assert (r.k, r.mode, r.ranker, r.alpha) == (DEFAULT_K, RetrievalMode.HYBRID, "rrf", None)
    assert r.search_params == {} and r.consistency_level is None and r.timeout is None
    w = SearchRequest(text="q", alpha=0.25, consistency_level="EVENTUALLY", timeout=2)
    assert (w.ranker, w.alpha, w.consistency_level, w.timeout) == (
        "weighted",
        0.25,
        "Eventually",
        2.0,
    )
    assert SearchRequest(text="q", ranker="rrf", alpha=0.25).ranker == "rrf"
    assert SearchRequest(text="q", mode="SPARSE").mode is RetrievalMode.SPARSE
    assert not SearchRequest(text="q", mode="sparse").needs_vector
    assert SearchRequest(vector=(1, 2), mode="dense").vector == [1.0, 2.0]


def test_the_ranker_default_lives_in_one_function() -> None:
    assert resolve_ranker(None, None) == "rrf"
    assert resolve_ranker(None, 0.3) == "weighted"
    assert resolve_ranker("rrf", 0.3) == "rrf"
    with pytest.raises(ConfigError):
        resolve_ranker("dbsf", None)


@pytest.mark.parametrize(
    ("metric", "radius", "range_filter", "ok"),
    [
        ("COSINE", 0.2, 0.9, True),
        ("COSINE", 0.9, 0.2, False),
        ("IP", -1.0, 3.0, True),
        ("IP", 3.0, 3.0, False),
        ("L2", 2.0, 0.5, True),
        ("L2", 0.5, 2.0, False),
        ("L2", 1.0, None, True),
    ],
)
def test_range_direction_follows_the_metric(
    metric: str, radius: float, range_filter: float | None, ok: bool
) -> None:
    if ok:
        check_range(metric, radius, range_filter)
    else:
        with pytest.raises(ConfigError, match="radius must be"):
            check_range(metric, radius, range_filter)


@given(
    st.sampled_from(["COSINE", "IP", "L2"]),
    st.floats(-10, 10, allow_nan=False),
    st.floats(-10, 10, allow_nan=False),
)
def test_range_check_accepts_exactly_the_metric_direction(
    metric: str, radius: float, range_filter: float
) -> None:
    closer_inside = radius > range_filter if metric == "L2" else radius < range_filter
    try:
        check_range(metric, radius, range_filter)
    except ConfigError:
        assert not closer_inside
    else:
        assert closer_inside


def _searcher(metric: str = "COSINE", **options: Any) -> Searcher:
    cfg = CollectionConfig(name="c", dim=2, metric=metric, **options)  # type: ignore[arg-type]

    async def never(*_: Any) -> Any:
        raise AssertionError("no I/O expected")

    port = SearchPort(
        name="c",
        config=lambda: cfg,
        call=never,
        ensure=never,
        read_slot=never,  # type: ignore[arg-type]
        count=never,
        timeout=None,
        scope=lambda f, t, a: tenancy_module.scope(Tenancy(), t, a, f, dialect=Dialect.MILVUS),
    )
    return Searcher(port, Target(Dialect.MILVUS, FieldNames(), cfg.metric))


def test_prepare_compiles_the_filter_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    real = tenancy_module.plan_filter

    def counting(flt: Any, **kw: Any) -> Any:
        calls.append(flt)
        return real(flt, **kw)

    monkeypatch.setattr(tenancy_module, "plan_filter", counting)
    s = _searcher()
    req = s.prepare(SearchRequest(text="q", filter={"lang": "en"}))
    assert req.expr == 'metadata["lang"] == "en"' and len(calls) == 1
    again = s.prepare(req.with_vector([1.0, 0.0]))  # a prepared request passes through
    assert again.expr == req.expr and len(calls) == 1
    other = req.for_query("another question", [0.0, 1.0])
    assert other.expr == req.expr and other.text == "another question"
    assert s.prepare(other) is other and len(calls) == 1
    with pytest.raises(InvalidInputError):
        req.for_query("  ")


def test_prepare_checks_the_range_against_the_metric() -> None:
    req = SearchRequest(vector=[1.0, 0.0], mode="dense", radius=0.9, range_filter=0.2)
    with pytest.raises(ConfigError, match="COSINE"):
        _searcher("COSINE").prepare(req)
    assert _searcher("L2").prepare(req).target is not None


def test_plan_merges_search_params_per_call_wins() -> None:
    s = _searcher(search_params={"ef": 32, "nprobe": 8})
    cfg = s.port.config()
    req = SearchRequest(vector=[1.0, 0.0], mode="dense", search_params={"ef": 64}, radius=0.1)
    legs = plan_legs(req, cfg, vector_fields_by_name(cfg))
    assert [leg.param for leg in legs.legs] == [
        {"metric_type": cfg.metric, "params": {"ef": 64, "nprobe": 8, "radius": 0.1}}
    ]
    plan = s._plan(req, legs)
    assert plan.candidates == cfg.hybrid_candidates and plan.rrf_k == cfg.rrf_k
    with pytest.raises(ConfigError, match="metric="):
        CollectionConfig(name="c", search_params={"metric_type": "IP"})


# SearchRequest._of (the store's keyword search) against the generated __init__: values drawn
# from valid and invalid ones of every field
FIELD_VALUES: dict[str, list[Any]] = {
    "text": [None, "q", "  ", 3],
    "vector": [None, [0.5, 1.0], (1, 2), [float("nan")], [[1.0]]],
    "k": [1, 10, 0, True, MAX_K + 1],
    "mode": [None, "dense", "SPARSE", RetrievalMode.HYBRID, "fuzzy"],
    "filter": [None, {"lang": "en"}, "year > 3"],
    "ranker": [None, "rrf", "weighted", "max"],
    "alpha": [None, 0.3, 1.5, float("nan")],
    "candidates": [None, 50, 0],
    "rrf_k": [None, 60, 0],
    "search_params": [None, {}, {"ef": 64}, {"radius": 0.1}, [("ef", 1)]],
    "radius": [None, 0.2, "0.5"],
    "range_filter": [None, 0.9],
    "consistency_level": [None, "strong", "Customized"],
    "timeout": [None, 2, 0, float("inf")],
    "with_vectors": [False, True, "yes"],
    "tenant": [None, "acme", 3],
    "all_tenants": [False, True, 1],
    "group_by": [None, True, "doc_id", "", False],
    "group_size": [None, 2, 0],
    "strict_group_size": [False, True, None],
    "relevance": [False, True, "yes"],
    "fusion": ["auto", "client", "server"],
}


def _built(make: Any, kwargs: dict[str, Any]) -> tuple[str, Any]:
    try:
        r = make(**kwargs)
    except Exception as e:
        return type(e).__name__, str(e)
    return "ok", (r, sorted(vars(r).items(), key=lambda kv: kv[0]), repr(r))


@given(
    st.fixed_dictionaries(
        {},
        optional={name: st.sampled_from(values) for name, values in FIELD_VALUES.items()},
    )
)
def test_the_keyword_builder_makes_what_the_constructor_makes(kwargs: dict[str, Any]) -> None:
    assert _built(SearchRequest._of, kwargs) == _built(SearchRequest, kwargs)


@pytest.mark.parametrize(("kwargs", "error", "match"), INVALID)
def test_the_keyword_builder_refuses_what_the_constructor_refuses(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        SearchRequest._of(**kwargs)
    with pytest.raises(TypeError, match="unexpected"):
        SearchRequest._of(text="q", K=3)


def test_copies_keep_every_field_but_the_changed_ones() -> None:
    r = SearchRequest(text="q", k=7, filter={"a": 1}, alpha=0.4, tenant="t", relevance=True)
    v = r.with_vector([1.0, 2.0])
    assert vars(v) == {**vars(r), "vector": [1.0, 2.0]} and v == SearchRequest(
        text="q", vector=[1.0, 2.0], k=7, filter={"a": 1}, alpha=0.4, tenant="t", relevance=True
    )
    assert vars(r)["vector"] is None  # the original is untouched
