"""Client-side sparse encoders for the LlamaIndex store, taken by duck typing.

llama-index-vector-stores-milvus's ``BaseSparseEmbeddingFunction`` (``encode_queries`` /
``encode_documents``, and optionally ``async_encode_queries`` / ``async_encode_documents``)
fills a sparse vector field on the client: SPLADE, BGE-M3, pymilvus's
``BM25EmbeddingFunction``, a user's own. :class:`SparseFunction` calls one as the LlamaIndex
store needs: documents one call per write (every text of an ``add``; the library's newest
versions batch the same way), a query one call per search, the async methods where the
function has them (else the sync ones in a worker thread: the event loop never waits on an
encoder). Each result is validated (:func:`milvus_rag.integrations.fronts.sparse_rows`).

Example:
    >>> class Fn:
    ...     def encode_documents(self, texts): return [{len(t): 1.0} for t in texts]
    ...     def encode_queries(self, texts): return [{len(t): 1.0} for t in texts]
    >>> SparseFunction(Fn()).documents(["ab", "c"])
    [{2: 1.0}, {1: 1.0}]
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from milvus_rag.client.errors import ConfigError
from milvus_rag.integrations.fronts import sparse_rows

__all__ = ["SparseFunction", "is_sparse_function"]


def is_sparse_function(fn: Any) -> bool:
    """Whether ``fn`` encodes sparse vectors on the client (has ``encode_documents`` or
    ``encode_queries``), as opposed to Milvus's BM25 function."""
    return hasattr(fn, "encode_documents") or hasattr(fn, "encode_queries")


class SparseFunction:
    """A client-side sparse encoder, called the way the LlamaIndex store needs it.

    Example:
        >>> # SparseFunction(BGEM3SparseEmbeddingFunction()).query("what is milvus")
    """

    def __init__(self, fn: Any) -> None:
        missing = [
            m for m in ("encode_documents", "encode_queries") if not callable(getattr(fn, m, None))
        ]
        if missing:
            raise ConfigError(
                f"a sparse embedding function needs encode_documents(texts) and "
                f"encode_queries(texts) returning {{index: weight}} dicts; "
                f"{type(fn).__name__} has no {missing}"
            )
        self.fn = fn

    def __repr__(self) -> str:
        return f"SparseFunction({self.fn!r})"

    def documents(self, texts: Sequence[str]) -> list[dict[int, float]]:
        """The sparse vectors of ``texts`` (one call)."""
        if not texts:
            return []
        return sparse_rows(self.fn.encode_documents(list(texts)), len(texts), "encode_documents")

    async def adocuments(self, texts: Sequence[str]) -> list[dict[int, float]]:
        """:meth:`documents` without blocking the event loop."""
        if not texts:
            return []
        encode = getattr(self.fn, "async_encode_documents", None)
        if callable(encode):
            out = await encode(list(texts))
            return sparse_rows(out, len(texts), "async_encode_documents")
        return await asyncio.to_thread(self.documents, texts)

    def query(self, text: str) -> dict[int, float]:
        """The sparse vector of one query."""
        return sparse_rows(self.fn.encode_queries([text]), 1, "encode_queries")[0]

    async def aquery(self, text: str) -> dict[int, float]:
        """:meth:`query` without blocking the event loop."""
        encode = getattr(self.fn, "async_encode_queries", None)
        if callable(encode):
            return sparse_rows(await encode([text]), 1, "async_encode_queries")[0]
        return await asyncio.to_thread(self.query, text)
