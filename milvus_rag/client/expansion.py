"""Expanding a hit to its neighbouring chunks or its whole document. Pure functions.

**Where a chunk's position is stored.** In its metadata, under one of these keys (the first
present wins):

- ``start_index``: the character offset of the chunk in its document (what LangChain's text
  splitters write with ``add_start_index=True``, and what ``milvus-rag ingest`` writes);
- the LlamaIndex node's ``start_char_idx`` (kept in the node data under the private key);
- ``chunk_index``: the chunk's rank in its document (0, 1, 2...), order only.

With character offsets, overlapping chunks are reassembled exactly: each chunk contributes
what lies past the end of the text so far (:func:`reassemble`); a gap between chunks (the
whitespace a splitter stripped) is kept as one space. With ranks only, chunks are joined with
a newline. A document whose chunks carry no position cannot be expanded (``ConfigError``).

Example:
    >>> from milvus_rag.client.records import Record
    >>> doc = "abcdefghij"
    >>> chunks = [Record(str(s), doc[s:s + 4], metadata={"start_index": s}) for s in (0, 3, 6)]
    >>> reassemble(chunks)
    'abcdefghij'
    >>> e = expand_hit(chunks[1], chunks, window=0)
    >>> e.text, e.matched
    ('defg', '3')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.records import PRIVATE_KEY, Record

START_KEY = "start_index"
"""Metadata key of a chunk's character offset in its document."""
RANK_KEY = "chunk_index"
"""Metadata key of a chunk's rank in its document (order only)."""
GAP = " "
"""What stands for text between two chunks that neither holds."""

__all__ = [
    "GAP",
    "RANK_KEY",
    "START_KEY",
    "Expanded",
    "check_window",
    "expand_hit",
    "position",
    "reassemble",
]


@dataclass(frozen=True, slots=True)
class Expanded:
    """A hit's chunk with its context: ``text`` reassembled from ``chunks`` (in document
    order, the matched one included), ``matched`` the id of the chunk that matched and
    ``span`` its ``[start, end)`` in ``text``."""

    text: str
    matched: str
    span: tuple[int, int]
    chunks: list[Record] = field(default_factory=list)


def _int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if value >= 0 else None


def position(record: Record) -> tuple[str, int] | None:
    """``("start", offset)``, ``("rank", n)`` or ``None``: where ``record`` sits in its
    document (see the module's docstring for the keys read)."""
    meta = record.metadata or {}
    start = _int(meta.get(START_KEY))
    if start is not None:
        return ("start", start)
    private = meta.get(PRIVATE_KEY)
    if isinstance(private, dict):
        start = _int(private.get("start"))
        if start is not None:
            return ("start", start)
    rank = _int(meta.get(RANK_KEY))
    return ("rank", rank) if rank is not None else None


def _ordered(chunks: Sequence[Record]) -> tuple[str, list[Record]]:
    """The chunks in document order, and the kind of position they all carry."""
    placed = [(position(c), c) for c in chunks]
    missing = [c.id for p, c in placed if p is None]
    if missing:
        raise ConfigError(
            f"cannot expand: chunk(s) {missing[:3]} carry no position in their document. "
            f"Write chunks with metadata {START_KEY!r} (character offset; LangChain splitters' "
            f"add_start_index=True) or {RANK_KEY!r} (0, 1, 2...), or LlamaIndex nodes with "
            "start_char_idx; milvus-rag ingest writes them"
        )
    kinds = {p[0] for p, _ in placed if p is not None}
    kind = "start" if kinds == {"start"} else "rank"
    if len(kinds) > 1:
        raise ConfigError(
            "cannot expand: the document's chunks mix character offsets and ranks; write "
            f"one kind of position for every chunk of a document ({START_KEY!r} or {RANK_KEY!r})"
        )
    ordered = [c for p, c in sorted(placed, key=lambda pc: (pc[0][1] if pc[0] else 0, pc[1].id))]
    return kind, ordered


def _assemble(kind: str, ordered: Sequence[Record]) -> tuple[str, list[tuple[int, int]]]:
    """The text of ``ordered`` chunks and each chunk's span in it."""
    if kind == "rank":
        parts, spans, at = [], [], 0
        for i, c in enumerate(ordered):
            if i:
                parts.append("\n")
                at += 1
            parts.append(c.text)
            spans.append((at, at + len(c.text)))
            at += len(c.text)
        return "".join(parts), spans
    out: list[str] = []
    spans = []
    length = 0  # characters of the output so far
    end = None  # document offset the output reaches
    for c in ordered:
        pos = position(c)
        start = pos[1] if pos else 0
        if end is None:
            out.append(c.text)
            spans.append((0, len(c.text)))
            length, end = len(c.text), start + len(c.text)
            continue
        if start > end:  # a gap: text no chunk holds
            out.append(GAP)
            length += len(GAP)
            spans.append((length, length + len(c.text)))
            out.append(c.text)
            length += len(c.text)
            end = start + len(c.text)
            continue
        skip = end - start  # the overlap, already in the output
        begin = length - skip
        tail = c.text[skip:]
        out.append(tail)
        length += len(tail)
        end = max(end, start + len(c.text))
        spans.append((begin, begin + len(c.text)))
    return "".join(out), spans


def reassemble(chunks: Sequence[Record]) -> str:
    """The text of a document's chunks in order, overlaps removed."""
    if not chunks:
        return ""
    kind, ordered = _ordered(chunks)
    return _assemble(kind, ordered)[0]


def check_window(window: object) -> int | None:
    """``window``, checked: ``None`` (the whole document) or an int >= 0 (chunks on each
    side). The one check, for the core and the frameworks' expanding retrievers."""
    if window is not None and (
        isinstance(window, bool) or not isinstance(window, int) or window < 0
    ):
        raise ConfigError(
            f"window must be None (whole documents) or an int >= 0 (chunks on each side), "
            f"got {window!r}"
        )
    return window


def expand_hit(hit: Record, chunks: Sequence[Record], *, window: int | None) -> Expanded:
    """``hit`` with ``window`` chunks on each side (``None``: its whole document), from
    ``chunks``, the chunks of its document (``hit`` among them)."""
    check_window(window)
    pool = {c.id: c for c in chunks}
    pool[hit.id] = hit
    kind, ordered = _ordered(list(pool.values()))
    i = next(j for j, c in enumerate(ordered) if c.id == hit.id)
    if window is not None:
        ordered = ordered[max(0, i - window) : i + window + 1]
        i = next(j for j, c in enumerate(ordered) if c.id == hit.id)
    text, spans = _assemble(kind, ordered)
    return Expanded(text=text, matched=hit.id, span=spans[i], chunks=list(ordered))
