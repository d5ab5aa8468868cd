"""``milvus-rag export``, ``import`` and ``migrate``: the flags read, the library called
(:mod:`milvus_rag.transfer.jsonl`, :mod:`milvus_rag.transfer.migrate`), the outcome printed."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from milvus_rag.cli import common as cli
from milvus_rag.client.config import DEFAULT_URI
from milvus_rag.client.errors import ConfigError
from milvus_rag.transfer.jsonl import export_rows, fields_from_header, import_rows, read_lines
from milvus_rag.transfer.migrate import migrate, open_source, target_options

if TYPE_CHECKING:
    from milvus_rag.client.store import AsyncMilvusStore

__all__ = ["cmd_export", "cmd_import", "cmd_migrate", "resolve_endpoints"]


async def cmd_export(args: argparse.Namespace) -> int:
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
        fields = fields_from_header(header)
        if fields is not None:  # an export of several vector fields: a new target has them
            store = cli.open_store(args, vector_fields=fields)
        else:
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


def resolve_endpoints(args: argparse.Namespace) -> tuple[str, str, str, str]:
    """(source uri, source token, target uri, target token) from the flags and environment."""
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
        primary = source.config.vector_field if source.config.enable_dense else None
        target = AsyncMilvusStore(
            to_uri,
            token=to_token or None,
            collection_name=args.to_name,
            **target_options(info, primary),
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
