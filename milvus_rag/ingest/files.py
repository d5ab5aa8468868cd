"""Files to records (for the command line, the MCP server, Ray and evaluation): discover,
read, chunk, hash. Pure: no Milvus (the sync with a collection is :mod:`milvus_rag.ingest.sync`).

**Sources.** Every chunk's ``source`` metadata is the file's *canonical* path:
:func:`canonical_source`, the resolved absolute POSIX path (symlinks followed), so the same
file gets the same ``source`` and the same ids whatever the working directory.
:func:`canonical_filter` makes a ``source`` in a filter match that path as given or as
stored, so ``{"source": "../corpus/a.md"}`` finds what ingesting ``../corpus`` stored (both
live in :mod:`milvus_rag.sources`).

**Ids.** A chunk's id is a hash of its source and its text (and of its tenant, on a
multi-tenant collection: tenants may ingest the same files); its ``doc_id`` a hash of its
source (stable across edits, so a LlamaIndex ``delete(ref_doc_id)`` removes every chunk of
the file). A chunk repeated in one file is stored once, at its first position.

**Files.** Folders are walked recursively (hidden entries skipped); ``.txt .text .md
.markdown .rst`` are text, ``.pdf`` is read page by page, a file without an extension
(``README``, ``LICENSE``) is text when its first 8 KiB hold no NUL byte and decode as
UTF-8. Everything else in a folder is skipped and reported (:class:`Discovery.skipped`); a
file named explicitly that cannot be read is an error naming it.

Example:
    >>> chunk_id("/docs/a.md", "hello") == chunk_id("/docs/a.md", "hello")
    True
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.records import Record
from milvus_rag.ingest.decoding import decode_text
from milvus_rag.progress import CLI_HINT
from milvus_rag.sources import SOURCE_KEY as SOURCE_KEY
from milvus_rag.sources import canonical_filter as canonical_filter
from milvus_rag.sources import canonical_source as canonical_source

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown", ".rst"})
PDF_SUFFIXES = frozenset({".pdf"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | PDF_SUFFIXES
DEFAULT_CHUNK_SIZE = 1000
DEFAULT_CHUNK_OVERLAP = 150
_SNIFF_BYTES = 8192
# Markdown headings first, then paragraphs, lines, sentences, words.
_SEPARATORS = ["\n#{1,6} ", "\n\n", "\n", r"\. ", " ", ""]  # regexes: the dot escaped


# --- sources: one canonicalisation (milvus_rag.sources), re-exported here ----------------

# --- discovery ------------------------------------------------------------------------


@dataclass
class Discovery:
    """What :func:`discover` found: the files to ingest (sorted, deduplicated, absolute),
    the folders walked (their files are the whole truth about them: chunks of files gone
    from them are pruned), and the files skipped, with why."""

    files: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def skipped_summary(self, limit: int = 5) -> str:
        """One line: ``skipped 3 files (2 .png, 1 binary): a.png, b.png, x`` (or "")."""
        if not self.skipped:
            return ""
        kinds = Counter(reason for _, reason in self.skipped)
        what = ", ".join(f"{n} {reason}" for reason, n in sorted(kinds.items()))
        names = [p.name for p, _ in self.skipped[:limit]]
        more = f" and {len(self.skipped) - limit} more" if len(self.skipped) > limit else ""
        return f"skipped {len(self.skipped)} files ({what}): {', '.join(names)}{more}"


def looks_like_text(path: Path) -> bool:
    """A file without an extension is text when its first 8 KiB hold no NUL byte and
    decode as UTF-8 (a multi-byte character cut at the end is allowed)."""
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(head) - 3 and len(head) == _SNIFF_BYTES
    return True


def _kind(path: Path) -> str | None:
    """``None`` when ``path`` can be ingested, else why not (the skip reason)."""
    suffix = path.suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return None
    if suffix:
        return suffix
    try:
        return None if looks_like_text(path) else "binary"
    except OSError:
        return "unreadable"


def discover(paths: Iterable[str | Path]) -> Discovery:
    """Files named by ``paths`` or found under folders in them (see the module docstring).

    A path that does not exist, or a file named explicitly that is not text, Markdown or
    PDF, raises :class:`ConfigError` naming it.
    """
    found: dict[Path, None] = {}
    out = Discovery()
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise ConfigError(f"no such file or folder: {str(raw)!r}")
        path = path.resolve()
        if path.is_dir():
            out.folders.append(path)
            for p in sorted(path.rglob("*")):
                if any(part.startswith(".") for part in p.relative_to(path).parts):
                    continue
                if not p.is_file() or p.resolve() in found:
                    continue
                reason = _kind(p)
                if reason is None:
                    found.setdefault(p.resolve(), None)
                else:
                    out.skipped.append((p, reason))
        elif _kind(path) is None:
            found.setdefault(path, None)
        else:
            kind = path.suffix or "a binary file without an extension"
            raise ConfigError(
                f"cannot ingest {str(raw)!r} ({kind}): supported are text files "
                f"({', '.join(sorted(SUPPORTED_SUFFIXES))}, or without an extension)"
            )
    out.files = sorted(found)
    out.skipped = [(p, r) for p, r in out.skipped if p.resolve() not in found]
    return out


def discover_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files :func:`discover` finds (absolute, sorted)."""
    return discover(paths).files


# --- reading and chunking -------------------------------------------------------------


def chunk_id(source: str, text: str, tenant: str | None = None) -> str:
    """Stable id of one chunk: a hash of its source and its text (32 hex chars), and of its
    tenant on a multi-tenant collection (so tenants can hold the same documents)."""
    key = f"{source}\0{text}" if tenant is None else f"tenant\0{tenant}\0{source}\0{text}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def source_doc_id(source: str) -> str:
    """Stable ``doc_id`` of every chunk of one file: a hash of its source (32 hex chars)."""
    return hashlib.sha256(f"doc\0{source}".encode()).hexdigest()[:32]


def file_doc_id(data: bytes) -> str:
    """A hash of a file's bytes (32 hex chars)."""
    return hashlib.sha256(data).hexdigest()[:32]


def chunk_text(
    text: str, chunk_size: int = DEFAULT_CHUNK_SIZE, chunk_overlap: int = DEFAULT_CHUNK_OVERLAP
) -> list[str]:
    """Chunks of at most ``chunk_size`` characters, split on Markdown headings, paragraphs,
    lines, sentences then words (LangChain's ``RecursiveCharacterTextSplitter``)."""
    if chunk_size < 1 or not 0 <= chunk_overlap < chunk_size:
        raise ConfigError("need chunk_size >= 1 and 0 <= chunk_overlap < chunk_size")
    try:
        from langchain_text_splitters import RecursiveCharacterTextSplitter
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "chunking needs langchain-text-splitters: pip install 'milvus-rag[langchain]'"
        ) from e
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        separators=_SEPARATORS,
        is_separator_regex=True,
        keep_separator="start",
        strip_whitespace=True,
    )
    return [c for c in splitter.split_text(text) if c.strip()]


def chunk_spans(
    text: str, chunk_size: int = DEFAULT_CHUNK_SIZE, chunk_overlap: int = DEFAULT_CHUNK_OVERLAP
) -> list[tuple[int, str]]:
    """:func:`chunk_text` with each chunk's character offset in ``text`` (its
    ``start_index``: what expansion reassembles documents from). Each chunk is found at or
    after the previous chunk's offset (the splitter keeps document order)."""
    out: list[tuple[int, str]] = []
    at = 0
    for chunk in chunk_text(text, chunk_size, chunk_overlap):
        start = text.find(chunk, at)
        if start < 0:  # pragma: no cover - a chunk is always a substring after the last
            start = text.find(chunk)
        out.append((start, chunk))
        at = start + 1
    return out


def read_pages(
    path: Path, encoding: str | None = None
) -> tuple[bytes, list[tuple[int | None, str]]]:
    """The file's bytes and its text: one ``(None, text)`` for text files (decoded strictly:
    :mod:`milvus_rag.ingest.decoding`, ``encoding`` or UTF-8/a BOM), one ``(page_number,
    text)`` per page (1-based) for PDFs."""
    data = path.read_bytes()
    if path.suffix.lower() in PDF_SUFFIXES:
        try:
            from pypdf import PdfReader
            from pypdf.errors import PdfReadError
        except ImportError as e:
            raise ImportError(f"reading PDFs needs pypdf: {CLI_HINT}") from e

        try:
            reader = PdfReader(io.BytesIO(data))
            pages: list[tuple[int | None, str]] = [
                (i + 1, page.extract_text() or "") for i, page in enumerate(reader.pages)
            ]
        except (PdfReadError, ValueError, KeyError) as e:
            raise InvalidInputError(f"cannot read PDF {str(path)!r}: {e}") from None
        return data, pages
    return data, [(None, decode_text(data, encoding))]


def file_records(
    source: str,
    pages: Sequence[tuple[int | None, str]],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
    tenant: str | None = None,
) -> list[Record]:
    """Records (without vectors) of one file whose canonical path is ``source`` (for
    ``tenant`` on a multi-tenant collection: see :func:`chunk_id`).

    Metadata: ``source``, ``chunk_index`` (0-based, in file order), ``start_index`` (the
    chunk's character offset in the file's text, pages joined by a newline) and ``page``
    (PDFs).
    """
    doc_id = source_doc_id(source)
    out: dict[str, Record] = {}
    base = 0  # offset of the page in the file's text
    for page, text in pages:
        for start, chunk in chunk_spans(text, chunk_size, chunk_overlap):
            cid = chunk_id(source, chunk, tenant)
            if cid in out:
                continue
            meta: dict[str, Any] = {
                SOURCE_KEY: source,
                "chunk_index": len(out),
                "start_index": base + start,
            }
            if page is not None:
                meta["page"] = page
            out[cid] = Record(id=cid, text=chunk, metadata=meta, doc_id=doc_id)
        base += len(text) + 1
    return list(out.values())
