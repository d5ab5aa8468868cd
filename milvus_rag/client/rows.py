"""Pure conversions between milvus-rag types and what pymilvus sends and returns.

Records to row dicts, query/search results to :class:`Record` and :class:`Hit` (with the
score and relevance each mode defines), id lists checked. No I/O.

Example:
    >>> from milvus_rag.client.config import CollectionConfig
    >>> cfg = CollectionConfig(dim=2)
    >>> to_record(cfg, {"id": "a", "text": "t", "metadata": {"k": 1}}).metadata
    {'k': 1}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.fusion import (
    bm25_relevance,
    cosine_relevance,
    dense_relevance,
    dense_score,
    rrf_fuse,
    weighted_fuse,
)
from milvus_rag.client.records import Hit, Record
from milvus_rag.client.tenancy import check_tenant
from milvus_rag.client.typed_fields import join_metadata, split_metadata


def to_row(
    cfg: CollectionConfig,
    r: Record,
    *,
    tenant: str | None = None,
    nullable: bool = True,
    where: str = "record",
) -> dict[str, Any]:
    """The row dict pymilvus writes: typed metadata keys and the tenant as their columns.

    ``tenant`` stamps the row; without it (``all_tenants=True``) a tenant collection takes
    the tenant from ``metadata[tenant_field]``. Raises :class:`InvalidInputError`.
    """
    metadata = r.metadata
    row: dict[str, Any] = {
        cfg.id_field: r.id,
        cfg.text_field: r.text,
        cfg.vector_field: r.vector,
        cfg.doc_id_field: r.doc_id,
    }
    if cfg.tenant_field is not None:
        metadata = dict(metadata)
        row[cfg.tenant_field] = _row_tenant(
            cfg.tenant_field, metadata.pop(cfg.tenant_field, None), tenant, where
        )
    if cfg.metadata_fields:
        columns, metadata = split_metadata(
            cfg.typed_fields, metadata, nullable=nullable, where=where
        )
        row.update(columns)
    row[cfg.metadata_field] = metadata
    return row


def _row_tenant(field: str, stated: object, tenant: str | None, where: str) -> str:
    if stated is not None and tenant is not None and stated != tenant:
        raise InvalidInputError(
            f"{where}: metadata[{field!r}] is {stated!r}, but the call writes tenant "
            f"{tenant!r}: a row cannot move to another tenant this way (leave the key out)"
        )
    value = tenant if tenant is not None else stated
    if value is None:
        raise InvalidInputError(
            f"{where}: all_tenants=True writes each row to the tenant in its "
            f"metadata[{field!r}], and this one has none: set it, or pass tenant=..."
        )
    try:
        return check_tenant(value)
    except ConfigError as e:
        raise InvalidInputError(f"{where}: metadata[{field!r}]: {e}") from None


def check_rows(
    cfg: CollectionConfig, records: Sequence[Record], tenant: str | None, nullable: bool
) -> None:
    """Validate the tenant and the typed metadata of every record (before any write)."""
    if cfg.tenant_field is None and not cfg.metadata_fields:
        return
    for i, r in enumerate(records):
        to_row(cfg, r, tenant=tenant, nullable=nullable, where=f"record {i} ({r.id!r})")


def output_fields(cfg: CollectionConfig, with_vectors: bool) -> list[str]:
    out = [cfg.id_field, cfg.text_field, cfg.doc_id_field, cfg.metadata_field]
    if cfg.tenant_field is not None:
        out.append(cfg.tenant_field)
    out.extend(cfg.metadata_fields)
    return [*out, cfg.vector_field] if with_vectors else out


def to_record(cfg: CollectionConfig, entity: dict[str, Any]) -> Record:
    """A stored row as a Record: one metadata dict (JSON keys, typed keys, the tenant)."""
    vec = entity.get(cfg.vector_field)
    if cfg.metadata_fields:
        metadata = join_metadata(cfg.typed_fields, entity, cfg.metadata_field)
    else:
        metadata = dict(entity.get(cfg.metadata_field) or {})
    if cfg.tenant_field is not None and entity.get(cfg.tenant_field) is not None:
        metadata[cfg.tenant_field] = entity[cfg.tenant_field]
    return Record(
        id=str(entity.get(cfg.id_field, "")),
        text=str(entity.get(cfg.text_field) or ""),
        vector=[float(x) for x in vec] if vec is not None else None,
        metadata=metadata,
        doc_id=str(entity.get(cfg.doc_id_field) or ""),
    )


def with_vectors(batch: list[Record], vectors: object, dim: int) -> list[Record]:
    """``batch`` with the vectors an embedder returned for its records that had none."""
    todo = [i for i, r in enumerate(batch) if r.vector is None]
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2 or arr.shape != (len(todo), dim):
        raise InvalidInputError(
            f"the embedding function returned shape {arr.shape}, expected "
            f"({len(todo)}, {dim}): does the embedder match the collection's dim?"
        )
    if not np.isfinite(arr).all():
        raise InvalidInputError("the embedding function returned NaN or inf")
    out = list(batch)
    for j, i in enumerate(todo):
        r = batch[i]
        out[i] = Record(id=r.id, text=r.text, vector=arr[j], metadata=r.metadata, doc_id=r.doc_id)
    return out


def _pairs(cfg: CollectionConfig, result: Any) -> list[tuple[Record, float]]:
    out = []
    for h in result[0] if result else []:
        entity = dict(h.get("entity") or {})
        entity.setdefault(cfg.id_field, h.get("id"))
        out.append((to_record(cfg, entity), float(h.get("distance", 0.0))))
    return out


def dense_hits(cfg: CollectionConfig, result: Any) -> list[Hit]:
    """Dense results: score = similarity (or -L2), relevance per metric."""
    m = cfg.metric
    return [
        Hit(r.id, dense_score(m, d), d, r, dense_relevance(m, d)) for r, d in _pairs(cfg, result)
    ]


def sparse_hits(cfg: CollectionConfig, result: Any) -> list[Hit]:
    """BM25 results. Backends disagree on the sign of BM25 distances: the score is the
    magnitude; relevance is :func:`~milvus_rag.client.fusion.bm25_relevance` of it (see
    :func:`with_relevance` where the query vector is known)."""
    pairs = _pairs(cfg, result)
    return [Hit(r.id, abs(d), d, r, bm25_relevance(abs(d))) for r, d in pairs]


def with_relevance(
    hits: list[Hit], query: Any, metric: str, keep_vectors: bool = False
) -> list[Hit]:
    """``hits`` with the dense relevance computed from their stored vectors and the query
    vector (hits without a vector keep theirs); vectors dropped unless ``keep_vectors``."""
    idx = [i for i, h in enumerate(hits) if h.record.vector is not None]
    rel: dict[int, float] = {}
    if query is not None and idx:
        vecs = np.asarray([hits[i].record.vector for i in idx], dtype=np.float32)
        rel = dict(zip(idx, cosine_relevance(query, vecs, metric), strict=True))
    out = []
    for i, h in enumerate(hits):
        r = h.record
        if not keep_vectors and r.vector is not None:
            r = Record(id=r.id, text=r.text, metadata=r.metadata, doc_id=r.doc_id)
        out.append(Hit(h.id, h.score, h.distance, r, rel.get(i, h.relevance)))
    return out


def rrf_hits(
    cfg: CollectionConfig, result: Any, query: Any = None, keep_vectors: bool = True
) -> list[Hit]:
    """Server-side RRF results: score = the fused RRF score; relevance = the dense
    relevance of each hit (from its vector, returned with it, and ``query``)."""
    hits = [Hit(r.id, d, d, r, 0.0) for r, d in _pairs(cfg, result)]
    return with_relevance(hits, query, cfg.metric, keep_vectors)


def weighted_hits(
    dense: list[Hit],
    sparse: list[Hit],
    alpha: float,
    k: int,
    query: Any = None,
    metric: str = "COSINE",
    keep_vectors: bool = True,
) -> list[Hit]:
    """Client-side weighted fusion of two legs (normalised per leg, see ``weighted_fuse``);
    score = the fused score, relevance = the dense relevance (as :func:`rrf_hits`)."""
    by_id = {h.id: h for h in sparse}
    by_id.update({h.id: h for h in dense})
    fused = weighted_fuse(
        [(h.id, h.score) for h in dense], [(h.id, h.score) for h in sparse], alpha
    )
    hits = [Hit(i, s, s, by_id[i].record, by_id[i].relevance) for i, s in fused[:k]]
    return with_relevance(hits, query, metric, keep_vectors)


def fanout_hits(results: Sequence[list[Hit]], k: int, rrf_k: int) -> list[Hit]:
    """Client-side RRF over several result lists (one per query string); relevance = the
    best relevance the hit has in any list (each against its own query)."""
    by_id: dict[str, Hit] = {}
    best: dict[str, float] = {}
    for hits in results:
        for h in hits:
            by_id.setdefault(h.id, h)
            best[h.id] = max(best.get(h.id, 0.0), h.relevance)
    fused = rrf_fuse([[h.id for h in hits] for hits in results], k=rrf_k)
    return [Hit(i, s, s, by_id[i].record, best[i]) for i, s in fused[:k]]


def check_ids(ids: Sequence[str]) -> list[str]:
    if isinstance(ids, str):
        raise InvalidInputError("ids must be a list of str, not one str")
    out = list(ids)
    for i in out:
        if not isinstance(i, str):
            raise InvalidInputError(f"ids must be str, got {type(i).__name__}: {i!r}")
    return out
