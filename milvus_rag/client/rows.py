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
from typing import Any, Literal

import numpy as np

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.filters import Column, FieldNames
from milvus_rag.client.fusion import (
    bm25_relevances,
    cosine_relevance,
    dense_relevances,
    dense_scores,
    rrf_fuse,
    weighted_fuse_n,
)
from milvus_rag.client.node_content import RESERVED, from_node_keys, node_keys
from milvus_rag.client.records import (
    PRIVATE_KEY,
    Hit,
    Record,
    int64_id,
    make_hits,
    public_metadata,
)
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
    row: dict[str, Any] = {cfg.text_field: r.text}
    if cfg.enable_dense:
        row[cfg.vector_field] = r.vector
    for f in cfg.extra_vector_fields:
        row[f.name] = r.vectors.get(f.name)
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
    names = [cfg.id_field, cfg.text_field, *(f.name for f in cfg.vector_fields)]
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
    """The fields a read returns: the row's own, and with ``with_vectors`` every vector field
    the caller writes (the primary dense one first; the BM25 field is Milvus's)."""
    # a dynamic text comes with "$meta" (naming a dynamic key beside it returns that key only)
    out = [cfg.id_field] if cfg.dynamic_text else [cfg.id_field, cfg.text_field]
    out += [n for n in (cfg.doc_id_field, cfg.metadata_field, cfg.tenant_field) if n]
    out.extend(cfg.metadata_fields)
    if cfg.dynamic_field:
        out.append("$meta")
    return [*out, *(f.name for f in cfg.client_fields)] if with_vectors else out


def to_record(cfg: CollectionConfig, entity: dict[str, Any]) -> Record:
    """A stored row as a Record: one metadata dict (JSON or dynamic keys, typed keys, the
    tenant; a llama-index row's node data under the private key)."""
    return RecordReader(cfg).record(entity)


class RecordReader:
    """Stored rows to Records for one collection config: what every row needs from the
    config (typed fields, names, layout) is read once, not once per row."""

    __slots__ = (
        "cfg",
        "dense",
        "doc_field",
        "extras",
        "known",
        "llama",
        "meta_field",
        "tenant_field",
        "typed",
    )

    def __init__(self, cfg: CollectionConfig) -> None:
        self.cfg = cfg
        self.typed = cfg.typed_fields
        self.known = frozenset(schema_fields(cfg)) if cfg.metadata_storage != "json" else None
        self.meta_field = str(cfg.metadata_field)
        self.doc_field = cfg.doc_id_field
        self.tenant_field = cfg.tenant_field
        self.llama = cfg.layout == "llama_index"
        self.dense = cfg.vector_field if cfg.enable_dense else None
        self.extras = tuple((f.name, f.is_dense) for f in cfg.extra_vector_fields)

    def record(self, entity: dict[str, Any], *, vectors: bool = True) -> Record:
        """``entity`` (a row dict) as a Record; its vector too unless ``vectors`` is False."""
        cfg = self.cfg
        if self.known is None:
            metadata = join_metadata(self.typed, entity, self.meta_field)
        else:
            rest = {k: v for k, v in entity.items() if k not in self.known}
            metadata = join_metadata(self.typed, {**entity, "": rest}, "")
        doc_id = str(entity.get(self.doc_field) or "") if self.doc_field else ""
        if self.llama:
            private, node_meta, doc_id = from_node_keys({**entity, "doc_id": doc_id or None})
            for k in RESERVED:
                metadata.pop(k, None)
            if private:
                metadata = {**metadata, **node_meta, PRIVATE_KEY: private}
        if self.tenant_field is not None and entity.get(self.tenant_field) is not None:
            metadata[self.tenant_field] = entity[self.tenant_field]
        vec = entity.get(self.dense) if vectors and self.dense is not None else None
        others: dict[str, Any] = {}
        if vectors:
            for name, dense in self.extras:
                value = entity.get(name)
                if value is not None:
                    others[name] = _vector(value) if dense else sparse_vector(value)
        return Record(
            id=str(entity.get(cfg.id_field, "")),
            text=str(entity.get(cfg.text_field) or ""),
            vector=_vector(vec),
            metadata=metadata,
            doc_id=doc_id,
            vectors=others,
        )


def _vector(vec: Any) -> list[float] | None:
    """A returned vector as a list of floats (pymilvus returns a float vector as one)."""
    if vec is None:
        return None
    if isinstance(vec, list):
        return vec
    if isinstance(vec, np.ndarray):  # the prepared search path's (client/wire.py)
        out: list[float] = vec.tolist()
        return out
    return [float(x) for x in vec]


def sparse_vector(value: Any) -> dict[int, float]:
    """A returned sparse vector as ``{index: weight}`` (measured: pymilvus returns a dict of
    int to float on a Milvus Lite 2.5 file and a Lite 3 server; a one-row scipy matrix is
    read too)."""
    if hasattr(value, "tocoo"):
        coo = value.tocoo()
        return {int(c): float(v) for c, v in zip(coo.col, coo.data, strict=True)}
    return {int(k): float(v) for k, v in dict(value).items()}


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
        out[i] = Record(
            id=r.id,
            text=r.text,
            vector=arr[j],
            metadata=r.metadata,
            doc_id=r.doc_id,
            vectors=r.vectors,
        )
    return out


class Rows:
    """One search result list in columns: the hits' records (vectors attached only when
    kept), their distances, and the stored vectors returned with them (``None`` each when
    not returned).

    A collection whose metadata is one JSON field (no typed columns, tenant field or
    llama-index node keys) takes each row's decoded metadata dict as it is (the result is
    this call's own); every other row is read by :class:`RecordReader`, with the same
    result (see ``tests/unit/test_rows_fast.py``)."""

    __slots__ = ("distances", "records", "vectors")

    def __init__(self, cfg: CollectionConfig, result: Any, keep_vectors: bool = False) -> None:
        hits = result[0] if result else []
        id_field, vf = cfg.id_field, cfg.vector_field
        text_field, doc_field, meta_field = cfg.text_field, cfg.doc_id_field, cfg.metadata_field
        plain = not keep_vectors and _plain(cfg)
        reader: RecordReader | None = None
        get = dict.get  # pymilvus's Hit is a dict whose own get() is Python (slower)
        records: list[Record] = []
        distances: list[float] = []
        vectors: list[Any] = []
        for h in hits:
            entity = get(h, "entity") or {}
            if id_field not in entity:
                entity = {**entity, id_field: get(h, "id")}
            meta = entity.get(meta_field) if plain else None
            if type(meta) is dict and NULLS_KEY not in meta:
                doc = entity.get(doc_field) if doc_field else ""
                records.append(
                    Record(
                        str(entity.get(id_field, "")),
                        str(entity.get(text_field) or ""),
                        None,
                        meta,
                        str(doc or ""),
                    )
                )
            else:
                if reader is None:
                    reader = RecordReader(cfg)
                records.append(reader.record(entity, vectors=keep_vectors))
            distances.append(float(get(h, "distance", 0.0)))
            vectors.append(entity.get(vf))
        self.records, self.distances, self.vectors = records, distances, vectors


def _plain(cfg: CollectionConfig) -> bool:
    """Whether a row's metadata is its JSON field's dict and nothing else (see :class:`Rows`)."""
    return (
        cfg.metadata_storage == "json"
        and not cfg.metadata_fields
        and cfg.tenant_field is None
        and cfg.layout != "llama_index"
        and cfg.metadata_field is not None
    )


HitKind = Literal["dense", "bm25", "sparse"]
"""What a search leg searched: a dense field, the BM25 field, a client-side sparse field."""
RelevanceFrom = Literal["distance", "bm25", "vectors", "none"]
"""Where a leg's hits take their relevance (see :mod:`milvus_rag.client.fusion`)."""


def field_hits(
    cfg: CollectionConfig,
    result: Any,
    *,
    kind: HitKind = "dense",
    metric: str | None = None,
    relevance: RelevanceFrom = "distance",
    query: Any = None,
    keep_vectors: bool = True,
) -> list[Hit]:
    """The hits of one search of one field. Score: a dense field's similarity (or -L2, by
    ``metric``, default the collection's), BM25's magnitude (backends disagree on the sign
    of BM25 distances), a client-side sparse field's inner product. Relevance (see
    ``fusion``): ``"distance"`` by the dense field's metric, ``"bm25"``
    :func:`~milvus_rag.client.fusion.bm25_relevance`, ``"vectors"`` the primary dense
    relevance computed from each hit's returned primary vector and ``query`` (none where no
    vector came back), ``"none"``."""
    m = metric or cfg.metric
    rows = Rows(cfg, result, keep_vectors)
    dists = rows.distances
    # scores and relevance of the whole list at once (one Python call per hit each, before)
    if kind == "dense":
        scores = dense_scores(m, dists)
    elif kind == "bm25":
        scores = [abs(d) for d in dists]
    else:
        scores = list(dists)
    rel: Sequence[float | None]
    if relevance == "distance":
        rel = dense_relevances(m, dists)
    elif relevance == "bm25":
        rel = bm25_relevances(scores)
    elif relevance == "vectors":
        rel = relevances(rows.vectors, query, cfg.metric)
    else:
        rel = [None] * len(dists)
    return make_hits(rows.records, scores, dists, rel)


def dense_hits(cfg: CollectionConfig, result: Any, keep_vectors: bool = True) -> list[Hit]:
    """The hits of a search of the primary dense field (:func:`field_hits`' defaults):
    score = similarity (or -L2), relevance from the distance."""
    return field_hits(cfg, result, keep_vectors=keep_vectors)


def relevances(vectors: Sequence[Any], query: Any, metric: str) -> list[float | None]:
    """The dense relevance of each returned vector for ``query`` (``None`` where no vector
    came back, or without a query vector), computed in one matrix product."""
    idx = [i for i, v in enumerate(vectors) if v is not None]
    out: list[float | None] = [None] * len(vectors)
    if query is None or not idx:
        return out
    arr = np.asarray([vectors[i] for i in idx], dtype=np.float32)
    for i, x in zip(idx, cosine_relevance(query, arr, metric), strict=True):
        out[i] = x
    return out


def rrf_hits(
    cfg: CollectionConfig, result: Any, query: Any = None, keep_vectors: bool = True
) -> list[Hit]:
    """Server-side RRF results (any number of legs): score = the fused RRF score;
    relevance = the primary dense relevance of each hit, computed from its vector where it
    came back (see ``SearchRequest.relevance``) and ``query`` is known, else not computed."""
    rows = Rows(cfg, result, keep_vectors)
    rel = relevances(rows.vectors, query, cfg.metric)
    return make_hits(rows.records, rows.distances, rows.distances, rel)


def fused_hits(
    legs: Sequence[list[Hit]],
    k: int,
    *,
    rrf_k: int | None = None,
    weights: Sequence[float] | None = None,
    relevance: bool = True,
    prefer: int = 0,
) -> list[Hit]:
    """Client-side fusion of several legs' hits into the top ``k``: RRF (constant
    ``rrf_k``, as the server fuses) or, with ``weights``, weighted fusion of the
    min-max-normalised legs (``weighted_fuse_n``). Score = the fused score; relevance = the
    one a leg gave the hit (leg ``prefer``'s where it has the hit: the primary dense leg,
    whose relevance is its distance; else the first leg that computed one) when ``relevance``, else not computed (as
    :func:`rrf_hits`)."""
    by_id: dict[str, Hit] = {}
    for hits in reversed(legs):  # the first leg that has a hit gives it
        by_id.update({h.id: h for h in hits})
    if relevance:  # ... unless it computed no relevance and another leg did
        for hits in legs:
            for h in hits:
                if by_id[h.id].computed_relevance is None and h.computed_relevance is not None:
                    by_id[h.id] = h
    if legs:
        by_id.update({h.id: h for h in legs[prefer]})
    if weights is not None:
        fused = weighted_fuse_n([[(h.id, h.score) for h in hits] for hits in legs], weights)
    else:
        if rrf_k is None:
            raise ValueError("fused_hits needs rrf_k or weights")
        fused = rrf_fuse([[h.id for h in hits] for hits in legs], k=rrf_k)
    return _fused(by_id, fused[:k], relevance)


def _fused(by_id: dict[str, Hit], fused: list[tuple[str, float]], relevance: bool) -> list[Hit]:
    # without relevance asked for, no fused hit has one: the same whichever leg found it
    return [
        Hit(i, s, s, by_id[i].record, by_id[i].computed_relevance if relevance else None)
        for i, s in fused
    ]


def fanout_hits(results: Sequence[list[Hit]], k: int, rrf_k: int) -> list[Hit]:
    """Client-side RRF over several result lists (one per query string); relevance = the
    best relevance the hit has in any list (each against its own query), where computed."""
    by_id: dict[str, Hit] = {}
    best: dict[str, float | None] = {}
    for hits in results:
        for h in hits:
            by_id.setdefault(h.id, h)
            rel, seen = h.computed_relevance, best.get(h.id)
            if seen is None or (rel is not None and rel > seen):
                best[h.id] = rel
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
