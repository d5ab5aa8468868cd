"""Deterministic fakes for tests that need embeddings but not a real model.

``HashEncoder`` has the interface of ``SentenceTransformerEncoder`` (the ``Encoder`` protocol):
a text becomes a normalised bag of hashed words, so texts that share words are similar, the
same text always gives the same vector, and nothing is loaded.

The framework adapters accept any encoder, so fakes for them are the real adapters over a
``HashEncoder`` (built lazily, so importing this module needs neither LangChain nor LlamaIndex)::

    from tests.fakes import FakeLangChainEmbeddings, FakeLlamaIndexEmbedding
    emb = FakeLangChainEmbeddings(dim=16)
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

_WORD = re.compile(r"\w+")


def _bucket(token: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dim, 1.0 if (value >> 63) & 1 else -1.0


class HashEncoder:
    """A fake encoder: signed feature hashing of lower-cased words, L2-normalised.

    ``calls`` counts encode calls (sync and async), ``texts`` lists every text encoded.
    """

    def __init__(self, dim: int = 16, *, model_name: str | None = None, batch_size: int = 32):
        if dim < 2:
            raise ValueError("dim must be >= 2")
        self._dim = dim
        self.model_name = model_name or f"hash-{dim}"
        self.batch_size = batch_size
        self.calls = 0
        self.texts: list[str] = []

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, text: str) -> FloatArray:
        vec = np.zeros(self._dim, dtype=np.float32)
        for token in _WORD.findall(text.lower()):
            index, sign = _bucket(token, self._dim)
            vec[index] += sign
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:  # no words (or they cancel out): a fixed unit vector, never NaN
            index, _ = _bucket(text, self._dim)
            vec[index] = 1.0
            return vec
        vec /= np.float32(norm)
        return vec

    def _batch(self, texts: Sequence[str]) -> FloatArray:
        if isinstance(texts, str):
            raise TypeError("expected a sequence of strings, not a single string")
        self.calls += 1
        self.texts.extend(texts)
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        return np.stack([self.embed(t) for t in texts]).astype(np.float32, copy=False)

    def encode_documents(self, texts: Sequence[str]) -> FloatArray:
        return self._batch(texts)

    def encode_query(self, text: str) -> FloatArray:
        return np.asarray(self._batch([text])[0], dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> FloatArray:
        return self._batch(texts)

    async def aencode_documents(self, texts: Sequence[str]) -> FloatArray:
        return self._batch(texts)

    async def aencode_query(self, text: str) -> FloatArray:
        return np.asarray(self._batch([text])[0], dtype=np.float32)

    async def aencode_queries(self, texts: Sequence[str]) -> FloatArray:
        return self._batch(texts)

    def __repr__(self) -> str:
        return f"HashEncoder(dim={self._dim})"


class HashSparseEmbeddings:
    """A fake sparse embedder, shaped like langchain-milvus's ``BaseSparseEmbedding`` (not a
    LangChain ``Embeddings``): a text becomes ``{index: weight}``, each lower-cased word's
    hashed index weighted by its count, so texts that share words match; deterministic, and
    nothing is loaded. A text without words is one fixed index. ``calls`` counts the calls.
    """

    def __init__(self, buckets: int = 1 << 20) -> None:
        self.buckets = buckets
        self.calls = 0

    def _vector(self, text: str) -> dict[int, float]:
        out: dict[int, float] = {}
        for token in _WORD.findall(text.lower()):
            index, _ = _bucket(token, self.buckets)
            out[index] = out.get(index, 0.0) + 1.0
        return out or {_bucket(text, self.buckets)[0]: 1.0}

    def embed_query(self, text: str) -> dict[int, float]:
        self.calls += 1
        return self._vector(text)

    def embed_documents(self, texts: Sequence[str]) -> list[dict[int, float]]:
        self.calls += 1
        return [self._vector(t) for t in texts]

    async def aembed_query(self, text: str) -> dict[int, float]:
        return self.embed_query(text)

    async def aembed_documents(self, texts: Sequence[str]) -> list[dict[int, float]]:
        return self.embed_documents(texts)


class FakeSparseFunction:
    """A deterministic client-side sparse encoder in llama-index-vector-stores-milvus's shape
    (``encode_documents`` / ``encode_queries``, and their ``async_`` twins unless
    ``with_async=False``): a text becomes ``{hashed word bucket: count}`` over ``buckets``,
    so texts sharing words score higher by inner product.

    ``calls`` records each call as ``(method name, number of texts)``.
    """

    def __init__(self, buckets: int = 1000, *, with_async: bool = True) -> None:
        self.buckets = buckets
        self.calls: list[tuple[str, int]] = []
        if not with_async:  # instance attributes hide the class's async methods
            self.async_encode_documents = None
            self.async_encode_queries = None

    def encode(self, text: str) -> dict[int, float]:
        out: dict[int, float] = {}
        for token in _WORD.findall(text.lower()):
            index, _ = _bucket(token, self.buckets)
            out[index] = out.get(index, 0.0) + 1.0
        return out or {_bucket(text, self.buckets)[0]: 1.0}

    def encode_documents(self, texts: list[str]) -> list[dict[int, float]]:
        self.calls.append(("encode_documents", len(texts)))
        return [self.encode(t) for t in texts]

    def encode_queries(self, texts: list[str]) -> list[dict[int, float]]:
        self.calls.append(("encode_queries", len(texts)))
        return [self.encode(t) for t in texts]

    async def async_encode_documents(self, texts: list[str]) -> list[dict[int, float]]:
        self.calls.append(("async_encode_documents", len(texts)))
        return [self.encode(t) for t in texts]

    async def async_encode_queries(self, texts: list[str]) -> list[dict[int, float]]:
        self.calls.append(("async_encode_queries", len(texts)))
        return [self.encode(t) for t in texts]


@functools.cache
def _langchain_fake() -> type:
    from milvus_rag.embeddings.langchain import SentenceTransformerEmbeddings

    class FakeLangChainEmbeddings(SentenceTransformerEmbeddings):
        """LangChain embeddings over a :class:`HashEncoder`."""

        def __init__(self, dim: int = 16) -> None:
            super().__init__(encoder=HashEncoder(dim))

    return FakeLangChainEmbeddings


@functools.cache
def _llama_index_fake() -> type:
    from milvus_rag.embeddings.llama_index import SentenceTransformerEmbedding

    class FakeLlamaIndexEmbedding(SentenceTransformerEmbedding):
        """LlamaIndex embedding over a :class:`HashEncoder`."""

        def __init__(self, dim: int = 16, **kwargs: Any) -> None:
            super().__init__(encoder=HashEncoder(dim), **kwargs)

        @classmethod
        def class_name(cls) -> str:
            return "FakeLlamaIndexEmbedding"

    return FakeLlamaIndexEmbedding


def __getattr__(name: str) -> Any:
    if name == "FakeLangChainEmbeddings":
        return _langchain_fake()
    if name == "FakeLlamaIndexEmbedding":
        return _llama_index_fake()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
