"""The llama-index-vector-stores-milvus 1.2 vocabulary, one case per keyword, shared by the
unit tests (what each keyword maps to, no I/O) and the backend tests (what it does).

``CONSTRUCTOR``: keyword -> (constructor kwargs, check of the built store's settings).
``QUERY`` / ``WRITE``: the per-call keywords. ``UNSUPPORTED``: calls that must raise
ConfigError (their message names what to use instead: ``hint``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from milvus_rag.integrations.llama_index.compat import BM25BuiltInFunction, IndexManagement


@dataclass(frozen=True)
class Case:
    """Constructor ``kwargs``; ``expect``: ``CollectionConfig`` attribute -> value;
    ``store``: ``MilvusVectorStore`` attribute -> value (``_alpha`` etc.)."""

    kwargs: dict[str, Any]
    expect: dict[str, Any] = field(default_factory=dict)
    store: dict[str, Any] = field(default_factory=dict)


class _DType:
    """Stands for a pymilvus ``DataType`` member (pymilvus 3 here; llama's is < 3)."""

    def __init__(self, name: str) -> None:
        self.name = name


CONSTRUCTOR: dict[str, Case] = {
    # shared with milvus-rag (llama's defaults apply only with a llama-only keyword)
    "uri": Case({"overwrite": False}, store={"uri_name": "milvus_llamaindex.db"}),
    "token": Case({"token": "root:Milvus", "overwrite": False}, store={"token": "root:Milvus"}),
    "collection_name": Case({"collection_name": "kb", "overwrite": False}, {"name": "kb"}),
    "dim": Case({"dim": 8, "overwrite": False}, {"dim": 8}),
    "doc_id_field": Case(
        {"doc_id_field": "source", "overwrite": False}, {"doc_id_field": "source"}
    ),
    "consistency_level": Case(
        {"consistency_level": "Bounded", "overwrite": False}, {"consistency_level": "Bounded"}
    ),
    "batch_size": Case({"batch_size": 2, "overwrite": False}, {"batch_size": 2}),
    # llama-only
    "overwrite": Case({"overwrite": True}, store={"_overwrite": True}),
    "upsert_mode": Case({"upsert_mode": True}, store={"vocabulary": "llama_index"}),
    "collection_properties": Case(
        {"collection_properties": {}}, store={"vocabulary": "llama_index"}
    ),
    "text_key": Case({"text_key": "body"}, {"text_field": "body"}),
    "scalar_field_names": Case(
        {"scalar_field_names": ["year"], "scalar_field_types": ["INT64"]},
        {"metadata_fields": {"year": "int64"}},
    ),
    "scalar_field_types": Case(  # pymilvus DataType members (their .name) or names
        {"scalar_field_names": ["lang", "ok"], "scalar_field_types": [_DType("VARCHAR"), "bool"]},
        {"metadata_fields": {"lang": "varchar", "ok": "bool"}},
    ),
    "enable_dense": Case({"enable_dense": True}, {"vector_field": "embedding"}),
    "embedding_field": Case({"embedding_field": "vec"}, {"vector_field": "vec"}),
    "enable_sparse": Case({"enable_sparse": True}, {"enable_bm25": True, "analyzer": "standard"}),
    "sparse_embedding_field": Case(
        {"enable_sparse": True, "sparse_embedding_field": "bm25"}, {"sparse_field": "bm25"}
    ),
    "sparse_embedding_function": Case(
        {
            "enable_sparse": True,
            "sparse_embedding_function": BM25BuiltInFunction(analyzer_params={"type": "english"}),
        },
        {"analyzer": {"type": "english"}},
    ),
    "sparse_index_config": Case(
        {"enable_sparse": True, "sparse_index_config": {"bm25_k1": 1.5, "bm25_b": 0.6}},
        {"bm25_k1": 1.5, "bm25_b": 0.6},
    ),
    "index_management": Case(
        {"index_management": IndexManagement.CREATE_IF_NOT_EXISTS},
        store={"vocabulary": "llama_index"},
    ),
    "index_config": Case(
        {"index_config": {"index_type": "IVF_FLAT", "metric_type": "IP", "nlist": 16}},
        {"index_type": "IVF_FLAT", "index_params": {"nlist": 16}, "metric": "IP"},
    ),
    "search_config": Case(
        {"index_config": {"index_type": "IVF_FLAT", "nlist": 16}, "search_config": {"nprobe": 4}},
        {"search_params": {"nprobe": 4}},
    ),
    "similarity_metric": Case({"similarity_metric": "euclidean"}, {"metric": "L2"}),
    "output_fields": Case({"output_fields": ["topic"]}, store={"_output_fields": ("topic",)}),
    "hybrid_ranker": Case(
        {"enable_sparse": True, "hybrid_ranker": "WeightedRanker"}, store={"_alpha": 0.5}
    ),
    "hybrid_ranker_params": Case(
        {
            "enable_sparse": True,
            "hybrid_ranker": "WeightedRanker",
            "hybrid_ranker_params": {"weights": [0.75, 0.25]},
        },
        store={"_alpha": 0.75},
    ),
    "use_async_client": Case({"use_async_client": False}, store={"vocabulary": "llama_index"}),
}

#: llama's defaults where they differ from milvus-rag's (any llama-only keyword selects them)
LLAMA_DEFAULTS = {
    "name": "llamacollection",
    "metric": "IP",
    "enable_bm25": False,
    "rrf_k": 60,
    "id_field": "id",
    "text_field": "text",
    "vector_field": "embedding",
    "doc_id_field": "doc_id",
    "sparse_field": "sparse_embedding",
    "id_max_length": 65535,
    "layout": "llama_index",
    "metadata_field": None,
    "dynamic_field": True,
}

#: query keywords (``query(q, **kwargs)``) -> what the request carries
QUERY: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "milvus_search_config": (
        {"milvus_search_config": {"metric_type": "IP", "params": {"nprobe": 2}}},
        {"search_params": {"nprobe": 2}},
    ),
    "milvus_partition_names": ({"milvus_partition_names": None}, {}),
    "milvus_scalar_filters": (
        {
            "milvus_scalar_filters": [
                {"key": "tags", "value": "b", "operator": "ARRAY_CONTAINS({key}, {value})"}
            ]
        },
        {"filter": {"tags": {"$contains": "b"}}},
    ),
    "string_expr": ({"string_expr": 'id in ["zebra", "cat"]'}, {}),
    "mmr_prefetch_k": ({"mmr_prefetch_k": 30}, {}),
}

#: write keywords (``add(nodes, **kwargs)``, ``delete(ref, **kwargs)``)
WRITE: dict[str, tuple[str, dict[str, Any]]] = {
    "force_flush": ("add", {"force_flush": True}),
    "milvus_partition_name": ("add", {"milvus_partition_name": None}),
}


class _Bge:
    """A client-side sparse embedding function (like BGEM3SparseEmbeddingFunction)."""

    def encode_queries(self, queries: list[str]) -> list[dict[int, float]]:
        return [{0: 1.0} for _ in queries]

    def encode_documents(self, docs: list[str]) -> list[dict[int, float]]:
        return [{0: 1.0} for _ in docs]


#: name -> (constructor kwargs, a phrase the ConfigError must contain)
UNSUPPORTED: dict[str, tuple[dict[str, Any], str]] = {
    "enable_dense=False without sparse": ({"enable_dense": False}, "no vector field"),
    "collection_properties": (
        {"collection_properties": {"collection.ttl.seconds": 60}},
        "alter_collection_properties",
    ),
    "sparse function BGE-M3 searched by BM25": (
        {
            "enable_sparse": True,
            "sparse_embedding_function": _Bge(),
            "sparse_index_config": {"metric_type": "BM25"},
        },
        "inner product",
    ),
    "sparse function without enable_sparse": (
        {"sparse_embedding_function": BM25BuiltInFunction()},
        "enable_sparse=True",
    ),
    "BM25 enable_match": (
        {
            "enable_sparse": True,
            "sparse_embedding_function": BM25BuiltInFunction(enable_match=True),
        },
        "TEXT_MATCH",
    ),
    "BM25 multi_analyzer_params": (
        {
            "enable_sparse": True,
            "sparse_embedding_function": BM25BuiltInFunction(multi_analyzer_params={"a": 1}),
        },
        "one analyzer",
    ),
    "BM25 other input field": (
        {"enable_sparse": True, "sparse_embedding_function": BM25BuiltInFunction("title")},
        "text_key=",
    ),
    "sparse_index_config SPARSE_WAND": (
        {"enable_sparse": True, "sparse_index_config": {"index_type": "SPARSE_WAND"}},
        "SPARSE_INVERTED_INDEX",
    ),
    "index_management unknown": ({"index_management": "rebuild"}, "no_validation"),
    "index_config other field": (
        {"index_config": {"field_name": "other", "index_type": "FLAT"}},
        "embedding_field=",
    ),
    "index_config metric disagrees": (
        {"similarity_metric": "L2", "index_config": {"metric_type": "IP"}},
        "set it once",
    ),
    "search_config metric disagrees": (
        {"search_config": {"metric_type": "L2", "nprobe": 2}},
        "similarity_metric=",
    ),
    "hybrid_ranker unknown": ({"hybrid_ranker": "MaxRanker"}, "RRFRanker"),
    "hybrid_ranker_params wrong key": (
        {"hybrid_ranker": "RRFRanker", "hybrid_ranker_params": {"weights": [1, 1]}},
        "only 'k'",
    ),
    "WeightedRanker three weights": (
        {"hybrid_ranker": "WeightedRanker", "hybrid_ranker_params": {"weights": [1, 1, 1]}},
        "[dense, sparse]",
    ),
    "similarity_metric unknown": ({"similarity_metric": "hamming"}, "'IP', 'COSINE', 'L2'"),
    "scalar field FLOAT": (
        {"scalar_field_names": ["x"], "scalar_field_types": ["FLOAT"]},
        "INT64, DOUBLE, VARCHAR or BOOL",
    ),
    "scalar fields unequal": (
        {"scalar_field_names": ["x", "y"], "scalar_field_types": ["INT64"]},
        "same length",
    ),
    "both metric spellings": ({"metric": "IP", "similarity_metric": "IP"}, "pass one of them"),
    "overwrite not a bool": ({"overwrite": "yes"}, "True or False"),
    "client kwargs (TLS)": ({"overwrite": False, "server_pem_path": "/x.pem"}, "unknown option"),
}

#: per-call keywords that must raise: name -> (call, kwargs, phrase)
UNSUPPORTED_CALLS: dict[str, tuple[str, dict[str, Any], str]] = {
    "milvus_partition_names": ("query", {"milvus_partition_names": ["p1"]}, "tenant_field"),
    "unknown query keyword": ("query", {"embedding_field": "x"}, "unknown query keyword"),
    "string_expr with scalar filters": (
        "query",
        {
            "string_expr": "id == 'a'",
            "milvus_scalar_filters": [{"key": "t", "value": 1}],
        },
        "cannot be combined",
    ),
    "both mmr prefetch": (
        "query",
        {"mmr_prefetch_k": 10, "mmr_prefetch_factor": 2.0},
        "cannot both be given",
    ),
    "scalar ARRAY_LENGTH": (
        "query",
        {
            "milvus_scalar_filters": [
                {"key": "t", "value": 2, "operator": "ARRAY_LENGTH({key}) == {value}"}
            ]
        },
        "ARRAY_LENGTH",
    ),
    "milvus_search_config metric": (
        "query",
        {"milvus_search_config": {"metric_type": "L2"}},
        "a search cannot change it",
    ),
    "add milvus_partition_name": ("add", {"milvus_partition_name": "p1"}, "tenant_field"),
    "add unknown keyword": ("add", {"partition": "p1"}, "unknown add keyword"),
    "delete milvus_partition_name": ("delete", {"milvus_partition_name": "p1"}, "tenant_field"),
    "get_nodes milvus_partition_names": (
        "get_nodes",
        {"milvus_partition_names": ["p1"]},
        "tenant_field",
    ),
}
