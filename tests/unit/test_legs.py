"""The legs of a search (issue 25): which vector fields a request searches, with what query,
parameters, weight and relevance; checked against the collection's fields. Pure: no backend."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from milvus_rag import ConfigError, InvalidInputError, SearchRequest
from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.fusion import leg_weights, rrf_fuse, weighted_fuse, weighted_fuse_n
from milvus_rag.client.legs import (
    LegPlan,
    LegsPlan,
    check_legs,
    default_fields,
    plan_legs,
    vector_fields_by_name,
)
from milvus_rag.client.records import Hit, Record
from milvus_rag.client.request import Leg, RetrievalMode
from milvus_rag.client.rows import fused_hits
from milvus_rag.client.vector_fields import VectorField

TITLE = VectorField.dense("title", dim=3, metric="IP", search_params={"ef": 16})
SPLADE = VectorField.sparse("splade")
#: two dense fields (the primary ``dense`` of dim 2, ``title`` of dim 3), BM25, client sparse
FOUR = CollectionConfig(
    name="four", dim=2, search_params={"ef": 32}, extra_vector_fields=(TITLE, SPLADE)
)
SPARSE_ONLY = CollectionConfig.from_fields([SPLADE, VectorField.sparse("bm", bm25=True)], name="s")
DENSE_ONLY = CollectionConfig(name="d", dim=2, enable_bm25=False)


def _plan(r: SearchRequest, cfg: CollectionConfig = FOUR) -> Any:
    return plan_legs(r, cfg, vector_fields_by_name(cfg))


# (kwargs, error, part of the message): requests with legs refused when built
INVALID: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"legs": [Leg("dense")], "mode": "dense"}, ConfigError, "not both"),
    ({"legs": [Leg("dense"), Leg("sparse")], "alpha": 0.3}, ConfigError, "weight="),
    ({"legs": []}, ConfigError, "legs is empty"),
    ({"legs": Leg("dense")}, ConfigError, "list of Leg"),
    ({"legs": ["dense"]}, ConfigError, "Leg values"),
    ({"legs": [Leg("dense"), Leg("dense")]}, ConfigError, "twice"),
    ({"legs": [Leg("dense", weight=1.0), Leg("sparse")]}, ConfigError, "every leg a weight"),
    ({"legs": [Leg("dense", weight=0), Leg("sparse", weight=0)]}, ConfigError, "all 0"),
    ({"legs": [Leg("a", weight=1), Leg("b", weight=2)], "ranker": "rrf"}, ConfigError, "weighted"),
    ({"legs": [Leg("a"), Leg("b")], "radius": 0.5}, ConfigError, "one leg"),
    ({"legs": [Leg("a")], "fusion": "server"}, ConfigError, "fusion"),
    ({"text": "q", "fusion": "none"}, ConfigError, "fusion"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), INVALID)
def test_requests_with_invalid_legs_are_refused_when_built(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        SearchRequest(**kwargs)


def test_mode_defaults_to_hybrid_and_stays_unset_with_legs() -> None:
    assert SearchRequest(text="q").mode is RetrievalMode.HYBRID
    r = SearchRequest(legs=[Leg("title", [1.0, 2.0, 3.0]), Leg("sparse")], text="q")
    assert r.mode is None and r.ranker == "rrf" and isinstance(r.legs, tuple)
    w = SearchRequest(legs=[Leg("title", [1.0, 2.0, 3.0], weight=2), Leg("sparse", weight=1)])
    assert w.ranker == "weighted"  # weights mean weighted fusion
    assert SearchRequest(legs=[Leg("title")], ranker="weighted").ranker == "weighted"


# (legs, kwargs, error, message): refused against the four-field collection
REFUSED: list[tuple[list[Leg], dict[str, Any], type[Exception], str]] = [
    ([Leg("image", [1.0, 2.0])], {}, ConfigError, "no vector field 'image'.*'splade'"),
    ([Leg("title", "some text")], {}, InvalidInputError, "'title' takes a dense vector of dim 3"),
    ([Leg("sparse", [1.0, 2.0])], {}, InvalidInputError, "query text"),
    ([Leg("splade", [1.0, 2.0])], {}, InvalidInputError, "sparse vector"),
    ([Leg("splade", "text")], {}, InvalidInputError, "sparse vector.*got text"),
    ([Leg("dense", {1: 0.5})], {}, InvalidInputError, "dense vector of dim 2"),
    ([Leg("title", [1.0, 2.0])], {}, InvalidInputError, "dim 2, the field's is 3"),
    ([Leg("title")], {}, InvalidInputError, "'title' has no query"),
    ([Leg("splade")], {}, InvalidInputError, "'splade' has no query"),
    ([Leg("sparse")], {}, InvalidInputError, "needs query text"),
    ([Leg("dense")], {}, InvalidInputError, "or vector="),
    ([Leg("dense", [1.0, 0.0])], {"vector": [0.0, 1.0]}, ConfigError, "two queries"),
    (
        [Leg("title", [1.0, 2.0, 3.0])],
        {"search_params": {"ef": 64}},
        ConfigError,
        "primary dense field 'dense'",
    ),
    ([Leg("sparse", "q")], {"radius": 0.5}, ConfigError, "'sparse' is sparse"),
    ([Leg("title", [1.0, 2.0, 3.0])], {"radius": 0.9, "range_filter": 0.2}, ConfigError, "IP"),
    # relevance: the primary field's similarity; refused where nothing gives its query
    (
        [Leg("title", [1.0, 2.0, 3.0]), Leg("sparse", "q")],
        {"relevance": True},
        ConfigError,
        "vector=",
    ),
    ([Leg("splade", {3: 1.0})], {"relevance": True}, ConfigError, "vector="),
]


@pytest.mark.parametrize(("legs", "kwargs", "error", "match"), REFUSED)
def test_legs_are_checked_against_the_collection(
    legs: list[Leg], kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        _plan(SearchRequest(legs=legs, **kwargs))


def test_prepare_checks_what_it_can_before_the_queries_come() -> None:
    fields = vector_fields_by_name(FOUR)
    check_legs(SearchRequest(legs=[Leg("title"), Leg("dense")]), FOUR, fields)  # queries later
    with pytest.raises(ConfigError, match="no vector field 'image'"):
        check_legs(SearchRequest(legs=[Leg("image")]), FOUR, fields)
    with pytest.raises(InvalidInputError, match="'title' takes a dense vector"):
        check_legs(SearchRequest(legs=[Leg("title", {1: 1.0})]), FOUR, fields)
    with pytest.raises(ConfigError, match="primary dense field"):
        check_legs(SearchRequest(legs=[Leg("sparse")], search_params={"ef": 1}), FOUR, fields)
    # before the store has read the schema, a field its config lacks may be the collection's
    check_legs(SearchRequest(legs=[Leg("image")]), FOUR, fields, schema_read=False)


def test_legs_take_the_request_text_and_vector_and_merge_params() -> None:
    r = SearchRequest(
        text="q",
        vector=[1.0, 0.0],
        search_params={"ef": 64, "nprobe": 4},
        legs=[
            Leg("title", [1.0, 2.0, 3.0], search_params={"ef": 8}),
            Leg("sparse", search_params={"drop_ratio_search": 0.1}),
            Leg("dense", search_params={"nprobe": 2}),
            Leg("splade", {7: 0.5}),
        ],
    )
    plan = _plan(r)
    by = {leg.field.name: leg for leg in plan.legs}
    assert by["sparse"].query == "q" and by["dense"].query == [1.0, 0.0]
    # the field's params, the request's (primary only), the leg's: later ones win
    assert by["dense"].param == {"metric_type": "COSINE", "params": {"ef": 64, "nprobe": 2}}
    assert by["title"].param == {"metric_type": "IP", "params": {"ef": 8}}
    assert by["sparse"].param == {"metric_type": "BM25", "params": {"drop_ratio_search": 0.1}}
    assert by["splade"].param == {"metric_type": "IP"}
    assert [leg.kind for leg in plan.legs] == ["dense", "bm25", "dense", "sparse"]
    assert plan.primary_query == [1.0, 0.0] and len(plan.legs) == 4
    # relevance: the primary leg from its distance, the others from the stored primary vectors
    assert [leg.relevance for leg in plan.legs] == ["vectors", "vectors", "distance", "vectors"]
    assert [leg.weight for leg in plan.legs] == [1.0] * 4  # RRF: weights unused


def _names(plan: LegsPlan) -> list[str]:
    return [leg.field.name for leg in plan.legs]


def test_modes_are_shorthands_over_the_default_fields() -> None:
    dense = _plan(SearchRequest(vector=[1.0, 0.0], mode="dense", radius=0.2))
    assert [(leg.field.name, leg.relevance) for leg in dense.legs] == [("dense", "distance")]
    assert dense.legs[0].param == {"metric_type": "COSINE", "params": {"ef": 32, "radius": 0.2}}
    sparse = _plan(SearchRequest(text="q", mode="sparse"))
    assert [(leg.field.name, leg.relevance) for leg in sparse.legs] == [("sparse", "bm25")]
    assert sparse.legs[0].param == {"metric_type": "BM25"}  # as sent before legs existed
    hybrid = _plan(SearchRequest(text="q", vector=[1.0, 0.0], alpha=0.3))
    assert [leg.field.name for leg in hybrid.legs] == ["dense", "sparse"]
    assert [leg.weight for leg in hybrid.legs] == pytest.approx([0.3, 0.7])
    assert [leg.relevance for leg in hybrid.legs] == ["distance", "vectors"]
    for plan in (dense, sparse, hybrid):  # built without their __new__: the same tuples
        assert type(plan) is LegsPlan and plan == LegsPlan(*plan)
        assert plan.primary_query == (None if plan is sparse else [1.0, 0.0])
        for leg in plan.legs:
            assert type(leg) is LegPlan and leg == LegPlan(**leg._asdict())
        kinds = {"dense": "dense", "sparse": "bm25"}
        assert [leg.kind for leg in plan.legs] == [kinds[f] for f in _names(plan)]
        assert [leg.primary for leg in plan.legs] == [f == "dense" for f in _names(plan)]
    with pytest.raises(ConfigError, match="no BM25 field: use mode='dense'"):
        _plan(SearchRequest(text="q", vector=[1.0, 0.0]), DENSE_ONLY)
    with pytest.raises(ConfigError, match="no dense field: use mode='sparse'"):
        _plan(SearchRequest(text="q", vector=[1.0, 0.0]), SPARSE_ONLY)
    with pytest.raises(ConfigError, match="no BM25 field: search its sparse field"):
        _plan(SearchRequest(text="q", mode="sparse"), CollectionConfig.from_fields([SPLADE]))
    with pytest.raises(InvalidInputError, match="hybrid search needs a query vector"):
        _plan(SearchRequest(text="q"))
    with pytest.raises(InvalidInputError, match="dim 3, the collection's is 2"):
        _plan(SearchRequest(text="q", vector=[1.0, 0.0, 0.0]))


def test_relevance_without_a_primary_query() -> None:
    """One leg: its own measure (another dense field's similarity, BM25's mapping); a
    client-side sparse leg or fused legs: the primary field's, or none without its query."""
    title = _plan(SearchRequest(legs=[Leg("title", [1.0, 2.0, 3.0])], relevance=True))
    assert [leg.relevance for leg in title.legs] == ["distance"]
    bm25 = _plan(SearchRequest(legs=[Leg("sparse", "q")], vector=[1.0, 0.0], relevance=True))
    assert [leg.relevance for leg in bm25.legs] == ["bm25"]
    splade = _plan(SearchRequest(legs=[Leg("splade", {1: 1.0})], vector=[0.0, 1.0]))
    assert [leg.relevance for leg in splade.legs] == ["vectors"]
    fused = _plan(SearchRequest(legs=[Leg("title", [1.0, 2.0, 3.0]), Leg("splade", {1: 1.0})]))
    assert [leg.relevance for leg in fused.legs] == ["none", "none"]  # not asked: no error
    with pytest.raises(ConfigError, match="has no dense field"):
        _plan(
            SearchRequest(legs=[Leg("splade", {1: 1.0}), Leg("bm")], text="q", relevance=True),
            SPARSE_ONLY,
        )
    with pytest.raises(ConfigError, match="no dense field: vector="):
        _plan(SearchRequest(legs=[Leg("bm")], text="q", vector=[1.0]), SPARSE_ONLY)


def test_needs_vector_with_legs() -> None:
    from milvus_rag.client.filters import Dialect, FieldNames
    from milvus_rag.client.request import Target

    target = Target(Dialect.MILVUS, FieldNames(), "COSINE", primary="dense")
    scope = SearchRequest(text="q").scope

    def prepared(**kw: Any) -> SearchRequest:
        return SearchRequest(**kw)._evolve(target=target, scope=scope)

    assert prepared(legs=[Leg("dense"), Leg("sparse")], text="q").needs_vector
    assert not prepared(legs=[Leg("title", [1.0, 2.0, 3.0]), Leg("sparse")], text="q").needs_vector
    # relevance of fused legs needs the primary field's query
    assert prepared(
        legs=[Leg("title", [1.0, 2.0, 3.0]), Leg("sparse")], relevance=True
    ).needs_vector
    assert not prepared(legs=[Leg("dense", [1.0, 0.0])]).needs_vector
    assert not prepared(legs=[Leg("dense")], vector=[1.0, 0.0]).needs_vector
    assert SearchRequest(legs=[Leg("sparse")]).needs_vector  # not prepared: any leg lacking one


def test_default_fields() -> None:
    names = lambda fs: [f.name for f in fs]  # noqa: E731
    assert names(default_fields(FOUR, "hybrid")) == ["dense", "sparse", "title", "splade"]
    assert names(default_fields(FOUR, RetrievalMode.DENSE)) == ["dense"]
    assert names(default_fields(FOUR, "sparse")) == ["sparse"]
    assert names(default_fields(FOUR, "dense", ["splade", "title"])) == ["splade", "title"]
    assert names(default_fields(CollectionConfig(dim=2), "hybrid")) == ["dense", "sparse"]
    assert names(default_fields(SPARSE_ONLY, "sparse")) == ["bm"]
    assert names(default_fields(CollectionConfig.from_fields([SPLADE]), "sparse")) == ["splade"]
    assert names(default_fields(DENSE_ONLY, "hybrid")) == ["dense"]
    with pytest.raises(ConfigError, match="no dense field"):
        default_fields(SPARSE_ONLY, "dense")
    with pytest.raises(ConfigError, match="no sparse field"):
        default_fields(DENSE_ONLY, "sparse")
    two = CollectionConfig.from_fields([SPLADE, VectorField.sparse("bge")])
    with pytest.raises(ConfigError, match="name the field searched"):
        default_fields(two, "sparse")
    with pytest.raises(ConfigError, match="no vector field 'nope'"):
        default_fields(FOUR, "hybrid", ["nope"])
    with pytest.raises(ConfigError, match="twice"):
        default_fields(FOUR, "hybrid", ["title", "title"])
    with pytest.raises(ConfigError, match="empty"):
        default_fields(FOUR, "hybrid", [])
    with pytest.raises(ConfigError, match="list of vector field names"):
        default_fields(FOUR, "hybrid", "title")


keys = st.sampled_from("abcdefgh")
legs_st = st.lists(
    st.lists(st.tuples(keys, st.floats(-100, 100)), max_size=8, unique_by=lambda kv: kv[0]),
    min_size=1,
    max_size=4,
)


@given(legs_st, st.lists(st.floats(0.01, 10), min_size=4, max_size=4))
def test_weighted_fusion_of_n_legs(legs: list[list[tuple[str, float]]], raw: list[float]) -> None:
    """Each key scores sum_i w_i * (s_i - min_i) / (max_i - min_i) (1 in a constant leg, 0
    where absent), weights summing to 1, best first."""
    weights = leg_weights(raw[: len(legs)])
    assert sum(weights) == pytest.approx(1.0)
    assert weights == pytest.approx([w / sum(raw[: len(legs)]) for w in raw[: len(legs)]])
    fused = weighted_fuse_n(legs, weights)
    want: dict[str, float] = {}
    for w, leg in zip(weights, legs, strict=True):
        lo, hi = min((v for _, v in leg), default=0.0), max((v for _, v in leg), default=0.0)
        for key, v in leg:
            norm = 1.0 if hi - lo <= 1e-12 else (v - lo) / (hi - lo)
            want[key] = want.get(key, 0.0) + w * norm
    assert dict(fused) == pytest.approx(want)
    assert [s for _, s in fused] == sorted((s for _, s in fused), reverse=True)
    if len(legs) == 2:  # the two default legs: alpha and 1 - alpha
        two = weighted_fuse(legs[0], legs[1], weights[0])
        assert dict(two) == pytest.approx(dict(fused))


@given(st.lists(st.lists(keys, max_size=8, unique=True), min_size=1, max_size=4))
def test_rrf_of_n_legs_sums_each_legs_reciprocal_rank(rankings: list[list[str]]) -> None:
    fused = dict(rrf_fuse(rankings, k=20))
    for key, score in fused.items():
        want = sum(1 / (20 + r.index(key) + 1) for r in rankings if key in r)
        assert score == pytest.approx(want)


def test_fused_hits_take_the_primary_legs_relevance() -> None:
    def hit(i: str, score: float, rel: float | None) -> Hit:
        return Hit(i, score, score, Record(i, "t"), rel)

    title = [hit("a", 0.9, None), hit("b", 0.8, None)]
    dense = [hit("b", 0.7, 0.7), hit("c", 0.6, 0.6)]
    splade = [hit("c", 5.0, 0.61), hit("a", 1.0, 0.2)]
    out = fused_hits([title, dense, splade], 3, rrf_k=20, prefer=1)
    assert [h.id for h in out] == ["a", "b", "c"]  # all tie: the order of first appearance
    assert {h.id: h.computed_relevance for h in out} == {"a": 0.2, "b": 0.7, "c": 0.6}
    weighted = fused_hits([title, dense, splade], 3, weights=[0.5, 0.25, 0.25], prefer=1)
    assert [h.id for h in weighted][0] == "a"
    assert not any(
        h.has_relevance for h in fused_hits([title, dense], 2, rrf_k=20, relevance=False)
    )
    with pytest.raises(ValueError):
        fused_hits([title], 1)
