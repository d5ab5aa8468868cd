"""The LlamaIndex store's vector fields beyond the nodes' embeddings: one embedder per field.

A collection may hold several vector fields (:mod:`milvus_rag.client.vector_fields`). The
primary dense field holds each node's ``embedding`` (what ``VectorStoreIndex``'s
``embed_model`` computed) and the BM25 field is Milvus's to fill; every other field gets its
vectors from an embedder named for it: ``embed_models={"minilm": emb, "splade": fn}``, a
LlamaIndex ``BaseEmbedding`` for a dense field (``aget_text_embedding_batch`` /
``aget_query_embedding``), a sparse encoder for a client-side sparse field
(``encode_documents`` / ``encode_queries``, see :mod:`.sparse`). Each embeds the node's text
(its content without metadata), once per write for all the nodes written, and the query
text once per search.

:class:`FieldEmbedders` checks the pairing (every such field has an embedder of its kind,
every embedder a field), computes the vectors of a write, and the legs of a search over
``fields`` (:func:`milvus_rag.client.legs.default_fields`: every vector field in hybrid
mode, the primary dense one in default mode, the sparse one in sparse mode).

Example:
    >>> from milvus_rag.client.config import CollectionConfig
    >>> cfg = CollectionConfig(dim=2, enable_bm25=False)
    >>> FieldEmbedders.build(cfg, {}).fields
    ()
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import ConfigError
from milvus_rag.client.request import Leg
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.integrations.llama_index.sparse import SparseFunction, is_sparse_function

__all__ = ["FieldEmbedders", "embedder_for"]


def embedder_for(value: Any, name: str) -> Any:
    """An ``embed_models`` value as the embedder of field ``name``: a LlamaIndex
    ``BaseEmbedding`` (dense) as it is, a sparse encoder wrapped in :class:`SparseFunction`."""
    if isinstance(value, SparseFunction):
        return value
    if callable(getattr(value, "aget_text_embedding_batch", None)):
        return value
    if is_sparse_function(value):
        return SparseFunction(value)
    raise ConfigError(
        f"embed_models[{name!r}] must be a LlamaIndex embedding (a dense field) or a sparse "
        f"encoder with encode_documents / encode_queries (a sparse field), got {value!r}"
    )


def _is_dense(embedder: Any) -> bool:
    return not isinstance(embedder, SparseFunction)


@dataclass(frozen=True)
class FieldEmbedders:
    """The embedders of a collection's vector fields, by field name (see the module docs).

    Example:
        >>> # FieldEmbedders.build(cfg, {"minilm": emb}).fields
    """

    by_field: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.by_field)

    @classmethod
    def build(cls, cfg: CollectionConfig, embed_models: Mapping[str, Any] | None) -> FieldEmbedders:
        """``embed_models`` (field name -> embedder) checked against ``cfg``'s fields."""
        if embed_models is None:
            embed_models = {}
        if not isinstance(embed_models, Mapping):
            raise ConfigError(
                f"embed_models must be a dict {{vector field name: embedder}}, got {embed_models!r}"
            )
        out = cls({str(k): embedder_for(v, str(k)) for k, v in embed_models.items()})
        out.check(cfg)
        return out

    def check(self, cfg: CollectionConfig) -> None:
        """Every field filled on the client (but the primary dense one, the nodes'
        embeddings) has an embedder of its kind; every embedder names such a field."""
        names = {f.name: f for f in cfg.vector_fields}
        primary = cfg.vector_field if cfg.enable_dense else None
        for name, embedder in self.by_field.items():
            f = names.get(name)
            if f is None:
                raise ConfigError(
                    f"embed_models names {name!r}, which is no vector field of collection "
                    f"{cfg.name!r}; its vector fields are {list(names)}"
                )
            if name == primary:
                raise ConfigError(
                    f"{name!r} is the primary dense field: its vectors are the nodes' "
                    "embeddings (the index's embed_model); leave it out of embed_models"
                )
            if f.is_bm25:
                raise ConfigError(
                    f"{name!r} is the BM25 field: Milvus fills it from the text; leave it "
                    "out of embed_models"
                )
            if f.is_dense != _is_dense(embedder):
                want = "a LlamaIndex embedding" if f.is_dense else "a sparse encoder"
                raise ConfigError(
                    f"vector field {name!r} is {f.kind}: embed_models[{name!r}] must be {want}"
                )
        missing = [
            f.name for f in cfg.client_fields if f.name != primary and f.name not in self.by_field
        ]
        if missing:
            raise ConfigError(
                f"vector field(s) {missing} have no embedder: name one per field, "
                f"embed_models={{{', '.join(repr(m) + ': ...' for m in missing)}}}"
            )

    async def vectors(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        """Each text's vectors, by field (one embedder call per field for all the texts)."""
        out: list[dict[str, Any]] = [{} for _ in texts]
        if not texts:
            return out
        for name, embedder in self.by_field.items():
            if isinstance(embedder, SparseFunction):
                rows: list[Any] = await embedder.adocuments(texts)
            else:
                rows = list(await embedder.aget_text_embedding_batch(list(texts)))
                if len(rows) != len(texts):
                    raise ConfigError(
                        f"embed_models[{name!r}] returned {len(rows)} embeddings for {len(texts)} texts"
                    )
            for vecs, row in zip(out, rows, strict=True):
                vecs[name] = row
        return out

    async def leg(self, f: VectorField, primary: str | None, text: str | None, vector: Any) -> Leg:
        """The leg searching field ``f`` for the query (``text``; ``vector``: the query
        embedding, the primary dense field's query)."""
        if f.name == primary:
            if vector is None:
                raise ConfigError(f"searching the dense field {f.name!r} needs a query_embedding")
            return Leg(f.name, vector)
        if f.is_bm25:
            return Leg(f.name)  # the request's text
        embedder = self.by_field.get(f.name)
        if embedder is None:
            raise ConfigError(
                f"vector field {f.name!r} has no embedder (embed_models) to embed the query"
            )
        if not text:
            raise ConfigError(f"searching {f.name!r} needs a query_str to embed")
        if isinstance(embedder, SparseFunction):
            return Leg(f.name, await embedder.aquery(text))
        return Leg(f.name, await embedder.aget_query_embedding(text))
