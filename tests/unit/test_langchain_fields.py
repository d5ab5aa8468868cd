"""Several vector fields in the LangChain fronts, without a database: langchain-milvus's
field naming and per-field lists (compat_fields), its search keywords over every field
(compat_search.legs_options), and what the fronts share (fronts: weights, legs, queries,
embedders per field)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.embeddings import FakeEmbeddings

from milvus_rag import ConfigError
from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.request import Leg, SearchRequest
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.integrations.fronts import (
    check_field_embedders,
    field_legs,
    field_weights,
    with_leg_queries,
)
from milvus_rag.integrations.langchain import compat_fields as cf
from milvus_rag.integrations.langchain import compat_search as search_kw
from milvus_rag.integrations.langchain.fields import FieldEmbedders, is_sparse_embedder
from tests.fakes import HashSparseEmbeddings

EMB = FakeEmbeddings(size=4)
SPARSE = HashSparseEmbeddings()


class Reranker:
    def __init__(self, kind: str, **params: Any) -> None:
        self.params = {"reranker": kind, **params}


def layout(**kwargs: Any) -> cf.FieldLayout:
    args: dict[str, Any] = {
        "embeddings": [EMB],
        "bm25_output": None,
        "vector_field": "vector",
        "index_params": None,
        "search_params": None,
    }
    args.update(kwargs)
    return cf.field_layout(**args)


@pytest.mark.parametrize(
    ("vector_field", "n", "outputs", "embedded"),
    [
        ("vector", 1, [], ["vector"]),
        ("vector", 3, [], ["vector", "vector_2", "vector_3"]),
        (["a", "b"], 2, [], ["a", "b"]),
        ("sparse", 1, ["sparse"], ["vector_1"]),  # the name is the function's: one generated
        (["dense", "bm25"], 1, ["bm25"], ["dense"]),
        ("sparse", 0, ["sparse"], []),
    ],
)
def test_field_names_as_langchain_milvus_names_them(
    vector_field: Any, n: int, outputs: list[str], embedded: list[str]
) -> None:
    assert cf.field_names(vector_field, n, outputs) == (embedded, outputs)


def test_field_names_refuse_more_names_than_functions_and_repeats() -> None:
    with pytest.raises(ConfigError, match="one embedding function per vector field"):
        cf.field_names(["a", "b"], 1, [])
    with pytest.raises(ConfigError, match="distinct"):
        cf.field_names(["a", "a"], 2, [])


def test_layout_kinds_metrics_and_per_field_settings_in_order() -> None:
    got = layout(
        embeddings=[EMB, SPARSE],
        bm25_output="bm25",
        vector_field=["bm25", "title", "splade"],  # the order of the per-field lists
        index_params=[
            {"metric_type": "BM25"},
            {"metric_type": "IP", "index_type": "FLAT"},
            {"index_type": "SPARSE_WAND"},
        ],
        search_params=[{}, {"params": {"nprobe": 4}}, {"params": {"drop_ratio_search": 0.2}}],
    )
    assert got.names == ("title", "splade", "bm25")  # embedding fields, then the function's
    title, splade, bm25 = got.fields
    assert (title.kind, title.metric, title.index_type, title.search_params) == (
        "dense",
        "IP",
        "FLAT",
        {"nprobe": 4},
    )
    assert (splade.is_client_sparse, splade.metric, splade.index_type) == (
        True,
        "IP",
        "SPARSE_WAND",
    )
    assert splade.search_params == {"drop_ratio_search": 0.2}
    assert bm25.is_bm25
    assert got.by_legs and not got.classic


def test_metrics_left_unset_are_adopted_from_the_collection() -> None:
    lay = layout(
        embeddings=[EMB, EMB, SPARSE],
        vector_field=["a", "b", "s"],
        index_params=[{"metric_type": "IP"}, {"index_type": "FLAT"}, {}],
    )
    assert lay.set_metrics == {"a"}
    got = cf.adopt_metrics(lay, {"a": "L2", "b": "COSINE", "s": "IP"})
    assert [f.metric for f in got.fields] == ["IP", "COSINE", "IP"]  # a's was set: kept
    assert got.fields[1].index_type == "FLAT"
    assert cf.adopt_metrics(lay, {"b": "BM25"}) == lay  # not a dense metric: left as is


def test_layout_defaults_are_langchain_milvus_s() -> None:
    dense = layout()
    assert dense.classic and not dense.by_legs and dense.fields[0].metric == "L2"
    bm25_only = layout(embeddings=[], bm25_output="sparse", vector_field="sparse")
    assert bm25_only.names == ("sparse",) and not bm25_only.by_legs
    assert layout(embeddings=[SPARSE]).fields[0].metric == "IP"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"embeddings": [EMB, EMB], "index_params": {"metric_type": "IP"}}, "pass a list"),
        ({"embeddings": [EMB, EMB], "index_params": [{}, {}, {}]}, "one per vector field"),
        ({"embeddings": [], "bm25_output": None}, "no vector field"),
        ({"embeddings": [object()]}, "neither a LangChain Embeddings"),
        ({"search_params": {"metric_type": "IP"}}, "index metric is 'L2'"),
        (
            {"bm25_output": "sparse", "index_params": [{}, {"metric_type": "IP"}]},
            "for the BM25 field",
        ),
    ],
)
def test_layout_refusals(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        layout(**kwargs)


def test_sparse_embedders_are_recognised_by_shape_or_base_class_name() -> None:
    class BaseSparseEmbedding:  # langchain-milvus's base class, by name
        pass

    class Theirs(BaseSparseEmbedding):
        pass

    assert is_sparse_embedder(SPARSE) and is_sparse_embedder(Theirs())
    assert not is_sparse_embedder(EMB) and not is_sparse_embedder(object())


THREE = layout(embeddings=[EMB, SPARSE], bm25_output="bm25", vector_field=["d", "s", "bm25"])


@pytest.mark.parametrize(
    ("kwargs", "expect"),
    [
        ({}, {"fields": ["d", "s", "bm25"]}),
        ({"ranker_type": "rrf", "ranker_params": {"k": 60}}, {"ranker": "rrf", "rrf_k": 60}),
        (
            {"reranker": Reranker("weighted", weights=[1, 0, 2])},
            {"ranker": "weighted", "weights": {"d": 1.0, "s": 0.0, "bm25": 2.0}},
        ),
        (
            {"ranker_type": "weighted"},  # langchain-milvus's default weights: all 1
            {"ranker": "weighted", "weights": {"d": 1.0, "s": 1.0, "bm25": 1.0}},
        ),
        ({"fetch_k": 7}, {"candidates": 7}),
        (
            {"param": [{"params": {"ef": 8}}, {"metric_type": "IP"}, {}]},
            {"leg_params": {"d": {"ef": 8}, "s": {}, "bm25": {}}},
        ),
    ],
)
def test_legs_options_map_langchain_milvus_search_keywords(
    kwargs: dict[str, Any], expect: dict[str, Any]
) -> None:
    given_ = dict(kwargs)
    got = search_kw.legs_options(given_, THREE)
    assert got == {"fields": ["d", "s", "bm25"], **expect}
    assert given_ == {}, "every langchain-milvus keyword is consumed"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"reranker": Reranker("weighted", weights=[1, 1])}, "one per vector field"),
        ({"reranker": Reranker("decay")}, "weighted' or 'rrf"),
        ({"ranker_params": {"k": 1}}, "without ranker_type"),
        ({"param": {"params": {"ef": 8}}}, "one per vector field"),
        ({"param": [{}, {}, {"params": {"x": 1}}]}, "BM25 field"),
        ({"reranker": Reranker("weighted", weights=[0, 0, 0])}, "not all zero"),
        ({"partition_names": ["p"]}, "partition_key_field"),
    ],
)
def test_legs_options_refusals(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        search_kw.legs_options(dict(kwargs), THREE)


def test_a_search_by_vector_searches_the_one_field_of_its_kind() -> None:
    assert search_kw.field_of_vector([0.1] * 4, THREE) == "d"
    assert search_kw.field_of_vector({3: 1.0}, THREE) == "s"
    two_dense = layout(embeddings=[EMB, EMB])
    with pytest.raises(ConfigError, match="use similarity_search"):
        search_kw.field_of_vector([0.1] * 4, two_dense)
    search_kw.check_mmr(THREE)  # one dense field: MMR over its candidates
    with pytest.raises(ConfigError, match="one dense field"):
        search_kw.check_mmr(two_dense)


@given(st.lists(st.floats(0, 10), min_size=1, max_size=4))
def test_field_weights_list_and_dict_agree(weights: list[float]) -> None:
    names = [f"f{i}" for i in range(len(weights))]
    by_list = field_weights(weights, names)
    assert by_list == field_weights(
        dict(zip(reversed(names), reversed(weights), strict=True)), names
    )
    assert list(by_list or {}) == names


def test_field_weights_refusals() -> None:
    assert field_weights(None, ["a"]) is None
    with pytest.raises(ConfigError, match="one per field"):
        field_weights([1.0], ["a", "b"])
    with pytest.raises(ConfigError, match="not searched"):
        field_weights({"a": 1, "c": 1}, ["a"])
    with pytest.raises(ConfigError, match="a list"):
        field_weights(0.5, ["a"])


def test_field_legs_and_their_queries() -> None:
    fields = [VectorField.dense("title", dim=2), VectorField.sparse("bm25", bm25=True)]
    legs = field_legs(fields, {"title": 2.0, "bm25": 1.0}, {"title": {"ef": 8}})
    assert legs == (Leg("title", weight=2.0, search_params={"ef": 8}), Leg("bm25", weight=1.0))
    request = SearchRequest(text="q", legs=legs, k=2)
    filled = with_leg_queries(request, {"title": [0.5, 0.5]})
    assert filled.legs is not None and filled.legs[0].query == [0.5, 0.5]
    assert filled.legs[1].query is None and filled.k == 2 and filled.ranker == request.ranker
    assert with_leg_queries(request, {}) is request


CFG = CollectionConfig.from_fields(
    [
        VectorField.dense("dense", dim=4),
        VectorField.dense("title", dim=4),
        VectorField.sparse("splade"),
        VectorField.sparse("bm25", bm25=True),
    ],
    name="c",
)


def test_check_field_embedders() -> None:
    check_field_embedders(CFG, ["title", "splade"], primary=True, where="embeddings=")
    with pytest.raises(ConfigError, match=r"\['splade'\] of collection 'c' have no embedder"):
        check_field_embedders(CFG, ["title"], primary=True, where="embeddings=")
    with pytest.raises(ConfigError, match="BM25 field is Milvus's"):
        check_field_embedders(CFG, ["title", "splade", "bm25"], primary=True, where="x")
    with pytest.raises(ConfigError, match="have no embedder"):
        check_field_embedders(CFG, ["title", "splade"], primary=False, where="x")


def test_field_embedders_check_kinds_and_embed_each_field() -> None:
    import asyncio

    emb = FieldEmbedders(EMB, {"title": EMB, "splade": SPARSE})
    emb.check(CFG)
    with pytest.raises(ConfigError, match="sparse: a sparse embedder"):
        FieldEmbedders(EMB, {"title": EMB, "splade": EMB}).check(CFG)
    with pytest.raises(ConfigError, match="dense: a LangChain Embeddings"):
        FieldEmbedders(EMB, {"title": SPARSE, "splade": SPARSE}).check(CFG)
    with pytest.raises(ConfigError, match="embedding="):
        FieldEmbedders(None, {"title": EMB, "splade": SPARSE}).check(CFG)
    with pytest.raises(ConfigError, match="a dict"):
        FieldEmbedders(EMB, [EMB])  # type: ignore[arg-type]
    rows = asyncio.run(emb.documents(CFG, ["a b", "c"]))
    assert [sorted(r) for r in rows] == [["splade", "title"], ["splade", "title"]]
    assert rows[0]["splade"] == SPARSE.embed_query("a b") and len(rows[1]["title"]) == 4
    queries = asyncio.run(emb.queries("a b", ["title", "splade", "bm25", "dense"]))
    assert sorted(queries) == ["splade", "title"]  # BM25 takes text, the primary its vector
