"""Copy a collection into milvus-rag's own schema, vectors and all: ``milvus-rag migrate``.

    milvus-rag migrate --from langchain_docs --to docs [--uri ./old.db] [--to-uri ./new.db]

The source is any collection the store can open: one written by langchain-milvus (0.3/0.4) or
llama-index-vector-stores-milvus (1.x), whose layout the store detects from its schema, or a
milvus-rag collection. The target is a milvus-rag collection (``id``/``text``/``dense``/
``sparse``/``doc_id``/``metadata``) with the source's dimension and metric (an INT64 key is
copied as its decimal string, the id the store reads); the text goes to its ``text`` field, whose BM25 function computes the sparse vectors, so hybrid
search works on the copy. The stored vectors are copied as they are: nothing is re-embedded.

The copy walks the source in primary-key order, a page at a time, and writes only the rows of
each page that the target does not already hold with equal content (id, text, doc_id, metadata
and vector): a run that was interrupted continues where it stopped when started again, and a
second run over a finished copy writes nothing. It ends with a count check (the target holds
as many rows as the source). Progress goes to stderr.

The pure parts (:func:`same_record`, :func:`plan_page`, :func:`target_options`,
:class:`MigrateStats`) are unit-tested; :func:`migrate` is the loop.

Example:
    >>> from milvus_rag.client.records import Record
    >>> old = Record(id="a", text="hi", vector=[1.0, 0.0], metadata={"k": 1})
    >>> [r.id for r in plan_page([old], [Record(id="a", text="hi", vector=[1.0, 0.0])])]
    ['a']
    >>> plan_page([old], [old])
    []
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from milvus_rag.client.records import Record

if TYPE_CHECKING:  # pymilvus loads when a store is used
    from milvus_rag.client.schema import CollectionInfo
    from milvus_rag.client.store import AsyncMilvusStore

DEFAULT_BATCH = 1000

# --------------------------------------------------------------------------- pure


def _canonical(metadata: Any) -> str:
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False, default=str)


def same_vector(a: Any, b: Any) -> bool:
    """Equal as float32 (what Milvus stores), or both missing."""
    if a is None or b is None:
        return a is None and b is None
    x, y = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    return x.shape == y.shape and bool(np.array_equal(x, y))


def same_record(a: Record, b: Record) -> bool:
    """Whether the target's row ``b`` already holds the source's row ``a``."""
    return (
        a.id == b.id
        and a.text == b.text
        and (a.doc_id or "") == (b.doc_id or "")
        and _canonical(a.metadata or {}) == _canonical(b.metadata or {})
        and same_vector(a.vector, b.vector)
    )


def plan_page(page: Sequence[Record], existing: Iterable[Record]) -> list[Record]:
    """The rows of ``page`` to write: those the target lacks or holds with other content."""
    have = {r.id: r for r in existing}
    return [r for r in page if r.id not in have or not same_record(r, have[r.id])]


def target_options(info: CollectionInfo) -> dict[str, Any]:
    """The target collection's settings taken from the source: dimension, metric, and an id
    length that fits every source id (texts: milvus-rag's 65,535 is VARCHAR's largest).

    The target's key is milvus-rag's VARCHAR ``id`` whatever the source's: an INT64 key
    (langchain-milvus's ``auto_id``) is copied as its decimal string, which is the
    ``Record.id`` the store reads from the source too, so the copy opens with every default.
    """
    return {
        "dim": info.dim,
        "metric": info.metric,
        "id_max_length": min(max(512, info.id_max_length), 65535),
    }


@dataclass
class MigrateStats:
    """What a run did: rows read from the source, written, already equal in the target, and
    the two counts at the end."""

    read: int = 0
    written: int = 0
    unchanged: int = 0
    source_count: int | None = None
    target_count: int | None = None

    @property
    def counts_match(self) -> bool:
        return self.source_count is not None and self.source_count == self.target_count

    def summary(self) -> str:
        line = (
            f"{self.read} rows read, {self.written} written, {self.unchanged} already there; "
            f"source {self.source_count} rows, target {self.target_count}"
        )
        if not self.counts_match:
            line += (
                " -- the counts differ: the target holds rows the source does not (rows deleted "
                "from the source, or written to the target by someone else), or the source "
                "changed during the copy; run migrate again, or drop the target and rerun"
            )
        return line


# --------------------------------------------------------------------------- I/O

PageHook = Callable[[MigrateStats], None]


async def migrate(
    source: AsyncMilvusStore,
    target: AsyncMilvusStore,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: bool | None = None,
    on_page: PageHook | None = None,
) -> MigrateStats:
    """Copy every row of ``source`` into ``target`` (see the module); returns the stats.

    ``on_page`` is called after each page is written (with the running stats). ``target``
    may not exist yet: it is created with ``source``'s dimension and metric if its config
    leaves them open (:func:`target_options` makes such a config).
    """
    from milvus_rag.transfer.jsonl import progress_bar

    await source.ensure_collection()
    stats = MigrateStats()
    total = await source.count()
    target_exists = await target.exists()
    with progress_bar(total, "migrate", progress) as bar:
        async for page in source.iterate_pages(batch_size=batch_size, with_vectors=True):
            stats.read += len(page)
            existing: list[Record] = []
            if target_exists:
                existing = await target.get([r.id for r in page], with_vectors=True)
            todo = plan_page(page, existing)
            if todo:
                await target.upsert(todo)
                target_exists = True
            stats.written += len(todo)
            stats.unchanged += len(page) - len(todo)
            bar.update(len(page))
            if on_page is not None:
                on_page(stats)
    if not target_exists:
        await target.ensure_collection()  # an empty source: an empty copy
    stats.source_count = await source.count()
    stats.target_count = await target.count()
    return stats


async def open_source(uri: str, token: str | None, name: str) -> AsyncMilvusStore:
    """The source store; its layout is detected from the existing collection."""
    from milvus_rag.client.store import AsyncMilvusStore

    return AsyncMilvusStore(uri, token=token, collection_name=name)


# --------------------------------------------------------------------------- CLI


def add_parser(sub: Any) -> None:
    """Register ``migrate`` on the ``milvus-rag`` subcommands."""
    p = sub.add_parser(
        "migrate",
        help="copy a langchain-milvus / llama-index-milvus collection into milvus-rag's schema "
        "(vectors kept, BM25 added, resumable)",
        description="Copy the collection --from (written by langchain-milvus, "
        "llama-index-vector-stores-milvus or milvus-rag) into the milvus-rag collection --to, "
        "with its stored vectors (nothing is re-embedded) and a BM25 function on the text. "
        "Rows the target already holds with equal content are skipped: an interrupted run "
        "continues when started again, and a second run writes nothing. Ends with a count "
        "check (exit status 1 when the counts differ).",
    )
    p.add_argument("--from", dest="from_name", required=True, metavar="NAME", help="source")
    p.add_argument("--to", dest="to_name", required=True, metavar="NAME", help="target")
    p.add_argument(
        "--uri",
        default=None,
        help="the source's Milvus Lite file or server URL (env MILVUS_URI; default "
        "./milvus_rag.db)",
    )
    p.add_argument("--token", default=None, help="the source's token (env MILVUS_TOKEN)")
    p.add_argument(
        "--to-uri", default=None, help="the target's file or server URL (default: --uri)"
    )
    p.add_argument(
        "--to-token",
        default=None,
        help="the target's token (default: --token when --to-uri is not given)",
    )
    p.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH, help="rows per page (default %(default)s)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")


def resolve_endpoints(args: argparse.Namespace) -> tuple[str, str, str, str]:
    """(source uri, source token, target uri, target token) from the flags and environment."""
    from milvus_rag.cli.parser import DEFAULT_URI
    from milvus_rag.client.config import ConnectionConfig

    uri = args.uri or os.environ.get("MILVUS_URI") or DEFAULT_URI
    token = args.token if args.token is not None else os.environ.get("MILVUS_TOKEN", "")
    to_uri = args.to_uri or uri
    if args.to_token is not None:
        to_token = args.to_token
    else:
        to_token = token if args.to_uri is None else ""
    if ConnectionConfig.is_local_for(to_uri):
        to_token = ""
    return uri, token, to_uri, to_token


async def cmd_migrate(args: argparse.Namespace) -> int:
    from milvus_rag.cli import commands as cli
    from milvus_rag.client.config import ConnectionConfig
    from milvus_rag.client.store import AsyncMilvusStore

    if args.batch_size < 1:
        raise cli.UsageError("--batch-size must be >= 1")
    for flag, name in (("--from", args.from_name), ("--to", args.to_name)):
        if not name.strip():
            raise cli.UsageError(f"{flag} is empty: give a collection name")
    uri, token, to_uri, to_token = resolve_endpoints(args)
    same_place = ConnectionConfig(uri=uri).uri == ConnectionConfig(uri=to_uri).uri
    if same_place and args.from_name == args.to_name:
        raise cli.UsageError("--from and --to name the same collection: pick another --to")
    cli.check_lite_file_to_read(uri)
    source = await open_source(uri, token or None, args.from_name)
    target: AsyncMilvusStore | None = None
    try:
        await cli.require_collection(source, flag="another --from (or --uri)")
        info = await source.ensure_collection()
        target = AsyncMilvusStore(
            to_uri, token=to_token or None, collection_name=args.to_name, **target_options(info)
        )
        stats = await migrate(
            source,
            target,
            batch_size=args.batch_size,
            progress=False if args.no_progress else None,
        )
    finally:
        await source.aclose()
        if target is not None:
            await target.aclose()
    print(
        f"{uri} [{args.from_name}] -> {to_uri} [{args.to_name}]: {stats.summary()}",
        file=sys.stderr,
    )
    if info.metric != "COSINE":
        print(
            f"the copy keeps the source's metric ({info.metric}); milvus-rag adopts it when "
            "the copy is opened without metric=",
            file=sys.stderr,
        )
    return 0 if stats.counts_match else 1
