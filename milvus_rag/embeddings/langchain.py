"""LangChain ``Embeddings`` over a shared :class:`~milvus_rag.embeddings.Encoder`.

The async methods go through the encoder's async path, so query embeddings are cached and
micro-batched, and the model never runs on the event loop.
"""

from __future__ import annotations

from typing import Any

from milvus_rag.client.errors import ConfigError
from milvus_rag.embeddings.encoder import Encoder, SentenceTransformerEncoder

try:
    from langchain_core.embeddings import Embeddings
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        'milvus_rag.embeddings.langchain needs langchain-core: pip install "milvus-rag[langchain]"'
    ) from exc

__all__ = ["SentenceTransformerEmbeddings"]


class SentenceTransformerEmbeddings(Embeddings):
    """LangChain embeddings from a sentence-transformers model.

    Pass an ``encoder`` to share one model (and its query cache) with other components, or the
    :class:`SentenceTransformerEncoder` keyword arguments to build one::

        SentenceTransformerEmbeddings()                      # all-MiniLM-L6-v2, local weights
        SentenceTransformerEmbeddings(device="cuda", batch_size=64)
        SentenceTransformerEmbeddings(encoder=shared_encoder)
    """

    def __init__(self, encoder: Encoder | None = None, **encoder_kwargs: Any) -> None:
        if encoder is not None and encoder_kwargs:
            raise ConfigError(
                "pass either an encoder or SentenceTransformerEncoder arguments, not both "
                f"(got {sorted(encoder_kwargs)})"
            )
        self.encoder: Encoder = (
            encoder if encoder is not None else SentenceTransformerEncoder(**encoder_kwargs)
        )

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        rows: list[list[float]] = self.encoder.encode_documents(texts).tolist()
        return rows

    def embed_query(self, text: str) -> list[float]:
        row: list[float] = self.encoder.encode_query(text).tolist()
        return row

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        rows: list[list[float]] = (await self.encoder.aencode_documents(texts)).tolist()
        return rows

    async def aembed_query(self, text: str) -> list[float]:
        row: list[float] = (await self.encoder.aencode_query(text)).tolist()
        return row

    def __repr__(self) -> str:
        return f"{type(self).__name__}(encoder={self.encoder!r})"
