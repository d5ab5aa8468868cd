"""Pure row logic of the Ray pipeline: documents in, validated rows with ids out, records back.

No Ray and no I/O here: the pipeline's stages call these on each batch (a dict of column
name -> numpy array, Ray Data's ``"numpy"`` batch format), and they are unit-tested alone.

Example:
    >>> import numpy as np
    >>> rows = prepare_documents({"text": np.array(["hello"]), "doc_id": np.array(["d1"])})
    >>> rows["id"][0] == chunk_id("d1", "hello"), rows["metadata"][0]
    (True, '{}')
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.records import Limits, Record, validate_records
from milvus_rag.ingest.files import chunk_id

__all__ = [
    "DOCUMENT_COLUMNS",
    "ROW_COLUMNS",
    "VECTOR_COLUMN",
    "chunk_id",
    "describe_document",
    "prepare_documents",
    "to_records",
]

Batch = Mapping[str, Any]
DOCUMENT_COLUMNS = ("text", "metadata", "id", "doc_id", "start_index")
"""Columns a document dataset may have; only ``text`` is required. ``start_index``: the
chunk's character offset in its document (kept in metadata, where expansion reads it)."""
ROW_COLUMNS = ("id", "text", "doc_id", "metadata")
"""Columns of a prepared row (``metadata`` as a JSON object string)."""
VECTOR_COLUMN = "vector"
_RECORD_PREFIX = re.compile(r"^record \d+: ")


def _plain(value: Any) -> Any:
    """Arrow/numpy values as plain JSON types: arrays -> lists, numpy scalars -> Python."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        # Arrow stores dicts as structs: a key missing in one row comes back as None.
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _metadata(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise InvalidInputError(
                f"metadata is a string but not JSON ({e.msg}); give a dict or json.dumps(dict)"
            ) from None
        if not isinstance(value, dict):
            raise InvalidInputError(
                f"metadata must be a JSON object, got a JSON {type(value).__name__}"
            )
        return value
    if isinstance(value, Mapping):
        plain: dict[str, Any] = _plain(value)
        return plain
    raise InvalidInputError(
        f"metadata must be a dict or a JSON object string, got {type(value).__name__}"
    )


def _text_snippet(value: Any, width: int = 40) -> str:
    if not isinstance(value, str):
        return f"<{type(value).__name__}>"
    one_line = " ".join(value.split())
    return one_line if len(one_line) <= width else one_line[: width - 3] + "..."


def describe_document(id: Any, doc_id: Any, text: Any) -> str:
    """How an error names a document: its id (given or content hash), doc_id and text."""
    parts = [f"document id={id!r}"]
    if doc_id:
        parts.append(f"doc_id={doc_id!r}")
    parts.append(f"text={_text_snippet(text)!r}")
    return " ".join(parts)


def _column(batch: Batch, name: str, n: int) -> Sequence[Any]:
    if name not in batch:
        return [None] * n
    return list(batch[name])


def limits_for(config: CollectionConfig | None) -> Limits:
    """The limits rows are checked against before anything is embedded."""
    cfg = config or CollectionConfig()
    return Limits(
        dim=cfg.dim or 1,  # vectors are not checked here (they do not exist yet)
        id_max_length=cfg.id_max_length,
        text_max_length=cfg.text_max_length,
        doc_id_max_length=cfg.id_max_length,
    )


def _document(text: Any, rid: Any, doc_id: Any, meta: Any, start: Any = None) -> Record:
    doc_id = "" if doc_id is None else doc_id
    if rid is None or rid == "":
        ok = isinstance(text, str) and isinstance(doc_id, str)
        rid = chunk_id(doc_id, text) if ok else ""
    try:
        metadata = _metadata(meta)
        if start is not None:
            metadata["start_index"] = _start_index(start)
    except InvalidInputError as e:
        raise InvalidInputError(f"{describe_document(rid, doc_id, text)}: {e}") from None
    return Record(id=rid, text=text, metadata=metadata, doc_id=doc_id)


def _start_index(value: Any) -> int:
    """A ``start_index`` column value: an int >= 0 (numpy integers included)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise InvalidInputError(f"start_index must be an int >= 0, got {value!r}")
    if value < 0:
        raise InvalidInputError(f"start_index must be an int >= 0, got {value!r}")
    return int(value)


def _check_one(record: Record, limits: Limits) -> None:
    try:
        validate_records([record], limits, require_vectors=False)
    except InvalidInputError as e:
        where = describe_document(record.id, record.doc_id, record.text)
        raise InvalidInputError(f"{where}: {_RECORD_PREFIX.sub('', str(e))}") from None


def prepare_documents(batch: Batch, limits: Limits | None = None) -> dict[str, np.ndarray]:
    """Validate a batch of documents and give each its id; returns the row columns.

    ``text`` is required; ``metadata`` (a dict, or a JSON object string), ``id`` and
    ``doc_id`` are optional; ``start_index`` (the chunk's offset in its document, an int
    >= 0) goes into metadata, where expansion to windows and parents reads it. A missing or empty ``id`` becomes the content hash
    ``chunk_id(doc_id, text)`` (what ``milvus-rag ingest`` uses, with the doc_id as the
    source), so the same document always gets the same id and a retried or re-run job
    replaces rows instead of adding them. Rows with the same id in one batch are kept once
    (the last one). Every row is checked before any is returned; the first bad one raises
    :class:`InvalidInputError` naming it.
    """
    if not batch or all(len(v) == 0 for v in batch.values()):
        return {c: np.array([], dtype=object) for c in ROW_COLUMNS}
    if "text" not in batch:
        raise ConfigError(
            f"the dataset has no 'text' column (columns: {sorted(batch)}); rename the column "
            "holding the documents' text with ds.rename_columns({'body': 'text'})"
        )
    limits = limits or limits_for(None)
    texts = list(batch["text"])
    n = len(texts)
    ids, doc_ids, metas, starts = (
        _column(batch, c, n) for c in ("id", "doc_id", "metadata", "start_index")
    )
    out: dict[str, Record] = {}
    for text, rid, doc_id, meta, start in zip(texts, ids, doc_ids, metas, starts):
        record = _document(text, rid, doc_id, meta, start)
        out.pop(record.id, None)  # the last of duplicates wins, in its own place
        out[record.id] = record
    try:  # the whole batch in one call; on failure, find and name the bad row
        records = validate_records(list(out.values()), limits, require_vectors=False)
    except InvalidInputError:
        for record in out.values():
            _check_one(record, limits)
        raise
    return {
        "id": np.array([r.id for r in records], dtype=object),
        "text": np.array([r.text for r in records], dtype=object),
        "doc_id": np.array([r.doc_id for r in records], dtype=object),
        "metadata": np.array(
            [json.dumps(r.metadata, ensure_ascii=False) for r in records], dtype=object
        ),
    }


def to_records(batch: Batch) -> list[Record]:
    """Records of a batch of prepared, embedded rows (the sink's input)."""
    missing = [c for c in (*ROW_COLUMNS, VECTOR_COLUMN) if c not in batch]
    if not batch or all(len(v) == 0 for v in batch.values()):
        return []  # an empty block (Ray passes them without columns)
    if missing:
        raise ConfigError(
            f"rows for Milvus need the columns {[*ROW_COLUMNS, VECTOR_COLUMN]}, missing "
            f"{missing}: build the dataset with milvus_rag.ray.embed_documents()"
        )
    vectors = np.asarray(batch[VECTOR_COLUMN], dtype=np.float32)
    return [
        Record(
            id=str(rid),
            text=text,
            vector=vec,
            metadata=json.loads(meta) if meta else {},
            doc_id=doc_id or "",
        )
        for rid, text, doc_id, meta, vec in zip(
            batch["id"], batch["text"], batch["doc_id"], batch["metadata"], vectors
        )
    ]
