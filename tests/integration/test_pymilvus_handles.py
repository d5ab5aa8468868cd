"""The pymilvus handles (issue 25): the core store's ``pymilvus_client()`` /
``pymilvus_aclient()`` and the compatible fronts' ``client`` / ``aclient``, on every backend.

Rows written through a handle are seen by the store and the reverse; the handles answer as
pymilvus does (``query(output_fields=...)``, ``has_collection``, ``list_indexes``,
``list_collections``); the store's close closes them; on a Lite file they share the engine
the store started.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymilvus import AsyncMilvusClient, MilvusClient
from pymilvus.exceptions import MilvusException

from milvus_rag import AsyncMilvusStore, MilvusStore, Record
from milvus_rag.client import lite
from milvus_rag.client.sync import run_sync
from milvus_rag.integrations.langchain import Milvus
from milvus_rag.integrations.llama_index import MilvusVectorStore
from tests.backends import Backend
from tests.conftest import new_name
from tests.fakes import FakeLangChainEmbeddings

pytestmark = pytest.mark.integration

DIM = 8


def vec(i: int) -> list[float]:
    v = np.random.default_rng(i).normal(size=DIM)
    return (v / np.linalg.norm(v)).tolist()


def count(client: MilvusClient, name: str) -> int:
    return int(client.query(name, filter="", output_fields=["count(*)"])[0]["count(*)"])


async def test_core_async_handles_see_the_stores_rows_and_the_reverse(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    store = make_async_store(dim=DIM, consistency_level="Strong")
    await store.upsert([Record(id="a", text="alpha beta", vector=vec(1), metadata={"n": 1})])
    client = store.pymilvus_client()
    assert isinstance(client, MilvusClient) and store.pymilvus_client() is client
    assert client.has_collection(store.name) and store.name in client.list_collections()
    assert sorted(client.list_indexes(store.name)) == ["dense", "sparse"]
    rows = client.query(store.name, filter='id in ["a"]', output_fields=["text", "metadata"])
    assert [(r["id"], r["text"], r["metadata"]) for r in rows] == [("a", "alpha beta", {"n": 1})]

    row = {"id": "h", "text": "from pymilvus", "dense": vec(2), "doc_id": "", "metadata": {}}
    client.insert(store.name, [row])
    got = await store.get(["h"])
    assert [(r.id, r.text) for r in got] == [("h", "from pymilvus")]
    hits = await store.search(text="pymilvus", vector=vec(2), k=1)
    assert [h.id for h in hits] == ["h"]  # its BM25 vector was made by Milvus as for any row

    aclient = store.pymilvus_aclient()
    assert isinstance(aclient, AsyncMilvusClient) and store.pymilvus_aclient() is aclient
    assert await aclient.has_collection(store.name)
    res = await aclient.query(store.name, filter="", output_fields=["count(*)"])
    assert res[0]["count(*)"] == 2
    await aclient.delete(store.name, ids=["a"])
    assert await store.count() == 1


async def test_the_stores_close_closes_its_handles_and_a_later_call_reopens(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    store = make_async_store(dim=DIM, consistency_level="Strong")
    await store.upsert([Record(id="a", text="alpha", vector=vec(1))])
    client, aclient = store.pymilvus_client(), store.pymilvus_aclient()
    assert await aclient.has_collection(store.name)
    await store.aclose()
    with pytest.raises(MilvusException, match="connection"):
        client.list_collections()
    with pytest.raises(MilvusException, match="connection"):
        await aclient.list_collections()
    again = store.pymilvus_client()  # a closed store reconnects on its next use
    assert again is not client and count(again, store.name) == 1


def test_sync_store_mirrors_the_handles(make_store: Callable[..., MilvusStore]) -> None:
    store = make_store(dim=DIM, consistency_level="Strong")
    store.upsert([Record(id="a", text="alpha", vector=vec(1))])
    client = store.pymilvus_client()
    assert client is store.aio.pymilvus_client() and count(client, store.name) == 1
    assert isinstance(store.pymilvus_aclient(), AsyncMilvusClient)
    store.close()
    with pytest.raises(MilvusException, match="connection"):
        client.has_collection(store.name)


def test_a_handle_on_a_lite_file_shares_the_stores_engine(tmp_path: Path) -> None:
    from milvus_lite.server_manager import server_manager_instance

    db = str(tmp_path / "h.db")
    store = MilvusStore(db, collection_name="c", dim=DIM)
    client = store.pymilvus_client()  # before the store's first call: it starts the engine
    store.upsert([Record(id="a", text="alpha", vector=vec(1))])
    key = str(Path(db).resolve())
    assert list(server_manager_instance._servers) == [key]  # one engine for the file
    assert client.has_collection("c")
    store.close()
    assert key not in server_manager_instance._servers  # the last user stopped it
    assert lite._lite_refs.get(db, 0) == 0


# --- the compatible fronts: `client` / `aclient` -------------------------------------


def _llama(backend: Backend, name: str) -> Any:
    return MilvusVectorStore(
        backend.uri,
        token=backend.token or None,
        collection_name=name,
        dim=DIM,
        overwrite=True,
        consistency_level="Strong",
    )


def _llama_own(backend: Backend, name: str) -> Any:
    return MilvusVectorStore(
        backend.uri,
        token=backend.token or None,
        collection_name=name,
        dim=DIM,
        consistency_level="Strong",
    )


def _langchain(backend: Backend, name: str) -> Any:
    args = {"uri": backend.uri, **({"token": backend.token} if backend.token else {})}
    return Milvus(
        FakeLangChainEmbeddings(dim=DIM),
        collection_name=name,
        connection_args=args,
        consistency_level="Strong",
    )


def _write_llama(front: Any) -> None:
    from llama_index.core.schema import TextNode

    front.add([TextNode(id_="a", text="alpha", embedding=vec(1))])


def _write_langchain(front: Any) -> None:
    front.add_texts(["alpha"], ids=["a"])


FRONTS = {
    "llama-compat": (_llama, _write_llama),
    "llama-own": (_llama_own, _write_llama),
    "langchain-compat": (_langchain, _write_langchain),
}


@pytest.fixture
def front(
    request: pytest.FixtureRequest, backend: Backend
) -> Iterator[tuple[Any, Callable[[Any], None]]]:
    build, write = FRONTS[request.param]
    made = build(backend, new_name("hd"))
    yield made, write
    try:
        run_sync(made.store.drop())
    finally:
        made.close()


@pytest.mark.parametrize("front", list(FRONTS), indirect=True)
async def test_front_client_and_aclient_are_pymilvus_on_the_same_milvus(
    front: tuple[Any, Callable[[Any], None]],
) -> None:
    store, write = front
    write(store)
    name = store.store.name
    client, aclient = store.client, store.aclient
    assert isinstance(client, MilvusClient) and isinstance(aclient, AsyncMilvusClient)
    assert client.has_collection(name) and name in client.list_collections()
    assert count(client, name) == 1
    res = await aclient.query(name, filter="", output_fields=["count(*)"])
    assert res[0]["count(*)"] == 1
    store.close()
    with pytest.raises(MilvusException, match="connection"):
        client.has_collection(name)


def test_a_client_handed_out_survives_the_front_replacing_its_core_store(
    backend: Backend,
) -> None:
    store = _langchain(backend, new_name("hd"))
    client = store.client  # before the first write, which settles the layout: the first
    # write's metadata keys become typed columns, in a new core store (langchain-milvus's way)
    old_core = store.store
    try:
        store.add_texts(["alpha"], metadatas=[{"n": 1}], ids=["a"])
        assert store.store is not old_core and store.client is client
        assert count(client, store.store.name) == 1
    finally:
        try:
            run_sync(store.store.drop())
        finally:
            store.close()


async def test_an_index_dropped_through_the_handle_is_rebuilt_by_a_fresh_ensure(
    make_async_store: Callable[..., AsyncMilvusStore],
) -> None:
    store = make_async_store(dim=DIM, consistency_level="Strong")
    await store.upsert([Record(id="a", text="alpha", vector=vec(1))])
    client = store.pymilvus_client()
    client.release_collection(store.name)
    client.drop_index(store.name, "dense")
    assert "dense" not in client.list_indexes(store.name)
    await store.ensure_collection()  # the cached schema: nothing read again
    assert "dense" not in client.list_indexes(store.name)
    await store.ensure_collection(fresh=True)  # read again: the missing index is built
    assert "dense" in client.list_indexes(store.name)
    assert [h.id for h in await store.search(vector=vec(1), mode="dense", k=1)] == ["a"]
