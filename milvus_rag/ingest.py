"""File ingestion for the ``milvus-rag`` command: discover, read, chunk, hash, upsert.

The pure helpers (:func:`discover_files`, :func:`chunk_text`, :func:`chunk_id`,
:func:`file_doc_id`, :func:`file_records`, :func:`parse_filter`) do no I/O against Milvus and
are unit-tested on their own. :func:`ingest_files` runs them and writes through
:class:`~milvus_rag.client.store.AsyncMilvusStore`.

Ids are content hashes: a chunk's id is a hash of its source path and its text, and its
``doc_id`` a hash of the file's bytes, so ingesting the same files again writes nothing, and
ingesting a changed file replaces the chunks of its previous version.

Example:
    >>> chunk_id("/docs/a.md", "hello") == chunk_id("/docs/a.md", "hello")
    True
    >>> parse_filter('{"year": {"$gte": 2020}}')
    {'year': {'$gte': 2020}}
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.records import Record
from milvus_rag.client.store import AsyncMilvusStore

TEXT_SUFFIXES = frozenset({".txt", ".text", ".md", ".markdown", ".rst"})
PDF_SUFFIXES = frozenset({".pdf"})
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | PDF_SUFFIXES
DEFAULT_CHUNK_SIZE = 1000
DEFAULT_CHUNK_OVERLAP = 150
# Markdown headings first, then paragraphs, lines, sentences, words.
_SEPARATORS = ["\n#{1,6} ", "\n\n", "\n", ". ", " ", ""]

EmbedFn = Callable[[list[str]], Awaitable[Any]]
CLI_HINT = 'pip install "milvus-rag[cli]"'


def discover_files(paths: Iterable[str | Path]) -> list[Path]:
    """Supported files (text, Markdown, PDF) named by ``paths`` or found under folders in them.

    Folders are walked recursively (hidden entries skipped), files come back sorted and
    deduplicated. A path that does not exist, or a file of an unsupported type named
    explicitly, raises :class:`ConfigError`.
    """
    found: dict[Path, None] = {}
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise ConfigError(f"no such file or folder: {str(raw)!r}")
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                rel = p.relative_to(path).parts
                if any(part.startswith(".") for part in rel):
                    continue
                if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES:
                    found.setdefault(p, None)
        elif path.suffix.lower() in SUPPORTED_SUFFIXES:
            found.setdefault(path, None)
        else:
            raise ConfigError(
                f"unsupported file type {path.suffix or '(none)'!r} for {str(raw)!r}: "
                f"supported are {', '.join(sorted(SUPPORTED_SUFFIXES))}"
            )
    return list(found)


def chunk_id(source: str, text: str) -> str:
    """Stable id of one chunk: a hash of its source path and its text (32 hex chars)."""
    return hashlib.sha256(f"{source}\0{text}".encode()).hexdigest()[:32]


def file_doc_id(data: bytes) -> str:
    """Stable id of one file version: a hash of its bytes (32 hex chars)."""
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


def read_pages(path: Path) -> tuple[bytes, list[tuple[int | None, str]]]:
    """The file's bytes and its text: one ``(None, text)`` for text files, one
    ``(page_number, text)`` per page (1-based) for PDFs."""
    data = path.read_bytes()
    if path.suffix.lower() in PDF_SUFFIXES:
        import io

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
    return data, [(None, data.decode("utf-8", errors="replace"))]


def file_records(
    source: str,
    key: str,
    data: bytes,
    pages: Sequence[tuple[int | None, str]],
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
) -> list[Record]:
    """Records (without vectors) for one file.

    ``source`` goes into the metadata; ``key`` (the absolute path) into the chunk ids, so the
    same file gives the same ids whatever the working directory. Duplicate chunks of one file
    are kept once.
    """
    doc_id = file_doc_id(data)
    out: dict[str, Record] = {}
    index = 0
    for page, text in pages:
        for chunk in chunk_text(text, chunk_size, chunk_overlap):
            cid = chunk_id(key, chunk)
            if cid in out:
                continue
            meta: dict[str, Any] = {"source": source, "chunk_index": index}
            if page is not None:
                meta["page"] = page
            out[cid] = Record(id=cid, text=chunk, metadata=meta, doc_id=doc_id)
            index += 1
    return list(out.values())


def parse_filter(text: str | None) -> Any:
    """A filter given on the command line: a JSON object (the dict filter language), or
    ``None`` for no filter. Bad JSON raises :class:`ConfigError` with the position."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"--filter is not valid JSON ({e.msg} at column {e.colno}): {text!r}; "
            'expected e.g. \'{"source": "a.md"}\''
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(
            f'--filter must be a JSON object such as \'{{"year": {{"$gte": 2020}}}}\', '
            f"got {type(value).__name__}"
        )
    return value


def display_source(path: Path) -> str:
    """How a file is named in the metadata: relative to the working directory when under
    it, else absolute (POSIX separators)."""
    absolute = path.resolve()
    try:
        return absolute.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return absolute.as_posix()


async def delete_stale(store: AsyncMilvusStore, doc_ids: dict[str, str]) -> int:
    """Delete chunks of earlier versions of re-ingested files (same ``source``, another
    ``doc_id``); ``doc_ids`` maps each source to its current doc_id. Returns the count."""
    if not doc_ids or not await store.exists():
        return 0
    total = 0
    for source, doc_id in doc_ids.items():
        stale = {"source": source, "doc_id": {"$ne": doc_id}}
        total += await store.delete(filter=stale)  # the core counts what matched
    return total


@dataclass
class IngestStats:
    """What :func:`ingest_files` did."""

    files: int = 0
    chunks: int = 0
    written: int = 0
    unchanged: int = 0
    stale_deleted: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.written / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.files} files, {self.chunks} chunks: {self.written} written, "
            f"{self.unchanged} unchanged, {self.stale_deleted} stale deleted "
            f"in {self.seconds:.1f} s ({rate:.0f} rows/s)"
        )


async def ingest_files(
    store: AsyncMilvusStore,
    paths: Iterable[str | Path],
    embed: EmbedFn,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
    progress: bool | None = None,
) -> IngestStats:
    """Chunk the files, embed and write the chunks not stored yet, and delete chunks of
    earlier versions of the same files. ``progress``: a tqdm bar on stderr (``None``: only
    when stderr is a terminal)."""
    t0 = time.perf_counter()
    files = discover_files(paths)
    if not files:
        raise ConfigError("no text, Markdown or PDF files found in the given paths")
    records: list[Record] = []
    doc_ids: dict[str, str] = {}
    for path in files:
        data, pages = read_pages(path)
        source = display_source(path)
        recs = file_records(
            source,
            path.resolve().as_posix(),
            data,
            pages,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
        )
        doc_ids[source] = file_doc_id(data)
        records.extend(recs)
    stats = IngestStats(files=len(files), chunks=len(records))
    existing: set[str] = set()
    if records and await store.exists():
        existing = {r.id for r in await store.get([r.id for r in records])}  # chunked there
    todo = [r for r in records if r.id not in existing]
    stats.unchanged = len(records) - len(todo)

    try:
        from tqdm import tqdm
    except ImportError as e:
        raise ImportError(f"the ingest progress bar needs tqdm: {CLI_HINT}") from e

    disable = (not sys.stderr.isatty()) if progress is None else not progress
    with tqdm(total=len(todo), unit="rows", desc="ingest", file=sys.stderr, disable=disable) as bar:

        async def embed_and_count(texts: list[str]) -> Any:
            vectors = await embed(texts)
            bar.update(len(texts))
            return np.asarray(vectors, dtype=np.float32)

        if todo:
            written = await store.upsert(todo, embed=embed_and_count)
            stats.written = len(written)
    stats.stale_deleted = await delete_stale(store, doc_ids)
    stats.seconds = time.perf_counter() - t0
    return stats
