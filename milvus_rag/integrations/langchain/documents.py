"""LangChain ``Document`` <-> milvus-rag ``Record``: pure mapping functions.

Example:
    >>> record_to_document(Record(id="a", text="hi", metadata={"k": 1})).metadata
    {'k': 1}
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.documents import Document

from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.records import Record, public_metadata
from milvus_rag.integrations.models import model_builder
from milvus_rag.sources import canonical_filter

#: rows as Documents, their values not validated again (see ``integrations.models``)
_DOCUMENT = model_builder(Document)


def doc_id_of(metadata: Mapping[str, Any] | None) -> str:
    """The source-document id of a row: ``metadata["doc_id"]`` when it is a str, else ``""``."""
    value = (metadata or {}).get("doc_id", "")
    return value if isinstance(value, str) else ""


def document_to_record(document: Document, id: str) -> Record:
    """The row for ``document`` under ``id`` (no vector yet). Metadata is copied unchanged.

    Example:
        >>> document_to_record(Document(page_content="hi", metadata={"doc_id": "d"}), "a").doc_id
        'd'
    """
    if not isinstance(document, Document):
        raise InvalidInputError(f"expected a langchain Document, got {type(document).__name__}")
    metadata = document.metadata
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidInputError(
            f"document {id!r}: metadata must be a dict, got {type(metadata).__name__}"
        )
    return Record(
        id=id, text=document.page_content, metadata=dict(metadata or {}), doc_id=doc_id_of(metadata)
    )


def record_to_document(record: Record) -> Document:
    """The LangChain view of a row: framework-private metadata (``_milvus_rag``) left out.

    The record itself is not modified, so the private data stays where it is.

    Example:
        >>> record_to_document(Record(id="a", text="hi", metadata={"_milvus_rag": {}})).metadata
        {}
    """
    id, text, metadata = record.id, record.text, public_metadata(record.metadata)
    if _DOCUMENT is not None and type(id) is str and type(text) is str:  # a row's, always
        return _DOCUMENT.new({"id": id, "page_content": text, "metadata": metadata})
    return Document(id=id, page_content=text, metadata=metadata)


def records_to_documents(records: Sequence[Record]) -> list[Document]:
    """:func:`record_to_document` of each record (a search's hits at once: one call)."""
    if _DOCUMENT is None:
        return [record_to_document(r) for r in records]
    rows: list[dict[str, Any]] = []
    for r in records:
        id, text = r.id, r.text
        if type(id) is not str or type(text) is not str:  # not a row's: validated
            return [record_to_document(r) for r in records]
        rows.append({"id": id, "page_content": text, "metadata": public_metadata(r.metadata)})
    return _DOCUMENT.new_many(rows)


def resolve_ids(documents: Sequence[Document], ids: Sequence[str | None] | None) -> list[str]:
    """Ids for ``documents``: ``ids`` first, then ``Document.id``, else a new uuid4 string."""
    if ids is not None:
        if isinstance(ids, str):
            raise InvalidInputError("ids must be a list of str, not one str")
        ids = list(ids)
        if len(ids) != len(documents):
            raise InvalidInputError(
                f"got {len(ids)} ids for {len(documents)} documents: pass one id per document"
            )
    out: list[str] = []
    for i, doc in enumerate(documents):
        given = ids[i] if ids is not None else None
        chosen = given if given is not None else getattr(doc, "id", None)
        if chosen is None or chosen == "":
            chosen = str(uuid.uuid4())
        if not isinstance(chosen, str):
            raise InvalidInputError(
                f"document {i}: id must be a str, got {type(chosen).__name__}: {chosen!r}"
            )
        out.append(chosen)
    return out


def combine_filter(filter: Any, expr: str | None) -> Any:
    """The call's filter: a dict (``source`` paths as given or canonical), or ``expr``."""
    if expr is None:
        return canonical_filter(filter)
    if not isinstance(expr, str):
        raise ConfigError(f"expr must be a raw Milvus expression string, got {type(expr).__name__}")
    if filter is not None:
        raise ConfigError("pass either filter= or expr=, not both")
    return expr


def texts_to_documents(texts: Any, metadatas: Sequence[Any] | None) -> list[Document]:
    """``add_texts``' arguments as documents: a list of str and one metadata dict (or
    ``None``) per text, checked."""
    if isinstance(texts, str):
        raise InvalidInputError("texts must be a list of str, not one str")
    text_list = list(texts)
    if metadatas is not None and len(metadatas) != len(text_list):
        raise InvalidInputError(
            f"got {len(metadatas)} metadatas for {len(text_list)} texts: pass one per text"
        )
    for i, text in enumerate(text_list):
        if not isinstance(text, str):
            raise InvalidInputError(f"text {i} must be a str, got {type(text).__name__}")
    metas: list[Any] = list(metadatas) if metadatas is not None else [{}] * len(text_list)
    for i, meta in enumerate(metas):
        if meta is not None and not isinstance(meta, Mapping):
            raise InvalidInputError(f"metadata {i} must be a dict, got {type(meta).__name__}")
    return [
        Document(page_content=t, metadata=dict(m or {}))
        for t, m in zip(text_list, metas, strict=True)
    ]
