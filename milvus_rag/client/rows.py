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
from milvus_rag.client.filters import Column, FieldNames
from milvus_rag.client.fusion import (
    bm25_relevance,
    cosine_relevance,
    dense_relevance,
    dense_score,
    rrf_fuse,
    weighted_fuse,
)
from milvus_rag.client.node_content import RESERVED, from_node_keys, node_keys
from milvus_rag.client.records import PRIVATE_KEY, Hit, Record, int64_id, public_metadata
from milvus_rag.client.tenancy import check_tenant
from milvus_rag.client.typed_fields import NULLS_KEY, join_metadata, split_metadata


def to_row(
    cfg: CollectionConfig,
    r: Record,
    *,
    tenant: str | None = None,
    nullable: bool = True,
    where: str = "record",
) -> dict[str, Any]:
    """The row dict pymilvus writes: typed metadata keys and the tenant as their columns, the
    other keys in the JSON field or as dynamic fields (per ``cfg``'s layout; ``llama_index``
    adds its node keys, see :mod:`.node_content`).

    ``tenant`` stamps the row; without it (``all_tenants=True``) a tenant collection takes
    the tenant from ``metadata[tenant_field]``. Raises :class:`InvalidInputError`.
    """
    metadata = r.metadata
    row: dict[str, Any] = {cfg.text_field: r.text, cfg.vector_field: r.vector}
    if cfg.id_type == "int64":
        if not (cfg.auto_id and r.id in ("", None)):
            row[cfg.id_field] = int(int64_id(r.id, f"{where}: id"))
    else:
        row[cfg.id_field] = r.id
    if cfg.doc_id_field is not None:
        row[cfg.doc_id_field] = r.doc_id
    elif r.doc_id:
        raise InvalidInputError(
            f"{where}: doc_id {r.doc_id!r} given, but this collection has no doc_id field: "
            "keep the source id in metadata instead"
        )
    if cfg.tenant_field is not None:
        metadata = dict(metadata)
        row[cfg.tenant_field] = _row_tenant(
            cfg.tenant_field, metadata.pop(cfg.tenant_field, None), tenant, where
        )
    private: Any = None
    if cfg.layout == "llama_index":
        metadata = dict(metadata)
        private = metadata.pop(PRIVATE_KEY, None)
    json_meta = metadata
    if cfg.metadata_fields:
        # a missing typed value needs the JSON field (nulls are recorded there on Lite 2.5);
        # without one (langchain-milvus's typed columns), every row has a value
        can_null = nullable and cfg.metadata_storage == "json"
        columns, json_meta = split_metadata(
            cfg.typed_fields, metadata, nullable=can_null, where=where
        )
        if NULLS_KEY in json_meta and cfg.metadata_storage != "json":
            missing = sorted(json_meta.pop(NULLS_KEY))
            raise InvalidInputError(
                f"{where}: metadata {missing} missing, and this collection stores those keys "
                "as columns that cannot be empty: give every record a value for them"
            )
        row.update(columns)
    _place_metadata(cfg, row, json_meta, where)
    if cfg.layout == "llama_index":
        keys = node_keys(str(r.id), public_metadata(metadata), private, r.doc_id)
        if cfg.doc_id_field is not None:
            row[cfg.doc_id_field] = keys.pop("doc_id")
        row.update(keys)
    return row


def _place_metadata(
    cfg: CollectionConfig, row: dict[str, Any], metadata: dict[str, Any], where: str
) -> None:
    """The metadata keys without a column of their own: into the JSON field, as dynamic
    fields, or (typed columns only) an error naming them."""
    storage = cfg.metadata_storage
    if storage == "json":
        row[str(cfg.metadata_field)] = metadata
        return
    if not metadata:
        return
    if storage == "columns":
        raise InvalidInputError(
            f"{where}: metadata {sorted(metadata)} has no column in this collection (its "
            f"metadata columns are {sorted(cfg.metadata_fields)}, and it has no JSON or "
            "dynamic field): leave those keys out, or migrate the collection "
            "(`milvus-rag migrate`) to keep any metadata"
        )
    reserved = set(row) | set(schema_fields(cfg))
    if cfg.layout == "llama_index":
        reserved |= set(RESERVED)
    clash = sorted(k for k in metadata if k in reserved)
    if clash:
        raise InvalidInputError(
            f"{where}: metadata keys {clash} are fields of this collection (or reserved by "
            "its layout); rename them"
        )
    row.update(metadata)


def filter_fields(cfg: CollectionConfig) -> FieldNames:
    """The filter compiler's view of ``cfg``'s fields (see :class:`FieldNames`)."""
    return FieldNames(
        id=cfg.id_field,
        doc_id=cfg.doc_id_field or "doc_id",
        metadata=cfg.metadata_field or "metadata",
        storage=cfg.metadata_storage,
        id_type=cfg.id_type,
        has_doc_id=cfg.doc_id_field is not None,
    )


def filter_columns(cfg: CollectionConfig) -> tuple[Column, ...]:
    """The typed metadata columns as filter columns. A typed key may be missing only where
    metadata has a JSON field (a null on servers, recorded in the JSON on Milvus Lite 2.5);
    in the other layouts every row has a value (see :func:`to_row`)."""
    nullable = cfg.metadata_storage == "json"
    return tuple(Column(f.name, f.element, f.array, nullable) for f in cfg.typed_fields)


def schema_fields(cfg: CollectionConfig) -> list[str]:
    """Every field of the collection's schema (no dynamic keys)."""
    names = [cfg.id_field, cfg.text_field, cfg.vector_field]
    if cfg.enable_bm25:
        names.append(cfg.sparse_field)
    names += [n for n in (cfg.doc_id_field, cfg.metadata_field, cfg.tenant_field) if n]
    return [*names, *cfg.metadata_fields]


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
    out = [cfg.id_field, cfg.text_field]
    out += [n for n in (cfg.doc_id_field, cfg.metadata_field, cfg.tenant_field) if n]
    out.extend(cfg.metadata_fields)
    if cfg.dynamic_field:
        out.append("$meta")
    return [*out, cfg.vector_field] if with_vectors else out


def to_record(cfg: CollectionConfig, entity: dict[str, Any]) -> Record:
    """A stored row as a Record: one metadata dict (JSON or dynamic keys, typed keys, the
    tenant; a llama-index row's node data under the private key)."""
    vec = entity.get(cfg.vector_field)
    storage = cfg.metadata_storage
    if storage == "json":
        metadata = join_metadata(cfg.typed_fields, entity, str(cfg.metadata_field))
    else:
        known = set(schema_fields(cfg))
        rest = {k: v for k, v in entity.items() if k not in known}
        metadata = join_metadata(cfg.typed_fields, {**entity, "": rest}, "")
    doc_id = str(entity.get(cfg.doc_id_field) or "") if cfg.doc_id_field else ""
    if cfg.layout == "llama_index":
        private, node_meta, doc_id = from_node_keys({**entity, "doc_id": doc_id or None})
        for k in RESERVED:
            metadata.pop(k, None)
        if private:
            metadata = {**metadata, **node_meta, PRIVATE_KEY: private}
    if cfg.tenant_field is not None and entity.get(cfg.tenant_field) is not None:
        metadata[cfg.tenant_field] = entity[cfg.tenant_field]
    return Record(
        id=str(entity.get(cfg.id_field, "")),
        text=str(entity.get(cfg.text_field) or ""),
        vector=[float(x) for x in vec] if vec is not None else None,
        metadata=metadata,
        doc_id=doc_id,
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


def check_ids(ids: Sequence[str | int], id_type: str = "varchar") -> list[str]:
    """``ids`` as a list of str; on an INT64 primary key ints (or their decimal strings)."""
    if isinstance(ids, str | int):
        raise InvalidInputError("ids must be a list, not one id")
    out = list(ids)
    if id_type == "int64":
        return [int64_id(i, "ids") for i in out]
    for i in out:
        if not isinstance(i, str):
            raise InvalidInputError(f"ids must be str, got {type(i).__name__}: {i!r}")
    return [str(i) for i in out]
