"""langchain-tests' standard vector-store suite on every backend, with the store built in a
sync fixture and in an async fixture (sync and async tests both run in each)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from milvus_rag.integrations.langchain import MilvusVectorStore
from tests.backends import Backend
from tests.conftest import new_name

pytestmark = pytest.mark.integration


def _store(backend: Backend) -> MilvusVectorStore:
    return MilvusVectorStore(
        embedding=VectorStoreIntegrationTests.get_embeddings(),
        uri=backend.uri,
        token=backend.token or None,
        collection_name=new_name("lcstd"),
    )


class TestStandardSyncFixture(VectorStoreIntegrationTests):
    @pytest.fixture
    def vectorstore(self, backend: Backend) -> Iterator[VectorStore]:
        store = _store(backend)
        try:
            yield store
        finally:
            try:
                store.drop()
            finally:
                store.close()

    @property
    def has_sync(self) -> bool:
        return True

    @property
    def has_async(self) -> bool:
        return True


class TestStandardAsyncFixture(VectorStoreIntegrationTests):
    @pytest.fixture
    async def vectorstore(self, backend: Backend) -> AsyncIterator[VectorStore]:
        store = _store(backend)
        try:
            yield store
        finally:
            try:
                await store.adrop()
            finally:
                await store.aclose()

    @property
    def has_sync(self) -> bool:
        return True

    @property
    def has_async(self) -> bool:
        return True
