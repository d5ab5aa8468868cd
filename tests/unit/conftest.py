"""Unit tests do not depend on the caller's environment."""

from __future__ import annotations

import pytest

from milvus_rag.embeddings._precision import PRECISION_ENV


@pytest.fixture(autouse=True)
def _no_precision_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The encoder's tests do not depend on the caller's $MILVUS_RAG_PRECISION."""
    monkeypatch.delenv(PRECISION_ENV, raising=False)
