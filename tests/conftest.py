"""Shared fixtures: a backend per run (embedded file and Milvus Lite 3 server), fresh
collections per test, stores closed and collections dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from milvus_rag import AsyncMilvusStore, MilvusStore
from tests.backends import Backend, LiteServer, backend_names

pytest_plugins = ["tests.spies"]  # the request_spy fixture

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


BACKEND_FIXTURES = frozenset({"backend", "lite3_server"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test on a backend must be marked ``integration`` (``make test-fast`` leaves those out)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = set(callspec.params) if callspec is not None else set()  # a parametrize arg
        used = (BACKEND_FIXTURES & set(getattr(item, "fixturenames", ()))) - params
        if used and item.get_closest_marker("integration") is None:
            raise pytest.UsageError(
                f"{item.nodeid} uses {sorted(used)} but is not marked integration: add "
                "pytestmark = pytest.mark.integration (or @pytest.mark.integration)"
            )


@pytest.fixture(scope="session")
def lite3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteServer]:
    server = LiteServer(tmp_path_factory.mktemp("lite3") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="session", params=backend_names())
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    name = request.param
    if name in ("lite", "lite3file"):
        backend = Backend(name, str(tmp_path_factory.mktemp(name) / "tests.db"))
        if name == "lite3file" and backend.engine != "lite3":
            raise RuntimeError(
                "MILVUS_RAG_BACKENDS=lite3file needs milvus-lite 3 in this environment "
                "(pip install 'milvus-lite>=3.1,<4'; see README: installing beside langchain-milvus)"
            )
        return backend
    if name == "server":
        server: LiteServer = request.getfixturevalue("lite3_server")
        return Backend("server", server.uri)
    if name == "milvus":
        return Backend("milvus", os.environ["MILVUS_URI"], os.environ.get("MILVUS_TOKEN", ""))
    raise ValueError(f"unknown backend {name!r}")


def new_name(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def collection_name() -> str:
    return new_name()


S = TypeVar("S")


@contextmanager
def store_factory(
    build: Callable[..., S], cleanup: Callable[[S], None], prefix: str = "t"
) -> Iterator[Callable[..., S]]:
    """A factory of stores with fresh collection names; every store made is cleaned up."""
    made: list[S] = []

    def factory(**kwargs: Any) -> S:
        kwargs.setdefault("collection_name", new_name(prefix))
        store = build(**kwargs)
        made.append(store)
        return store

    try:
        yield factory
    finally:
        for store in made:
            cleanup(store)


def drop_and_close(store: Any) -> None:
    try:
        store.drop()
    finally:
        store.close()


@pytest.fixture
def make_store(backend: Backend) -> Iterator[Callable[..., MilvusStore]]:
    """Factory of sync stores on this backend; each gets a fresh collection by default."""
    with store_factory(
        lambda **kw: MilvusStore(backend.uri, token=backend.token or None, **kw), drop_and_close
    ) as factory:
        yield factory


@pytest.fixture
async def make_async_store(backend: Backend) -> AsyncIterator[Callable[..., AsyncMilvusStore]]:
    """Factory of async stores on this backend; each gets a fresh collection by default."""
    made: list[AsyncMilvusStore] = []

    def factory(**kwargs: Any) -> AsyncMilvusStore:
        kwargs.setdefault("collection_name", new_name())
        store = AsyncMilvusStore(backend.uri, token=backend.token or None, **kwargs)
        made.append(store)
        return store

    yield factory
    for store in made:
        try:
            await store.drop()
        finally:
            await store.aclose()


@pytest.fixture
def tmp_db(tmp_path: Path) -> str:
    return str(tmp_path / "own.db")


@contextmanager
def one_ray_runtime() -> Iterator[None]:
    """Held while a test runs a local Ray runtime: xdist workers take turns (two runtimes
    starting at once on a 2-core machine timed out waiting for Ray's GCS port file in a
    `make test` run), across processes, by an OS lock (released if the holder dies)."""
    import fcntl
    import tempfile

    path = Path(tempfile.gettempdir()) / "milvus-rag-tests-ray.lock"
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
