"""Ingestion: files -> chunks -> records (:mod:`.files`, pure) and the exact re-ingest of a
collection (:mod:`.sync`: the plan and its application). Used by the CLI, the MCP server,
Ray and evaluation."""

from __future__ import annotations

from milvus_rag.ingest.files import (
    CLI_HINT,
    DEFAULT_CHUNK_OVERLAP,
    DEFAULT_CHUNK_SIZE,
    PDF_SUFFIXES,
    SOURCE_KEY,
    SUPPORTED_SUFFIXES,
    TEXT_SUFFIXES,
    Discovery,
    canonical_filter,
    canonical_source,
    chunk_id,
    chunk_text,
    discover,
    discover_files,
    file_doc_id,
    file_records,
    looks_like_text,
    parse_filter,
    read_pages,
    source_doc_id,
    tqdm_class,
)

__all__ = [
    "CLI_HINT",
    "DEFAULT_CHUNK_OVERLAP",
    "DEFAULT_CHUNK_SIZE",
    "PDF_SUFFIXES",
    "SOURCE_KEY",
    "SUPPORTED_SUFFIXES",
    "TEXT_SUFFIXES",
    "Discovery",
    "canonical_filter",
    "canonical_source",
    "chunk_id",
    "chunk_text",
    "discover",
    "discover_files",
    "file_doc_id",
    "file_records",
    "looks_like_text",
    "parse_filter",
    "read_pages",
    "source_doc_id",
    "tqdm_class",
]
