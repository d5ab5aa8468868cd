"""The ``milvus-rag`` commands over one collection: ingest, search, delete, collections, eval,
mcp (export, import and migrate: :mod:`milvus_rag.cli.transfer`; the demo:
:mod:`milvus_rag.cli.demo`; the dispatcher: :mod:`milvus_rag.cli.main`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milvus_rag._fast_start import light_pkg_resources, skip_unneeded_scipy
from milvus_rag.cli.common import (
    UsageError,
    cli_filter,
    confirm,
    format_hits,
    load_encoder,
    load_encoder_sync,
    open_store,
    parse_json_object,
    require_collection,
    resolve_settings,
)
from milvus_rag.cli.documents import (
    eval_document_options,
    expand_options,
    expanded_dict,
    format_expanded,
)
from milvus_rag.cli.fields import check_fields_args, cli_fields, cli_legs
from milvus_rag.cli.parser import MODES
from milvus_rag.client.config import DEFAULT_COLLECTION, EVAL_COLLECTION
from milvus_rag.client.request import Leg, SearchRequest

if TYPE_CHECKING:
    from milvus_rag.client.store import AsyncMilvusStore

# --------------------------------------------------------------------------- commands


async def cmd_ingest(args: argparse.Namespace) -> int:
    from milvus_rag.ingest.decoding import check_encoding
    from milvus_rag.ingest.files import discover
    from milvus_rag.ingest.sync import ingest_files

    if not all(p.strip() for p in args.paths):
        raise UsageError("ingest: a path is empty")
    check_encoding(args.encoding)
    discover(args.paths)  # fail on a bad path before loading the model
    encoder = await load_encoder(args.model, args.device, args.precision, backend=args.backend)
    store = open_store(args, dim=encoder.dim)
    try:
        stats = await ingest_files(
            store,
            args.paths,
            encoder.aencode_documents,
            chunk_size=args.chunk_size,
            chunk_overlap=args.chunk_overlap,
            prune=not args.no_prune,
            progress=False if args.no_progress else None,
            encoding=args.encoding,
        )
    finally:
        await store.aclose()
    if stats.skipped:
        from milvus_rag.ingest.files import Discovery

        line = Discovery(skipped=stats.skipped).skipped_summary()
        if any(reason.startswith("not ") for _, reason in stats.skipped):
            line += " (text in another encoding: --encoding NAME, e.g. latin-1)"
        print(line, file=sys.stderr)
    print(f"{store.connection.uri} [{store.name}]: {stats.summary()}")
    return 0


async def embed_query(args: argparse.Namespace) -> Any:
    """The query vector of ``search``: the encoder loaded (in a worker thread), then used."""
    encoder = await load_encoder(args.model, args.device, args.precision, backend=args.backend)
    return await encoder.aencode_query(args.query)


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" at exit


def _wanted(args: argparse.Namespace, filt: Any, **fields: Any) -> SearchRequest:
    """The search the flags ask for (``fields``: the legs and what goes with them)."""
    return SearchRequest(
        text=args.query,
        k=args.k,
        filter=filt,
        search_params=parse_json_object(args.search_params, "--search-params"),
        radius=args.radius,
        range_filter=args.range_filter,
        consistency_level=args.consistency,
        timeout=args.timeout,
        group_by=args.group_by,
        group_size=args.group_size,
        strict_group_size=args.strict_group_size,
        **fields,
    )


async def cmd_search(args: argparse.Namespace) -> int:
    light_pkg_resources()  # a one-off search: skip imports it does not need (_fast_start)
    skip_unneeded_scipy()
    filt = cli_filter(args.filter)
    if not args.query.strip():
        raise UsageError("the query is empty")
    check_fields_args(args)
    mode = args.mode or "hybrid"
    # relevance is printed with each hit; a bad option fails before anything is opened
    if args.fields is None:
        wanted = _wanted(args, filt, mode=mode, relevance=True)
    else:
        weights = args.weights or [None] * len(args.fields)
        _wanted(
            args, filt, legs=[Leg(f, weight=w) for f, w in zip(args.fields, weights, strict=True)]
        )
    expand = expand_options(args)
    if args.fields is None:  # (the fields are known once the collection is read)
        open_store(args).prepare(wanted)  # a bad filter or tenant fails before anything
    store = open_store(args, read_only=True)
    try:
        if args.fields is not None:
            request, mode = await _fields_request(args, store, filt)
        else:
            request = await _embedded(args, store, store.prepare(wanted))
        hits = await store.search(request)
        expanded = await store.expand(hits, **expand) if expand is not None else None
    finally:
        await store.aclose()
    if expanded is not None:
        if args.json:
            rows = [expanded_dict(h, e) for h, e in zip(hits, expanded, strict=True)]
            print(json.dumps(rows, ensure_ascii=False, indent=2))
        else:
            print(format_expanded(hits, expanded))
    elif args.json:
        from milvus_rag.cli.hits import hits_json

        print(hits_json(hits, mode))
    else:
        print(format_hits(hits, mode))
    return 0


async def _embedded(
    args: argparse.Namespace, store: AsyncMilvusStore, request: SearchRequest
) -> SearchRequest:
    """``request`` with its query embedding where it needs one: the model loads and embeds
    while Milvus (Lite: a process of its own) opens."""
    if not request.needs_vector:
        await require_collection(store)
        return request
    embedding = asyncio.ensure_future(embed_query(args))
    try:
        await require_collection(store)
    except BaseException:
        embedding.cancel()
        embedding.add_done_callback(_retrieve)  # its own error would hide this one
        raise
    return request.with_vector(await embedding)


async def _fields_request(
    args: argparse.Namespace, store: AsyncMilvusStore, filt: Any
) -> tuple[SearchRequest, str]:
    """The search over ``--fields`` (see :mod:`milvus_rag.cli.fields`) and the name its
    scores are printed under."""
    await require_collection(store)
    await store.ensure_collection()  # the collection's vector fields
    fields = cli_fields(store.config, args.fields)
    dense = any(f.is_dense for f in fields)
    embedding = await embed_query(args) if dense else None
    legs, vector, relevance = cli_legs(store.config, fields, args.weights, embedding, args.model)
    request = store.prepare(_wanted(args, filt, legs=legs, vector=vector, relevance=relevance))
    if len(fields) > 1:
        shown = "weighted" if args.weights is not None else "hybrid"
    else:
        shown = "sparse" if fields[0].is_bm25 else "dense"
    return request, shown


async def cmd_delete(args: argparse.Namespace) -> int:
    from milvus_rag.ingest.sync import delete_sources, rows_in_scope

    given = [x for x in (args.source, args.filter, args.id) if x]
    if len(given) != 1:
        raise UsageError("delete needs one of --source PATH..., --filter JSON or --id ID...")
    filt = cli_filter(args.filter) if args.filter else None
    if args.filter and not filt:
        raise UsageError(
            f"delete --filter {args.filter!r} matches every row: give a condition, or use "
            "'milvus-rag collections drop' to remove the whole collection"
        )
    if args.id is not None and not all(i.strip() for i in args.id):
        raise UsageError("delete --id: an id is empty")
    if args.source is not None and not all(p.strip() for p in args.source):
        raise UsageError("delete --source: a path is empty")
    open_store(args).compile_filter(filt)
    store = open_store(args, read_only=True)
    try:
        await require_collection(store)
        where = f"{store.connection.uri} [{store.name}]"
        if args.source:
            from milvus_rag.ingest.files import canonical_source

            canon = [canonical_source(p) for p in args.source]
            if args.dry_run:
                rows = await rows_in_scope(store, canon, canon)
                files = len({str(r.metadata.get("source")) for r in rows})
                print(f"{where}: would delete {len(rows)} chunks of {files} files")
                return 0
            n, files = await delete_sources(store, args.source)
            print(f"{where}: deleted {n} chunks of {files} files")
            return 0
        if args.dry_run:
            n = await store.count(filt) if filt else len(await store.get(args.id))
            print(f"{where}: would delete {n} rows")
            return 0
        n = await store.delete(filter=filt) if filt else await store.delete(args.id)
        print(f"{where}: deleted {n} rows")
        return 0
    finally:
        await store.aclose()


async def cmd_collections(args: argparse.Namespace) -> int:
    action = args.action or "list"
    if action == "list":
        if args.name is not None:
            raise UsageError(f"collections list takes no name (got {args.name!r})")
        store = open_store(args, read_only=True)  # a missing file: one line, exit 2
        try:
            names = sorted(await store.list_collections())
        finally:
            await store.aclose()
        if args.json:
            print(json.dumps(names))
        else:
            print("\n".join(names) if names else "no collections")
        return 0
    if args.name is not None:
        args.collection = args.name  # checked (an empty name too) with --collection
    store = open_store(args, read_only=True)
    try:
        await require_collection(store)
        if action == "describe":
            info = await store.describe()
            if args.json:
                print(json.dumps(info, indent=2, default=str))
            else:
                print("\n".join(describe_lines(info)))
            return 0
        # drop
        count = await store.count()
        if not args.yes and not confirm(
            f"drop collection {store.name!r} ({count} rows) at {store.connection.uri}?"
        ):
            print("not dropped (pass --yes to skip the question)", file=sys.stderr)
            return 1
        await store.drop()
        print(f"dropped {store.name!r} ({count} rows)")
        return 0
    finally:
        await store.aclose()


def describe_lines(info: dict[str, Any]) -> list[str]:
    """``collections describe`` as text: one line a setting, one a vector field.

    Example:
        >>> describe_lines({"name": "c", "vector_fields": [{"name": "title", "kind": "dense",
        ...     "dim": 8, "metric": "COSINE", "index_type": "HNSW", "index_params": {}}]})
        ['name: c', 'vector_fields:', '  title: dense, dim 8, COSINE, HNSW']
    """
    out = []
    for key, value in info.items():
        if key != "vector_fields":
            out.append(f"{key}: {value}")
            continue
        out.append("vector_fields:")
        for f in value:
            parts = [str(f.get("kind"))]
            if f.get("dim") is not None:
                parts.append(f"dim {f['dim']}")
            parts += [str(x) for x in (f.get("metric"), f.get("index_type")) if x]
            params = f" {f['index_params']}" if f.get("index_params") else ""
            out.append(f"  {f.get('name')}: {', '.join(parts)}{params}")
    return out


def cmd_eval(args: argparse.Namespace) -> int:
    if not Path(args.data_dir).is_dir():
        raise UsageError(f"no such folder: {args.data_dir!r}")
    if args.reuse and args.overwrite:
        raise UsageError("--reuse and --overwrite exclude each other")
    from milvus_rag import evaluation

    uri, token, collection = resolve_settings(args, EVAL_COLLECTION, env_collection=False)
    kwargs: dict[str, Any] = {
        "uri": uri,
        "token": token or None,
        "collection_name": collection,
        "encoder": load_encoder_sync(args.model, args.device, args.precision, backend=args.backend),
        "reuse": args.reuse,
        "overwrite": args.overwrite,
        "keep": args.keep,
        "progress": not args.no_progress and sys.stderr.isatty(),
    }
    if args.k is not None:
        kwargs["k"] = args.k
    kwargs.update(eval_document_options(args))
    rows = evaluation.run_eval(args.data_dir, list(args.modes or MODES), **kwargs)
    if rows and rows[0].get("empty_skipped"):
        print(f"skipped {rows[0]['empty_skipped']} empty documents", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(evaluation.format_table(rows))
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from milvus_rag.integrations.mcp import MCPSettings, serve

    uri, token, collection = resolve_settings(args, DEFAULT_COLLECTION)
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be in [0, 65535], got {args.port}")
    if args.max_body_bytes < 1:
        raise UsageError(f"--max-body-bytes must be >= 1, got {args.max_body_bytes}")
    settings = MCPSettings(
        uri=uri,
        token=token or None,
        collection=collection,
        model=args.model,
        device=args.device,
        precision=args.precision,
        backend=args.backend,
        read_only=args.read_only,
        allow_drop=args.allow_drop,
        allow_paths=tuple(args.allow_path or ()),
        transport=args.transport,
        host=args.host,
        port=args.port,
        auth_token=args.auth_token,
        allowed_origins=tuple(args.allow_origin or ()),
        max_body_bytes=args.max_body_bytes,
        databases=tuple(d.strip() for d in args.databases.split(",") if d.strip()),
    )
    serve(settings)
    return 0
