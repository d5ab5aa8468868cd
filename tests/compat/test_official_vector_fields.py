"""Collections of several vector fields created by langchain-milvus 0.4 (two dense fields,
with and without BM25) and llama-index-vector-stores-milvus 1.2 (a client-side
``sparse_embedding``, with and without a dense field), each from its own venv with
``tests/compat/capture_vector_fields.py``, opened by milvus-rag's core on a Lite 2.5 file and
on the Lite 3 server: every vector field is adopted, the library's rows read back with the
vectors it wrote, rows milvus-rag writes there read back, and ``migrate`` copies them all."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from milvus_rag import AsyncMilvusStore, Record
from milvus_rag.transfer.migrate import migrate, target_options
from tests.backends import Backend
from tests.compat.capture_vector_fields import TEXTS, sparse, vector
from tests.compat.conftest import interpreter

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = Path(__file__).with_name("capture_vector_fields.py")
# collection -> (library, its vector fields, the primary, the salt of each dense field)
CASES = {
    "lc_two_dense": ("langchain", ["title", "body"], "title"),
    "lc_two_dense_bm25": ("langchain", ["title", "sparse", "body"], "title"),
    "llama_client_sparse": ("llama_index", ["embedding", "sparse_embedding"], "embedding"),
    "llama_sparse_only": ("llama_index", ["sparse_embedding"], None),
}
SALT = {"title": "title", "body": "body", "embedding": "e"}


def create(lib: str, uri: str, out: Path) -> None:
    """The library creates its collections (``capture_vector_fields.py``)."""
    done = subprocess.run(
        [str(interpreter(lib)), str(SCRIPT), lib, uri, str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture
def official_uri(backend: Backend, tmp_path: Path) -> str:
    """Where the libraries create their collections: the server, or a Lite file of this
    test's own (a Lite file serves one process at a time)."""
    uri = backend.uri if not backend.is_local else str(tmp_path / "official.db")
    for lib in ("langchain", "llama_index"):
        create(lib, uri, tmp_path / lib)
    return uri


async def test_the_libraries_collections_are_read_written_and_migrated(
    official_uri: str, make_async_store: Callable[..., AsyncMilvusStore], tmp_path: Path
) -> None:
    for name, (lib, fields, primary) in CASES.items():
        store = AsyncMilvusStore(official_uri, collection_name=name)
        try:
            rows = await store.query(limit=10, with_vectors=True)
            assert [f.name for f in store.config.vector_fields] == fields, name
            assert store.config.layout == lib
            assert sorted(r.text for r in rows) == sorted(TEXTS)
            for r in rows:
                if primary is None:
                    assert r.vector is None
                else:
                    want = np.asarray(vector(r.text, SALT[primary]), np.float32)
                    assert np.array_equal(np.asarray(r.vector, np.float32), want), name
                for field, got in r.vectors.items():
                    if field in SALT:
                        want = np.asarray(vector(r.text, SALT[field]), np.float32)
                        assert np.array_equal(np.asarray(got, np.float32), want), (name, field)
                    else:
                        assert got == sparse(r.text), (name, field)
            # a row of milvus-rag's own, with every field the library fills
            sample = rows[0]
            new = Record(
                id="" if store.config.auto_id else "mine",
                text="new words here",
                vector=None if primary is None else vector("new", "x"),
                metadata={"source": "mine"} if "source" in store.config.metadata_fields else {},
                vectors={
                    k: (sparse("new words") if isinstance(v, dict) else vector("new", k))
                    for k, v in sample.vectors.items()
                },
            )
            (written,) = await store.upsert([new])
            (back,) = await store.get([written], with_vectors=True)
            assert set(back.vectors) == set(sample.vectors) and back.text == new.text
            info = await store.ensure_collection()
            target = make_async_store(**target_options(info, primary))
            stats = await migrate(store, target, progress=False)
            assert stats.counts_match and stats.read == len(TEXTS) + 1, name
            copied = {r.text: r for r in await target.query(limit=10, with_vectors=True)}
            for r in [*rows, back]:
                assert set(copied[r.text].vectors) == set(r.vectors), name
        finally:
            await store.drop()
            await store.aclose()
