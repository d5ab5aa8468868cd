"""The ``search`` command's document options: grouped search and expansion.

``--group-by [FIELD]`` (``doc_id`` when no field is named), ``--group-size N``,
``--strict-group-size``; ``--window N`` / ``--parent`` print each hit with its neighbouring
chunks or its whole document, the matched chunk between ``>>>`` and ``<<<``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from milvus_rag.client.expansion import Expanded
from milvus_rag.client.grouping import DEFAULT_GROUP_FIELD
from milvus_rag.client.records import Hit

__all__ = [
    "add_document_args",
    "add_eval_document_args",
    "eval_document_options",
    "expand_options",
    "expanded_dict",
    "format_expanded",
]


def add_document_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--group-by",
        nargs="?",
        const=DEFAULT_GROUP_FIELD,
        default=None,
        metavar="FIELD",
        help="k counts documents: group the hits by FIELD (default doc_id: one file each)",
    )
    p.add_argument(
        "--group-size",
        type=int,
        default=None,
        help="chunks per group (default 1; groups by doc_id)",
    )
    p.add_argument(
        "--strict-group-size", action="store_true", help="only groups with --group-size chunks"
    )
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--window", type=int, default=None, metavar="N", help="show N chunks on each side of a hit"
    )
    how.add_argument("--parent", action="store_true", help="show each hit's whole document")


def add_eval_document_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="cut the documents into chunks of at most this many characters and judge "
        "documents (by a grouped search unless --documents dedupe)",
    )
    p.add_argument("--chunk-overlap", type=int, default=0, help="characters (default 0)")
    p.add_argument(
        "--documents",
        choices=("group", "dedupe"),
        default=None,
        help="with --chunk-size: rank documents by a grouped search (group, the default) or "
        "by chunks with each document kept once (dedupe)",
    )


def eval_document_options(args: argparse.Namespace) -> dict[str, Any]:
    """``run_eval`` keywords of ``--chunk-size`` / ``--chunk-overlap`` / ``--documents``."""
    out: dict[str, Any] = {}
    if args.chunk_size is not None:
        out.update(chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap)
    if args.documents is not None:
        out["documents"] = args.documents
    return out


def expand_options(args: argparse.Namespace) -> dict[str, Any] | None:
    """``store.expand`` keywords of the command line, or ``None`` (no expansion)."""
    if args.parent:
        return {"parent": True}
    if args.window is not None:
        return {"window": args.window}
    return None


def expanded_dict(hit: Hit, e: Expanded) -> dict[str, Any]:
    """A hit as ``--json`` prints it, with its expansion."""
    return {
        **hit.to_dict(),
        "expanded": {
            "text": e.text,
            "matched_span": list(e.span),
            "chunk_ids": [c.id for c in e.chunks],
        },
    }


def format_expanded(hits: Sequence[Hit], expanded: Sequence[Expanded]) -> str:
    if not hits:
        return "no results"
    out = []
    for rank, (h, e) in enumerate(zip(hits, expanded, strict=True), 1):
        a, b = e.span
        marked = f"{e.text[:a]}>>>{e.text[a:b]}<<<{e.text[b:]}"
        where = str(h.record.metadata.get("source", h.record.doc_id or h.id))
        out.append(f"{rank:>2}. {h.relevance:.3f}  [{where}]  ({len(e.chunks)} chunks)\n{marked}")
    return "\n\n".join(out)
