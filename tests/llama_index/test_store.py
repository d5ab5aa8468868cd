"""MilvusVectorStore with LlamaIndex on every backend: VectorStoreIndex in every query mode,
ingestion pipelines, a reopened store in a new process, node round trip, CRUD, interop with
rows written the LangChain way, concurrency."""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.llms import MockLLM
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from milvus_rag import ConfigError, InvalidInputError, MilvusStore, Record
from milvus_rag.client.records import PRIVATE_KEY
from milvus_rag.client.sync import run_sync
from milvus_rag.integrations.llama_index import MilvusVectorStore
from tests.backends import Backend, run_python
from tests.conftest import new_name
from tests.llama_index.conftest import DIM, drop_and_close, open_store

pytestmark = pytest.mark.integration

M = VectorStoreQueryMode
TOPICS = {
    "zebra": "Zebras have black and white stripes and graze on the savanna grass.",
    "cat": "Cats purr, sleep all day and chase mice around the house.",
    "rocket": "Rockets burn fuel to lift satellites into orbit around the earth.",
    "bread": "Bread is baked from flour, water, yeast and salt in a hot oven.",
    "piano": "A piano has eighty eight keys and hammers that strike strings.",
    "river": "Rivers carry water from mountains down to the sea through valleys.",
}
QUESTION = "zebra stripes on the savanna"


def documents() -> list[Document]:
    return [
        Document(id_=k, text=v, metadata={"topic": k, "n": i})
        for i, (k, v) in enumerate(TOPICS.items())
    ]


# (retriever kwargs, query kwargs) per mode; every one must put the zebra document first
MODES: dict[str, dict[str, Any]] = {
    "default": {"vector_store_query_mode": M.DEFAULT},
    "sparse": {"vector_store_query_mode": M.SPARSE},
    "text_search": {"vector_store_query_mode": M.TEXT_SEARCH},
    "hybrid_rrf": {"vector_store_query_mode": M.HYBRID},
    "hybrid_alpha": {"vector_store_query_mode": M.HYBRID, "alpha": 0.7},
    "mmr": {"vector_store_query_mode": M.MMR, "vector_store_kwargs": {"mmr_threshold": 0.6}},
}


@pytest.fixture(scope="module")
def index(backend: Backend) -> Iterator[VectorStoreIndex]:
    from tests.fakes import FakeLlamaIndexEmbedding

    store = open_store(backend, dim=DIM)
    idx = VectorStoreIndex.from_documents(
        documents(),
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=FakeLlamaIndexEmbedding(dim=DIM),
    )
    yield idx
    drop_and_close(store)


@pytest.mark.parametrize("mode", list(MODES))
async def test_index_every_mode_sync_and_async(index: VectorStoreIndex, mode: str) -> None:
    kwargs = MODES[mode]
    retriever = index.as_retriever(similarity_top_k=3, **kwargs)
    for hits in (retriever.retrieve(QUESTION), await retriever.aretrieve(QUESTION)):
        assert 1 <= len(hits) <= 3, mode
        assert hits[0].node.ref_doc_id == "zebra" and hits[0].node.metadata["topic"] == "zebra"
        assert hits[0].node.text == TOPICS["zebra"]
        assert all(0.0 <= (h.score or 0.0) <= 1.0 for h in hits)
        scores = [h.score or 0.0 for h in hits]
        if mode in ("default", "sparse", "text_search"):  # MMR, fusion: other orders
            assert scores == sorted(scores, reverse=True)
        assert PRIVATE_KEY not in hits[0].node.metadata
    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=2, **kwargs)
    for response in (engine.query(QUESTION), await engine.aquery(QUESTION)):
        assert response.source_nodes and response.source_nodes[0].node.ref_doc_id == "zebra"
        assert "Zebras have black" in str(response)  # MockLLM echoes the prompt


def test_query_result_shape_and_top_k(index: VectorStoreIndex, emb: Any) -> None:
    store: MilvusVectorStore = index.vector_store  # type: ignore[assignment]
    vec = emb.get_query_embedding(QUESTION)
    dense = store.query(VectorStoreQuery(query_embedding=vec, similarity_top_k=4))
    assert len(dense.ids or []) == len(dense.nodes or []) == len(dense.similarities or []) == 4
    assert [n.node_id for n in dense.nodes or []] == dense.ids
    hybrid = store.query(
        VectorStoreQuery(
            query_embedding=vec,
            query_str=QUESTION,
            mode=M.HYBRID,
            similarity_top_k=5,
            hybrid_top_k=2,
            sparse_top_k=3,
        )
    )
    assert len(hybrid.ids or []) == 2
    sparse = store.query(
        VectorStoreQuery(query_str="water", mode=M.SPARSE, similarity_top_k=1, sparse_top_k=5)
    )
    assert {n.ref_doc_id for n in sparse.nodes or []} == {"bread", "river"}
    assert sparse.similarities and 0.0 < sparse.similarities[0] < 1.0  # BM25, mapped
    # MMR: mmr_threshold is lambda_mult; 1.0 is pure relevance, the dense order
    mmr = store.query(
        VectorStoreQuery(query_embedding=vec, similarity_top_k=4, mode=M.MMR, mmr_threshold=1.0)
    )
    # (ties among the non-matching documents may come in any order)
    assert (mmr.ids or [])[0] == (dense.ids or [])[0]
    assert mmr.similarities == pytest.approx(dense.similarities)
    assert all(n.embedding is None for n in mmr.nodes or [])
    # doc_ids / node_ids restrict
    only = store.query(
        VectorStoreQuery(query_embedding=vec, similarity_top_k=6, doc_ids=["cat", "piano"])
    )
    assert {n.ref_doc_id for n in only.nodes or []} == {"cat", "piano"}
    one = store.query(
        VectorStoreQuery(
            query_embedding=vec,
            similarity_top_k=6,
            node_ids=[(only.ids or [])[0]],
            doc_ids=["cat", "piano"],
        )
    )
    assert one.ids == (only.ids or [])[:1]
    with pytest.raises(ConfigError, match="does not support"):
        store.query(VectorStoreQuery(query_embedding=vec, mode=M.SVM))
    # TEXT_MATCH (issue 23, finding 9): LlamaIndex's substring match, no longer refused
    for op, value in (
        (FilterOperator.TEXT_MATCH, "zeb"),
        (FilterOperator.TEXT_MATCH_INSENSITIVE, "ZEB"),
    ):
        got = store.query(
            VectorStoreQuery(
                query_embedding=vec,
                similarity_top_k=10,
                filters=MetadataFilters(
                    filters=[MetadataFilter(key="topic", value=value, operator=op)]
                ),
            )
        )
        topics = [str(n.metadata.get("topic")) for n in got.nodes or []]
        assert topics == ["zebra"], topics


async def test_async_index_build_and_ingestion_pipeline(make_li_store, emb: Any) -> None:
    store = make_li_store()
    docs = [
        Document(
            id_=f"long{i}",
            text=" ".join(
                f"Sentence {j} of document {i} talks about subject{i} number {j}."
                for j in range(40)
            ),
            metadata={"doc": i},
        )
        for i in range(3)
    ]
    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=8), emb], vector_store=store
    )
    nodes = await pipeline.arun(documents=docs)
    assert len(nodes) > 6
    got = store.get_nodes()
    assert {n.node_id for n in got} == {n.node_id for n in nodes}
    assert {n.ref_doc_id for n in got} == {"long0", "long1", "long2"}
    assert all(isinstance(n.start_char_idx, int) for n in got)
    index = VectorStoreIndex.from_vector_store(store, embed_model=emb)
    hits = await index.as_retriever(similarity_top_k=3, vector_store_query_mode="hybrid").aretrieve(
        "subject2"
    )
    assert hits and all(h.node.ref_doc_id == "long2" for h in hits)
    # a sync pipeline run on a second store, and an index built with use_async
    store2 = make_li_store()
    IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=8), emb], vector_store=store2
    ).run(documents=docs[:1])
    assert {n.ref_doc_id for n in store2.get_nodes()} == {"long0"}
    store3 = make_li_store()
    VectorStoreIndex.from_documents(
        documents(),
        storage_context=StorageContext.from_defaults(vector_store=store3),
        embed_model=emb,
        use_async=True,
    )
    assert len(store3.get_nodes()) == len(TOPICS)


def test_reopen_in_new_process_without_dim(backend: Backend, tmp_path: Any) -> None:
    uri = str(tmp_path / "reopen.db") if backend.is_local else backend.uri
    name = new_name("li")
    code = textwrap.dedent(f"""
        import json
        from llama_index.core import Document, StorageContext, VectorStoreIndex
        from milvus_rag.integrations.llama_index import MilvusVectorStore
        from tests.fakes import FakeLlamaIndexEmbedding
        emb = FakeLlamaIndexEmbedding(dim={DIM})
        MODE = "{{mode}}"
        store = MilvusVectorStore({uri!r}, token={backend.token!r} or None,
                                  collection_name={name!r}, dim=None if MODE == "read" else {DIM})
        if MODE == "write":
            docs = [Document(id_=k, text=v, metadata={{"topic": k}}) for k, v in {TOPICS!r}.items()]
            VectorStoreIndex.from_documents(
                docs, storage_context=StorageContext.from_defaults(vector_store=store),
                embed_model=emb)
        else:
            index = VectorStoreIndex.from_vector_store(store, embed_model=emb)
            out = {{}}
            for mode in ("default", "sparse", "hybrid", "mmr"):
                hits = index.as_retriever(similarity_top_k=2,
                                          vector_store_query_mode=mode).retrieve({QUESTION!r})
                out[mode] = hits[0].node.ref_doc_id
            out["dim"] = store.dim
            print(json.dumps(out))
        store.close()
    """)
    w = run_python(code.replace("{mode}", "write"))
    assert w.returncode == 0, w.stderr[-3000:]
    r = run_python(code.replace("{mode}", "read"))
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out == {
        "default": "zebra",
        "sparse": "zebra",
        "hybrid": "zebra",
        "mmr": "zebra",
        "dim": DIM,
    }
    drop_and_close(MilvusVectorStore(uri, token=backend.token or None, collection_name=name))


def _rich_node(i: int, doc: str) -> TextNode:
    return TextNode(
        id_=f"{doc}-n{i}",
        text=f"chunk {i} of {doc} with words alpha{i}",
        embedding=[float(j == i % DIM) for j in range(DIM)],
        metadata={"doc": doc, "i": i, "tags": ["a", f"t{i}"], "nested": {"x": i}, "none": None},
        relationships={
            NodeRelationship.SOURCE: RelatedNodeInfo(node_id=doc, metadata={"src": True}),
            NodeRelationship.NEXT: RelatedNodeInfo(node_id=f"{doc}-n{i + 1}"),
            NodeRelationship.CHILD: [RelatedNodeInfo(node_id=f"{doc}-c{i}")],
        },
        start_char_idx=10 * i,
        end_char_idx=10 * i + 9,
        excluded_llm_metadata_keys=["nested"],
        metadata_separator="; ",
    )


async def test_node_round_trip_sync_and_async(make_li_store) -> None:
    store = make_li_store()
    nodes = [_rich_node(i, "docA") for i in range(3)] + [_rich_node(i, "docB") for i in range(2)]
    assert store.add(nodes[:3]) == [n.node_id for n in nodes[:3]]
    assert await store.async_add(nodes[3:]) == [n.node_id for n in nodes[3:]]
    for got in (
        store.get_nodes(node_ids=[n.node_id for n in nodes]),
        await store.aget_nodes(node_ids=[n.node_id for n in nodes]),
    ):
        assert [g.node_id for g in got] == [n.node_id for n in nodes]
        for g, n in zip(got, nodes):
            assert type(g) is TextNode
            assert (g.text, g.metadata, g.ref_doc_id) == (n.text, n.metadata, n.ref_doc_id)
            assert g.relationships == n.relationships
            assert (g.start_char_idx, g.end_char_idx) == (n.start_char_idx, n.end_char_idx)
            assert g.excluded_llm_metadata_keys == n.excluded_llm_metadata_keys
            assert g.metadata_separator == n.metadata_separator
            assert g.embedding == n.embedding and g == n  # equal to the node stored
            assert g.hash == n.hash


async def test_delete_get_clear(make_li_store) -> None:
    store = make_li_store()
    nodes = [_rich_node(i, d) for d in ("docA", "docB", "docC") for i in range(4)]
    store.add(nodes)
    store.delete("docB")
    assert {n.ref_doc_id for n in store.get_nodes()} == {"docA", "docC"}
    await store.adelete("docA")
    assert {n.node_id for n in store.get_nodes()} == {f"docC-n{i}" for i in range(4)}
    flt = MetadataFilters(filters=[MetadataFilter(key="i", value=2, operator=FilterOperator.GTE)])
    assert {n.node_id for n in await store.aget_nodes(filters=flt)} == {"docC-n2", "docC-n3"}
    # ids and filters together: the nodes matching both
    store.delete_nodes(node_ids=["docC-n0", "docC-n3"], filters=flt)
    assert {n.node_id for n in store.get_nodes()} == {"docC-n0", "docC-n1", "docC-n2"}
    await store.adelete_nodes(node_ids=["docC-n0"])
    store.delete_nodes(filters=MetadataFilters(filters=[MetadataFilter(key="i", value=1)]))
    assert [n.node_id for n in store.get_nodes()] == ["docC-n2"]
    store.delete_nodes()  # neither ids nor filters: nothing
    assert len(store.get_nodes()) == 1
    store.clear()
    assert store.get_nodes() == []  # recreated lazily, empty
    await store.async_add(nodes[:2])
    await store.aclear()
    assert await store.aget_nodes() == []


def test_clear_then_add_without_dim(backend: Backend, make_li_store) -> None:
    first = make_li_store()
    first.add([_rich_node(0, "d")])
    store = open_store(backend, collection_name=first.collection_name)  # no dim
    try:
        assert store.dim is None and len(store.get_nodes()) == 1
        store.clear()
        store.add([_rich_node(1, "d")])  # recreated with the dim it had
        assert [n.node_id for n in store.get_nodes()] == ["d-n1"]
        assert store.dim == DIM
    finally:
        store.close()


def test_interop_rows_written_the_langchain_way(make_li_store, backend: Backend) -> None:
    store = make_li_store()
    core = MilvusStore.from_async(store.store)
    lc_docs = [
        ("lc1", "Penguins live in Antarctica", {"doc_id": "book", "page": 1}),
        ("lc2", "Owls hunt at night", {"doc_id": "book", "tags": ["bird"]}),
        ("lc3", "Plain row", {"source": "x.txt", "doc_id": 7}),
    ]
    core.upsert(
        [
            Record(
                id=i,
                text=t,
                metadata=m,
                vector=[float(j == n) for j in range(DIM)],
                doc_id=m["doc_id"] if isinstance(m.get("doc_id"), str) else "",
            )
            for n, (i, t, m) in enumerate(lc_docs)
        ]
    )
    got = store.get_nodes(node_ids=[d[0] for d in lc_docs])
    assert [(type(n), n.node_id, n.text, n.metadata) for n in got] == [
        (TextNode, i, t, m) for i, t, m in lc_docs
    ]
    assert [n.ref_doc_id for n in got] == ["book", "book", None]
    hits = store.query(VectorStoreQuery(query_str="penguins antarctica", mode=M.SPARSE))
    assert hits.ids == ["lc1"]
    # the reverse: nodes written here read by the core (what the LangChain adapter reads)
    nodes = [_rich_node(i, "docZ") for i in range(2)]
    store.add(nodes)
    rows = core.get([n.node_id for n in nodes])
    assert [
        (r.id, r.text, {k: v for k, v in r.metadata.items() if k != PRIVATE_KEY}, r.doc_id)
        for r in rows
    ] == [(n.node_id, n.text, n.metadata, "docZ") for n in nodes]
    # delete(ref_doc_id) removes exactly that document's nodes, whoever wrote them
    store.delete("book")
    assert sorted(r.id for r in core.query(limit=100)) == ["docZ-n0", "docZ-n1", "lc3"]


async def test_100_concurrent_hybrid_aqueries(index: VectorStoreIndex, emb: Any) -> None:
    store: MilvusVectorStore = index.vector_store  # type: ignore[assignment]
    words = list(TOPICS)

    async def one(i: int) -> list[str]:
        q = f"{words[i % len(words)]} {TOPICS[words[i % len(words)]].split()[1]}"
        res = await store.aquery(
            VectorStoreQuery(
                query_embedding=await emb.aget_query_embedding(q),
                query_str=q,
                mode=M.HYBRID,
                similarity_top_k=2,
                alpha=None if i % 2 else 0.5,
            )
        )
        return [n.ref_doc_id or "" for n in res.nodes or []]

    results = await asyncio.gather(*(one(i) for i in range(100)))
    assert len(results) == 100 and all(r for r in results)
    assert all(r[0] == words[i % len(words)] for i, r in enumerate(results))


def test_constructor_is_lazy_and_validates(tmp_path: Any) -> None:
    store = MilvusVectorStore(
        str(tmp_path / "lazy.db"),
        collection_name="lazy",
        dim=DIM,
        enable_bm25=False,
        metric="IP",
        token="secret-token",
    )
    assert not (tmp_path / "lazy.db").exists()  # no I/O before the first operation
    assert store.stores_text and not store.flat_metadata and store.dim == DIM
    assert "secret-token" not in repr(store) and "secret-token" not in str(store.to_dict())
    assert store.store.config.metric == "IP" and not store.store.config.enable_bm25
    with pytest.raises(ConfigError):
        MilvusVectorStore(str(tmp_path / "x.db"), bogus_option=1)
    with pytest.raises(ConfigError):
        MilvusVectorStore(store=store.store, dim=4)
    wrapped = MilvusVectorStore(store=MilvusStore.from_async(store.store))
    assert wrapped.store is store.store


def test_sync_calls_on_one_store_from_two_asyncio_runs(make_li_store) -> None:
    store = make_li_store()

    async def add() -> list[str]:
        return await store.async_add([_rich_node(0, "a")])

    async def get() -> list[str]:
        return [n.node_id for n in await store.aget_nodes()]

    assert asyncio.run(add()) == ["a-n0"]
    assert asyncio.run(get()) == ["a-n0"]
    assert run_sync(store.aget_nodes(node_ids=["a-n0"]))[0].node_id == "a-n0"


@pytest.mark.parametrize("mode", [M.DEFAULT, M.SPARSE, M.TEXT_SEARCH, M.HYBRID, M.MMR])
async def test_empty_collection_every_mode(make_li_store, mode: VectorStoreQueryMode) -> None:
    store = make_li_store()
    query = VectorStoreQuery(query_embedding=[1.0] * DIM, query_str="hello", mode=mode)
    for res in (store.query(query), await store.aquery(query)):
        assert (res.ids, res.nodes, res.similarities) == ([], [], [])
    assert store.get_nodes() == [] and store.get_nodes(node_ids=["x"]) == []


def test_index_insert_delete_ref_doc_and_nodes(make_li_store, emb: Any) -> None:
    store = make_li_store()
    index = VectorStoreIndex.from_documents(
        documents()[:2],
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=emb,
    )
    index.insert(Document(id_="extra", text="Volcanoes erupt lava and ash.", metadata={"n": 9}))
    assert {n.ref_doc_id for n in store.get_nodes()} == {"zebra", "cat", "extra"}
    index.delete_ref_doc("cat")
    assert {n.ref_doc_id for n in store.get_nodes()} == {"zebra", "extra"}
    extra = [n.node_id for n in store.get_nodes() if n.ref_doc_id == "extra"]
    index.delete_nodes(extra)
    assert {n.ref_doc_id for n in store.get_nodes()} == {"zebra"}
    with pytest.raises(InvalidInputError, match="no embedding"):
        store.add([TextNode(id_="bare", text="no vector")])
