"""Bring a collection in line with files: after :func:`ingest_files` the collection holds
exactly the chunks a from-scratch ingest of the current files would, and only what changed
was written.

How (the plan is the pure :func:`plan_sync`):

1. read every file into records (:mod:`milvus_rag.ingest`: ids are hashes of the canonical
   source and the text, metadata ``source``, ``chunk_index``, ``page``);
2. read the stored rows *in scope*: those of the files ingested, and every row whose
   ``source`` lies under a folder ingested (unless ``prune=False``), 16,384 rows a query;
3. write the records that are missing or differ (text, metadata, doc_id); a record whose
   text is already stored (same chunk moved in its file, or a renamed file) reuses the stored
   vector instead of being embedded again;
4. delete the rows in scope that no current record has (chunks of earlier versions of a
   file, files deleted or renamed under a folder).

Writes come before deletes, so an interrupted run leaves extra rows, never missing ones; the
next run removes them.

Example:
    >>> from milvus_rag.client.records import Record
    >>> plan = plan_sync([Record("a", "x")], [Record("a", "x"), Record("b", "y")])
    >>> plan.unchanged, plan.delete
    (1, ['b'])
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.filters import string_literal
from milvus_rag.client.records import Record
from milvus_rag.client.store import QUERY_WINDOW, AsyncMilvusStore
from milvus_rag.ingest.decoding import UndecodableTextError, check_encoding
from milvus_rag.ingest.files import (
    DEFAULT_CHUNK_OVERLAP,
    DEFAULT_CHUNK_SIZE,
    SOURCE_KEY,
    Discovery,
    canonical_source,
    discover,
    file_records,
    read_pages,
)
from milvus_rag.progress import plural, rate_note

EmbedFn = Callable[[list[str]], Awaitable[Any]]
_HEX = "0123456789abcdef"
_SOURCES_PER_QUERY = 64


# --- the plan (pure) --------------------------------------------------------------------


@dataclass
class SyncPlan:
    """What to do to turn the stored rows into the desired ones.

    ``write``: records to upsert; ``reuse`` maps some of their ids to the stored row whose
    vector they take (same text); ``delete``: stored ids no desired record has.
    """

    write: list[Record] = field(default_factory=list)
    reuse: dict[str, str] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)
    unchanged: int = 0


def _same(a: Record, b: Record) -> bool:
    return a.text == b.text and a.metadata == b.metadata and a.doc_id == b.doc_id


def plan_sync(desired: Sequence[Record], stored: Sequence[Record]) -> SyncPlan:
    """The writes and deletes that make ``stored`` (the rows in scope) equal ``desired``."""
    by_id = {r.id: r for r in stored}
    by_text: dict[str, str] = {}
    for r in stored:
        by_text.setdefault(r.text, r.id)
    plan = SyncPlan()
    for r in desired:
        old = by_id.get(r.id)
        if old is not None and _same(old, r):
            plan.unchanged += 1
            continue
        plan.write.append(r)
        donor = r.id if old is not None and old.text == r.text else by_text.get(r.text)
        if donor is not None:
            plan.reuse[r.id] = donor
    wanted = {r.id for r in desired}
    plan.delete = [r.id for r in stored if r.id not in wanted]
    return plan


def under(source: str, folder: str) -> bool:
    """Whether the canonical ``source`` lies inside the canonical ``folder``."""
    return source.startswith(folder.rstrip("/") + "/")


# --- reading the rows in scope ----------------------------------------------------------


async def scan(store: AsyncMilvusStore, expr: str | None, prefix: str = "") -> list[Record]:
    """Every row matching the raw expression ``expr`` (``None``: all rows), past the 16,384-row
    query window: a larger set is split by the first hex digits of the id (the ingest ids)."""
    cfg = store.config
    parts = [p for p in (expr, _id_prefix(store, prefix)) if p]
    full = " and ".join(f"({p})" for p in parts) or None
    n = await store.count(full)
    if n == 0:
        return []
    if n <= QUERY_WINDOW:
        return await store.query(full, limit=QUERY_WINDOW)
    if len(prefix) >= 4:
        raise ConfigError(f"cannot read the {n} rows of {cfg.name!r} matching {expr!r}")
    out: list[Record] = []
    for digit in _HEX:
        out += await scan(store, expr, prefix + digit)
    if len(out) != n:  # ids that are not hex: not written by ingest
        raise ConfigError(
            f"{n} rows of {cfg.name!r} match {expr!r}, more than one query returns and not all "
            "with ingest ids: ingest smaller folders, or into a collection of its own"
        )
    return out


def _id_prefix(store: AsyncMilvusStore, prefix: str) -> str:
    if not prefix:
        return ""
    return f"{store.config.id_field} like {string_literal(prefix + '%', store.dialect)}"


def _source_path(store: AsyncMilvusStore) -> str:
    return f'{store.config.metadata_field}["{SOURCE_KEY}"]'


async def rows_under(store: AsyncMilvusStore, folder: str) -> list[Record]:
    """The stored rows whose ``source`` lies under the canonical ``folder``."""
    base = folder.rstrip("/") + "/"
    expr = None
    if "\\" not in base:  # `like` treats _ and % as wildcards: it over-matches, never under
        expr = f"{_source_path(store)} like {string_literal(base + '%', store.dialect)}"
    return [r for r in await scan(store, expr) if under(str(r.metadata.get(SOURCE_KEY)), folder)]


async def rows_of(store: AsyncMilvusStore, sources: Sequence[str]) -> list[Record]:
    """The stored rows whose ``source`` is one of ``sources``."""
    out: list[Record] = []
    for i in range(0, len(sources), _SOURCES_PER_QUERY):
        batch = list(sources[i : i + _SOURCES_PER_QUERY])
        out += await scan(store, store.compile_filter({SOURCE_KEY: {"$in": batch}}))
    return out


async def rows_in_scope(
    store: AsyncMilvusStore, sources: Sequence[str], folders: Iterable[str]
) -> list[Record]:
    """Rows of ``sources`` and rows under ``folders``, each once."""
    found: dict[str, Record] = {}
    for folder in folders:
        found.update((r.id, r) for r in await rows_under(store, folder))
    rest = [s for s in sources if not any(under(s, f) for f in folders)]
    found.update((r.id, r) for r in await rows_of(store, rest))
    return list(found.values())


# --- applying a plan --------------------------------------------------------------------


@dataclass
class IngestStats:
    """What :func:`ingest_files` did."""

    files: int = 0
    chunks: int = 0
    written: int = 0
    embedded: int = 0
    unchanged: int = 0
    deleted: int = 0
    pruned_files: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    seconds: float = 0.0
    emptied_files: int = 0  # still there, but without chunks now (emptied, or skipped)

    def summary(self) -> str:
        notes = [
            f"{plural(n, 'file')} {what}"
            for n, what in ((self.pruned_files, "removed"), (self.emptied_files, "now empty"))
            if n
        ]
        pruned = f" ({', '.join(notes)})" if notes else ""
        return (
            f"{self.files} files, {self.chunks} chunks: {self.written} written "
            f"({self.embedded} embedded), {self.unchanged} unchanged, {self.deleted} deleted"
            f"{pruned} in {self.seconds:.1f} s{rate_note(self.written, self.seconds)}"
        )


async def apply_plan(
    store: AsyncMilvusStore, plan: SyncPlan, embed: EmbedFn, *, progress: bool = False
) -> tuple[int, int]:
    """Write then delete as planned; returns (rows written, texts embedded)."""
    vectors: dict[str, Any] = {}
    if plan.reuse:
        donors = list(dict.fromkeys(plan.reuse.values()))
        vectors = {r.id: r.vector for r in await store.get(donors, with_vectors=True)}
    todo: list[Record] = []
    for r in plan.write:
        vec = vectors.get(plan.reuse.get(r.id, ""))
        todo.append(Record(r.id, r.text, vec, r.metadata, r.doc_id) if vec is not None else r)
    n_embed = sum(1 for r in todo if r.vector is None)
    written = 0
    if todo:
        from milvus_rag.progress import progress_bar

        with progress_bar(n_embed, "ingest", progress) as bar:

            async def embed_and_count(texts: list[str]) -> Any:
                out = await embed(texts)
                bar.update(len(texts))
                return np.asarray(out, dtype=np.float32)

            written = len(await store.upsert(todo, embed=embed_and_count))
    if plan.delete:
        await store.delete(plan.delete)
    return written, n_embed


def _without_tenant(rows: list[Record], tenant_field: str | None) -> list[Record]:
    """Stored rows as ingest makes them: without the tenant key reads add to the metadata."""
    if tenant_field is None:
        return rows
    return [
        Record(
            r.id,
            r.text,
            r.vector,
            {k: v for k, v in r.metadata.items() if k != tenant_field},
            r.doc_id,
        )
        for r in rows
    ]


def desired_records(
    found: Discovery,
    chunk_size: int,
    chunk_overlap: int,
    tenant: str | None = None,
    encoding: str | None = None,
) -> tuple[list[Record], list[tuple[Path, str]]]:
    """Records of every file found, and the files skipped (with the text files that do not
    decode, and the unreadable PDFs of a folder added: a PDF named explicitly that cannot be
    read is an error)."""
    records: list[Record] = []
    skipped = list(found.skipped)
    for path in found.files:
        try:
            _data, pages = read_pages(path, encoding)
        except UndecodableTextError as e:  # never stored damaged
            skipped.append((path, e.kind))
            continue
        except (InvalidInputError, OSError):
            if not any(under(path.as_posix(), f.as_posix()) for f in found.folders):
                raise
            skipped.append((path, "unreadable PDF"))
            continue
        records += file_records(
            canonical_source(path),
            pages,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            tenant=tenant,
        )
    return records, skipped


async def ingest_files(
    store: AsyncMilvusStore,
    paths: Iterable[str | Path],
    embed: EmbedFn,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP,
    prune: bool = True,
    progress: bool | None = None,
    encoding: str | None = None,
) -> IngestStats:
    """Make the collection hold exactly the chunks of the files under ``paths`` (see the
    module docstring). ``prune``: delete the chunks of files gone from ingested folders.
    ``progress``: a tqdm bar on stderr (``None``: only when stderr is a terminal).
    ``encoding``: of every text file (default: UTF-8, or UTF-16/32 by a BOM; strict)."""
    t0 = time.perf_counter()
    encoding = check_encoding(encoding)
    found = discover(paths)
    records, skipped = desired_records(
        found, chunk_size, chunk_overlap, store.tenant, encoding=encoding
    )
    stats = IngestStats(files=len(found.files), chunks=len(records), skipped=skipped)
    sources = [canonical_source(p) for p in found.files]
    folders = [f.as_posix() for f in found.folders] if prune else []
    stored = await rows_in_scope(store, sources, folders) if await store.exists() else []
    plan = plan_sync(records, _without_tenant(stored, store.config.tenant_field))
    show = sys.stderr.isatty() if progress is None else progress
    stats.written, stats.embedded = await apply_plan(store, plan, embed, progress=show)
    stats.unchanged, stats.deleted = plan.unchanged, len(plan.delete)
    kept = {str(r.metadata.get(SOURCE_KEY)) for r in records}
    had = {str(r.metadata.get(SOURCE_KEY)) for r in stored} - kept
    stats.pruned_files = len(had - set(sources))
    stats.emptied_files = len(had & set(sources))
    stats.seconds = time.perf_counter() - t0
    return stats


async def delete_sources(store: AsyncMilvusStore, paths: Iterable[str | Path]) -> tuple[int, int]:
    """Delete the chunks of the files named (and of every file under a folder named), as
    ingest stored them; the paths need not exist any more. Returns (rows, files)."""
    canon = [canonical_source(p) for p in paths]
    rows = await rows_in_scope(store, canon, canon)
    if rows:
        await store.delete([r.id for r in rows])
    return len(rows), len({str(r.metadata.get(SOURCE_KEY)) for r in rows})
