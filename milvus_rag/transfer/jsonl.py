"""Export and import a collection's rows as JSON lines: ``milvus-rag export`` / ``import``.

    milvus-rag export [--filter JSON] [--vectors] > rows.jsonl
    milvus-rag import rows.jsonl --uri http://milvus:19530 --collection docs

Format: a header line ``{"milvus_rag_export": 1, "collection": ..., "dim": ..., "metric":
..., "vectors": true|false}``, then one row per line: ``{"id", "text", "doc_id",
"metadata"[, "vector"]}``. The header is optional on import (any JSON-lines file of rows
imports). Export walks every matching row with :meth:`AsyncMilvusStore.iterate` (no 16,384
ceiling). Import is resumable by id: rows whose id the target already holds are skipped,
so a run cut short and started again writes only what is missing, and nothing is ever
duplicated (writes are upserts by id). Rows without a vector are embedded (the CLI loads
the model only then). Progress bars go to stderr.

Example:
    >>> from milvus_rag.client.records import Record
    >>> line = record_to_line(Record(id="a", text="hi", metadata={"k": 1}), with_vectors=False)
    >>> line
    '{"id": "a", "text": "hi", "doc_id": "", "metadata": {"k": 1}}'
    >>> parse_line(line, 2).metadata
    {'k': 1}
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from milvus_rag.client.errors import ConfigError, InvalidInputError
from milvus_rag.client.records import Record

if TYPE_CHECKING:  # the CLI imports this module at start: pymilvus loads when a store is used
    from milvus_rag.client.store import AsyncMilvusStore, EmbedFn

FORMAT_VERSION = 1
HEADER_KEY = "milvus_rag_export"
IMPORT_BATCH = 1000
_ROW_KEYS = {"id", "text", "doc_id", "metadata", "vector"}


# --------------------------------------------------------------------------- pure


def header_line(store: AsyncMilvusStore, dim: int, metric: str, with_vectors: bool) -> str:
    head = {
        HEADER_KEY: FORMAT_VERSION,
        "collection": store.name,
        "dim": dim,
        "metric": metric,
        "vectors": with_vectors,
    }
    return json.dumps(head, ensure_ascii=False)


def record_to_line(rec: Record, *, with_vectors: bool) -> str:
    row: dict[str, Any] = {
        "id": rec.id,
        "text": rec.text,
        "doc_id": rec.doc_id,
        "metadata": rec.metadata,
    }
    if with_vectors:
        if rec.vector is None:
            raise InvalidInputError(f"row {rec.id!r} has no vector to export")
        row["vector"] = [float(x) for x in np.asarray(rec.vector, dtype=np.float32)]
    return json.dumps(row, ensure_ascii=False)


def parse_header(line: str) -> dict[str, Any] | None:
    """The header's fields if ``line`` is an export header, else None."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or HEADER_KEY not in obj:
        return None
    if obj[HEADER_KEY] != FORMAT_VERSION:
        raise InvalidInputError(
            f"export format version {obj[HEADER_KEY]!r} is not supported (this milvus-rag "
            f"reads version {FORMAT_VERSION})"
        )
    return obj


def parse_line(line: str, lineno: int) -> Record:
    """One row line as a :class:`Record`; errors name the line."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise InvalidInputError(f"line {lineno}: not JSON ({e.msg})") from None
    if not isinstance(obj, dict):
        raise InvalidInputError(f"line {lineno}: expected a JSON object")
    unknown = set(obj) - _ROW_KEYS
    if unknown:
        raise InvalidInputError(
            f"line {lineno}: unknown key(s) {sorted(unknown)}; rows have {sorted(_ROW_KEYS)}"
        )
    if not isinstance(obj.get("id"), str) or not isinstance(obj.get("text"), str):
        raise InvalidInputError(f"line {lineno}: 'id' and 'text' must be strings")
    metadata = {} if obj.get("metadata") is None else obj["metadata"]
    doc_id = "" if obj.get("doc_id") is None else obj["doc_id"]
    if not isinstance(metadata, dict) or not isinstance(doc_id, str):
        raise InvalidInputError(f"line {lineno}: 'metadata' must be an object, 'doc_id' a string")
    vector = obj.get("vector")
    if vector is not None and not (
        isinstance(vector, list) and all(isinstance(x, int | float) for x in vector)
    ):
        raise InvalidInputError(f"line {lineno}: 'vector' must be a list of numbers")
    return Record(id=obj["id"], text=obj["text"], vector=vector, metadata=metadata, doc_id=doc_id)


def read_lines(lines: Iterable[str]) -> tuple[dict[str, Any] | None, Iterator[Record]]:
    """(header or None, the rows) of an export file's lines; blank lines are skipped."""
    numbered = ((n, line) for n, line in enumerate(lines, 1) if line.strip())
    first = next(numbered, None)
    header = parse_header(first[1]) if first is not None else None

    def rows() -> Iterator[Record]:
        if first is not None and header is None:
            yield parse_line(first[1], first[0])
        for n, line in numbered:
            yield parse_line(line, n)

    return header, rows()


def batched(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for r in records:
        batch.append(r)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --------------------------------------------------------------------------- I/O


@dataclass
class ImportStats:
    read: int = 0
    skipped: int = 0
    written: int = 0

    def summary(self) -> str:
        return f"{self.read} rows read, {self.written} written, {self.skipped} already there"


def progress_bar(total: int | None, desc: str, progress: bool | None) -> Any:
    """A tqdm bar on stderr (``progress=None``: only when stderr is a terminal)."""
    from milvus_rag.ingest.files import tqdm_class

    disable = (not sys.stderr.isatty()) if progress is None else not progress
    return tqdm_class()(total=total, unit="rows", desc=desc, file=sys.stderr, disable=disable)


async def export_rows(
    store: AsyncMilvusStore,
    out: TextIO,
    *,
    filter: Any = None,
    with_vectors: bool = False,
    batch_size: int = 1000,
    progress: bool | None = None,
    all_tenants: bool = False,
) -> int:
    """Write the header and every row matching ``filter`` to ``out``; returns the rows written.

    On a multi-tenant collection the rows are those of the store's tenant (a
    :meth:`~AsyncMilvusStore.for_tenant` view), or of every tenant with ``all_tenants=True``
    (each row keeps its tenant in ``metadata[tenant_field]``)."""
    info = await store.ensure_collection()
    total = await store.count(filter, all_tenants=all_tenants)
    out.write(header_line(store, info.dim, info.metric, with_vectors) + "\n")
    n = 0
    with progress_bar(total, "export", progress) as bar:
        async for page in store.iterate_pages(
            filter, batch_size=batch_size, with_vectors=with_vectors, all_tenants=all_tenants
        ):
            out.write("".join(record_to_line(r, with_vectors=with_vectors) + "\n" for r in page))
            n += len(page)
            bar.update(len(page))
    out.flush()
    return n


async def import_rows(
    store: AsyncMilvusStore,
    records: Iterable[Record],
    *,
    embed: EmbedFn | None = None,
    batch_size: int = IMPORT_BATCH,
    total: int | None = None,
    progress: bool | None = None,
    all_tenants: bool = False,
) -> ImportStats:
    """Upsert ``records`` the target does not hold yet (by id), ``batch_size`` at a time.

    A multi-tenant target takes the store's tenant (a ``for_tenant`` view), or with
    ``all_tenants=True`` the tenant each row names in ``metadata[tenant_field]``."""
    stats = ImportStats()
    with progress_bar(total, "import", progress) as bar:
        for batch in batched(records, batch_size):
            stats.read += len(batch)
            have = set()
            if await store.exists():
                have = {
                    r.id for r in await store.get([r.id for r in batch], all_tenants=all_tenants)
                }
            todo = [r for r in batch if r.id not in have]
            stats.skipped += len(batch) - len(todo)
            if todo:
                if store.config.dim is None:
                    first = next((r.vector for r in todo if r.vector is not None), None)
                    if first is not None:
                        store.set_dim(len(first))
                stats.written += len(await store.upsert(todo, embed=embed, all_tenants=all_tenants))
            bar.update(len(batch))
    return stats


# --------------------------------------------------------------------------- CLI


def add_parsers(sub: Any, common: argparse.ArgumentParser, model: argparse.ArgumentParser) -> None:
    """Register ``export`` and ``import`` on the ``milvus-rag`` subcommands."""
    p = sub.add_parser(
        "export", parents=[common], help="write the collection's rows as JSON lines to stdout"
    )
    p.add_argument(
        "--filter", default=None, help='metadata filter as JSON, e.g. \'{"source": "a.md"}\''
    )
    p.add_argument("--vectors", action="store_true", help="include the dense vectors")
    p.add_argument("--output", "-o", default="-", help="file to write (default: stdout)")
    p.add_argument("--batch-size", type=int, default=1000, help="rows per request")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--all-tenants",
        action="store_true",
        help="a multi-tenant collection: every tenant's rows (each keeps its tenant in metadata)",
    )

    p = sub.add_parser(
        "import",
        parents=[common, model],
        help="upsert rows from a JSON-lines export (resumable: ids already there are skipped)",
    )
    p.add_argument("path", metavar="ROWS.jsonl", help="an export file, or - for stdin")
    p.add_argument("--batch-size", type=int, default=IMPORT_BATCH, help="rows per write")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--all-tenants",
        action="store_true",
        help="a multi-tenant collection: every tenant's rows (each keeps its tenant in metadata)",
    )


async def cmd_export(args: argparse.Namespace) -> int:
    from milvus_rag.cli import commands as cli
    from milvus_rag.client.iterate import check_batch_size

    filt = cli.cli_filter(args.filter)
    check_batch_size(args.batch_size)  # before the header is written
    if args.output != "-" and not Path(args.output).expanduser().parent.is_dir():
        raise cli.UsageError(f"--output {args.output!r}: its folder does not exist")
    store = cli.open_store(args, read_only=True)
    try:
        store.scope(filt, all_tenants=args.all_tenants, operation="export")  # fails early
        await cli.require_collection(store)
        progress = False if args.no_progress else None
        if args.output == "-":
            n = await export_rows(
                store,
                sys.stdout,
                filter=filt,
                with_vectors=args.vectors,
                batch_size=args.batch_size,
                progress=progress,
                all_tenants=args.all_tenants,
            )
        else:
            with open(args.output, "w", encoding="utf-8") as out:
                n = await export_rows(
                    store,
                    out,
                    filter=filt,
                    with_vectors=args.vectors,
                    batch_size=args.batch_size,
                    progress=progress,
                    all_tenants=args.all_tenants,
                )
    finally:
        await store.aclose()
    print(f"exported {n} rows from {store.connection.uri} [{store.name}]", file=sys.stderr)
    if n == 0:
        print(
            "warning: no rows matched, the output holds only the header"
            + ("; check --filter (a source is its path as given to ingest)" if filt else ""),
            file=sys.stderr,
        )
    return 0


async def cmd_import(args: argparse.Namespace) -> int:
    from milvus_rag.cli import commands as cli

    if args.batch_size < 1:
        raise cli.UsageError("--batch-size must be >= 1")
    source: TextIO
    if not args.path.strip():
        raise cli.UsageError("import: the path is empty (give a file, or - for stdin)")
    if args.path == "-":
        source, total = sys.stdin, None
    else:
        path = Path(args.path)
        if not path.is_file():
            what = "a folder, not a file" if path.is_dir() else "no such file"
            raise cli.UsageError(f"{args.path!r}: {what}")
        with path.open(encoding="utf-8") as f:
            total = sum(1 for line in f if line.strip())
        source = path.open(encoding="utf-8")
    try:
        header, records = read_lines(source)
        has_vectors = bool(header and header.get("vectors"))
        embed = None
        dim = int(header["dim"]) if header and header.get("dim") else None
        if not has_vectors:
            encoder = await cli.load_encoder(
                args.model, args.device, args.precision, backend=args.backend
            )
            embed = encoder.aencode_documents
            if dim is not None and dim != encoder.dim:
                raise ConfigError(
                    f"the export's dim is {dim} but the model {args.model!r} makes {encoder.dim}: "
                    "export with --vectors, or import with the model that made it"
                )
            dim = encoder.dim
        store = cli.open_store(args, dim=dim)
        try:
            stats = await import_rows(
                store,
                records,
                embed=embed,
                batch_size=args.batch_size,
                total=None if total is None else total - (1 if header else 0),
                progress=False if args.no_progress else None,
                all_tenants=args.all_tenants,
            )
        finally:
            await store.aclose()
    finally:
        if source is not sys.stdin:
            source.close()
    print(f"{store.connection.uri} [{store.name}]: {stats.summary()}", file=sys.stderr)
    if stats.read == 0:
        print(f"warning: {args.path} holds no rows: nothing imported", file=sys.stderr)
    return 0
