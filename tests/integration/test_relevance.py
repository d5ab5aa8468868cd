"""Relevance means one thing in every mode and API (issue 11, finding 6), with the real
all-MiniLM-L6-v2: the embedding similarity of the hit to the query, absolute. An off-topic
document ranked second by hybrid fusion scores low (it scored 0.477 when relevance was
normalised by rank); LangChain's relevance scores and similarity_score_threshold, LlamaIndex's
similarities and the CLI report the same number (LangChain's similarity_search_with_score
reports the score that ranks the list, issue 23 finding 5)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from milvus_rag import AsyncMilvusStore, cli
from milvus_rag.cli import common as cli_common
from milvus_rag.client.errors import ConfigError
from milvus_rag.embeddings import SentenceTransformerEncoder
from tests.backends import Backend
from tests.conftest import new_name

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CORPUS = {
    "storage": "Milvus Lite keeps a whole collection in one local file, such as ./milvus_rag.db.",
    "connect": "To reach a Milvus server or a Zilliz cluster, pass uri='http://host:19530' and "
    "a token.",
    "bm25": "BM25 ranks documents by keyword overlap, weighting rare terms more than common ones.",
    "dense": "Dense retrieval embeds queries and documents with a sentence-transformers model.",
    "sourdough": "The sourdough starter needs flour and water every day to stay active.",
    "tomato": "Simmer the tomato sauce for twenty minutes, then add fresh basil.",
}
QUESTION = "How do I connect to a cluster?"
ON_TOPIC, OFF_TOPIC = "connect", "tomato"


@pytest.fixture(scope="module")
def encoder() -> SentenceTransformerEncoder:
    return SentenceTransformerEncoder()


def test_relevance_is_absolute_and_the_same_everywhere(
    backend: Backend,
    encoder: SentenceTransformerEncoder,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from milvus_rag.embeddings.langchain import SentenceTransformerEmbeddings
    from milvus_rag.embeddings.llama_index import SentenceTransformerEmbedding
    from milvus_rag.integrations.langchain import MilvusVectorStore as LangChainStore
    from milvus_rag.integrations.llama_index import MilvusVectorStore as LlamaStore

    name = new_name("rel")
    token = backend.token or None
    rel: dict[str, dict[str, float]] = {}

    async def core() -> None:
        store = AsyncMilvusStore(backend.uri, token=token, collection_name=name)
        vectors = encoder.encode_documents(list(CORPUS.values()))
        from milvus_rag import Record

        await store.upsert(
            [Record(id=k, text=t, vector=v) for (k, t), v in zip(CORPUS.items(), vectors)]
        )
        q = await encoder.aencode_query(QUESTION)
        for mode, extra in (
            ("dense", {}),
            ("hybrid", {}),
            ("weighted", {"ranker": "weighted", "alpha": 0.5}),
        ):
            m = "dense" if mode == "dense" else "hybrid"
            hits = await store.search(QUESTION, q, k=len(CORPUS), mode=m, relevance=True, **extra)
            rel[mode] = {h.id: h.relevance for h in hits}
            # asked for or not, dense hits have it; fused hits only when asked (issue 27)
            plain = await store.search(QUESTION, q, k=len(CORPUS), mode=m, **extra)
            assert [h.id for h in plain] == [h.id for h in hits], mode
            assert all(h.has_relevance == (mode == "dense") for h in plain), mode
            if mode != "dense":
                with pytest.raises(ConfigError, match="relevance=True"):
                    _ = plain[0].relevance
        hits = await store.search(QUESTION, k=len(CORPUS), mode="sparse")
        rel["sparse"] = {h.id: h.relevance for h in hits}
        await store.aclose()

    asyncio.run(core())
    print("\nrelevance per mode:", json.dumps(rel, indent=1))
    # one meaning: a document has the same relevance whichever fusion ranked it
    for mode in ("hybrid", "weighted"):
        for doc, value in rel[mode].items():
            assert value == pytest.approx(rel["dense"][doc], abs=1e-4), (mode, doc)
    # absolute: the off-topic document scores low in every mode, the on-topic one high
    for mode in ("dense", "hybrid", "weighted"):
        assert rel[mode][ON_TOPIC] > 0.3 > 0.15 > rel[mode].get(OFF_TOPIC, 0.0), mode
    assert rel["sparse"].get(OFF_TOPIC, 0.0) < 0.15  # BM25: no shared term

    # the adapters report the same numbers
    lc = LangChainStore(
        SentenceTransformerEmbeddings(encoder),
        uri=backend.uri,
        token=token,
        collection_name=name,
    )
    for kwargs, mode in (
        ({}, "hybrid"),
        ({"alpha": 0.5}, "weighted"),
        ({"retrieval_mode": "dense"}, "dense"),
    ):
        scored = lc.similarity_search_with_score(QUESTION, k=len(CORPUS), **kwargs)
        ranking = [s for _, s in scored]  # the score that ranks the list (fused in hybrid)
        assert ranking == sorted(ranking, reverse=True), mode
        scored = lc.similarity_search_with_relevance_scores(QUESTION, k=len(CORPUS), **kwargs)
        assert {d.id: s for d, s in scored} == pytest.approx(rel[mode], abs=1e-4), mode
    # similarity_score_threshold filters by similarity, not by rank
    retriever = lc.as_retriever(
        search_type="similarity_score_threshold",
        search_kwargs={"score_threshold": 0.3, "k": len(CORPUS)},
    )
    kept = [d.id for d in retriever.invoke(QUESTION)]
    assert ON_TOPIC in kept and OFF_TOPIC not in kept
    assert set(kept) == {d for d, v in rel["hybrid"].items() if v >= 0.3}
    lc.close()

    from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

    li = LlamaStore(backend.uri, token=token, collection_name=name)
    q = SentenceTransformerEmbedding(encoder).get_query_embedding(QUESTION)
    for mode, li_mode in (
        ("hybrid", VectorStoreQueryMode.HYBRID),
        ("dense", VectorStoreQueryMode.DEFAULT),
    ):
        res = li.query(
            VectorStoreQuery(
                query_embedding=q, query_str=QUESTION, similarity_top_k=len(CORPUS), mode=li_mode
            )
        )
        got = dict(zip(res.ids or [], res.similarities or [], strict=True))
        assert got == pytest.approx(rel[mode], abs=1e-4), mode
    li.close()

    # and the command line
    monkeypatch.setattr(cli_common, "make_encoder", lambda *a, **k: encoder)
    capsys.readouterr()  # what was printed above
    argv = ["search", QUESTION, "--json", "--k", str(len(CORPUS)), "--collection", name]
    argv += ["--uri", backend.uri] + (["--token", backend.token] if backend.token else [])
    assert cli.main(argv) == 0
    hits: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    assert {h["id"]: h["relevance"] for h in hits} == pytest.approx(rel["hybrid"], abs=1e-4)

    async def drop() -> None:
        store = AsyncMilvusStore(backend.uri, token=token, collection_name=name)
        await store.drop()
        await store.aclose()

    asyncio.run(drop())
