"""Retrieval correctness with the real all-MiniLM-L6-v2 weights on a hand-made corpus:
BM25 finds a rare exact term dense misses, dense finds a paraphrase BM25 misses, and hybrid
returns both in its top k."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from milvus_rag import MilvusStore, Record
from milvus_rag.embeddings import SentenceTransformerEncoder
from tests.backends import Backend
from tests.conftest import new_name

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a backend and the real model

CORPUS = {
    "bake": "To bake sourdough bread, feed the starter, knead the dough and let it rise "
    "overnight before baking at a high temperature.",
    "cat": "Cats sleep for most of the day and are most active at dawn and dusk.",
    "car": "Replace the engine oil of a car every ten thousand kilometres or once a year.",
    "fever": "A high body temperature in children often comes with an infection; give "
    "fluids and see a doctor if it lasts.",
    "rain": "Pack an umbrella: showers are expected all afternoon.",
    "stock": "The central bank raised interest rates to slow inflation.",
    "guitar": "Tune the guitar strings with an electronic tuner before every concert.",
    "moon": "The Moon orbits the Earth roughly every twenty-seven days.",
    "garden": "Water tomato plants at the base in the morning to avoid leaf disease.",
}
# Near-twin passages that differ only in a made-up part name: dense embeddings cannot tell
# the names apart (MiniLM ranks a twin first), BM25 matches the exact token.
TWINS = {"kit1": "qorvantil", "kit2": "korvantil", "kit3": "qorvantel", "kit4": "qurvantil"}
CORPUS.update(
    {
        k: f"Seal kit {name} fits the pump housing; replace it during the yearly service."
        for k, name in TWINS.items()
    }
)
RARE_TERM_QUERY = "qorvantil"  # only BM25 singles out kit1
PARAPHRASE_QUERY = "my kid is burning up"  # shares no word with the fever passage


@pytest.fixture(scope="module")
def encoder() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder()


@pytest.fixture(scope="module")
def corpus_store(backend: Backend, encoder: SentenceTransformerEncoder) -> Iterator[MilvusStore]:
    store = MilvusStore(
        backend.uri, token=backend.token or None, collection_name=new_name("real"), dim=encoder.dim
    )
    vectors = encoder.encode_documents(list(CORPUS.values()))
    store.upsert(
        [Record(id=k, text=t, vector=v) for (k, t), v in zip(CORPUS.items(), vectors, strict=True)]
    )
    yield store
    store.drop()
    store.close()


def ids(hits: list) -> list[str]:
    return [h.id for h in hits]


def test_bm25_answers_rare_term(
    corpus_store: MilvusStore, encoder: SentenceTransformerEncoder
) -> None:
    q = encoder.encode_query(RARE_TERM_QUERY)
    assert ids(corpus_store.search(text=RARE_TERM_QUERY, k=1, mode="sparse")) == ["kit1"]
    assert ids(corpus_store.search(vector=q, k=1, mode="dense")) != ["kit1"]


def test_dense_answers_paraphrase(
    corpus_store: MilvusStore, encoder: SentenceTransformerEncoder
) -> None:
    q = encoder.encode_query(PARAPHRASE_QUERY)
    assert ids(corpus_store.search(vector=q, k=1, mode="dense")) == ["fever"]
    assert "fever" not in ids(corpus_store.search(text=PARAPHRASE_QUERY, k=2, mode="sparse"))


def test_hybrid_returns_both(
    corpus_store: MilvusStore, encoder: SentenceTransformerEncoder
) -> None:
    text = f"{RARE_TERM_QUERY} {PARAPHRASE_QUERY}"
    q = encoder.encode_query(text)
    for kwargs in ({}, {"alpha": 0.5}):
        top = ids(corpus_store.search(text=text, vector=q, k=3, mode="hybrid", **kwargs))
        assert "kit1" in top and "fever" in top, (kwargs, top)
