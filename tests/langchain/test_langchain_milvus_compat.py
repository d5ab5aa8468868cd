"""``Milvus``: langchain-milvus 0.4's vocabulary on milvus-rag, on every backend.

The behaviours langchain-milvus's own integration suite checks (written here from the
behaviour, not copied): construction by ``from_texts`` / the constructor, auto ids and given
ids, raw distances, relevance per metric, MMR, ``drop_old``, ``get_pks`` / ``delete`` /
``upsert(ids, documents)`` / ``search_by_metadata``, the three metadata layouts (typed
columns inferred from the first write, dynamic fields, one JSON field), partition keys,
``metadata_schema`` arrays, BM25 with a reranker, the async forms; and the shared vocabulary
table: each accepted keyword built, written and searched once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from milvus_rag import ConfigError, InvalidInputError
from milvus_rag.integrations.langchain import BM25BuiltInFunction, Milvus
from tests.backends import Backend
from tests.cases.langchain_vocabulary import ACCEPTED, VocabularyCase
from tests.conftest import new_name
from tests.unit.test_langchain_compat import materialize

pytestmark = pytest.mark.integration

WORDS = ["apple", "banana", "cherry", "damson", "elder"]


class LineEmbeddings(Embeddings):
    """Word i of WORDS sits at distance i from the query point on a line (dim 8)."""

    def _vec(self, text: str) -> list[float]:
        pos = WORDS.index(text.split()[0]) if text.split()[0] in WORDS else 0
        return [1.0] * 7 + [float(pos)]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return [1.0] * 7 + [-0.25]  # nearest to "apple", then "banana"...


class CompassEmbeddings(Embeddings):
    """Unit vectors: north / east / south / west (a query for "south" is 2 from north)."""

    POINTS = {"north": [0.0, 1.0], "east": [1.0, 0.0], "south": [0.0, -1.0], "west": [-1.0, 0.0]}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.POINTS[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.POINTS.get(text, [0.6, 0.8])


@pytest.fixture
def make_milvus(backend: Backend) -> Iterator[Callable[..., Any]]:
    """Build ``Milvus`` (or call ``Milvus.from_texts``) on this backend; dropped afterwards."""
    made: list[Milvus] = []

    def build(*, from_texts: list[str] | None = None, **kwargs: Any) -> Milvus:
        kwargs.setdefault("collection_name", new_name("lcm"))
        args: dict[str, Any] = {"uri": backend.uri}
        if backend.token:
            args["token"] = backend.token
        kwargs.setdefault("connection_args", args)
        kwargs.setdefault("consistency_level", "Strong")
        if from_texts is not None:
            emb = kwargs.pop("embedding_function", LineEmbeddings())
            store = Milvus.from_texts(from_texts, emb, **kwargs)
        else:
            kwargs.setdefault("embedding_function", LineEmbeddings())
            store = Milvus(**kwargs)
        made.append(store)
        return store

    yield build
    for store in made:
        try:
            store.drop()
        finally:
            store.close()


def texts_of(docs: list[Document]) -> list[str]:
    return [d.page_content for d in docs]


def test_from_texts_searches_nearest_first_with_auto_ids(make_milvus: Any) -> None:
    store = make_milvus(from_texts=WORDS[:3], metadatas=[{"n": i} for i in range(3)])
    assert store.auto_id  # no ids given: Milvus assigns them, as langchain-milvus does
    got = store.similarity_search("query", k=2)
    assert texts_of(got) == ["apple", "banana"]
    assert [d.metadata["n"] for d in got] == [0, 1]
    assert all(isinstance(d.metadata["pk"], int) and d.id == str(d.metadata["pk"]) for d in got)
    by_vec = store.similarity_search_by_vector(LineEmbeddings().embed_query("q"), k=1)
    assert texts_of(by_vec) == ["apple"]


def test_raw_l2_distances_ascend(make_milvus: Any) -> None:
    store = make_milvus(from_texts=WORDS[:3])
    scored = store.similarity_search_with_score("query", k=3)
    assert texts_of([d for d, _ in scored]) == WORDS[:3]
    distances = [s for _, s in scored]
    assert distances == pytest.approx([0.0625, 1.5625, 5.0625], rel=1e-4)  # (pos + 0.25)^2


def test_given_ids_are_kept_and_deleted(make_milvus: Any) -> None:
    store = make_milvus(from_texts=WORDS[:3], ids=["a", "b", "c"])
    assert not store.auto_id
    assert [d.metadata["pk"] for d in store.similarity_search("q", k=3)] == ["a", "b", "c"]
    assert store.delete(ids=["a", "b"]) is True
    assert texts_of(store.similarity_search("q", k=3)) == ["cherry"]
    with pytest.raises(InvalidInputError) as dup:
        store.add_texts(["apple", "banana"], ids=["x", "x"])
    assert isinstance(dup.value, AssertionError)  # what langchain-milvus raises for it
    assert texts_of(store.similarity_search("q", k=3)) == ["cherry"]  # nothing written


def test_add_embeddings_stores_the_given_vectors(make_milvus: Any) -> None:
    store = make_milvus(auto_id=True)
    vectors = [[1.0] * 7 + [float(9 - i)] for i in range(3)]  # reversed order
    ids = store.add_embeddings(texts=WORDS[:3], embeddings=vectors)
    assert len(ids) == 3 and all(isinstance(i, int) for i in ids)
    assert texts_of(store.similarity_search("q", k=1)) == ["cherry"]


def test_mmr_and_repeated_adds(make_milvus: Any) -> None:
    store = make_milvus(from_texts=WORDS[:3], metadatas=[{"n": i} for i in range(3)])
    assert texts_of(store.max_marginal_relevance_search("q", k=2, fetch_k=3))[0] == "apple"
    store.add_texts(WORDS[:3], [{"n": i} for i in range(3)])
    assert len(store.similarity_search("q", k=10)) == 6


def test_drop_old_false_keeps_and_true_drops(make_milvus: Any) -> None:
    first = make_milvus(from_texts=WORDS[:3])
    name = first.collection_name
    again = make_milvus(from_texts=WORDS[:3], collection_name=name, drop_old=False)
    assert len(again.similarity_search("q", k=10)) == 6
    fresh = make_milvus(from_texts=WORDS[:2], collection_name=name, drop_old=True)
    assert len(fresh.similarity_search("q", k=10)) == 2


def test_get_pks_delete_and_upsert_by_expression(make_milvus: Any) -> None:
    store = make_milvus(from_texts=WORDS[:3], metadatas=[{"id": i} for i in range(3)])
    pks = store.get_pks("id in [1, 2]")
    assert pks is not None and len(pks) == 2
    store.upsert(
        pks,
        [
            Document(page_content="damson", metadata={"id": 1}),
            Document(page_content="elder", metadata={"id": 3}),
        ],
    )
    got = store.search_by_metadata("id in [1, 3]", limit=10)
    assert sorted(d.metadata["id"] for d in got) == [1, 3]
    assert sorted(texts_of(got)) == ["damson", "elder"]
    assert store.delete(store.get_pks("id == 0")) is True
    assert sorted(d.metadata["id"] for d in store.search_by_metadata("id >= 0")) == [1, 3]


def test_search_by_metadata_limit_and_fields(make_milvus: Any) -> None:
    metas = [
        {"singer": "IU", "genre": "ballad"},
        {"singer": "BTS", "genre": "pop"},
        {"singer": "IU", "genre": "k-pop"},
    ]
    store = make_milvus(from_texts=WORDS[:3], metadatas=metas)
    assert len(store.search_by_metadata("singer == 'IU'", limit=10)) == 2
    assert len(store.search_by_metadata("singer == 'IU'", limit=1)) == 1
    assert store.search_by_metadata("genre == 'rock'") == []
    only = store.search_by_metadata("genre == 'pop'", fields=["genre"])
    assert [d.metadata for d in only] == [{"genre": "pop"}]


def test_typed_columns_drop_unknown_keys_as_langchain_milvus(
    make_milvus: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_milvus(from_texts=WORDS[:3], metadatas=[{"id": i} for i in range(3)])
    assert "id" in store.fields
    with caplog.at_level("WARNING", logger="milvus_rag"):
        store.add_texts(WORDS[:2], [{"id": 9, "id_new": 1}, {"id": 8, "id_new": 2}])
    assert [r.getMessage() for r in caplog.records if "id_new" in r.getMessage()] == [
        "milvus-rag: metadata ['id_new'] not stored: collection "
        f"{store.collection_name!r} has no column for it and no JSON or dynamic field (as "
        "langchain-milvus; enable_dynamic_field=True or metadata_field= keeps any key)"
    ]
    docs = store.similarity_search("q", k=10)
    assert len(docs) == 5
    assert all(set(d.metadata) == {"id", "pk"} for d in docs)
    assert sorted(d.metadata["id"] for d in docs) == [0, 1, 2, 8, 9]
    # a column's value missing still fails, as in langchain-milvus
    with pytest.raises(InvalidInputError, match="id"):
        store.add_texts(WORDS[:1], [{"id_new": 1}])
    # a second store on the existing collection knows its columns before its first write
    again = make_milvus(collection_name=store.collection_name, drop_old=False, auto_id=True)
    again.add_texts(WORDS[:1], [{"id": 7, "other": "x"}])
    assert sorted(d.metadata["id"] for d in again.similarity_search("q", k=10)) == [
        0,
        1,
        2,
        7,
        8,
        9,
    ]


def test_dynamic_fields_take_new_keys(make_milvus: Any) -> None:
    store = make_milvus(
        from_texts=WORDS[:3], metadatas=[{"id": i} for i in range(3)], enable_dynamic_field=True
    )
    store.add_texts(WORDS[:3], [{"id_new": i} for i in range(3)])
    assert len(store.similarity_search("q", k=10)) == 6
    assert set(store.fields) == {"pk", "text", "vector"}
    got = store.similarity_search("q", k=10, expr="id_new == 2")
    assert [d.metadata["id_new"] for d in got] == [2]


def test_json_metadata_field(make_milvus: Any) -> None:
    store = make_milvus(
        from_texts=WORDS[:3], metadatas=[{"id": i} for i in range(3)], metadata_field="metadata"
    )
    store.add_texts(WORDS[:3], [{"other": i} for i in range(3)])
    got = store.similarity_search("q", k=10)
    assert len(got) == 6
    assert "pk" not in got[0].metadata  # langchain-milvus: metadata is the JSON field's
    assert set(store.fields) == {"pk", "text", "vector", "metadata"}


def test_partition_key_field_covers_every_tenant(make_milvus: Any) -> None:
    store = make_milvus(
        from_texts=WORDS[:3],
        metadatas=[{"id": i, "namespace": f"ns{i}"} for i in range(3)],
        enable_dynamic_field=True,
        partition_key_field="namespace",
    )
    assert len(store.similarity_search("q", k=10)) == 3
    got = store.similarity_search("q", k=10, expr="namespace == 'ns2'")
    assert [d.metadata["namespace"] for d in got] == ["ns2"]
    assert set(store.fields) == {"pk", "text", "vector", "namespace"}


def test_metadata_schema_array_column(make_milvus: Any) -> None:
    metas = [{"id": i, "arr": [i, i + 1, i + 2]} for i in range(3)]
    schema = {"arr": {"dtype": "ARRAY", "element_type": "INT64", "max_capacity": 50}}
    store = make_milvus(from_texts=WORDS[:3], metadatas=metas, metadata_schema=schema)
    assert len(store.similarity_search("q", k=10, expr="arr[0] < 2")) == 2
    assert len(store.similarity_search("q", k=10, expr="ARRAY_CONTAINS(arr, 3)")) == 2


@pytest.mark.parametrize("metric", ["L2", "IP", "COSINE"])
def test_relevance_threshold_per_metric(make_milvus: Any, metric: str) -> None:
    store = make_milvus(
        embedding_function=CompassEmbeddings(),
        auto_id=True,
        index_params={"metric_type": metric, "index_type": "FLAT", "params": {}},
    )
    store.add_texts(["north", "east", "south", "west"])
    scored = store.similarity_search_with_score("south", k=4)
    assert scored[0][0].page_content == "south" and scored[-1][0].page_content == "north"
    for threshold, expected in ((0.5001, 1), (0.4999, 3)):  # east / west score exactly 0.5
        retriever = store.as_retriever(
            search_type="similarity_score_threshold",
            search_kwargs={"score_threshold": threshold, "k": 4},
        )
        got = retriever.invoke("south")
        assert len(got) == expected and got[0].page_content == "south"


def test_bm25_hybrid_with_rerankers(make_milvus: Any) -> None:
    class Weighted:  # a pymilvus RERANK Function's shape: params name the reranker
        def __init__(self, weights: list[float]) -> None:
            self.params = {"reranker": "weighted", "weights": weights}

    store = make_milvus(
        auto_id=True,
        builtin_function=[
            BM25BuiltInFunction(input_field_names="text00", output_field_names="sparse00")
        ],
        text_field="text00",
        vector_field=["dense00", "sparse00"],
        index_params=[
            {"metric_type": "L2", "index_type": "FLAT"},
            {"metric_type": "BM25", "index_type": "AUTOINDEX"},
        ],
    )
    store.add_texts(
        ["apple pie", "banana bread", "cherry tart elder"], [{"page": i} for i in range(3)]
    )
    dense_only = store.similarity_search("elder", k=1, reranker=Weighted([1.0, 0.0]))
    bm25_only = store.similarity_search("elder", k=1, reranker=Weighted([0.0, 1.0]))
    assert texts_of(dense_only) == ["apple pie"]  # the dense query point is nearest "apple"
    assert texts_of(bm25_only) == ["cherry tart elder"]  # the only text with the term
    assert bm25_only[0].metadata["page"] == 2
    assert texts_of(store.similarity_search("elder", k=1, ranker_type="rrf")) != []
    with pytest.raises(ConfigError, match="partition_key_field"):
        store.similarity_search("elder", k=1, partition_names=["p"])


async def test_async_forms(make_milvus: Any, backend: Backend) -> None:
    name = new_name("lca")
    args = {"uri": backend.uri, **({"token": backend.token} if backend.token else {})}
    store = await Milvus.afrom_texts(
        WORDS[:3],
        LineEmbeddings(),
        [{"id": i} for i in range(3)],
        collection_name=name,
        connection_args=args,
        consistency_level="Strong",
        drop_old=True,
    )
    try:
        assert texts_of(await store.asimilarity_search("q", k=1)) == ["apple"]
        pks = await store.aget_pks("id in [1, 2]")
        assert pks is not None and len(pks) == 2
        await store.aupsert(
            await store.aget_pks("id == 1"), [Document(page_content="elder", metadata={"id": 7})]
        )
        assert [d.metadata["id"] for d in await store.asearch_by_metadata("id == 7")] == [7]
        vec_ids = await store.aadd_embeddings(["damson"], [[1.0] * 7 + [-0.25]], [{"id": 8}])
        assert texts_of(await store.asimilarity_search("q", k=1)) == ["damson"]
        assert await store.adelete(vec_ids) is True
        assert await store.adelete(expr="id == 0") is True
        assert sorted(d.metadata["id"] for d in await store.asearch_by_metadata("id >= 0")) == [
            2,
            7,
        ]
        scored = await store.asimilarity_search_with_score("q", k=1)
        assert math.isfinite(scored[0][1])
    finally:
        await store.adrop()
        await store.aclose()


#: the cases with their own embedding functions (several fields, BM25 only) are built,
#: written and searched in test_langchain_milvus_fields.py
ONE_EMBEDDING = [c for c in ACCEPTED if "embedding_function" not in c.kwargs]


@pytest.mark.parametrize("case", ONE_EMBEDDING, ids=lambda c: c.name)
def test_each_accepted_keyword_builds_writes_and_searches(
    make_milvus: Any, backend: Backend, case: VocabularyCase
) -> None:
    kwargs = materialize(case.kwargs)
    kwargs.pop("reranker", None)
    if "connection_args" in case.kwargs:  # the test servers accept any credentials
        kwargs["connection_args"] = {"uri": backend.uri, **case.kwargs["connection_args"]}
    if (
        backend.is_local
        and kwargs.get("index_params", {})
        and "HNSW" in str(kwargs["index_params"])
    ):
        with pytest.raises(ConfigError, match="HNSW"):  # the Lite 2.5 engine builds no HNSW
            make_milvus(**kwargs)
        return
    kwargs["embedding_function"] = LineEmbeddings()
    store = make_milvus(**kwargs)
    meta = [{"namespace": f"ns{i}", "page": i} for i in range(3)]
    if "metadata_schema" in case.kwargs:
        meta = [{**m, "tags": [i]} for i, m in enumerate(meta)]
    ids = None if case.kwargs.get("auto_id") else ["a", "b", "c"]
    store.add_texts(["apple", "banana", "cherry"], meta, ids=ids)
    got = store.similarity_search("apple", k=1)
    assert texts_of(got) == ["apple"]
    assert got[0].metadata["page"] == 0
