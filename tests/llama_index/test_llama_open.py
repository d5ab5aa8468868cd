"""How a store speaking llama-index-vector-stores-milvus's vocabulary opens its collection,
on every backend: created at first use (``client`` included) with its consistency level, as
that library creates it when the store is built; an existing one opened with its indexes
rebuilt (``index_management`` ``create_if_not_exists``) or left as it is
(``no_validation``)."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery

from milvus_rag.integrations.llama_index import IndexManagement, MilvusVectorStore
from tests.backends import Backend
from tests.conftest import new_name
from tests.llama_index.conftest import DIM

pytestmark = pytest.mark.integration


def _open(backend: Backend, name: str, **kwargs: Any) -> MilvusVectorStore:
    return MilvusVectorStore(
        backend.uri, token=backend.token or None, collection_name=name, **kwargs
    )


def test_llama_vocabulary_creates_its_collection_at_first_use(backend: Backend) -> None:
    name = new_name("lo")
    store = _open(backend, name, dim=DIM, overwrite=False, consistency_level="Strong")
    try:
        client = store.client  # the first use: the collection is created, as llama's is
        assert name in client.list_collections()
        assert client.describe_collection(name)["consistency_level"] == 0  # Strong
        store.clear()
        assert not store.client.has_collection(name)  # clear() drops; nothing recreates it
        own = _open(backend, new_name("lo"), dim=DIM)  # milvus-rag's vocabulary: lazy
        assert own.store.name not in own.client.list_collections()
        own.close()
    finally:
        store.close()


def test_index_management_rebuilds_or_leaves_a_dropped_vector_index(backend: Backend) -> None:
    name = new_name("lo")
    first = _open(backend, name, dim=DIM, overwrite=True, consistency_level="Strong")
    first.add([TextNode(id_="a", text="alpha", embedding=[0.5] * DIM)])
    client = first.client
    client.release_collection(name)
    client.drop_index(name, "embedding")
    left = _open(backend, name, index_management=IndexManagement.NO_VALIDATION)
    assert left.client.list_indexes(name) == []
    rebuilt = _open(backend, name, index_management="create_if_not_exists")
    try:
        assert rebuilt.client.list_indexes(name) == ["embedding"]
        hits = rebuilt.query(VectorStoreQuery(query_embedding=[0.5] * DIM, similarity_top_k=1))
        assert hits.ids == ["a"]
    finally:
        rebuilt.clear()
        for s in (first, left, rebuilt):
            s.close()


def test_doc_id_field_id_makes_doc_ids_node_ids(backend: Backend) -> None:
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo

    store = _open(backend, new_name("lo"), dim=DIM, doc_id_field="id", overwrite=True)
    src = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id="n1")}
    written = [
        TextNode(id_=f"n{i}", text=f"text {i}", embedding=[0.5 + i] * DIM, relationships=src)
        for i in range(1, 4)
    ]
    try:
        store.add(written)
        q = VectorStoreQuery(query_embedding=[0.5] * DIM, similarity_top_k=3, doc_ids=["n2"])
        assert store.query(q).ids == ["n2"]  # doc ids are node ids
        store.delete(ref_doc_id="n1")  # the node n1, not the nodes whose document is n1
        left = store.get_nodes(node_ids=["n1", "n2", "n3"])
        assert left == written[1:] and all(n.ref_doc_id == "n1" for n in left)
    finally:
        store.clear()
        store.close()
