"""Shared cases: langchain-milvus 0.4's vocabulary, each accepted keyword once, each
unsupported one with the ConfigError it must raise.

Used by the pure unit tests of ``_langchain_compat`` (``expect``: the store options the plan
must hold) and by the integration tests of ``Milvus`` on every backend (each accepted case is
built, written and searched; each refused one raises before any I/O).

Constructor cases name keyword arguments of ``Milvus(...)``, besides ``embedding_function``
(a 16-dim fake) and ``connection_args`` (the backend's), which the caller adds unless the case
sets them. ``BM25`` stands for a BM25 built-in function (milvus-rag's own
``BM25BuiltInFunction`` in the tests; langchain-milvus's is accepted by duck typing too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BM25 = "<BM25BuiltInFunction()>"


@dataclass(frozen=True)
class VocabularyCase:
    """One keyword of the vocabulary: accepted (``expect``) or refused (``raises``)."""

    name: str
    kwargs: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)
    raises: str | None = None
    #: plan attributes (CompatPlan fields) the case fixes, e.g. {"drop_old": True}
    plan: dict[str, Any] = field(default_factory=dict)


class _Dtype:
    """A stand-in for a pymilvus ``DataType`` member (the mapping reads ``.name``)."""

    def __init__(self, name: str) -> None:
        self.name = name


ACCEPTED: list[VocabularyCase] = [
    VocabularyCase(
        "defaults",
        {},
        {
            "metric": "L2",
            "consistency_level": "Session",
            "id_field": "pk",
            "text_field": "text",
            "vector_field": "vector",
            "enable_bm25": False,
            "metadata_field": None,
            "dynamic_field": False,
            "layout": "langchain",
        },
        plan={"mode": "dense", "infer_metadata": True},
    ),
    VocabularyCase(
        "collection_name", {"collection_name": "lc_named"}, {"collection_name": "lc_named"}
    ),
    VocabularyCase(
        "connection_args.token",
        {"connection_args": {"token": "root:Milvus"}},
        {"token": "root:Milvus"},
    ),
    VocabularyCase(
        "connection_args.user_password",
        {"connection_args": {"user": "root", "password": "Milvus"}},
        {"user": "root", "password": "Milvus"},
    ),
    VocabularyCase(
        "connection_args.db_name",
        {"connection_args": {"db_name": "default"}},
        {"db_name": "default"},
    ),
    VocabularyCase("drop_old", {"drop_old": True}, plan={"drop_old": True}),
    VocabularyCase("auto_id", {"auto_id": True}, {"id_type": "int64", "auto_id": True}),
    VocabularyCase("primary_field", {"primary_field": "my_pk"}, {"id_field": "my_pk"}),
    VocabularyCase("text_field", {"text_field": "body"}, {"text_field": "body"}),
    VocabularyCase("vector_field", {"vector_field": "emb"}, {"vector_field": "emb"}),
    VocabularyCase(
        "vector_field.dense_sparse",
        {
            "vector_field": ["dense00", "sparse00"],
            "text_field": "text00",
            "builtin_function": (
                "bm25",
                {"input_field_names": "text00", "output_field_names": "sparse00"},
            ),
        },
        {
            "vector_field": "dense00",
            "sparse_field": "sparse00",
            "text_field": "text00",
            "enable_bm25": True,
        },
        plan={"mode": "hybrid"},
    ),
    VocabularyCase(
        "metadata_field",
        {"metadata_field": "meta"},
        {"metadata_field": "meta"},
        plan={"infer_metadata": False},
    ),
    VocabularyCase(
        "enable_dynamic_field",
        {"enable_dynamic_field": True},
        {"dynamic_field": True, "metadata_field": None},
        plan={"infer_metadata": False},
    ),
    VocabularyCase(
        "metadata_schema",
        {
            "metadata_schema": {
                "tags": {
                    "dtype": _Dtype("ARRAY"),
                    "element_type": _Dtype("INT64"),
                    "max_capacity": 50,
                }
            }
        },
        plan={"metadata_types": {"tags": "array<int64>"}},
    ),
    VocabularyCase(
        "partition_key_field",
        {"partition_key_field": "namespace", "enable_dynamic_field": True},
        {"tenant_field": "namespace"},
    ),
    VocabularyCase(
        "num_partitions",
        {"partition_key_field": "namespace", "num_partitions": 4, "enable_dynamic_field": True},
        {"num_partitions": 4},
    ),
    VocabularyCase(
        "consistency_level", {"consistency_level": "Strong"}, {"consistency_level": "Strong"}
    ),
    VocabularyCase(
        "index_params",
        {"index_params": {"metric_type": "COSINE", "index_type": "HNSW", "params": {"M": 8}}},
        {"metric": "COSINE", "index_type": "HNSW", "index_params": {"M": 8}},
    ),
    VocabularyCase(
        "index_params.dense_bm25",
        {
            "builtin_function": ("bm25", {}),
            "index_params": [
                {"metric_type": "IP", "index_type": "FLAT"},
                {"metric_type": "BM25", "index_type": "AUTOINDEX"},
            ],
        },
        {"metric": "IP", "index_type": "FLAT", "enable_bm25": True},
    ),
    VocabularyCase(
        "search_params",
        {
            "index_params": {"metric_type": "L2", "index_type": "HNSW"},
            "search_params": {"metric_type": "L2", "params": {"ef": 32}},
        },
        {"search_params": {"ef": 32}},
    ),
    VocabularyCase("timeout", {"timeout": 30.0}, {"timeout": 30.0}),
    VocabularyCase(
        "builtin_function",
        {"builtin_function": ("bm25", {})},
        {"enable_bm25": True, "sparse_field": "sparse"},
        plan={"mode": "hybrid"},
    ),
    VocabularyCase(
        "builtin_function.analyzer_params",
        {"builtin_function": ("bm25", {"analyzer_params": {"type": "standard"}})},
        {"analyzer": {"type": "standard"}},
    ),
    VocabularyCase("partition_names.default", {"partition_names": None}),
    VocabularyCase("replica_number.default", {"replica_number": 1}),
    VocabularyCase("vector_schema.float", {"vector_schema": {"dtype": _Dtype("FLOAT_VECTOR")}}),
    VocabularyCase(
        "embedding_function.two",
        {
            "embedding_function": "two",
            "vector_field": ["title", "body"],
            "index_params": [
                {"metric_type": "COSINE", "index_type": "FLAT"},
                {"metric_type": "IP", "index_type": "AUTOINDEX"},
            ],
        },
        {
            "vector_field": "title",
            "metric": "COSINE",
            "index_type": "FLAT",
            "enable_bm25": False,
        },
        plan={"layout.names": ("title", "body"), "layout.classic": False},
    ),
    VocabularyCase(
        "embedding_function.two_generated_names",
        {"embedding_function": "two"},
        {"vector_field": "vector", "metric": "L2"},
        plan={"layout.names": ("vector", "vector_2")},
    ),
    VocabularyCase(
        "embedding_function.sparse",
        {"embedding_function": "sparse"},
        {"enable_dense": False, "enable_bm25": False},
        plan={"layout.names": ("vector",), "layout.classic": False},
    ),
    VocabularyCase(
        "embedding_function.none_bm25_only",
        {"embedding_function": None, "builtin_function": ("bm25", {}), "vector_field": "sparse"},
        {"enable_dense": False, "enable_bm25": True, "sparse_field": "sparse"},
        plan={"mode": "sparse", "layout.names": ("sparse",)},
    ),
    VocabularyCase(
        "embedding_function.dense_sparse_bm25",
        {
            "embedding_function": "dense_sparse",
            "builtin_function": ("bm25", {"output_field_names": "bm25"}),
            "vector_field": ["dense", "splade", "bm25"],
            "index_params": [
                {"metric_type": "IP"},
                {"metric_type": "IP", "index_type": "SPARSE_WAND"},
                {"metric_type": "BM25"},
            ],
            "search_params": [
                {"metric_type": "IP", "params": {"ef": 16}},
                {"params": {"drop_ratio_search": 0.1}},
                {},
            ],
        },
        {"vector_field": "dense", "metric": "IP", "sparse_field": "bm25", "enable_bm25": True},
        plan={"layout.names": ("dense", "splade", "bm25"), "layout.classic": False},
    ),
]


REFUSED: list[VocabularyCase] = [
    VocabularyCase(
        "collection_description", {"collection_description": "x"}, raises="collection_description"
    ),
    VocabularyCase(
        "collection_properties",
        {"collection_properties": {"mmap.enabled": True}},
        raises="collection_properties",
    ),
    VocabularyCase("partition_names", {"partition_names": ["p1"]}, raises="partition_key_field"),
    VocabularyCase("replica_number", {"replica_number": 2}, raises="replica_number"),
    VocabularyCase("num_shards", {"num_shards": 2}, raises="num_shards"),
    VocabularyCase(
        "vector_schema.float16",
        {"vector_schema": {"dtype": _Dtype("FLOAT16_VECTOR")}},
        raises="FLOAT_VECTOR",
    ),
    VocabularyCase(
        "embedding_function.neither",
        {"embedding_function": "neither"},
        raises="neither a LangChain Embeddings",
    ),
    VocabularyCase(
        "embedding_function.none", {"embedding_function": None}, raises="no vector field"
    ),
    VocabularyCase(
        "index_params.one_for_two",
        {"embedding_function": "two", "index_params": {"metric_type": "IP"}},
        raises="pass a list, one per field",
    ),
    VocabularyCase(
        "index_params.count",
        {"embedding_function": "two", "index_params": [{"metric_type": "IP"}] * 3},
        raises="one per vector field",
    ),
    VocabularyCase(
        "builtin_function.text_embedding",
        {"builtin_function": ("text_embedding", {})},
        raises="embedding_function",
    ),
    VocabularyCase(
        "builtin_function.multi_analyzer",
        {"builtin_function": ("bm25", {"multi_analyzer_params": {"analyzers": {}}})},
        raises="analyzer_params",
    ),
    VocabularyCase(
        "builtin_function.enable_match",
        {"builtin_function": ("bm25", {"enable_match": True})},
        raises="$contains",
    ),
    VocabularyCase(
        "builtin_function.other_input",
        {"builtin_function": ("bm25", {"input_field_names": "body"})},
        raises="text_field",
    ),
    VocabularyCase(
        "connection_args.host_port",
        {"connection_args": {"host": "localhost", "port": 19530}},
        raises="uri",
    ),
    VocabularyCase(
        "metadata_schema.json",
        {"metadata_schema": {"m": {"dtype": _Dtype("JSON")}}},
        raises="enable_dynamic_field",
    ),
    VocabularyCase(
        "metadata_schema.float_vector",
        {"metadata_schema": {"v": {"dtype": _Dtype("FLOAT_VECTOR"), "dim": 4}}},
        raises="no counterpart",
    ),
    VocabularyCase(
        "index_params.bm25_metric",
        {
            "builtin_function": ("bm25", {}),
            "index_params": [{"metric_type": "L2"}, {"metric_type": "IP"}],
        },
        raises="BM25 field",
    ),
    VocabularyCase(
        "search_params.other_metric",
        {"search_params": {"metric_type": "IP", "params": {}}},
        raises="metric",
    ),
    VocabularyCase(
        "dynamic_and_metadata_field",
        {"enable_dynamic_field": True, "metadata_field": "meta"},
        raises="pass one",
    ),
    VocabularyCase(
        "vector_field.too_many",
        {"vector_field": ["a", "b"]},
        raises="one embedding function per vector field",
    ),
]


@dataclass(frozen=True)
class CallCase:
    """One per-call keyword of a search (``similarity_search`` and kin)."""

    name: str
    kwargs: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)
    raises: str | None = None
    hybrid: bool = False


CALLS: list[CallCase] = [
    CallCase(
        "param",
        {"param": {"metric_type": "L2", "params": {"ef": 16}}},
        {"search_params": {"ef": 16}},
    ),
    CallCase(
        "param.list",
        {"param": [{"params": {"ef": 16}}, {"metric_type": "BM25"}]},
        {"search_params": {"ef": 16}},
        hybrid=True,
    ),
    CallCase(
        "reranker.weighted",
        {"reranker": ("weighted", {"weights": [3.0, 1.0]})},
        {"ranker": "weighted", "alpha": 0.75},
        hybrid=True,
    ),
    CallCase(
        "reranker.rrf",
        {"reranker": ("rrf", {"k": 60})},
        {"ranker": "rrf", "rrf_k": 60},
        hybrid=True,
    ),
    CallCase(
        "ranker_type",
        {"ranker_type": "rrf", "ranker_params": {"k": 10}},
        {"ranker": "rrf", "rrf_k": 10},
        hybrid=True,
    ),
    CallCase("fetch_k", {"fetch_k": 50}, {"candidates": 50}, hybrid=True),
    CallCase("param.other_metric", {"param": {"metric_type": "IP"}}, raises="metric"),
    CallCase("reranker.decay", {"reranker": ("decay", {})}, raises="weighted", hybrid=True),
    CallCase("ranker_type.dense", {"ranker_type": "rrf"}, raises="BM25"),
    CallCase("partition_names", {"partition_names": ["p"]}, raises="partition_key_field"),
    CallCase(
        "weights.three",
        {"reranker": ("weighted", {"weights": [1, 1, 1]})},
        raises="two",
        hybrid=True,
    ),
]
