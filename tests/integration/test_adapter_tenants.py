"""Tenants and typed fields through both framework adapters: one case table, one driver per
framework (LangChain's and LlamaIndex's own types and methods), every backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from langchain_core.documents import Document
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery

from milvus_rag import ConfigError, InvalidInputError, MilvusStore
from milvus_rag.integrations.langchain import MilvusVectorStore as LCStore
from milvus_rag.integrations.llama_index import MilvusVectorStore as LIStore
from tests.backends import Backend
from tests.conftest import new_name
from tests.fakes import FakeLangChainEmbeddings, FakeLlamaIndexEmbedding

pytestmark = pytest.mark.integration

DIM = 16
TYPED = {"year": "int64", "tags": "array<varchar>", "score": "double"}


class Driver:
    """One framework's store, driven through its own API."""

    name: str

    def add(self, ids: list[str], metas: list[dict[str, Any]], **t: Any) -> list[str]:
        raise NotImplementedError

    def search(self, **t: Any) -> set[str]:
        raise NotImplementedError

    def retrieve(self, **t: Any) -> set[str]:
        raise NotImplementedError

    def get(self, ids: list[str], **t: Any) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    def delete(self, ids: list[str], **t: Any) -> None:
        raise NotImplementedError


class LangChainDriver(Driver):
    name = "langchain"

    def __init__(self, backend: Backend, collection: str, tenant: str | None) -> None:
        self.store = LCStore(
            embedding=FakeLangChainEmbeddings(dim=DIM),
            uri=backend.uri,
            token=backend.token or None,
            collection_name=collection,
            tenant_field="tenant",
            metadata_fields=TYPED,
            tenant=tenant,
        )

    def add(self, ids: list[str], metas: list[dict[str, Any]], **t: Any) -> list[str]:
        docs = [Document(page_content=f"doc {i} text", metadata=m) for i, m in zip(ids, metas)]
        return self.store.add_documents(docs, ids=ids, **t)

    def search(self, **t: Any) -> set[str]:
        return {d.id for d in self.store.similarity_search("doc text", k=50, **t) if d.id}

    def retrieve(self, **t: Any) -> set[str]:
        retriever = self.store.as_retriever(search_kwargs={"k": 50, **t})
        return {d.id for d in retriever.invoke("doc text") if d.id}

    def get(self, ids: list[str], **t: Any) -> dict[str, dict[str, Any]]:
        return {str(d.id): d.metadata for d in self.store.get_by_ids(ids, **t)}

    def delete(self, ids: list[str], **t: Any) -> None:
        self.store.delete(ids, **t)

    def close(self) -> None:
        self.store.close()


class LlamaIndexDriver(Driver):
    name = "llama_index"

    def __init__(self, backend: Backend, collection: str, tenant: str | None) -> None:
        self.emb = FakeLlamaIndexEmbedding(dim=DIM)
        self.store = LIStore(
            backend.uri,
            token=backend.token or None,
            collection_name=collection,
            dim=DIM,
            tenant_field="tenant",
            metadata_fields=TYPED,
            tenant=tenant,
        )

    def add(self, ids: list[str], metas: list[dict[str, Any]], **t: Any) -> list[str]:
        nodes = []
        for i, m in zip(ids, metas, strict=True):
            text = f"doc {i} text"
            nodes.append(
                TextNode(id_=i, text=text, metadata=m, embedding=self.emb.get_text_embedding(text))
            )
        return self.store.add(nodes, **t)

    def search(self, **t: Any) -> set[str]:
        q = VectorStoreQuery(
            query_embedding=self.emb.get_query_embedding("doc text"), similarity_top_k=50
        )
        return set(self.store.query(q, **t).ids or [])

    def retrieve(self, **t: Any) -> set[str]:
        from milvus_rag.retrievers.llama_index import HybridRetriever

        r = HybridRetriever(
            self.store, embed_model=self.emb, similarity_top_k=50, vector_store_kwargs=t
        )
        return {n.node.node_id for n in r.retrieve("doc text")}

    def get(self, ids: list[str], **t: Any) -> dict[str, dict[str, Any]]:
        return {n.node_id: dict(n.metadata) for n in self.store.get_nodes(ids, **t)}

    def delete(self, ids: list[str], **t: Any) -> None:
        self.store.delete_nodes(ids, **t)

    def close(self) -> None:
        self.store.close()


DRIVERS: dict[str, Callable[[Backend, str, str | None], Any]] = {
    "langchain": LangChainDriver,
    "llama_index": LlamaIndexDriver,
}


@dataclass(frozen=True)
class Case:
    """A store bound (or not) at construction, and what one call passes."""

    name: str
    bound: str | None
    call: dict[str, Any]
    sees: str | None  # the tenant whose rows the call reaches; None: ConfigError; "*": all


CASES = [
    Case("bound", "a", {}, "a"),
    Case("bound_override", "a", {"tenant": "b"}, "b"),
    Case("per_call", None, {"tenant": "b"}, "b"),
    Case("no_tenant", None, {}, None),
    Case("all_tenants_read", None, {"all_tenants": True}, "*"),
]
ROWS = {"a": ["a1", "a2"], "b": ["b1", "b2", "b3"]}


@pytest.fixture
def seeded(backend: Backend) -> Iterator[str]:
    name = new_name("adtenants")
    core = MilvusStore(
        backend.uri,
        token=backend.token or None,
        collection_name=name,
        dim=DIM,
        tenant_field="tenant",
        metadata_fields=TYPED,
    )
    yield name
    core.drop()
    core.close()


def _seed(framework: str, backend: Backend, name: str) -> None:
    d = DRIVERS[framework](backend, name, None)
    try:
        for tenant, ids in ROWS.items():
            d.add(ids, [{"year": 2020 + i, "k": tenant} for i in range(len(ids))], tenant=tenant)
    finally:
        d.close()


@pytest.mark.parametrize("framework", sorted(DRIVERS))
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_tenant_binding_and_override(
    backend: Backend, seeded: str, framework: str, case: Case
) -> None:
    _seed(framework, backend, seeded)
    d = DRIVERS[framework](backend, seeded, case.bound)
    every = {i for ids in ROWS.values() for i in ids}
    try:
        if case.sees is None:  # no tenant: ConfigError, nothing touched
            for call in (
                lambda: d.search(**case.call),
                lambda: d.retrieve(**case.call),
                lambda: d.get(sorted(every), **case.call),
                lambda: d.delete(sorted(every), **case.call),
                lambda: d.add(["new"], [{}], **case.call),
            ):
                with pytest.raises(ConfigError, match="tenant"):
                    call()
            assert set(d.get(sorted(every), all_tenants=True)) == every
            return
        want = every if case.sees == "*" else set(ROWS[case.sees])
        assert d.search(**case.call) == want
        assert d.retrieve(**case.call) == want
        got = d.get(sorted(every), **case.call)
        assert set(got) == want
        assert all(m["tenant"] == m["k"] for m in got.values())
        if case.sees == "*":
            return
        # writes land in the call's tenant; a delete reaches only its rows
        d.add(["new"], [{"year": 1}], **case.call)
        assert d.get(["new"], all_tenants=True)["new"]["tenant"] == case.sees
        d.delete(sorted(every | {"new"}), **case.call)
        left = set(d.get(sorted(every | {"new"}), all_tenants=True))
        assert left == every - want
    finally:
        d.close()


@pytest.mark.parametrize("writer", sorted(DRIVERS))
def test_typed_fields_round_trip_across_adapters(
    backend: Backend, seeded: str, writer: str
) -> None:
    w = DRIVERS[writer](backend, seeded, "a")
    readers = [DRIVERS[f](backend, seeded, "a") for f in sorted(DRIVERS)]
    meta = {"year": 2024, "tags": ["x", "y"], "score": 0.5, "lang": "en", "nested": {"k": 1}}
    try:
        w.add(["t1", "t2"], [meta, {"lang": "de"}])
        for r in readers:
            got = r.get(["t1", "t2"])
            assert {k: v for k, v in got["t1"].items() if not k.startswith("_")} == {
                **meta,
                "tenant": "a",
            }, r.name
            assert {k: v for k, v in got["t2"].items() if not k.startswith("_")} == {
                "lang": "de",
                "tenant": "a",
            }
        for bad in ({"year": "2024"}, {"tags": "x"}, {"score": "high"}):
            with pytest.raises(InvalidInputError, match="typed field"):
                w.add(["ok", "bad"], [{"year": 1}, bad])
        assert w.get(["ok", "bad"]) == {}
    finally:
        w.close()
        for r in readers:
            r.close()
