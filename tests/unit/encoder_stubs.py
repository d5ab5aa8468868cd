"""A stub sentence-transformers model for the encoder's unit tests: no torch, no weights."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import numpy as np

from milvus_rag.embeddings import SentenceTransformerEncoder

DIM = 8


class StubModel:
    """Looks enough like a SentenceTransformer: ``encode``, ``prompts``, a dimension getter."""

    def __init__(
        self,
        *,
        delay: float = 0.0,
        prompts: dict[str, str] | None = None,
        with_dim: bool = True,
    ) -> None:
        self.delay = delay
        self.prompts = {"query": "", "document": ""} if prompts is None else prompts
        self.calls: list[list[str]] = []
        self.kwargs: list[dict[str, Any]] = []
        self.fail: BaseException | None = None
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        if with_dim:
            self.get_embedding_dimension = lambda: DIM

    def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            self.calls.append(list(texts))
            self.kwargs.append(kwargs)
            if self.delay:
                time.sleep(self.delay)
            if self.fail is not None:
                raise self.fail
            prompt = self.prompts.get(kwargs.get("prompt_name") or "", "")
            out = np.stack([stub_vector(prompt + t) for t in texts])
            if kwargs.get("normalize_embeddings"):
                out /= np.linalg.norm(out, axis=1, keepdims=True)
            return out
        finally:
            with self._lock:
                self.active -= 1


def stub_vector(text: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    return np.random.default_rng(seed).normal(size=DIM).astype(np.float32) + 2.0


def make(
    stub: StubModel | None = None, **kwargs: Any
) -> tuple[SentenceTransformerEncoder, StubModel]:
    stub = stub or StubModel()
    return SentenceTransformerEncoder("stub", model=stub, **kwargs), stub


def n_texts(stub: StubModel) -> int:
    return sum(len(c) for c in stub.calls)
