"""Evaluating documents on a chunked corpus: the corpus cut into chunks (each with its
document's id and its position), and a chunk ranking read as a document ranking.

BEIR judges documents; a store of chunks answers with chunks. Two ways to rank documents:
``"dedupe"`` asks for ``k`` chunks and keeps each document's first (fewer than ``k``
documents when several chunks of one document rank high), ``"group"`` asks for ``k``
groups by ``doc_id`` (a grouped search: ``k`` distinct documents).

Example:
    >>> from milvus_rag.evaluation.beir import BeirDataset
    >>> ds = BeirDataset(name="x", corpus={"d1": "alpha beta gamma delta"}, queries={}, qrels={})
    >>> [(r.text, r.doc_id, r.metadata["start_index"]) for r in chunk_corpus(ds, 12, 0)]
    [('alpha beta', 'd1', 0), ('gamma delta', 'd1', 11)]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.records import Hit, Record
from milvus_rag.evaluation.beir import BeirDataset
from milvus_rag.ingest.files import chunk_spans

DocumentLevel = Literal["dedupe", "group"]
DOCUMENT_LEVELS = ("dedupe", "group")

__all__ = ["DOCUMENT_LEVELS", "DocumentLevel", "check_documents", "chunk_corpus", "doc_ranking"]


def check_documents(documents: str | None) -> DocumentLevel | None:
    if documents is None:
        return None
    if documents == "dedupe":
        return "dedupe"
    if documents == "group":
        return "group"
    raise ConfigError(f"documents must be 'dedupe' or 'group', got {documents!r}")


def chunk_corpus(dataset: BeirDataset, chunk_size: int, chunk_overlap: int) -> list[Record]:
    """Every corpus document cut into chunks of at most ``chunk_size`` characters (the
    ``milvus-rag ingest`` splitter), ids ``<doc>#<n>``, ``doc_id`` the document's id,
    metadata ``start_index`` and ``chunk_index``."""
    out = []
    for doc, text in dataset.corpus.items():
        for i, (start, chunk) in enumerate(chunk_spans(text, chunk_size, chunk_overlap)):
            meta: dict[str, Any] = {"start_index": start, "chunk_index": i}
            out.append(Record(id=f"{doc}#{i}", text=chunk, metadata=meta, doc_id=doc))
    return out


def doc_ranking(hits: Sequence[Hit]) -> list[str]:
    """The documents of a chunk ranking, each once, in the order of its best chunk."""
    return list(dict.fromkeys(h.record.doc_id or h.id for h in hits))
