"""Fixtures for the LlamaIndex integration tests: stores on every backend, fake embeddings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from milvus_rag.integrations.llama_index import MilvusVectorStore
from tests.backends import Backend
from tests.conftest import new_name, store_factory
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

    def build(**kwargs: Any) -> MilvusVectorStore:
        kwargs.setdefault("dim", DIM)
        return open_store(backend, **kwargs)

    with store_factory(build, drop_and_close, prefix="li") as factory:
        yield factory
