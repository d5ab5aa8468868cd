"""LangChain's indexing API (issue 23, finding 8) on both LangChain stores: ``index()`` and
``aindex()`` with an ``InMemoryRecordManager``, every cleanup mode, on every backend; and
``batch_size=``, which ``index()`` passes to ``add_documents``, bounds the rows of each write
request (counted on the real pymilvus calls)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.indexing import InMemoryRecordManager, aindex, index
from langchain_core.vectorstores import VectorStore
from pymilvus import AsyncMilvusClient

from milvus_rag.integrations.langchain import Milvus, MilvusVectorStore
from tests.backends import Backend
from tests.conftest import new_name
from tests.fakes import FakeLangChainEmbeddings

pytestmark = pytest.mark.integration

DIM = 16
V1 = [
    Document(page_content="apples are red", metadata={"source": "a"}),
    Document(page_content="apples are sweet", metadata={"source": "a"}),
    Document(page_content="bananas are yellow", metadata={"source": "b"}),
]
V2 = [
    Document(page_content="apples are green", metadata={"source": "a"}),  # a changed
    Document(page_content="apples are sweet", metadata={"source": "a"}),
    Document(page_content="cherries are dark", metadata={"source": "c"}),  # b gone, c new
]
#: cleanup mode -> (result of the second run, texts stored after it)
EXPECTED: dict[str | None, tuple[dict[str, int], set[str]]] = {
    None: (
        {"num_added": 2, "num_updated": 0, "num_skipped": 1, "num_deleted": 0},
        {
            "apples are red",
            "apples are green",
            "apples are sweet",
            "bananas are yellow",
            "cherries are dark",
        },
    ),
    "incremental": (
        {"num_added": 2, "num_updated": 0, "num_skipped": 1, "num_deleted": 1},
        {"apples are green", "apples are sweet", "bananas are yellow", "cherries are dark"},
    ),
    "full": (
        {"num_added": 2, "num_updated": 0, "num_skipped": 1, "num_deleted": 2},
        {"apples are green", "apples are sweet", "cherries are dark"},
    ),
    "scoped_full": (
        {"num_added": 2, "num_updated": 0, "num_skipped": 1, "num_deleted": 1},
        {"apples are green", "apples are sweet", "bananas are yellow", "cherries are dark"},
    ),
}


def _own(backend: Backend, name: str) -> VectorStore:
    return MilvusVectorStore(
        embedding=FakeLangChainEmbeddings(dim=DIM),
        uri=backend.uri,
        token=backend.token or None,
        collection_name=name,
    )


def _compat(backend: Backend, name: str) -> VectorStore:
    args: dict[str, Any] = {"uri": backend.uri}
    if backend.token:
        args["token"] = backend.token
    return Milvus(
        embedding_function=FakeLangChainEmbeddings(dim=DIM),
        connection_args=args,
        collection_name=name,
        consistency_level="Strong",
    )


STORES: dict[str, Callable[[Backend, str], VectorStore]] = {"own": _own, "compat": _compat}


@pytest.fixture
def make(backend: Backend) -> Iterator[Callable[[str], Any]]:
    made: list[Any] = []

    def build(kind: str) -> Any:
        store = STORES[kind](backend, new_name("lcidx"))
        made.append(store)
        return store

    yield build
    for store in made:
        try:
            store.drop()
        finally:
            store.close()


def _texts(store: Any) -> set[str]:
    return {d.page_content for d in store.similarity_search("fruit", k=20)}


@pytest.mark.parametrize("kind", sorted(STORES))
@pytest.mark.parametrize("cleanup", list(EXPECTED), ids=str)
@pytest.mark.parametrize("run", ["sync", "async"])
def test_index_keeps_the_store_in_sync(
    make: Callable[[str], Any], kind: str, cleanup: Any, run: str
) -> None:
    store = make(kind)
    manager = InMemoryRecordManager(namespace=f"milvus/{store.store.name}")
    manager.create_schema()

    def go(docs: list[Document]) -> dict[str, int]:
        kw: dict[str, Any] = {"cleanup": cleanup, "source_id_key": "source", "batch_size": 2}
        kw["key_encoder"] = "sha256"
        if run == "sync":
            return dict(index(docs, manager, store, **kw))
        return dict(asyncio.run(aindex(docs, manager, store, **kw)))

    first = go(V1)
    assert first == {"num_added": 3, "num_updated": 0, "num_skipped": 0, "num_deleted": 0}
    assert _texts(store) == {d.page_content for d in V1}
    assert go(V1)["num_skipped"] == 3  # nothing changed: nothing written
    want, texts = EXPECTED[cleanup]
    assert go(V2) == want
    assert _texts(store) == texts


@pytest.mark.parametrize("kind", sorted(STORES))
def test_batch_size_bounds_each_write(
    make: Callable[[str], Any], kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make(kind)
    store.add_documents([Document(page_content="warm up", metadata={"source": "w"})], ids=["w"])
    sizes: list[int] = []
    for method in ("insert", "upsert"):
        real = getattr(AsyncMilvusClient, method)

        async def spy(
            self: Any, collection_name: str, data: Any, *a: Any, _real: Any = real, **k: Any
        ) -> Any:
            sizes.append(len(data))
            return await _real(self, collection_name, data, *a, **k)

        monkeypatch.setattr(AsyncMilvusClient, method, spy)
    docs = [Document(page_content=f"doc {i}", metadata={"source": "s"}) for i in range(7)]
    store.add_documents(docs, ids=[f"d{i}" for i in range(7)], batch_size=3)
    assert sizes == [3, 3, 1]
    sizes.clear()
    store.add_texts(["x", "y"], [{"source": "s"}] * 2, ids=["x", "y"], batch_size=1)
    assert sizes == [1, 1]
    with pytest.raises(Exception, match="batch_size"):
        store.add_documents(docs, batch_size=0)
