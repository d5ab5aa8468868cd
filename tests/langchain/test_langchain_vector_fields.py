"""Several vector fields in milvus-rag's own LangChain store: ``vector_fields=[...]`` with
one embedder per client-side field (``embedding=`` for the primary dense one,
``embeddings={name: ...}`` for the others), searched over ``fields=[...]`` with ``weights=``;
on both backends.

The two dense fields see different words of the same text (the first word, the last), so
each field's search has its own answer; the client-side sparse field and BM25 match words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from milvus_rag import ConfigError, MilvusStore
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.integrations.langchain import MilvusVectorStore
from milvus_rag.retrievers.langchain import HybridRetriever
from tests.backends import Backend
from tests.conftest import drop_and_close, store_factory
from tests.fakes import HashSparseEmbeddings

pytestmark = pytest.mark.integration

WORDS = ["apple", "banana", "cherry", "damson", "elder"]
TEXTS = ["apple banana", "banana cherry", "cherry damson", "damson elder", "elder apple"]


class WordEmbeddings(Embeddings):
    """A text as the point of one of its words (``which``: 0 the first, -1 the last) on a
    graded scale: the nearer two words are in WORDS, the more similar (dim 5)."""

    def __init__(self, which: int) -> None:
        self.which = which

    def _vec(self, text: str) -> list[float]:
        word = text.split()[self.which]
        pos = WORDS.index(word) if word in WORDS else 0
        return [1.0 / (1.0 + 3.0 * abs(i - pos)) for i in range(len(WORDS))]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vec(text)


FIELDS = [
    VectorField.dense("first"),
    VectorField.dense("last"),
    VectorField.sparse("splade"),
    VectorField.sparse("sparse", bm25=True),
]


@pytest.fixture
def make_lc(backend: Backend) -> Iterator[Callable[..., MilvusVectorStore]]:
    def build(**kwargs: Any) -> MilvusVectorStore:
        kwargs.setdefault("embedding", WordEmbeddings(0))
        return MilvusVectorStore(uri=backend.uri, token=backend.token or None, **kwargs)

    with store_factory(build, drop_and_close, prefix="lcvf") as factory:
        yield factory


def four_fields(make_lc: Callable[..., MilvusVectorStore]) -> MilvusVectorStore:
    store = make_lc(
        vector_fields=FIELDS,
        embeddings={"last": WordEmbeddings(-1), "splade": HashSparseEmbeddings()},
    )
    docs = [Document(id=f"d{i}", page_content=t, metadata={"n": i}) for i, t in enumerate(TEXTS)]
    store.add_documents(docs)
    return store


def texts(docs: list[Document]) -> list[str]:
    return [d.page_content for d in docs]


def test_each_field_searched_alone_answers_by_its_own_embedder(
    make_lc: Callable[..., MilvusVectorStore],
) -> None:
    store = four_fields(make_lc)
    query = "apple damson"  # first word apple, last word damson
    assert texts(store.similarity_search(query, k=1, fields=["first"])) == ["apple banana"]
    assert texts(store.similarity_search(query, k=1, fields=["last"])) == ["cherry damson"]
    # the sparse fields match words: "cherry damson" shares both of "cherry damson"'s
    assert texts(store.similarity_search("cherry damson", k=1, fields=["splade"])) == [
        "cherry damson"
    ]
    bm25 = texts(store.similarity_search("elder", k=2, fields=["sparse"]))
    assert set(bm25) == {"damson elder", "elder apple"}  # the two with the word, tied


def test_weights_pick_the_field_that_counts(make_lc: Callable[..., MilvusVectorStore]) -> None:
    store = four_fields(make_lc)
    query = "apple damson"
    two = ["first", "last"]
    assert texts(store.similarity_search(query, k=1, fields=two, weights=[1.0, 0.0])) == [
        "apple banana"
    ]
    assert texts(
        store.similarity_search(query, k=1, fields=two, weights={"first": 0, "last": 1})
    ) == ["cherry damson"]


def test_default_searches_every_field_and_filters_apply(
    make_lc: Callable[..., MilvusVectorStore],
) -> None:
    store = four_fields(make_lc)
    every = [f.name for f in FIELDS]
    query = "apple damson"
    default = store.similarity_search_with_score(query, k=5)
    named = store.similarity_search_with_score(query, k=5, fields=every)
    assert [d.id for d, _ in default] == [d.id for d, _ in named]
    assert [s for _, s in default] == pytest.approx([s for _, s in named], rel=1e-5)
    assert len(default) == 5
    retrieved = HybridRetriever(vectorstore=store, k=5).invoke(query)  # hybrid: every field
    assert [d.id for d in retrieved] == [d.id for d, _ in default]
    picked = store.as_retriever(search_kwargs={"k": 1, "fields": ["last"]}).invoke(query)
    assert texts(picked) == ["cherry damson"]
    got = store.similarity_search(query, k=5, fields=["first"], filter={"n": {"$gte": 1}})
    assert "apple banana" not in texts(got) and len(got) == 4
    scored = store.similarity_search_with_relevance_scores(query, k=5, fields=every)
    assert all(0.0 <= s <= 1.0 for _, s in scored)
    # one client-side sparse leg: relevance is the primary field's similarity, computed
    (doc, rel), *_ = store.similarity_search_with_relevance_scores(query, k=1, fields=["splade"])
    first = WordEmbeddings(0)
    q, v = np.array(first.embed_query(query)), np.array(first.embed_query(doc.page_content))
    assert rel == pytest.approx(float(q @ v / np.linalg.norm(q) / np.linalg.norm(v)), rel=1e-4)


def test_fanout_embeds_every_field_for_every_query(
    make_lc: Callable[..., MilvusVectorStore],
) -> None:
    store = four_fields(make_lc)
    got = store.fanout_search(["apple damson", "cherry"], k=2, fields=["last", "splade"])
    assert len(got) == 2 and all(0.0 <= s <= 1.0 for _, s in got)
    # each query's legs carry that query's embeddings: the sparse field alone finds "cherry"
    alone = store.fanout_search(["zzz", "cherry"], k=1, fields=["splade"])
    assert texts([d for d, _ in alone])[0] in {"banana cherry", "cherry damson"}


async def test_async_writes_and_searches(make_lc: Callable[..., MilvusVectorStore]) -> None:
    store = make_lc(
        vector_fields=[VectorField.dense("first"), VectorField.sparse("splade")],
        embeddings={"splade": HashSparseEmbeddings()},
    )
    await store.aadd_texts(TEXTS, [{"n": i} for i in range(len(TEXTS))], ids=list("abcde"))
    got = await store.asimilarity_search("banana cherry", k=1, fields=["splade"])
    assert texts(got) == ["banana cherry"]
    fused = await store.asimilarity_search("banana cherry", k=2)
    assert texts(fused)[0] == "banana cherry"


def test_the_vectors_are_stored_per_field(make_lc: Callable[..., MilvusVectorStore]) -> None:
    store = four_fields(make_lc)
    core = MilvusStore.from_async(store.store)
    (row,) = core.get(["d2"], with_vectors=True)
    assert set(row.vectors) == {"last", "splade"}
    assert row.vectors["last"] == pytest.approx(WordEmbeddings(-1).embed_query("damson"))
    assert row.vectors["splade"] == pytest.approx(HashSparseEmbeddings().embed_query(TEXTS[2]))


def test_sparse_only_stores(make_lc: Callable[..., MilvusVectorStore]) -> None:
    bm25 = make_lc(embedding=None, vector_fields=[VectorField.sparse("sparse", bm25=True)])
    bm25.add_texts(TEXTS)
    assert texts(bm25.similarity_search("cherry", k=2, retrieval_mode="sparse")) != []
    assert set(texts(bm25.similarity_search("cherry", k=2, retrieval_mode="sparse"))) == {
        "banana cherry",
        "cherry damson",
    }
    assert set(texts(bm25.similarity_search("cherry", k=2))) == {  # hybrid: every field
        "banana cherry",
        "cherry damson",
    }
    client = make_lc(
        embedding=None,
        vector_fields=[VectorField.sparse("splade")],
        embeddings={"splade": HashSparseEmbeddings()},
    )
    client.add_texts(TEXTS)
    assert texts(client.similarity_search("elder apple", k=1)) == ["elder apple"]


def test_embedders_must_match_the_fields(make_lc: Callable[..., MilvusVectorStore]) -> None:
    with pytest.raises(ConfigError, match="have no embedder"):
        make_lc(vector_fields=FIELDS, embeddings={"last": WordEmbeddings(-1)})
    with pytest.raises(ConfigError, match="not a client-side vector field"):
        make_lc(
            vector_fields=FIELDS[:2],
            embeddings={"last": WordEmbeddings(-1), "nope": WordEmbeddings(0)},
        )
    with pytest.raises(ConfigError, match="BM25 field is Milvus's"):
        make_lc(vector_fields=[FIELDS[0], FIELDS[3]], embeddings={"sparse": HashSparseEmbeddings()})
    with pytest.raises(ConfigError, match="sparse: a sparse embedder"):
        make_lc(vector_fields=[FIELDS[0], FIELDS[2]], embeddings={"splade": WordEmbeddings(0)})
    with pytest.raises(ConfigError, match="embedding=None"):
        make_lc(vector_fields=[FIELDS[3]])
    with pytest.raises(ConfigError, match="no dense field"):  # the mode's field is missing
        make_lc(embedding=None, vector_fields=[FIELDS[3]], retrieval_mode="dense")
    store = four_fields(make_lc)
    with pytest.raises(ConfigError, match="one per field"):
        store.similarity_search("q", fields=["first", "last"], weights=[1.0])
    with pytest.raises(ConfigError, match="no vector field 'nope'"):
        store.similarity_search("q", fields=["nope"])
    with pytest.raises(ConfigError, match="weights="):
        store.similarity_search("q", fields=["first", "last"], alpha=0.5)
