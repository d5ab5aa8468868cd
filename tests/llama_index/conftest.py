"""Fixtures for the LlamaIndex integration tests: stores on every backend, fake embeddings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from milvus_rag.integrations.llama_index import MilvusVectorStore
from tests.backends import Backend
from tests.conftest import new_name
from tests.fakes import FakeLlamaIndexEmbedding

DIM = 16


@pytest.fixture
def emb() -> Any:
    return FakeLlamaIndexEmbedding(dim=DIM)


def open_store(backend: Backend, **kwargs: Any) -> MilvusVectorStore:
    kwargs.setdefault("collection_name", new_name("li"))
    return MilvusVectorStore(backend.uri, token=backend.token or None, **kwargs)


def drop_and_close(store: MilvusVectorStore) -> None:
    try:
        store.clear()
    finally:
        store.close()


@pytest.fixture
def make_li_store(backend: Backend) -> Iterator[Callable[..., MilvusVectorStore]]:
    """Factory of LlamaIndex stores on this backend; fresh collections, dropped afterwards."""
    made: list[MilvusVectorStore] = []

    def factory(**kwargs: Any) -> MilvusVectorStore:
        kwargs.setdefault("dim", DIM)
        store = open_store(backend, **kwargs)
        made.append(store)
        return store

    yield factory
    for store in made:
        drop_and_close(store)
