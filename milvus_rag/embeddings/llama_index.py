"""LlamaIndex ``BaseEmbedding`` over a shared :class:`~milvus_rag.embeddings.Encoder`.

Works wherever LlamaIndex takes an ``embed_model`` (``VectorStoreIndex``, ``IngestionPipeline``,
``Settings.embed_model``). Async calls go through the encoder's async path: query embeddings are
cached and micro-batched, and the model never runs on the event loop.
"""

from __future__ import annotations

from typing import Any

from milvus_rag.client.errors import ConfigError
from milvus_rag.embeddings.encoder import Encoder, SentenceTransformerEncoder

try:
    from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.callbacks.base import CallbackManager
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "milvus_rag.embeddings.llama_index needs llama-index-core: "
        'pip install "milvus-rag[llama-index]"'
    ) from exc

__all__ = ["SentenceTransformerEmbedding"]

_MAX_EMBED_BATCH = 2048  # BaseEmbedding.embed_batch_size's upper bound


class SentenceTransformerEmbedding(BaseEmbedding):
    """LlamaIndex embedding from a sentence-transformers model.

    Pass an ``encoder`` to share one model (and its query cache) with other components, or the
    :class:`SentenceTransformerEncoder` keyword arguments to build one. ``embed_batch_size``
    defaults to the encoder's ``batch_size`` (and sets it when the encoder is built here).
    """

    _encoder: Encoder = PrivateAttr()

    def __init__(
        self,
        encoder: Encoder | None = None,
        *,
        model_name: str | None = None,
        embed_batch_size: int | None = None,
        callback_manager: CallbackManager | None = None,
        num_workers: int | None = None,
        **encoder_kwargs: Any,
    ) -> None:
        if encoder is not None and encoder_kwargs:
            raise ConfigError(
                "pass either an encoder or SentenceTransformerEncoder arguments, not both "
                f"(got {sorted(encoder_kwargs)})"
            )
        if encoder is None:
            if embed_batch_size is not None:
                encoder_kwargs.setdefault("batch_size", embed_batch_size)
            encoder = SentenceTransformerEncoder(**encoder_kwargs)
        if embed_batch_size is None:
            embed_batch_size = int(getattr(encoder, "batch_size", 32))
        if not 0 < embed_batch_size <= _MAX_EMBED_BATCH:
            raise ConfigError(f"embed_batch_size must be in [1, {_MAX_EMBED_BATCH}]")
        name = model_name or getattr(encoder, "model_name", None) or type(encoder).__name__
        base_kwargs: dict[str, Any] = {"num_workers": num_workers}
        if callback_manager is not None:
            base_kwargs["callback_manager"] = callback_manager
        super().__init__(model_name=str(name), embed_batch_size=embed_batch_size, **base_kwargs)
        self._encoder = encoder

    @classmethod
    def class_name(cls) -> str:
        return "SentenceTransformerEmbedding"

    @property
    def encoder(self) -> Encoder:
        return self._encoder

    @property
    def dim(self) -> int:
        return self._encoder.dim

    def _get_query_embedding(self, query: str) -> Embedding:
        row: Embedding = self._encoder.encode_query(query).tolist()
        return row

    async def _aget_query_embedding(self, query: str) -> Embedding:
        row: Embedding = (await self._encoder.aencode_query(query)).tolist()
        return row

    def _get_text_embedding(self, text: str) -> Embedding:
        row: Embedding = self._encoder.encode_documents([text])[0].tolist()
        return row

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        rows: list[Embedding] = self._encoder.encode_documents(texts).tolist()
        return rows

    async def _aget_text_embedding(self, text: str) -> Embedding:
        row: Embedding = (await self._encoder.aencode_documents([text]))[0].tolist()
        return row

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        rows: list[Embedding] = (await self._encoder.aencode_documents(texts)).tolist()
        return rows
