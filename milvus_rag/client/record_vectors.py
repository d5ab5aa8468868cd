"""Checking the vectors of a collection's other vector fields in records about to be written.

``Record.vector`` is the primary dense field's (checked by
:func:`~milvus_rag.client.records.validate_records`); ``Record.vectors`` holds, by field name,
the vector of every other field the caller fills: a dense extra's floats (its own dim), a
client-side sparse field's ``{index: weight}``. The BM25 field is Milvus's to fill. Every such
field needs its vector in every record (Milvus has no default for a vector field), so the
whole call is checked before anything is written. Pure.

An empty sparse vector (no non-zero weight) is refused on every backend: measured, a Milvus
Lite 3 server refuses one ("sparse vector must contain at least one nonzero float32
weight"), while a Lite 2.5 file stores it; refusing it everywhere keeps one behaviour.

Example:
    >>> from milvus_rag.client.records import Record
    >>> limits = VectorLimits(dense={"title": 2}, sparse=("splade",))
    >>> r = Record(id="a", text="t", vectors={"title": [1, 0], "splade": {3: 0.5}})
    >>> check_vectors([r], limits)[0].vectors["splade"]
    {3: 0.5}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import InvalidInputError
from milvus_rag.client.query_values import check_sparse_vector
from milvus_rag.client.records import Record
from milvus_rag.client.vector_fields import VectorField


@dataclass(frozen=True)
class VectorLimits:
    """The vector fields records fill besides the primary: dense ones by name with their
    dim, client-side sparse ones by name."""

    dense: Mapping[str, int] = field(default_factory=dict)
    sparse: tuple[str, ...] = ()

    @classmethod
    def of(cls, cfg: CollectionConfig, found: Sequence[VectorField] | None = None) -> VectorLimits:
        """The limits of ``cfg``'s extra fields, their dims from ``found`` (the collection's
        fields as described) where given, else from ``cfg``."""
        dims = {f.name: f.dim for f in found or () if f.is_dense}
        dense: dict[str, int] = {}
        for f in cfg.extra_vector_fields:
            if f.is_dense:
                dim = dims.get(f.name) or f.dim
                if dim is None:
                    raise InvalidInputError(f"vector field {f.name!r} has no dim yet")
                dense[f.name] = int(dim)
        sparse = tuple(f.name for f in cfg.extra_vector_fields if f.is_client_sparse)
        return cls(dense=dense, sparse=sparse)

    @property
    def names(self) -> list[str]:
        return [*self.dense, *self.sparse]


def check_vectors(records: Sequence[Record], limits: VectorLimits) -> list[Record]:
    """``records`` with each ``vectors`` checked and normalised (dense: float32 arrays;
    sparse: ``{int: float}``); :class:`InvalidInputError` naming the first bad record and
    field, and how to fix it."""
    names = set(limits.names)
    if not names and not any(r.vectors for r in records):
        return list(records)  # the common case: one dense field (and BM25)
    out = []
    for i, r in enumerate(records):
        where = f"record {i} ({r.id!r})"
        unknown = sorted(set(r.vectors) - names)
        if unknown:
            raise InvalidInputError(
                f"{where}: vectors {unknown} name no vector field this record fills; its "
                f"fields are {sorted(names) or 'none'} (Record.vector is the primary dense "
                "field's, the BM25 field is filled by Milvus)"
            )
        missing = [n for n in limits.names if r.vectors.get(n) is None]
        if missing:
            raise InvalidInputError(
                f"{where}: vectors[{missing[0]!r}] is missing: every record needs a vector "
                f"for each of the collection's vector fields {limits.names} (give "
                f"Record(vectors={{{missing[0]!r}: ...}}))"
            )
        if not names:
            out.append(r)
            continue
        checked: dict[str, object] = {}
        for name, dim in limits.dense.items():
            checked[name] = _dense(r.vectors[name], dim, f"{where}: vectors[{name!r}]")
        for name in limits.sparse:
            checked[name] = _sparse(r.vectors[name], f"{where}: vectors[{name!r}]")
        out.append(replace(r, vectors=checked))
    return out


def _dense(vector: object, dim: int, where: str) -> np.ndarray:
    if isinstance(vector, Mapping):
        raise InvalidInputError(f"{where} is a dense field's: give a list of {dim} floats")
    try:
        arr = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{where} is not a sequence of numbers") from None
    if arr.ndim != 1 or arr.shape[0] != dim:
        raise InvalidInputError(f"{where} has shape {tuple(arr.shape)}, the field's dim is {dim}")
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"{where} contains NaN or inf")
    return arr


def _sparse(vector: object, where: str) -> dict[int, float]:
    out = check_sparse_vector(vector, where)
    if not any(out.values()):
        raise InvalidInputError(
            f"{where} has no non-zero weight: a sparse vector needs at least one (a Milvus "
            "server refuses an empty one); give the record a non-empty sparse vector"
        )
    return out
