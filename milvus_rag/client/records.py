"""Record and Hit, the row and result types shared by every adapter, and the pure row
validation. (The search value, :class:`SearchRequest`, lives in :mod:`.request`.)

Example:
    >>> r = Record(id="a", text="hello", vector=[0.1, 0.2], metadata={"k": "v"})
    >>> r.doc_id
    ''
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from milvus_rag.client.errors import ConfigError, DuplicateIdsError, InvalidInputError

__all__ = [
    "JSON_MAX_BYTES",
    "PRIVATE_KEY",
    "Hit",
    "Limits",
    "Record",
    "make_hits",
    "plan_batches",
    "public_metadata",
    "row_bytes",
    "validate_records",
]
JSON_MAX_BYTES = 65536
PRIVATE_KEY = "_milvus_rag"
"""Metadata key for framework-private data (LlamaIndex relationships, node class...).

Adapters keep it out of the metadata they show users; see :func:`public_metadata`."""


def public_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """User metadata without the framework-private key (a new dict)."""
    if not metadata:
        return {}
    if PRIVATE_KEY not in metadata:  # most rows: one C-level copy
        return dict(metadata)
    return {k: v for k, v in metadata.items() if k != PRIVATE_KEY}


@dataclass(slots=True)
class Record:
    """One row: ``id``, ``text``, embedding ``vector``, JSON ``metadata``, source ``doc_id``,
    and ``vectors`` of further vector fields (see :mod:`milvus_rag.client.vector_fields`).

    ``id`` is a ``str``; on an INT64 primary key (e.g. langchain-milvus's ``auto_id``
    collections) it is the int's decimal string (``"470851970806317056"``; an ``int`` is
    accepted on writes), and on an ``auto_id`` collection a new record has ``id=""``: Milvus
    assigns it and the write returns it."""

    id: str
    text: str
    vector: Sequence[float] | np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    doc_id: str = ""
    #: the vectors of the collection's other vector fields, by field name: a dense one as
    #: floats, a client-side sparse one as ``{index: weight}`` (``vector`` is the primary
    #: dense field's; the BM25 field is Milvus's to fill)
    vectors: dict[str, Any] = field(default_factory=dict)


NO_RELEVANCE = (
    "this hit's relevance was not computed: hybrid and fan-out hits take it from their stored "
    "vectors, fetched only when the search asks for it: pass relevance=True (to search(), or "
    "SearchRequest(relevance=True))"
)


@dataclass(slots=True, init=False)
class Hit:
    """A search result. ``score``: higher is better; ``distance``: what Milvus returned;
    ``relevance``: in [0, 1], defined per mode (see ``milvus_rag.client.fusion``).

    Dense and BM25-only hits always have their relevance. Hybrid (RRF or weighted) and
    fan-out hits take it from their stored vectors, which a search fetches only when asked
    (``relevance=True`` or ``with_vectors=True``); reading it otherwise raises
    :class:`~milvus_rag.client.errors.ConfigError` (``has_relevance`` says which)."""

    id: str
    score: float
    distance: float
    record: Record
    _relevance: float | None

    def __init__(
        self,
        id: str,
        score: float,
        distance: float,
        record: Record,
        relevance: float | None = None,
    ) -> None:
        self.id = id
        self.score = score
        self.distance = distance
        self.record = record
        self._relevance = relevance

    @property
    def relevance(self) -> float:
        """In [0, 1]: how similar the hit is to the query by the embedding model."""
        if self._relevance is None:
            raise ConfigError(NO_RELEVANCE)
        return self._relevance

    @property
    def has_relevance(self) -> bool:
        """Whether :attr:`relevance` was computed for this hit."""
        return self._relevance is not None

    @property
    def computed_relevance(self) -> float | None:
        """:attr:`relevance`, or ``None`` where it was not computed."""
        return self._relevance

    def to_dict(self) -> dict[str, Any]:
        """The hit as JSON-ready data (the CLI's ``--json``, the MCP ``search`` tool): the
        user's metadata, without the framework-private key; ``relevance`` ``None`` where the
        search did not compute it (a fused hit of a search without ``relevance=True``)."""
        return {
            "id": self.id,
            "score": self.score,
            "relevance": self._relevance,
            "text": self.record.text,
            "doc_id": self.record.doc_id,
            "metadata": public_metadata(self.record.metadata),
        }


def make_hits(
    records: Sequence[Record],
    scores: Sequence[float],
    distances: Sequence[float],
    relevances: Sequence[float | None],
) -> list[Hit]:
    """``[Hit(r.id, s, d, r, x) ...]`` of a result list, the slots written directly (no
    ``__init__`` call per hit: a search builds ``k`` of them)."""
    new = object.__new__
    out: list[Hit] = []
    for r, s, d, x in zip(records, scores, distances, relevances, strict=True):
        h = new(Hit)
        h.id = r.id
        h.score = s
        h.distance = d
        h.record = r
        h._relevance = x
        out.append(h)
    return out


@dataclass(frozen=True, slots=True)
class Limits:
    """What the collection accepts, for :func:`validate_records`."""

    dim: int
    id_max_length: int = 512
    text_max_length: int = 65535
    doc_id_max_length: int = 512
    #: regex of what the backend cannot store or address in an id (Milvus Lite 2.5: ', NUL and
    #: a carriage return not followed by a line feed)
    id_forbidden: str = ""
    #: the primary key: ``"varchar"`` (str ids) or ``"int64"`` (int ids)
    id_type: str = "varchar"
    #: Milvus assigns the ids: records come without one (``id=""`` or ``None``)
    auto_id: bool = False
    #: whether the collection has a dense field (``False``: sparse-only, ``vector`` stays
    #: ``None``; the other vector fields are checked by :mod:`.record_vectors`)
    dense: bool = True


_INT64 = 2**63


def int64_id(value: object, where: str = "id") -> str:
    """An INT64 primary key value as milvus-rag carries it: its decimal string."""
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value < _INT64:
        raise InvalidInputError(
            f"{where} must be an int64 on this collection (INT64 primary key), got "
            f"{type(value).__name__} {value!r}"
        )
    return str(value)


def _check_id(r: Record, i: int, limits: Limits) -> str:
    if limits.auto_id:
        if r.id not in ("", None):
            raise InvalidInputError(
                f"record {i}: id {r.id!r} given, but this collection's ids are assigned by "
                "Milvus (auto_id): leave id empty (''), or delete the old row and add the "
                "record as a new one"
            )
        return ""
    if limits.id_type == "int64":
        return int64_id(r.id, f"record {i}: id")
    rid = _check_str(r.id, "id", i, limits.id_max_length, allow_empty=False)
    bad = re.search(limits.id_forbidden, rid) if limits.id_forbidden else None
    if bad:
        raise InvalidInputError(
            f"record {i}: id {rid!r} contains {bad.group()!r}, which this backend (the "
            "embedded Milvus Lite 2.5 engine) cannot store or address; use another id"
        )
    return rid


def _utf8_len(s: str) -> int:
    return len(s.encode("utf-8", "surrogatepass"))


def _check_str(value: object, what: str, index: int, max_bytes: int, allow_empty: bool) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"record {index}: {what} must be a str, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise InvalidInputError(f"record {index}: {what} is empty")
    try:
        n = _utf8_len(value)
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"record {index}: {what} is not valid unicode (lone surrogate)"
        ) from None
    if n > max_bytes:
        raise InvalidInputError(
            f"record {index}: {what} is {n} bytes in UTF-8, over the field's max_length "
            f"{max_bytes}: split it into smaller chunks"
        )
    return value


def _check_vector(vector: object, dim: int, index: int) -> np.ndarray:
    if vector is None:
        raise InvalidInputError(f"record {index}: vector is missing")
    try:
        arr = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise InvalidInputError(f"record {index}: vector is not a sequence of numbers") from None
    if arr.ndim != 1 or arr.shape[0] != dim:
        raise InvalidInputError(
            f"record {index}: vector has shape {tuple(arr.shape)}, the collection's dim is {dim}"
        )
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"record {index}: vector contains NaN or inf")
    return arr


def _check_metadata(metadata: object, index: int) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise InvalidInputError(
            f"record {index}: metadata must be a dict, got {type(metadata).__name__}"
        )
    try:
        encoded = json.dumps(metadata, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(
            f"record {index}: metadata is not JSON-serialisable ({e}); convert values to str, "
            "numbers, bools, lists or dicts"
        ) from None
    if _utf8_len(encoded) > JSON_MAX_BYTES:
        raise InvalidInputError(
            f"record {index}: metadata is {_utf8_len(encoded)} bytes as JSON, over Milvus's "
            f"{JSON_MAX_BYTES}-byte limit for a JSON field"
        )
    if any(not isinstance(k, str) for k in metadata):
        raise InvalidInputError(f"record {index}: metadata keys must be str")
    decoded: dict[str, Any] = json.loads(encoded)
    return decoded


def validate_records(
    records: Sequence[Record], limits: Limits, *, require_vectors: bool = True
) -> list[Record]:
    """Check every record before anything is written; return normalised copies.

    Raises :class:`InvalidInputError` naming the first bad record and how to fix it.
    """
    seen: set[str] = set()
    out: list[Record] = []
    for i, r in enumerate(records):
        if not isinstance(r, Record):
            raise InvalidInputError(f"record {i}: expected a Record, got {type(r).__name__}")
        rid = _check_id(r, i, limits)
        if rid in seen and rid != "":
            raise DuplicateIdsError(f"record {i}: duplicate id {rid!r} in one call")
        seen.add(rid)
        text = _check_str(r.text, "text", i, limits.text_max_length, allow_empty=False)
        doc_id = _check_str(r.doc_id, "doc_id", i, limits.doc_id_max_length, allow_empty=True)
        meta = _check_metadata(r.metadata, i)
        vec: np.ndarray | None = None
        if not limits.dense:
            if r.vector is not None:
                raise InvalidInputError(
                    f"record {i}: a vector is given, but this collection has no dense field "
                    "(sparse-only): leave Record.vector None"
                )
        elif require_vectors or r.vector is not None:
            vec = _check_vector(r.vector, limits.dim, i)
        vectors = r.vectors
        if not isinstance(vectors, Mapping):
            raise InvalidInputError(
                f"record {i}: vectors must be a dict of vector field name -> vector, got "
                f"{type(vectors).__name__}"
            )
        out.append(
            Record(
                id=rid, text=text, vector=vec, metadata=meta, doc_id=doc_id, vectors=dict(vectors)
            )
        )
    return out


def row_bytes(record: Record, dim: int) -> int:
    """Approximate request size of one row, for batching by bytes: the primary vector's
    ``dim`` floats, the other vector fields' (a dense one 4 bytes a value, a sparse one 12
    an entry: index and weight), text, ids and metadata."""
    meta = len(json.dumps(record.metadata, ensure_ascii=False)) if record.metadata else 2
    extra = sum(
        12 * len(v) if isinstance(v, Mapping) else 4 * len(v) for v in record.vectors.values()
    )
    return (
        4 * dim + extra + _utf8_len(record.text) + len(record.id) + len(record.doc_id) + meta + 32
    )


def plan_batches(
    records: Sequence[Record], dim: int, max_rows: int, max_bytes: int
) -> list[list[Record]]:
    """Split into batches of at most ``max_rows`` rows and about ``max_bytes`` bytes."""
    batches: list[list[Record]] = []
    cur: list[Record] = []
    size = 0
    for r in records:
        b = row_bytes(r, dim)
        if cur and (len(cur) >= max_rows or size + b > max_bytes):
            batches.append(cur)
            cur, size = [], 0
        cur.append(r)
        size += b
    if cur:
        batches.append(cur)
    return batches
