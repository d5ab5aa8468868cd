"""langchain-milvus 0.4's vocabulary mapped onto milvus-rag (pure: no I/O): every case of the
shared table, the layout inference, per-call keywords and the relevance map."""

from __future__ import annotations

import enum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.embeddings import FakeEmbeddings

from milvus_rag import ConfigError
from milvus_rag.integrations.langchain import BM25BuiltInFunction
from milvus_rag.integrations.langchain import compat_search as search_kw
from milvus_rag.integrations.langchain import compat_settings as compat
from tests.cases.langchain_vocabulary import (
    ACCEPTED,
    CALLS,
    REFUSED,
    CallCase,
    VocabularyCase,
)

EMB = FakeEmbeddings(size=16)


class _FunctionType(enum.Enum):  # pymilvus's FunctionType spelling: .name is what is read
    BM25 = 1
    TEXTEMBEDDING = 3


class TheirBM25:
    """Shaped like ``langchain_milvus.BM25BuiltInFunction`` (a pymilvus FunctionType)."""

    type = _FunctionType.BM25
    input_field_names = "text"
    output_field_names = "sparse"
    analyzer_params = None
    multi_analyzer_params = None
    enable_match = False


class TextEmbeddingFunction:
    type = _FunctionType.TEXTEMBEDDING
    input_field_names = "text"
    output_field_names = "vector"


class SparseEmbedding:  # langchain_milvus.utils.sparse.BaseSparseEmbedding: not Embeddings
    def embed_query(self, text: str) -> dict[int, float]:
        return {0: 1.0}

    def embed_documents(self, texts: list[str]) -> list[dict[int, float]]:
        return [{0: 1.0} for _ in texts]


class Reranker:  # a pymilvus RERANK Function: its params name the reranker
    def __init__(self, kind: str, params: dict[str, Any]) -> None:
        self.params = {"reranker": kind, **params}


def materialize(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The table's stand-ins (``("bm25", {...})``, ``"two"``...) as real arguments."""
    out = dict(kwargs)
    fn = out.get("builtin_function")
    if isinstance(fn, tuple):
        kind, params = fn
        out["builtin_function"] = (
            BM25BuiltInFunction(**params) if kind == "bm25" else TextEmbeddingFunction()
        )
    emb = out.get("embedding_function", EMB)
    out["embedding_function"] = {
        "two": [EMB, EMB],
        "sparse": SparseEmbedding(),
        "dense_sparse": [EMB, SparseEmbedding()],
        "neither": object(),
    }.get(emb if isinstance(emb, str) else "", emb)
    out.setdefault("builtin_function", None)
    reranker = out.get("reranker")
    if isinstance(reranker, tuple):
        out["reranker"] = Reranker(*reranker)
    return out


def build(case: VocabularyCase) -> compat.CompatPlan:
    kwargs = materialize(case.kwargs)
    if "connection_args" in kwargs:
        kwargs["connection_args"] = {"uri": "http://127.0.0.1:1", **kwargs["connection_args"]}
    return compat.plan(**kwargs)


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda c: c.name)
def test_accepted_keyword_maps_to_store_options(case: VocabularyCase) -> None:
    plan = build(case)
    for key, value in case.expect.items():
        assert plan.store_options[key] == value, key
    for key, value in case.plan.items():
        got: Any = plan
        for part in key.split("."):
            got = getattr(got, part)
        assert (got.value if isinstance(got, enum.Enum) else got) == value, key


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.name)
def test_unsupported_keyword_raises_config_error_naming_the_way(case: VocabularyCase) -> None:
    assert case.raises is not None
    with pytest.raises(ConfigError, match=case.raises.replace("$", r"\$")):
        build(case)


@pytest.mark.parametrize("case", CALLS, ids=lambda c: c.name)
def test_call_keyword(case: CallCase) -> None:
    kwargs = materialize(case.kwargs)
    kwargs.pop("embedding_function")
    kwargs.pop("builtin_function")
    if case.raises is not None:
        with pytest.raises(ConfigError, match=case.raises):
            search_kw.search_options(kwargs, "L2", hybrid=case.hybrid)
        return
    assert search_kw.search_options(kwargs, "L2", hybrid=case.hybrid) == case.expect
    assert kwargs == {}, "every langchain-milvus keyword is consumed"


def test_other_call_keywords_pass_through_to_milvus_rag() -> None:
    kwargs = {"expr": "a == 1", "timeout": 3.0, "filter": None, "k": 2}
    assert search_kw.search_options(kwargs, "L2", hybrid=False) == {}
    assert kwargs == {"expr": "a == 1", "timeout": 3.0, "filter": None, "k": 2}


def test_default_connection_is_langchain_milvus_s() -> None:
    assert compat.connection_options(None) == {"uri": "http://localhost:19530"}
    plan = compat.plan(embedding_function=EMB, builtin_function=None)
    assert plan.store_options["uri"] == "http://localhost:19530"
    assert plan.store_options["collection_name"] == "LangChainCollection"


def test_their_bm25_function_is_accepted_by_duck_typing() -> None:
    plan = compat.plan(embedding_function=EMB, builtin_function=[TheirBM25()])
    assert plan.store_options["enable_bm25"] is True
    assert plan.store_options["sparse_field"] == "sparse"
    assert plan.mode.value == "hybrid"


def test_dense_field_name_generated_like_langchain_milvus() -> None:
    """``vector_field="sparse"`` names the BM25 output; the embedding's field is generated."""
    plan = compat.plan(
        embedding_function=EMB, builtin_function=BM25BuiltInFunction(), vector_field="sparse"
    )
    assert plan.store_options["vector_field"] == "vector_1"
    assert plan.store_options["sparse_field"] == "sparse"


def test_metadata_types_inferred_from_the_first_metadata() -> None:
    got = compat.infer_metadata_types(
        {"page": 1, "score": 0.5, "src": "a", "ok": True}, reserved=["pk", "text", "vector"]
    )
    assert got == {"page": "int64", "score": "double", "src": "varchar", "ok": "bool"}
    with pytest.raises(ConfigError, match="reserved"):
        compat.infer_metadata_types({"pk": 1}, reserved=["pk"])
    with pytest.raises(ConfigError, match="metadata_schema"):
        compat.infer_metadata_types({"tags": [1, 2]}, reserved=[])


def test_metadata_schema_merges_into_the_inferred_columns() -> None:
    plan = compat.plan(
        embedding_function=EMB,
        builtin_function=None,
        metadata_schema={"tags": {"dtype": "ARRAY", "kwargs": {"element_type": "VARCHAR"}}},
    )
    assert plan.infer_metadata
    options = plan.with_metadata_types({"page": "int64"})
    assert options["metadata_fields"] == {"page": "int64", "tags": "array<varchar>"}


def test_metadata_schema_with_dynamic_field_is_typed_at_once() -> None:
    plan = compat.plan(
        embedding_function=EMB,
        builtin_function=None,
        enable_dynamic_field=True,
        metadata_schema={"year": {"dtype": "INT64"}},
    )
    assert plan.store_options["metadata_fields"] == {"year": "int64"}


@pytest.mark.parametrize(
    ("metric", "raw", "relevance"),
    [("L2", 0.0, 1.0), ("L2", 2.0, 0.5), ("IP", 1.0, 1.0), ("COSINE", 0.0, 0.5)],
)
def test_relevance_map_is_langchain_milvus_s(metric: str, raw: float, relevance: float) -> None:
    assert search_kw.relevance_fn(metric)(raw) == pytest.approx(relevance)


@given(st.floats(0, 100), st.floats(0, 100))
def test_weighted_ranker_alpha_is_the_dense_share(dense: float, bm25: float) -> None:
    if dense + bm25 <= 0:
        with pytest.raises(ConfigError):
            search_kw.ranker_options(ranker_type="weighted", ranker_params={"weights": [0, 0]})
        return
    got = search_kw.ranker_options(ranker_type="weighted", ranker_params={"weights": [dense, bm25]})
    assert 0.0 <= got["alpha"] <= 1.0
    assert got["alpha"] == pytest.approx(dense / (dense + bm25))


def test_our_bm25_function_refuses_what_has_no_counterpart_when_built() -> None:
    with pytest.raises(ConfigError, match="analyzer_params"):
        BM25BuiltInFunction(multi_analyzer_params={"analyzers": {}})
    assert "sparse" in repr(BM25BuiltInFunction())
