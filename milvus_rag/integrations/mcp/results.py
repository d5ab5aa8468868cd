"""Bounded, plain-JSON results of the MCP tools, and the checks of their arguments (no I/O).

Every result a tool returns is bounded: ``k`` and id lists have a maximum, and a hit's or a
row's text is cut at ``max_text_chars`` with ``"truncated": true`` and the full length in
``"text_chars"``, so one call cannot flood an agent's context.

Example:
    >>> from milvus_rag.client.records import Record
    >>> record_dict(Record(id="a", text="hello world", metadata={"n": 1}), max_text_chars=5)
    {'id': 'a', 'text': 'hello', 'truncated': True, 'text_chars': 11, 'doc_id': '', 'metadata': {'n': 1}}
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.records import Hit, Record

MAX_K = 100
MAX_IDS = 1000
MAX_DOCUMENTS = 1000
MAX_DOCUMENTS_CHARS = 8_000_000  # text of one add_documents call
MAX_QUERY_CHARS = 8192
MAX_INGEST_PATHS = 100
DEFAULT_MAX_TEXT_CHARS = 2000
MAX_TEXT_CHARS = 65535
DEFAULT_QUERY_LIMIT = 20
MAX_QUERY_LIMIT = 1000
MAX_FIELDS = 64
ROW_PARTS = ("id", "text", "doc_id", "metadata")
_DOCUMENT_KEYS = frozenset({"text", "metadata", "id", "doc_id"})


def text_id(text: str) -> str:
    """Default id of a document added without one: a hash of its text (32 hex chars)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def check_range(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def check_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise ConfigError("the query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise ConfigError(f"the query is longer than {MAX_QUERY_CHARS} characters")
    return query


def check_ids(ids: Sequence[str] | None, *, name: str = "ids") -> list[str]:
    """At most :data:`MAX_IDS` ids, each a non-empty string."""
    if ids is None:
        return []
    if len(ids) > MAX_IDS:
        raise ConfigError(f"at most {MAX_IDS} {name} per call, got {len(ids)}: split the call")
    bad = [i for i in ids if not isinstance(i, str) or not i]
    if bad:
        raise ConfigError(f"{name} must be non-empty strings, got {bad[0]!r}")
    return list(ids)


def clip(text: str, max_text_chars: int) -> dict[str, Any]:
    """``{"text": ...}``, plus ``truncated`` / ``text_chars`` when cut."""
    if len(text) <= max_text_chars:
        return {"text": text}
    return {"text": text[:max_text_chars], "truncated": True, "text_chars": len(text)}


def record_dict(record: Record, *, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS) -> dict[str, Any]:
    """One stored row as JSON: id, text (bounded), doc_id, metadata."""
    out: dict[str, Any] = {"id": record.id}
    out.update(clip(record.text, max_text_chars))
    out["doc_id"] = record.doc_id
    out["metadata"] = record.metadata
    return out


def check_fields(fields: Sequence[str] | None) -> tuple[str, ...] | None:
    """The ``fields`` a ``query`` returns (``None``: every part of a row). Each is a part
    of a row (``id``, ``text``, ``doc_id``, ``metadata``) or a metadata key."""
    if fields is None:
        return None
    if isinstance(fields, str) or len(fields) > MAX_FIELDS:
        raise ConfigError(f"fields must be a list of at most {MAX_FIELDS} names")
    bad = [f for f in fields if not isinstance(f, str) or not f.strip()]
    if bad:
        raise ConfigError(f"fields must be non-empty strings, got {bad[0]!r}")
    return tuple(dict.fromkeys(fields))


def row_dict(
    record: Record,
    fields: tuple[str, ...] | None = None,
    *,
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
) -> dict[str, Any]:
    """One row of a ``query`` as JSON: :func:`record_dict` with only ``fields`` (the id
    always). A metadata key among ``fields`` keeps just those keys of ``metadata`` (the
    keys a row does not have are left out), unless ``metadata`` itself is asked for."""
    full = record_dict(record, max_text_chars=max_text_chars)
    if fields is None:
        return full
    out = {k: v for k, v in full.items() if k == "id" or k in fields}
    if "text" in fields:
        out.update({k: full[k] for k in ("truncated", "text_chars") if k in full})
    keys = [f for f in fields if f not in ROW_PARTS]
    if keys and "metadata" not in fields:
        out["metadata"] = {k: record.metadata[k] for k in keys if k in record.metadata}
    return out


def hit_dict(hit: Hit, *, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS) -> dict[str, Any]:
    """One search hit as JSON: the row plus ``score`` (higher is better) and ``relevance``
    in [0, 1]."""
    return {**hit.to_dict(), **clip(hit.record.text, max_text_chars)}


def parse_documents(documents: Sequence[Any]) -> list[Record]:
    """``[{"text": ..., "metadata"?: {...}, "id"?: ..., "doc_id"?: ...}]`` -> records.

    Without an id, the id is a hash of the text, so adding the same text twice stores it
    once. The core validates the rest (text length, metadata types) before writing.
    """
    if len(documents) > MAX_DOCUMENTS:
        raise ConfigError(
            f"at most {MAX_DOCUMENTS} documents per call, got {len(documents)}: split the call"
        )
    records = []
    total = 0
    for i, doc in enumerate(documents):
        if not isinstance(doc, dict) or not isinstance(doc.get("text"), str):
            raise ConfigError(f"document {i} needs a 'text' string")
        unknown = set(doc) - _DOCUMENT_KEYS
        if unknown:
            raise ConfigError(
                f"document {i}: unknown key(s) {sorted(unknown)}; allowed are "
                f"{sorted(_DOCUMENT_KEYS)}"
            )
        total += len(doc["text"])
        if total > MAX_DOCUMENTS_CHARS:
            raise ConfigError(
                f"the documents' text exceeds {MAX_DOCUMENTS_CHARS} characters in one call: "
                "split the call"
            )
        metadata = doc.get("metadata")
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            raise ConfigError(f"document {i}: metadata must be an object")
        for key in ("id", "doc_id"):
            if doc.get(key) is not None and not isinstance(doc[key], str):
                raise ConfigError(f"document {i}: {key} must be a string")
        records.append(
            Record(
                id=doc.get("id") or text_id(doc["text"]),
                text=doc["text"],
                metadata=metadata,
                doc_id=doc.get("doc_id") or "",
            )
        )
    return records
