"""Issue 23, finding 3: an opened collection adopts its tenant field and typed fields from its
schema (core, both frameworks), and a setting the caller passed that contradicts the schema
still raises SchemaMismatchError naming the field; every backend."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from langchain_core.documents import Document
from llama_index.core.vector_stores.types import VectorStoreQuery

from milvus_rag import ConfigError, MilvusStore, Record, SchemaMismatchError
from milvus_rag.integrations.langchain import MilvusVectorStore as LCStore
from milvus_rag.integrations.llama_index import MilvusVectorStore as LIStore
from tests.backends import Backend
from tests.fakes import FakeLangChainEmbeddings, FakeLlamaIndexEmbedding

pytestmark = pytest.mark.integration

DIM = 8
TYPED = {"year": "int64", "tags": "array<varchar>"}


def _vec(i: int) -> list[float]:
    return [1.0 if j == i % DIM else 0.1 for j in range(DIM)]


@pytest.fixture
def seeded(make_store: Callable[..., MilvusStore]) -> MilvusStore:
    store = make_store(dim=DIM, tenant_field="tenant", metadata_fields=TYPED)
    for tenant, n in (("acme", 3), ("globex", 2)):
        store.upsert(
            [
                Record(f"{tenant}{i}", f"{tenant} text {i}", _vec(i), {"year": 2020 + i})
                for i in range(n)
            ],
            tenant=tenant,
        )
    return store


def _open(backend: Backend, name: str, **kw: object) -> MilvusStore:
    return MilvusStore(backend.uri, token=backend.token or None, collection_name=name, **kw)


def test_core_adopts_tenant_and_typed_fields(backend: Backend, seeded: MilvusStore) -> None:
    with _open(backend, seeded.name) as plain:
        assert plain.count(all_tenants=True) == 5
        assert plain.config.tenant_field == "tenant"
        assert dict(plain.config.metadata_fields) == TYPED
        assert plain.count(tenant="globex") == 2
        assert plain.count({"year": {"$gte": 2021}}, tenant="acme") == 2
        with pytest.raises(ConfigError, match="multi-tenant"):
            plain.count()
    with _open(backend, seeded.name, tenant="acme") as bound:  # bound before the schema is read
        assert {r.id for r in bound.query()} == {"acme0", "acme1", "acme2"}
        hits = bound.search(vector=_vec(0), mode="dense", k=10)
        assert {h.id for h in hits} == {"acme0", "acme1", "acme2"}
    with _open(backend, seeded.name) as plain:
        view = plain.for_tenant("globex")
        assert sorted(r.metadata["year"] for r in view.query()) == [2020, 2021]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"tenant_field": "org"}, "tenant_field['org']"),
        ({"metadata_fields": {**TYPED, "year": "double"}}, "metadata_fields['year']"),
        ({"metadata_fields": {"year": "int64"}}, "metadata_fields['tags']"),
    ],
)
def test_a_contradicting_setting_still_raises(
    backend: Backend, seeded: MilvusStore, options: dict[str, object], field: str
) -> None:
    with _open(backend, seeded.name, **options) as store:
        with pytest.raises(SchemaMismatchError) as e:
            store.count(all_tenants=True)
        assert e.value.field == field


def test_a_tenant_on_a_collection_without_tenants_is_refused(
    backend: Backend, make_store: Callable[..., MilvusStore]
) -> None:
    store = make_store(dim=DIM)
    store.upsert([Record("a", "text", _vec(0))])
    with _open(backend, store.name, tenant="acme") as bound:
        with pytest.raises(ConfigError, match="no tenant field"):
            bound.count()
    with _open(backend, store.name) as plain:
        assert plain.count() == 1


def test_langchain_adopts_the_tenant_field(backend: Backend, seeded: MilvusStore) -> None:
    lc = LCStore(
        embedding=FakeLangChainEmbeddings(dim=DIM),
        uri=backend.uri,
        token=backend.token or None,
        collection_name=seeded.name,
        tenant="globex",
    )
    try:
        lc.add_documents([Document(page_content="new globex", metadata={"year": 1999})], ids=["g9"])
        docs = lc.similarity_search("text", k=20)
        assert {d.id for d in docs} == {"globex0", "globex1", "g9"}
        assert {d.metadata["tenant"] for d in docs} == {"globex"}
    finally:
        lc.close()
    assert seeded.count({"year": 1999}, tenant="globex") == 1  # stored in the typed column


def test_llama_index_adopts_the_tenant_field(backend: Backend, seeded: MilvusStore) -> None:
    emb = FakeLlamaIndexEmbedding(dim=DIM)
    li = LIStore(backend.uri, token=backend.token or None, collection_name=seeded.name)
    try:
        q = VectorStoreQuery(query_embedding=emb.get_query_embedding("x"), similarity_top_k=20)
        assert set(li.query(q, tenant="acme").ids or []) == {"acme0", "acme1", "acme2"}
        with pytest.raises(ConfigError, match="tenant"):
            li.query(q)
    finally:
        li.close()
