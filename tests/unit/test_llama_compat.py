"""The llama-index-vector-stores-milvus vocabulary, mapped without I/O: each accepted keyword
of the shared case table once (what it sets), each unsupported one raising ConfigError that
names what to use instead, and the defaults a store speaking that vocabulary gets."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.vector_stores.types import (
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from milvus_rag import ConfigError
from milvus_rag.integrations.llama_index import MilvusVectorStore
from milvus_rag.integrations.llama_index.compat import LLAMA_ONLY, llama_store_settings
from milvus_rag.integrations.llama_index.compat_kwargs import (
    llama_query_options,
    llama_write_options,
    scalar_filters_to_dict,
    search_config_options,
)
from tests.cases.llama_vocabulary import (
    CONSTRUCTOR,
    LLAMA_DEFAULTS,
    QUERY,
    UNSUPPORTED,
    UNSUPPORTED_CALLS,
    WRITE,
)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # llama's default uri is a file in the working folder


def test_the_table_covers_every_llama_only_keyword() -> None:
    assert set(CONSTRUCTOR) >= LLAMA_ONLY


@pytest.mark.parametrize("keyword", sorted(CONSTRUCTOR))
def test_each_constructor_keyword_maps(keyword: str) -> None:
    case = CONSTRUCTOR[keyword]
    store = MilvusVectorStore(**case.kwargs)  # no I/O before the first operation
    cfg = store.store.config
    for name, value in case.expect.items():
        assert getattr(cfg, name) == value, (keyword, name)
    for name, value in case.store.items():
        if name == "uri_name":
            assert os.path.basename(store.uri) == value
        elif name == "token":
            assert store.store.connection.effective_token == value
            assert value not in repr(store)
        else:
            assert getattr(store, name) == value, (keyword, name)
    assert store.vocabulary == "llama_index"


def test_llama_defaults_apply_with_a_llama_keyword_only() -> None:
    llama = MilvusVectorStore(overwrite=False).store.config
    for name, value in LLAMA_DEFAULTS.items():
        assert getattr(llama, name) == value, name
    ours = MilvusVectorStore(dim=4)
    assert ours.vocabulary == "milvus_rag"
    assert (ours.store.config.metric, ours.store.config.enable_bm25) == ("COSINE", True)
    assert (ours.store.config.name, ours.store.config.vector_field) == ("milvus_rag", "dense")


def test_quickstart_constructor() -> None:
    store = MilvusVectorStore(uri="./milvus_demo.db", dim=1536, overwrite=True)
    cfg = store.store.config
    assert (cfg.dim, cfg.metric, cfg.enable_bm25, cfg.name) == (
        1536,
        "IP",
        False,
        "llamacollection",
    )
    hybrid = MilvusVectorStore(
        uri="./milvus_demo.db",
        dim=1536,
        overwrite=True,
        enable_sparse=True,
        hybrid_ranker="RRFRanker",
        hybrid_ranker_params={"k": 60},
    )
    assert (hybrid.store.config.enable_bm25, hybrid.store.config.rrf_k) == (True, 60)


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_constructor_keywords_raise(name: str) -> None:
    kwargs, hint = UNSUPPORTED[name]
    with pytest.raises(ConfigError, match=None) as err:
        MilvusVectorStore(**kwargs)
    assert hint in str(err.value), str(err.value)


@pytest.mark.parametrize("keyword", sorted(QUERY))
def test_each_query_keyword_maps(keyword: str) -> None:
    kwargs, expect = QUERY[keyword]
    opts = llama_query_options(kwargs, "IP")
    for name, value in expect.items():
        got = opts.filter if name == "filter" else opts.search[name]
        assert got == value, keyword
    if keyword == "string_expr":
        assert opts.string_expr == kwargs["string_expr"]
    if keyword == "mmr_prefetch_k":
        assert opts.mmr_prefetch_k == 30


@pytest.mark.parametrize("keyword", sorted(WRITE))
def test_each_write_keyword_maps(keyword: str) -> None:
    operation, kwargs = WRITE[keyword]
    assert llama_write_options(kwargs, operation) == {
        k: v for k, v in kwargs.items() if v is not None and k != "milvus_partition_name"
    }


@pytest.mark.parametrize("name", sorted(UNSUPPORTED_CALLS))
def test_unsupported_call_keywords_raise(name: str) -> None:
    call, kwargs, hint = UNSUPPORTED_CALLS[name]
    store = MilvusVectorStore(dim=4, overwrite=False)
    query = VectorStoreQuery(query_embedding=[1.0, 0, 0, 0], similarity_top_k=2)
    calls: dict[str, Any] = {
        "query": lambda: store.aquery(query, **kwargs),
        "add": lambda: store.async_add([], **kwargs),
        "delete": lambda: store.adelete("d", **kwargs),
        "get_nodes": lambda: store.aget_nodes(["a"], **kwargs),
    }
    with pytest.raises(ConfigError) as err:
        asyncio.run(calls[call]())  # raised before any I/O
    assert hint in str(err.value), str(err.value)


def test_bm25_modes_need_enable_sparse() -> None:
    store = MilvusVectorStore(dim=4, overwrite=False)
    for mode in ("hybrid", "sparse", "text_search"):
        q = VectorStoreQuery(query_str="q", mode=VectorStoreQueryMode(mode))
        with pytest.raises(ConfigError, match="enable_sparse=True"):
            store.query(q)


def test_string_expr_cannot_widen_filters() -> None:
    store = MilvusVectorStore(dim=4, overwrite=False)
    q = VectorStoreQuery(
        query_embedding=[1.0, 0, 0, 0],
        filters=MetadataFilters(filters=[MetadataFilter(key="a", value=1)]),
    )
    with pytest.raises(ConfigError, match="cannot be combined"):
        store.query(q, string_expr="id == 'x'")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"nprobe": 8}, {"search_params": {"nprobe": 8}}),
        ({"params": {"ef": 64}, "metric_type": "ip"}, {"search_params": {"ef": 64}}),
        ({"params": {"radius": 0.2, "range_filter": 0.9}}, {"radius": 0.2, "range_filter": 0.9}),
        ({}, {}),
        (None, {}),
    ],
)
def test_search_config_spellings(config: Any, expected: dict[str, Any]) -> None:
    assert search_config_options(config, "IP") == expected


def test_search_config_conflicts() -> None:
    with pytest.raises(ConfigError, match="both inside and outside"):
        search_config_options({"ef": 1, "params": {"ef": 2}}, "IP")
    with pytest.raises(ConfigError, match="must be a dict"):
        search_config_options([1], "IP")  # type: ignore[arg-type]


def test_scalar_filters_every_operator() -> None:
    ops = {
        "ARRAY_CONTAINS({key}, {value})": {"t": {"$contains": 1}},
        "not ARRAY_CONTAINS({key}, {value})": {"$not": {"t": {"$contains": 1}}},
        "ARRAY_CONTAINS_ANY({key}, {value})": {"t": {"$any": 1}},
        "not ARRAY_CONTAINS_ANY({key}, {value})": {"$not": {"t": {"$any": 1}}},
        "ARRAY_CONTAINS_ALL({key}, {value})": {"t": {"$all": 1}},
        "not ARRAY_CONTAINS_ALL({key}, {value})": {"$not": {"t": {"$all": 1}}},
        "ARRAY_CONTAINS_ANY": {"t": {"$any": 1}},  # the enum's name
    }
    for op, expected in ops.items():
        assert scalar_filters_to_dict([{"key": "t", "value": 1, "operator": op}]) == expected
    both = scalar_filters_to_dict(
        [{"key": "a", "value": 1}, {"key": "b", "value": [2], "operator": "ARRAY_CONTAINS_ALL"}]
    )
    assert both == {"$and": [{"a": {"$contains": 1}}, {"b": {"$all": [2]}}]}
    assert scalar_filters_to_dict([]) is None and scalar_filters_to_dict(None) is None
    with pytest.raises(ConfigError, match="to_dict"):
        scalar_filters_to_dict({"key": "a"})


def test_weighted_ranker_weights_are_the_dense_share() -> None:
    s = llama_store_settings(
        None, None, {"hybrid_ranker": "WeightedRanker", "hybrid_ranker_params": {"weights": [1, 3]}}
    )
    assert s.alpha == pytest.approx(0.25)
    with pytest.raises(ConfigError, match="not both 0"):
        llama_store_settings(
            None,
            None,
            {"hybrid_ranker": "WeightedRanker", "hybrid_ranker_params": {"weights": [0, 0]}},
        )


def test_settings_without_llama_keywords_pass_through() -> None:
    s = llama_store_settings("./a.db", "c", {"metric": "L2", "enable_bm25": False})
    assert (s.vocabulary, s.uri, s.collection_name) == ("milvus_rag", "./a.db", "c")
    assert s.options == {"metric": "L2", "enable_bm25": False} and not s.raw_similarities


def test_llama_keywords_with_connection_objects_refused() -> None:
    from milvus_rag import CollectionConfig

    with pytest.raises(ConfigError, match="uri= / token="):
        MilvusVectorStore(collection=CollectionConfig(dim=4), overwrite=True)


def test_an_existing_collection_is_opened_with_the_users_settings_only() -> None:
    s = llama_store_settings(None, None, {"overwrite": False, "dim": 8})
    assert s.options["metric"] == "IP" and s.options["vector_field"] == "embedding"
    # llama's defaults are for a new collection: an existing one is adopted as it is
    assert s.existing == {"dim": 8, "rrf_k": 60}
    chosen = llama_store_settings(
        None,
        None,
        {"similarity_metric": "L2", "text_key": "body", "enable_sparse": True},
    )
    assert chosen.existing is not None
    assert chosen.existing["metric"] == "L2" and chosen.existing["text_field"] == "body"
    assert chosen.existing["enable_bm25"] is True and "analyzer" not in chosen.existing
    assert "vector_field" not in chosen.existing
    assert llama_store_settings(None, None, {"dim": 8}).existing is None  # milvus-rag's words


def test_their_bm25_function_class_is_accepted() -> None:
    """llama-index-vector-stores-milvus's BM25BuiltInFunction is a pymilvus Function of type
    BM25 with analyzer attributes (its package cannot share milvus-rag's venv: pymilvus < 3)."""
    from pymilvus import Function, FunctionType

    class TheirBM25(Function):  # as llama_index.vector_stores.milvus.utils defines it
        def __init__(self, analyzer_params: dict[str, Any] | None = None) -> None:
            super().__init__("bm25_function_x", FunctionType.BM25, "text", "sparse_embedding")
            self.analyzer_params = analyzer_params
            self.enable_match = False
            self.multi_analyzer_params = None

    store = MilvusVectorStore(
        enable_sparse=True, sparse_embedding_function=TheirBM25({"type": "english"})
    )
    assert store.store.config.analyzer == {"type": "english"}
    dense_fn = Function("f", FunctionType.TEXTEMBEDDING, "text", "embedding")
    with pytest.raises(ConfigError, match="BM25BuiltInFunction"):
        MilvusVectorStore(enable_sparse=True, sparse_embedding_function=dense_fn)
