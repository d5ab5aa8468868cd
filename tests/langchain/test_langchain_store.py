"""MilvusVectorStore and the LangChain retrievers beyond the standard suite: the pure
Document <-> Record mapping, filters (the shared case table), every retrieval mode's
relevance scores, event-loop behaviour, interop with the core store, validation."""

from __future__ import annotations

import asyncio
import math
import textwrap
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import RunnableLambda

from milvus_rag import (
    ConfigError,
    FilterError,
    InvalidInputError,
    MilvusStore,
    Record,
)
from milvus_rag.client.records import PRIVATE_KEY
from milvus_rag.integrations.langchain import (
    MilvusVectorStore,
    MilvusVectorStoreRetriever,
    doc_id_of,
    document_to_record,
    record_to_document,
)
from milvus_rag.integrations.langchain.documents import resolve_ids
from milvus_rag.retrievers.langchain import FanOutRetriever, HybridRetriever
from tests.backends import Backend, run_python
from tests.cases.filters import FILTER_CASES, FILTER_ROWS, FilterCase
from tests.conftest import drop_and_close, new_name, store_factory
from tests.fakes import FakeLangChainEmbeddings

DIM = 32

CORPUS: list[tuple[str, str, dict[str, Any]]] = [
    ("c01", "The cat sleeps on the warm windowsill all afternoon.", {"topic": "pets", "n": 1}),
    ("c02", "A dog fetches the red ball in the park.", {"topic": "pets", "n": 2}),
    (
        "c03",
        "Milvus stores vectors and answers similarity search queries.",
        {"topic": "db", "n": 3},
    ),
    (
        "c04",
        "BM25 ranks documents by term frequency and inverse document frequency.",
        {"topic": "ir", "n": 4},
    ),
    (
        "c05",
        "Reciprocal rank fusion merges several ranked lists into one.",
        {"topic": "ir", "n": 5},
    ),
    ("c06", "Bread dough rises when yeast ferments the sugar.", {"topic": "food", "n": 6}),
    ("c07", "The volcano erupted and lava flowed down the mountain.", {"topic": "geo", "n": 7}),
    ("c08", "Tides are caused by the gravity of the moon.", {"topic": "geo", "n": 8}),
    (
        "c09",
        "Espresso is coffee brewed by forcing hot water through ground beans.",
        {"topic": "food", "n": 9},
    ),
    (
        "c10",
        "A vector database indexes embeddings for fast nearest neighbour search.",
        {"topic": "db", "n": 10},
    ),
]
MODES: list[dict[str, Any]] = [
    {"retrieval_mode": "dense"},
    {"retrieval_mode": "sparse"},
    {"retrieval_mode": "hybrid"},
    {"retrieval_mode": "hybrid", "alpha": 0.5},
]


def _emb() -> Any:
    return FakeLangChainEmbeddings(dim=DIM)


def _docs() -> list[Document]:
    return [Document(id=i, page_content=t, metadata=m) for i, t, m in CORPUS]


@pytest.fixture
def make_lc(backend: Backend) -> Iterator[Callable[..., MilvusVectorStore]]:
    """Factory of LangChain stores with fresh collections, dropped afterwards."""

    def build(**kwargs: Any) -> MilvusVectorStore:
        kwargs.setdefault("embedding", _emb())
        return MilvusVectorStore(uri=backend.uri, token=backend.token or None, **kwargs)

    with store_factory(build, drop_and_close, prefix="lc") as factory:
        yield factory


@pytest.fixture(scope="module")
def corpus_store(backend: Backend) -> Iterator[MilvusVectorStore]:
    """A read-only store holding CORPUS, shared by the tests of a module and backend."""
    store = MilvusVectorStore(
        embedding=_emb(),
        uri=backend.uri,
        token=backend.token or None,
        collection_name=new_name("lccorpus"),
    )
    store.add_documents(_docs())
    yield store
    store.drop()
    store.close()


# --- pure ---------------------------------------------------------------------------------


def test_document_record_mapping_is_pure() -> None:
    meta = {"doc_id": "d1", "nested": {"a": [1, 2]}, "x": None}
    doc = Document(page_content="hello", metadata=meta)
    rec = document_to_record(doc, "id1")
    assert (rec.id, rec.text, rec.doc_id, rec.vector) == ("id1", "hello", "d1", None)
    assert rec.metadata == meta and rec.metadata is not meta  # unchanged, copied
    assert doc_id_of({"doc_id": 7}) == "" and doc_id_of(None) == "" and doc_id_of({}) == ""
    private = {"source": "s", PRIVATE_KEY: {"node_type": "TextNode"}}
    stored = Record(id="a", text="t", metadata=private)
    back = record_to_document(stored)
    assert back == Document(id="a", page_content="t", metadata={"source": "s"})
    assert PRIVATE_KEY in stored.metadata  # reading never deletes the private data
    with pytest.raises(InvalidInputError):
        document_to_record("not a doc", "a")  # type: ignore[arg-type]


def test_resolve_ids() -> None:
    docs = [Document(page_content="a", id="given"), Document(page_content="b")]
    ids = resolve_ids(docs, None)
    assert ids[0] == "given" and len(ids[1]) == 36 and ids[1].count("-") == 4
    mixed = resolve_ids(docs, ["x", None])
    assert mixed[0] == "x" and len(mixed[1]) == 36 and mixed[1] != ids[1]
    with pytest.raises(InvalidInputError, match="2 documents"):
        resolve_ids(docs, ["only-one"])
    with pytest.raises(InvalidInputError):
        resolve_ids(docs, [1, 2])  # type: ignore[list-item]


def test_relevance_score_fn_is_the_identity_in_every_mode() -> None:
    """similarity_search_with_score already returns Hit.relevance, in [0, 1], every mode."""
    emb = _emb()
    for kwargs in ({"retrieval_mode": "dense"}, {"metric": "L2"}, {}, {"alpha": 0.3}):
        store = MilvusVectorStore(emb, uri="http://127.0.0.1:9", **kwargs)
        fn = store._select_relevance_score_fn()
        assert (fn(0.42), fn(1.5), fn(-0.1)) == (0.42, 1.0, 0.0), kwargs


async def test_constructor_does_no_io_and_validates() -> None:
    # inside a running loop, with nothing listening: construction alone must not connect
    store = MilvusVectorStore(_emb(), uri="http://127.0.0.1:9", collection_name="nothing_here")
    assert store.collection_name == "nothing_here" and store.store.config.dim is None
    with pytest.raises(ConfigError):
        MilvusVectorStore(_emb(), uri="http://127.0.0.1:9", retrieval_mode="fuzzy")
    with pytest.raises(ConfigError):
        MilvusVectorStore(_emb(), uri="http://127.0.0.1:9", alpha=1.5)
    with pytest.raises(ConfigError):
        MilvusVectorStore(object(), uri="http://127.0.0.1:9")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        MilvusVectorStore(
            _emb(), uri="http://127.0.0.1:9", retrieval_mode="hybrid", enable_bm25=False
        )
    with pytest.raises(ConfigError):
        MilvusVectorStore(_emb(), uri="http://127.0.0.1:9", bogus_option=1)


def test_import_guard_names_the_extra() -> None:
    code = textwrap.dedent("""
        import sys
        sys.modules["langchain_core"] = None
        try:
            import milvus_rag.integrations.langchain
        except ImportError as e:
            print("MSG", e)
    """)
    out = run_python(code)
    assert 'pip install "milvus-rag[langchain]"' in out.stdout, out.stderr[-2000:]


# --- the store on a backend -----------------------------------------------------------------


@pytest.mark.integration
def test_any_metadata_keys_in_any_batch(
    make_lc: Callable[..., MilvusVectorStore], backend: Backend
) -> None:
    store = make_lc()
    ids1 = store.add_texts(["first text about cats"], [{"a": 1}])
    ids2 = store.add_texts(
        ["second text about dogs", "third text about birds"],
        [{"b": {"c": [1, 2], "d": "deep"}, "doc_id": "src9"}, {"z": [True, None], "a": "str"}],
        ids=["two", "three"],
    )
    assert ids2 == ["two", "three"] and len(ids1) == 1
    got = store.get_by_ids([ids1[0], "two", "three", "missing"])
    assert [d.metadata for d in got] == [
        {"a": 1},
        {"b": {"c": [1, 2], "d": "deep"}, "doc_id": "src9"},
        {"z": [True, None], "a": "str"},
    ]
    assert [d.id for d in store.similarity_search("dogs", k=3, filter={"b.d": "deep"})] == ["two"]
    assert {d.id for d in store.similarity_search("text", k=3, filter={"doc_id": "src9"})} == {
        "two"
    }
    assert store.sync_store.get(["two"])[0].doc_id == "src9"
    # re-adding an id updates it, never duplicates
    store.add_documents([Document(id="two", page_content="changed", metadata={"new": True})])
    assert store.sync_store.count() == 3
    assert store.get_by_ids(["two"]) == [
        Document(id="two", page_content="changed", metadata={"new": True})
    ]


@pytest.mark.integration
async def test_delete_by_ids_filter_and_expr(make_lc: Callable[..., MilvusVectorStore]) -> None:
    store = make_lc()
    await store.aadd_documents(_docs())
    assert await store.adelete(["c01", "missing"]) is True
    assert await store.adelete(filter={"topic": "food"}) is True
    assert await store.adelete(expr='metadata["topic"] == "geo"') is True
    store.delete(filter='metadata["n"] == 10')  # a raw expression string as filter=
    left = {d.id for d in await store.aget_by_ids([i for i, _, _ in CORPUS])}
    assert left == {"c02", "c03", "c04", "c05"}
    with pytest.raises(ConfigError):
        await store.adelete()
    with pytest.raises(ConfigError):
        await store.adelete(filter={"a": 1}, expr="id == 'x'")


@pytest.mark.integration
def test_two_asyncio_runs_and_sync_calls_inside_a_loop(
    make_lc: Callable[..., MilvusVectorStore],
) -> None:
    store = make_lc()
    asyncio.run(store.aadd_documents(_docs()))
    first = asyncio.run(store.asimilarity_search("vector database search", k=2))
    assert {d.id for d in first} & {"c03", "c10"}

    async def inside() -> list[Document]:
        # a sync call from a running loop (Jupyter) works: the work runs on another thread
        docs = store.similarity_search("vector database search", k=2)
        assert docs == await store.asimilarity_search("vector database search", k=2)
        return docs

    assert asyncio.run(inside()) == first


@pytest.mark.integration
async def test_200_concurrent_searches(corpus_store: MilvusVectorStore) -> None:
    queries = [f"{CORPUS[i % len(CORPUS)][1]} {i}" for i in range(200)]
    results = await asyncio.gather(*(corpus_store.asimilarity_search(q, k=3) for q in queries))
    assert len(results) == 200 and all(len(r) == 3 for r in results)
    for i, docs in enumerate(results[:20]):
        assert docs[0].id == CORPUS[i % len(CORPUS)][0]


@pytest.mark.integration
@pytest.mark.parametrize("mode", MODES, ids=lambda m: "-".join(str(v) for v in m.values()))
async def test_relevance_scores_and_threshold_in_every_mode(
    corpus_store: MilvusVectorStore, mode: dict[str, Any]
) -> None:
    query = "vector search database for similarity queries"
    scored = corpus_store.similarity_search_with_relevance_scores(query, k=len(CORPUS), **mode)
    ascored = await corpus_store.asimilarity_search_with_relevance_scores(
        query, k=len(CORPUS), **mode
    )
    assert scored and [d.id for d, _ in scored] == [d.id for d, _ in ascored]
    rel = [s for _, s in scored]
    assert all(0.0 <= s <= 1.0 and math.isfinite(s) for s in rel), rel
    if mode["retrieval_mode"] != "hybrid":  # fused ranks are not relevance order
        assert rel == sorted(rel, reverse=True)
    # similarity_search_with_score (issue 23, finding 5): the same order, and the score that
    # ranks it (the fused score in hybrid mode), which never increases down the list
    with_score = corpus_store.similarity_search_with_score(query, k=len(CORPUS), **mode)
    assert [d.id for d, _ in with_score] == [d.id for d, _ in scored]
    ranking = [s for _, s in with_score]
    assert ranking == sorted(ranking, reverse=True), ranking
    if mode["retrieval_mode"] == "dense":  # the cosine, which the relevance clips to [0, 1]
        assert [min(1.0, max(0.0, s)) for s in ranking] == pytest.approx(rel, abs=1e-6)
    assert scored[0][0].id in {"c03", "c10"}
    threshold = float(sorted(rel)[len(rel) // 2])
    expected = [d.id for d, s in scored if s >= threshold]
    retriever = corpus_store.as_retriever(
        search_type="similarity_score_threshold",
        search_kwargs={"score_threshold": threshold, "k": len(CORPUS), **mode},
    )
    assert [d.id for d in retriever.invoke(query)] == expected
    assert [d.id for d in await retriever.ainvoke(query)] == expected
    above = corpus_store.as_retriever(
        search_type="similarity_score_threshold",
        search_kwargs={"score_threshold": min(1.0, max(rel)) + 1e-6, "k": len(CORPUS), **mode},
    )
    assert above.invoke(query) == [] and await above.ainvoke(query) == []


@pytest.mark.integration
async def test_search_variants(corpus_store: MilvusVectorStore) -> None:
    q = "gravity of the moon and tides"
    vec = await corpus_store.embeddings.aembed_query(q)
    assert corpus_store.similarity_search_by_vector(vec, k=1)[0].id == "c08"
    assert (await corpus_store.asimilarity_search_by_vector(vec, k=1, filter={"topic": "geo"}))[
        0
    ].id == "c08"
    scored = corpus_store.similarity_search_with_score(q, k=3, retrieval_mode="dense")
    assert scored[0][0].id == "c08" and 0.0 <= scored[0][1] <= 1.0
    mmr = corpus_store.max_marginal_relevance_search(q, k=3, fetch_k=10, lambda_mult=0.3)
    ammr = await corpus_store.amax_marginal_relevance_search(q, k=3, fetch_k=10, lambda_mult=0.3)
    assert [d.id for d in mmr] == [d.id for d in ammr] and mmr[0].id == "c08"
    assert len({d.id for d in mmr}) == 3
    filtered = corpus_store.max_marginal_relevance_search(q, k=3, filter={"topic": "pets"})
    assert {d.id for d in filtered} <= {"c01", "c02"}
    assert corpus_store.similarity_search(q, k=1, alpha=None, ranker=None)[0].id == "c08"
    sparse = corpus_store.similarity_search("yeast dough", k=2, retrieval_mode="sparse")
    assert sparse[0].id == "c06"
    raw = corpus_store.similarity_search(q, k=10, expr='metadata["n"] >= 8')
    assert {d.id for d in raw} == {"c08", "c09", "c10"}
    for search_type, kwargs in [("similarity", {}), ("mmr", {"fetch_k": 10}), ("hybrid", {})]:
        retriever = corpus_store.as_retriever(
            search_type=search_type, search_kwargs={"k": 2, **kwargs}
        )
        assert isinstance(retriever, MilvusVectorStoreRetriever)
        assert retriever.invoke(q)[0].id == "c08"
        assert (await retriever.ainvoke(q))[0].id == "c08"
    with pytest.raises(ValueError):
        corpus_store.as_retriever(search_type="nope")


@pytest.mark.integration
def test_validation_errors(corpus_store: MilvusVectorStore) -> None:
    with pytest.raises(ConfigError, match="unexpected"):
        corpus_store.similarity_search("q", k=2, flter={"a": 1})
    with pytest.raises(ConfigError):
        corpus_store.similarity_search("q", k=0)
    with pytest.raises(ConfigError):
        corpus_store.similarity_search("q", filter={"a": 1}, expr="id == 'x'")
    encoder: Any = getattr(corpus_store.embeddings, "encoder")  # noqa: B009
    calls = encoder.calls
    with pytest.raises(FilterError):  # rejected before the query is embedded
        corpus_store.similarity_search("q", filter={"a": {"$regex": "x"}})
    assert encoder.calls == calls
    with pytest.raises(InvalidInputError, match="metadatas"):
        corpus_store.add_texts(["a", "b"], [{}])
    with pytest.raises(InvalidInputError):
        corpus_store.add_texts("one string")
    with pytest.raises(InvalidInputError):
        corpus_store.add_texts([""])  # empty text, rejected before anything is written


@pytest.mark.integration
async def test_from_texts_and_documents(backend: Backend) -> None:
    kwargs = {"uri": backend.uri, "token": backend.token or None}
    a = MilvusVectorStore.from_texts(
        ["alpha text", "beta text"],
        _emb(),
        [{"k": 1}, {"k": 2}],
        ids=["a", "b"],
        collection_name=new_name("lcft"),
        **kwargs,
    )
    b = await MilvusVectorStore.afrom_documents(
        _docs()[:3], _emb(), collection_name=new_name("lcfd"), retrieval_mode="dense", **kwargs
    )
    try:
        assert [d.id for d in a.get_by_ids(["b", "a"])] == ["b", "a"]
        assert b.retrieval_mode.value == "dense"
        assert [d.id for d in await b.aget_by_ids(["c01", "c02", "c03"])] == ["c01", "c02", "c03"]
    finally:
        for s in (a, b):
            await s.adrop()
            await s.aclose()


@pytest.mark.integration
def test_interop_with_the_core_store(
    make_lc: Callable[..., MilvusVectorStore], backend: Backend
) -> None:
    store = make_lc()
    docs = [
        Document(id="i1", page_content="interop one", metadata={"doc_id": "D", "x": [1]}),
        Document(id="i2", page_content="interop two", metadata={"y": {"z": "w"}}),
    ]
    store.add_documents(docs)
    core = MilvusStore(
        backend.uri, token=backend.token or None, collection_name=store.collection_name
    )
    try:
        got = core.get(["i1", "i2"])
        assert [(r.id, r.text, r.metadata, r.doc_id) for r in got] == [
            ("i1", "interop one", {"doc_id": "D", "x": [1]}, "D"),
            ("i2", "interop two", {"y": {"z": "w"}}, ""),
        ]
        # the reverse: a row with framework-private data, written by the core
        vec = store.embeddings.embed_query("private row")
        core.upsert(
            [
                Record(
                    id="p",
                    text="private row",
                    vector=vec,
                    metadata={"s": 1, PRIVATE_KEY: {"cls": "TextNode"}},
                    doc_id="D",
                )
            ]
        )
        assert store.get_by_ids(["p"]) == [
            Document(id="p", page_content="private row", metadata={"s": 1})
        ]
        assert store.similarity_search("private row", k=1)[0].metadata == {"s": 1}
        assert core.get(["p"])[0].metadata[PRIVATE_KEY] == {"cls": "TextNode"}
    finally:
        core.close()


# --- the shared filter table ------------------------------------------------------------


@pytest.fixture(scope="module")
def filter_lc(backend: Backend) -> Iterator[MilvusVectorStore]:
    store = MilvusVectorStore(
        embedding=_emb(),
        uri=backend.uri,
        token=backend.token or None,
        collection_name=new_name("lcfilters"),
        retrieval_mode="dense",
    )
    docs = []
    for row in FILTER_ROWS:
        assert "doc_id" not in row["metadata"]
        # the mapping takes the core's doc_id field from metadata["doc_id"]
        docs.append(
            Document(
                id=row["id"],
                page_content=f"row {row['id']}",
                metadata={**row["metadata"], "doc_id": row["doc_id"]},
            )
        )
    store.add_documents(docs)
    yield store
    store.drop()
    store.close()


@pytest.mark.integration
@pytest.mark.parametrize("case", FILTER_CASES, ids=lambda c: c.name)
def test_filter_case(filter_lc: MilvusVectorStore, backend: Backend, case: FilterCase) -> None:
    got = filter_lc.similarity_search("row", k=len(FILTER_ROWS), filter=case.filter)
    assert {d.id for d in got} == set(case.expected_ids)


# --- retrievers -----------------------------------------------------------------------


@pytest.mark.integration
async def test_hybrid_retriever(corpus_store: MilvusVectorStore) -> None:
    q = "how does BM25 rank documents"
    for retriever in (
        HybridRetriever(vectorstore=corpus_store, k=3),
        HybridRetriever(vectorstore=corpus_store, k=3, alpha=0.4),
    ):
        docs = retriever.invoke(q)
        assert len(docs) == 3 and docs[0].id == "c04"
        assert [d.id for d in await retriever.ainvoke(q)] == [d.id for d in docs]
    flt = HybridRetriever(vectorstore=corpus_store, k=5, filter={"topic": "pets"})
    assert {d.id for d in await flt.ainvoke(q)} <= {"c01", "c02"}
    # pydantic wraps the ConfigError in a ValidationError (both are ValueErrors)
    with pytest.raises(ValueError, match="k must be"):
        HybridRetriever(vectorstore=corpus_store, k=0)
    with pytest.raises(ValueError, match="alpha must be"):
        HybridRetriever(vectorstore=corpus_store, alpha=2.0)


@pytest.mark.integration
async def test_fanout_retriever(corpus_store: MilvusVectorStore) -> None:
    async def agen(q: str) -> list[str]:
        return ["yeast bread dough", "lava from a volcano"]

    generators: list[Any] = [
        lambda q: ["yeast bread dough", "lava from a volcano"],
        agen,
        RunnableLambda(lambda q: ["yeast bread dough", "lava from a volcano"]),
        # a chat model answering one rewrite per line
        FakeListChatModel(responses=["yeast bread dough\nlava from a volcano"] * 2),
    ]
    for gen in generators:
        # fetch_k=1: each query contributes its best hit (RRF rewards documents found by
        # several queries, so with deeper lists a mediocre all-rounder can win here)
        retriever = FanOutRetriever(vectorstore=corpus_store, k=3, fetch_k=1, query_generator=gen)
        docs = retriever.invoke("moon tides gravity")
        ids = [d.id for d in docs]
        assert set(ids) == {"c06", "c07", "c08"}, ids
        assert [d.id for d in await retriever.ainvoke("moon tides gravity")] == ids
    given = FanOutRetriever(
        vectorstore=corpus_store, k=3, include_original=False, retrieval_mode="sparse"
    )
    ids = [d.id for d in given.invoke("ignored", queries=["espresso coffee", "dog ball"])]
    assert set(ids) >= {"c09", "c02"}
    fused = await corpus_store.afanout_search(["espresso coffee", "espresso beans"], k=2)
    assert fused[0][0].id == "c09" and all(0.0 <= s <= 1.0 for _, s in fused)
    with pytest.raises(InvalidInputError):
        FanOutRetriever(vectorstore=corpus_store, include_original=False).invoke("q")


@pytest.fixture
async def async_lc(backend: Backend) -> AsyncIterator[MilvusVectorStore]:
    store = MilvusVectorStore(
        _emb(), uri=backend.uri, token=backend.token or None, collection_name=new_name("lcasync")
    )
    yield store
    await store.adrop()
    await store.aclose()


@pytest.mark.integration
async def test_empty_store_every_mode(async_lc: MilvusVectorStore) -> None:
    for mode in MODES:
        assert await async_lc.asimilarity_search("anything", k=2, **mode) == []
    assert await async_lc.aget_by_ids(["x"]) == []
    assert await async_lc.afanout_search(["a b", "c d"], k=2) == []
