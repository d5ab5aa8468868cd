"""The LlamaIndex store's vector fields without a backend: client-side sparse encoders
(``SparseFunction``), one embedder per field (``FieldEmbedders``), llama-index-vector-stores-
milvus's sparse / dense keywords mapped onto vector fields, and the query -> legs mapping."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from milvus_rag import CollectionConfig, ConfigError, InvalidInputError
from milvus_rag.client.request import Leg
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.integrations.llama_index import MilvusVectorStore
from milvus_rag.integrations.llama_index.compat import llama_store_settings
from milvus_rag.integrations.llama_index.compat_kwargs import llama_query_options
from milvus_rag.integrations.llama_index.fields import FieldEmbedders
from milvus_rag.integrations.llama_index.search import (
    alpha_weights,
    field_weights,
    legs_request,
    sizes,
)
from milvus_rag.integrations.llama_index.sparse import SparseFunction
from tests.fakes import FakeLlamaIndexEmbedding, FakeSparseFunction

M = VectorStoreQueryMode


def test_sparse_function_encodes_all_texts_in_one_call_sync_and_async() -> None:
    fn = FakeSparseFunction()
    enc = SparseFunction(fn)
    texts = ["a b b", "c", "a"]
    got = enc.documents(texts)
    assert got == [fn.encode(t) for t in texts] and fn.calls == [("encode_documents", 3)]
    assert asyncio.run(enc.adocuments(texts)) == got
    assert asyncio.run(enc.aquery("a b")) == fn.encode("a b")
    assert fn.calls[1:] == [("async_encode_documents", 3), ("async_encode_queries", 1)]
    sync_only = FakeSparseFunction(with_async=False)
    assert asyncio.run(SparseFunction(sync_only).adocuments(texts)) == got  # in a thread
    assert asyncio.run(SparseFunction(sync_only).aquery("c")) == fn.encode("c")
    assert sync_only.calls == [("encode_documents", 3), ("encode_queries", 1)]
    assert enc.documents([]) == [] and asyncio.run(enc.adocuments([])) == []


class _Returns:
    def __init__(self, value: Any) -> None:
        self.value = value

    def encode_documents(self, texts: list[str]) -> Any:
        return self.value

    def encode_queries(self, texts: list[str]) -> Any:
        return self.value


def test_sparse_function_takes_matrices_and_refuses_what_is_no_sparse_vector() -> None:
    matrix = sp.csr_matrix(np.array([[0.0, 1.5, 0.0], [2.0, 0.0, 0.0]]))
    assert SparseFunction(_Returns(matrix)).documents(["x", "y"]) == [{1: 1.5}, {0: 2.0}]
    for bad, phrase in (
        ([{0: 1.0}], "1 sparse vectors for 2 texts"),
        ({0: 1.0}, "one sparse vector per text"),
        ([{-1: 1.0}, {0: 1.0}], "non-negative"),
        ([{0: float("nan")}, {0: 1.0}], "finite"),
        ([[0.1, 0.2], {0: 1.0}], "dict"),
    ):
        with pytest.raises(InvalidInputError, match=phrase):
            SparseFunction(_Returns(bad)).documents(["x", "y"])
    with pytest.raises(ConfigError, match="encode_queries"):
        SparseFunction(object())


def _cfg(**kw: Any) -> CollectionConfig:
    fields = [
        VectorField.dense("dense", dim=4),
        VectorField.sparse("sparse", bm25=True),
        VectorField.dense("minilm", dim=8),
        VectorField.sparse("splade"),
    ]
    return CollectionConfig.from_fields(fields, **kw)


def test_field_embedders_pair_every_client_field_with_one_embedder_of_its_kind() -> None:
    cfg = _cfg()
    dense, sparse = FakeLlamaIndexEmbedding(dim=8), FakeSparseFunction()
    emb = FieldEmbedders.build(cfg, {"minilm": dense, "splade": sparse})
    assert emb.fields == ("minilm", "splade")
    for models, phrase in (
        ({"minilm": dense}, "'splade'] have no embedder"),
        ({"minilm": dense, "splade": sparse, "title": dense}, "no vector field"),
        ({"minilm": dense, "splade": sparse, "dense": dense}, "primary dense field"),
        ({"minilm": dense, "splade": sparse, "sparse": sparse}, "BM25 field"),
        ({"minilm": sparse, "splade": sparse}, "must be a LlamaIndex embedding"),
        ({"minilm": dense, "splade": dense}, "must be a sparse encoder"),
        ({"minilm": dense, "splade": 3}, "embed_models\\['splade'\\]"),
    ):
        with pytest.raises(ConfigError, match=phrase):
            FieldEmbedders.build(cfg, models)
    texts = ["alpha beta", "gamma"]
    vecs = asyncio.run(emb.vectors(texts))
    assert [sorted(v) for v in vecs] == [["minilm", "splade"]] * 2
    assert vecs[1]["splade"] == sparse.encode("gamma")
    assert vecs[0]["minilm"] == pytest.approx(dense.get_text_embedding("alpha beta"))
    assert sparse.calls == [("async_encode_documents", 2)]  # one call for the write


def test_llama_sparse_keywords_map_onto_vector_fields() -> None:
    fn = FakeSparseFunction()
    s = llama_store_settings(
        None, None, {"dim": 4, "enable_sparse": True, "sparse_embedding_function": fn}
    )
    assert s.sparse_function is not None and s.sparse_function.fn is fn
    assert s.sparse_field == "sparse_embedding" and not s.options["enable_bm25"]
    field = s.options["extra_vector_fields"][0]
    assert (field.name, field.kind, field.function, field.metric) == (
        "sparse_embedding",
        "sparse",
        None,
        "IP",
    )
    only = llama_store_settings(
        None,
        None,
        {
            "enable_dense": False,
            "enable_sparse": True,
            "sparse_embedding_function": fn,
            "sparse_embedding_field": "splade",
            "sparse_index_config": {"index_type": "SPARSE_INVERTED_INDEX", "drop_ratio_build": 0.1},
        },
    )
    assert only.options["enable_dense"] is False and only.sparse_field == "splade"
    f = only.options["extra_vector_fields"][0]
    assert (f.name, f.index_type, f.index_params) == (
        "splade",
        "SPARSE_INVERTED_INDEX",
        {"drop_ratio_build": 0.1},
    )
    bm25_only = llama_store_settings(None, None, {"enable_dense": False, "enable_sparse": True})
    assert bm25_only.options["enable_bm25"] and not bm25_only.options["enable_dense"]
    cfg = CollectionConfig(**{k: v for k, v in only.options.items() if k != "analyzer"})
    assert [v.name for v in cfg.vector_fields] == ["splade"] and not cfg.enable_dense


def test_llama_vocabulary_get_nodes_takes_ids_or_filters_as_that_library_does(
    tmp_path: Any,
) -> None:
    store = MilvusVectorStore(str(tmp_path / "x.db"), dim=4, overwrite=False)
    flt = MetadataFilters(filters=[MetadataFilter(key="k", value=1, operator=FilterOperator.EQ)])
    with pytest.raises(ValueError, match="Either node_ids or filters must be provided"):
        store.get_nodes()
    with pytest.raises(ValueError, match="Only one of node_ids or filters"):
        store.get_nodes(node_ids=["a"], filters=flt)
    with pytest.raises(ValueError, match="does not support"):
        store.query(VectorStoreQuery(query_embedding=[0.1] * 4, mode=M.SVM))
    assert MilvusVectorStore(str(tmp_path / "x.db"), dim=4, use_async_client=False).aclient is None
    assert not (tmp_path / "x.db").exists()  # refused before any I/O


def test_query_sizes_and_leg_weights() -> None:
    q = VectorStoreQuery(query_str="q", similarity_top_k=3, sparse_top_k=5, hybrid_top_k=2)
    assert sizes(M.DEFAULT, q) == (3, None) and sizes(M.TEXT_SEARCH, q) == (5, None)
    assert sizes(M.HYBRID, q) == (2, 5)
    assert sizes(M.HYBRID, VectorStoreQuery(similarity_top_k=3)) == (3, None)
    legs = [Leg("dense", [0.1, 0.2]), Leg("splade", {1: 1.0})]
    assert [leg.weight for leg in alpha_weights(legs, "dense", 0.8)] == pytest.approx([0.8, 0.2])
    assert [leg.weight for leg in field_weights(legs, {"splade": 2.0, "dense": 1.0})] == [1.0, 2.0]
    assert [leg.weight for leg in field_weights(legs, [0.3, 0.7])] == [0.3, 0.7]
    with pytest.raises(ConfigError, match="one weight per field"):
        field_weights(legs, {"dense": 1.0})
    with pytest.raises(ConfigError, match="1 values for the 2 fields"):
        field_weights(legs, [1.0])
    with pytest.raises(ConfigError, match="search two fields"):
        alpha_weights([*legs, Leg("minilm", [0.1])], "dense", 0.5)


def test_legs_request_embeds_each_fields_query_with_its_embedder() -> None:
    cfg = _cfg()
    dense, sparse = FakeLlamaIndexEmbedding(dim=8), FakeSparseFunction()
    emb = FieldEmbedders.build(cfg, {"minilm": dense, "splade": sparse})
    q = VectorStoreQuery(query_str="alpha", query_embedding=[0.5] * 4, similarity_top_k=2)
    opts = llama_query_options({}, cfg.metric)
    req = asyncio.run(legs_request(cfg, emb, M.HYBRID, q, None, None, opts, raw=False))
    assert [leg.field for leg in req.legs or ()] == ["dense", "sparse", "minilm", "splade"]
    by = {leg.field: leg.query for leg in req.legs or ()}
    assert by["dense"] == [0.5] * 4 and by["sparse"] is None  # BM25: the request's text
    assert by["splade"] == sparse.encode("alpha")
    assert by["minilm"] == pytest.approx(dense.get_query_embedding("alpha"))
    assert req.relevance and req.k == 2 and req.ranker == "rrf"
    opts = llama_query_options({"fields": ["splade", "sparse"], "weights": [0.3, 0.7]}, cfg.metric)
    req = asyncio.run(legs_request(cfg, emb, M.HYBRID, q, None, None, opts, raw=True))
    assert [(leg.field, leg.weight) for leg in req.legs or ()] == [("splade", 0.3), ("sparse", 0.7)]
    assert req.ranker == "weighted" and not req.relevance
    sparse_q = asyncio.run(
        legs_request(cfg, emb, M.SPARSE, q, None, None, llama_query_options({}, "COSINE"), True)
    )
    assert [leg.field for leg in sparse_q.legs or ()] == ["sparse"]  # the BM25 field
