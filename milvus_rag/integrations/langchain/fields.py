"""The embedders of a LangChain store's vector fields, one per client-side field.

A collection holds any number of vector fields (:mod:`milvus_rag.client.vector_fields`): a
dense field is filled by a LangChain ``Embeddings``; a client-side sparse field by a sparse
embedder, anything with ``embed_query(text) -> {index: weight}`` and ``embed_documents(texts)
-> [{index: weight}, ...]`` (langchain-milvus's ``BaseSparseEmbedding`` has this shape; its
``aembed_*`` are used when present); the BM25 field by Milvus itself. :class:`FieldEmbedders`
holds them, checks them against the collection and embeds documents and queries for every
field at once (concurrently).

Example:
    >>> from langchain_core.embeddings import FakeEmbeddings
    >>> emb = FieldEmbedders(FakeEmbeddings(size=4), {"title": FakeEmbeddings(size=4)})
    >>> sorted(emb.others)
    ['title']
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.embeddings import Embeddings

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.legs import default_fields
from milvus_rag.client.query_values import check_sparse_vector
from milvus_rag.client.records import Record
from milvus_rag.client.request import Leg, RetrievalMode, SearchRequest
from milvus_rag.client.store import AsyncMilvusStore
from milvus_rag.integrations.fronts import (
    check_field_embedders,
    field_legs,
    field_weights,
    with_leg_queries,
)

_DIM_PROBE = "dimension probe"


def is_sparse_embedder(embedder: Any) -> bool:
    """A sparse embedder: a langchain-milvus ``BaseSparseEmbedding`` (by its class name:
    langchain-milvus is never imported), or, not a LangChain ``Embeddings``, anything with
    ``embed_query`` and ``embed_documents``."""
    if any(c.__name__ == "BaseSparseEmbedding" for c in type(embedder).__mro__):
        return True
    if isinstance(embedder, Embeddings):
        return False
    return callable(getattr(embedder, "embed_query", None)) and callable(
        getattr(embedder, "embed_documents", None)
    )


async def embedder_dim(embedding: Embeddings) -> int:
    """``embedding.dim`` when it has one, else the length of one probe embedding."""
    dim: Any = None
    try:  # `dim` may load a model: keep it off the event loop
        dim = await asyncio.to_thread(getattr, embedding, "dim", None)
    except Exception:  # fall back to a probe embedding
        dim = None
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        dim = len(await embedding.aembed_query(_DIM_PROBE))
    return int(dim)


async def _sparse_documents(embedder: Any, texts: list[str]) -> list[Any]:
    if callable(getattr(embedder, "aembed_documents", None)):
        return list(await embedder.aembed_documents(texts))
    return list(await asyncio.to_thread(embedder.embed_documents, texts))


async def _sparse_query(embedder: Any, text: str) -> Any:
    if callable(getattr(embedder, "aembed_query", None)):
        return await embedder.aembed_query(text)
    return await asyncio.to_thread(embedder.embed_query, text)


def search_legs(
    cfg: CollectionConfig,
    mode: RetrievalMode,
    fields: Any,
    weights: Any,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Leg, ...]:
    """The legs of a search over ``fields`` (names; default: the mode's fields, see
    :func:`milvus_rag.client.legs.default_fields`), ``weights`` a list in their order or a
    dict, ``params`` each field's search params."""
    searched = default_fields(cfg, mode, fields)
    by_field = field_weights(weights, [f.name for f in searched])
    return field_legs(searched, by_field, params)


class FieldEmbedders:
    """The primary dense field's ``Embeddings`` (``primary``; ``None`` on a collection
    without a dense field) and the other client-side fields' embedders by field name."""

    def __init__(self, primary: Embeddings | None, others: Mapping[str, Any] | None) -> None:
        if others is not None and not isinstance(others, Mapping):
            raise ConfigError(
                f"embeddings must be a dict {{field name: embedder}}, got {type(others).__name__}"
            )
        self.primary = primary
        self.others: dict[str, Any] = dict(others or {})
        for name, emb in self.others.items():
            if not isinstance(emb, Embeddings) and not is_sparse_embedder(emb):
                raise ConfigError(
                    f"embeddings[{name!r}] is {type(emb).__name__}: pass a LangChain "
                    "Embeddings (dense field) or a sparse embedder (embed_query(text) -> "
                    "{index: weight}, embed_documents(texts))"
                )

    def check(self, cfg: CollectionConfig, where: str = "embeddings=") -> None:
        """Each client-side field of ``cfg`` has an embedder of its kind; no other does."""
        if cfg.enable_dense and self.primary is None:
            raise ConfigError(
                f"collection {cfg.name!r} has a dense field {cfg.vector_field!r}: pass its "
                "embedding="
            )
        if not cfg.enable_dense and self.primary is not None:
            raise ConfigError(
                f"collection {cfg.name!r} has no dense field: pass embedding=None (and each "
                f"sparse field's embedder in {where})"
            )
        check_field_embedders(cfg, list(self.others), primary=True, where=where)
        for name, emb in self.others.items():
            dense = cfg.vector_field_named(name).is_dense
            if dense != isinstance(emb, Embeddings):
                kind = "dense: a LangChain Embeddings" if dense else "sparse: a sparse embedder"
                raise ConfigError(f"vector field {name!r} is {kind} fills it")

    async def ensure_dims(self, store: AsyncMilvusStore) -> None:
        """Give ``store`` every other dense field's dim it lacks, from its embedder."""
        for f in store.config.extra_vector_fields:
            if f.is_dense and f.dim is None and f.name in self.others:
                store.set_dim(await embedder_dim(self.others[f.name]), f.name)

    async def documents(self, cfg: CollectionConfig, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Each text's vectors of the other client-side fields (``Record.vectors``), the
        fields embedded concurrently."""
        names = [f.name for f in cfg.extra_vector_fields if f.name in self.others]
        texts = list(texts)
        per_field = await asyncio.gather(*(self._documents(n, texts) for n in names))
        return [
            {n: vectors[i] for n, vectors in zip(names, per_field, strict=True)}
            for i in range(len(texts))
        ]

    async def _documents(self, name: str, texts: list[str]) -> list[Any]:
        emb = self.others[name]
        out: list[Any]
        if isinstance(emb, Embeddings):
            out = list(await emb.aembed_documents(texts))
        else:
            out = [
                check_sparse_vector(v, f"{name!r} sparse vector")
                for v in await _sparse_documents(emb, texts)
            ]
        if len(out) != len(texts):
            raise InvalidInputError(
                f"the embedder of field {name!r} returned {len(out)} vectors for {len(texts)} texts"
            )
        return out

    async def primary_query(self, text: str) -> list[float]:
        """The primary dense field's query embedding of ``text``."""
        if self.primary is None:
            raise ConfigError("this store has no dense field: no query embedding to compute")
        return await self.primary.aembed_query(text)

    async def queries(self, text: str, names: Sequence[str]) -> dict[str, Any]:
        """The query of ``text`` for each field in ``names`` (those with an embedder in
        ``others``), embedded concurrently."""
        names = [n for n in names if n in self.others]
        got = await asyncio.gather(*(self._query(n, text) for n in names))
        return dict(zip(names, got, strict=True))

    async def _query(self, name: str, text: str) -> Any:
        emb = self.others[name]
        if isinstance(emb, Embeddings):
            return await emb.aembed_query(text)
        return check_sparse_vector(await _sparse_query(emb, text), f"{name!r} sparse query")

    async def with_vectors(self, cfg: CollectionConfig, records: list[Record]) -> list[Record]:
        """``records`` with the other client-side fields' vectors (``Record.vectors``; a
        record's own win)."""
        if not cfg.extra_vector_fields:
            return records
        self.check(cfg)
        vectors = await self.documents(cfg, [r.text for r in records])
        return [
            dataclasses.replace(r, vectors={**v, **r.vectors})
            for r, v in zip(records, vectors, strict=True)
        ]

    async def with_queries(self, request: SearchRequest, text: str) -> SearchRequest:
        """``request`` with the query of ``text`` for each of its legs that has none and
        an embedder here."""
        if request.legs is None:
            return request
        wanted = [leg.field for leg in request.legs if leg.query is None]
        return with_leg_queries(request, await self.queries(text, wanted))
