"""The ``milvus-rag`` command: ingest files, search, delete, evaluate, manage collections, MCP.

    milvus-rag ingest docs/ notes.md paper.pdf
    milvus-rag search "how do I connect to a cluster?" --mode hybrid --k 5 --filter '{"page": 1}'
    milvus-rag delete --source docs/old.md
    milvus-rag eval ../data/scifact
    milvus-rag collections list | describe NAME | drop NAME [--yes]
    milvus-rag mcp --transport stdio|http [--host 127.0.0.1 --port 8000] [--read-only]
    milvus-rag demo
    milvus-rag export [--filter JSON] [--vectors] > rows.jsonl
    milvus-rag import rows.jsonl
    milvus-rag migrate --from langchain_docs --to docs [--uri ./old.db] [--to-uri ./new.db]

Every command takes ``--uri``, ``--token`` and ``--collection``, defaulting to ``MILVUS_URI``,
``MILVUS_TOKEN`` and ``MILVUS_COLLECTION`` from the environment, then to ``./milvus_rag.db``,
no token and ``milvus_rag`` (``eval`` and ``demo`` use collections of their own:
``milvus_rag_eval``, ``milvus_rag_demo``). Errors print one line on stderr and exit with
status 2 for a mistake in the command (a flag, value, filter or file named; see
:func:`milvus_rag.cli_args.exit_status`), 1 for a failure while working (``--debug`` shows the
traceback). Commands that only read never create a file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milvus_rag._fast_start import light_pkg_resources, skip_unneeded_scipy
from milvus_rag._quiet import cli_environment
from milvus_rag.cli_args import exit_status
from milvus_rag.cli.parser import (
    DEFAULT_COLLECTION,
    DEFAULT_URI,
    EVAL_COLLECTION,
    MODES,
    build_parser,
)
from milvus_rag.client.errors import BackendError, ConfigError, MilvusRAGError
from milvus_rag.client.lite_file import LiteFileDamagedError
from milvus_rag.client.records import Hit
from milvus_rag.client.request import SearchRequest
from milvus_rag.embeddings.encoder import DEFAULT_MODEL, Encoder
from milvus_rag.transfer import jsonl as transfer
from milvus_rag.transfer import migrate

if TYPE_CHECKING:  # imported when used: `milvus-rag mcp` answers before pymilvus is imported
    from milvus_rag.client.store import AsyncMilvusStore

__all__ = ["DEFAULT_COLLECTION", "DEFAULT_URI", "EVAL_COLLECTION", "MODES", "build_parser", "main"]


class UsageError(MilvusRAGError):
    """A mistake on the command line (exit status 2)."""


# --------------------------------------------------------------------------- helpers


def make_encoder(
    model: str = DEFAULT_MODEL,
    device: str | None = None,
    precision: str = "auto",
    *,
    backend: str = "auto",
) -> Encoder:
    """The embedder the commands use (tests replace this function with a fake)."""
    from milvus_rag.embeddings.encoder import make_encoder as make

    return make(model, device=device, precision=precision, backend=backend)


def check_device(device: str | None) -> None:
    """A ``--device`` this torch build cannot use fails here, in one line, before loading."""
    if device is None or not (device.startswith("cuda") or device == "mps"):
        return
    try:
        import torch
    except ImportError:
        return  # the encoder says how to install it
    if device.startswith("cuda") and not torch.cuda.is_available():
        build = "has no CUDA" if torch.version.cuda is None else "finds no CUDA GPU"
        raise ConfigError(
            f"--device {device}: this torch ({torch.__version__}) {build}; "
            "use --device cpu, or install a CUDA build of torch"
        )
    mps = getattr(torch.backends, "mps", None)
    if device == "mps" and not (mps is not None and mps.is_available()):
        raise ConfigError("--device mps: MPS is not available here; use --device cpu")


def _model_error(model: str, e: BaseException) -> ConfigError:
    if _offline() and not Path(model).expanduser().exists():
        return ConfigError(
            f"the embedding model {model!r} is not installed here (no such folder, not in the "
            "Hugging Face cache); the command does not download models: pass a local path, or "
            "set HF_HUB_OFFLINE=0 to allow a download"
        )
    return ConfigError(f"cannot load the embedding model {model!r}: {e}")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def check_model(model: str) -> None:
    """Offline, a model that is neither a folder, the bundled MiniLM nor in the Hugging Face
    cache fails here, in about a second (before importing sentence-transformers)."""
    from milvus_rag.embeddings.encoder import resolve_model_path

    if not _offline() or Path(model).expanduser().exists() or resolve_model_path(model) != model:
        return
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # the loader says what is missing
        return
    repos = [model] if "/" in model else [model, f"sentence-transformers/{model}"]
    for repo in repos:
        try:
            if isinstance(try_to_load_from_cache(repo, "config.json"), str):
                return
        except Exception:  # not a valid repo name: the loader says what is wrong
            return
    raise _model_error(model, FileNotFoundError(model))


async def load_encoder(
    model: str, device: str | None, precision: str = "auto", *, backend: str = "auto"
) -> Encoder:
    """The encoder, loaded in a worker thread; loading errors in one line."""
    check_model(model)
    check_device(device)
    encoder = make_encoder(model, device, precision, backend=backend)
    aload = getattr(encoder, "aload", None)
    try:
        if aload is not None:
            await aload()
        _ = encoder.dim
    except Exception as e:
        raise _load_error(model, e) from None
    return encoder


def load_encoder_sync(
    model: str, device: str | None, precision: str = "auto", *, backend: str = "auto"
) -> Encoder:
    """:func:`load_encoder` for the commands that run on the background loop (``eval``)."""
    check_model(model)
    check_device(device)
    encoder = make_encoder(model, device, precision, backend=backend)
    load = getattr(encoder, "load", None)
    try:
        if load is not None:
            load()
        _ = encoder.dim
    except Exception as e:
        raise _load_error(model, e) from None
    return encoder


def _load_error(model: str, e: Exception) -> Exception:
    if isinstance(e, MilvusRAGError):
        return e
    if isinstance(e, ImportError):
        return ConfigError(f"{e}")
    if isinstance(e, OSError | ValueError | RuntimeError | AssertionError):
        return _model_error(model, e)
    return e


def resolve_settings(
    args: argparse.Namespace, default_collection: str, *, env_collection: bool = True
) -> tuple[str, str, str]:
    """(uri, token, collection) from flags, then the environment, then defaults; a flag
    given empty (``--uri ''``) is a mistake, not "unset"."""
    for flag in ("uri", "collection", "tenant_field", "tenant"):
        value = getattr(args, flag, None)
        if value is not None and not value.strip():
            raise UsageError(f"--{flag.replace('_', '-')} is empty: give a value or leave it out")
    uri = args.uri or os.environ.get("MILVUS_URI") or DEFAULT_URI
    token = args.token if args.token is not None else os.environ.get("MILVUS_TOKEN", "")
    env = os.environ.get("MILVUS_COLLECTION") if env_collection else None
    collection = args.collection or env or default_collection
    return uri, token, collection


def missing_lite_file(uri: str) -> bool:
    """A local ``.db`` path that does not exist (a read-only command must not create it)."""
    from milvus_rag.client.config import ConnectionConfig

    return ConnectionConfig.is_local_for(uri) and not Path(uri).expanduser().exists()


def check_lite_file_to_read(uri: str, hint: str = "") -> None:
    """A read-only command's Lite file: it exists and is not empty (the engine would make an
    empty one a database); other problems are found when the engine starts."""
    from milvus_rag.client.config import ConnectionConfig

    if missing_lite_file(uri):
        raise UsageError(f"no Milvus Lite file at {uri!r}: check --uri (or MILVUS_URI){hint}")
    path = Path(uri).expanduser()
    if ConnectionConfig.is_local_for(uri) and path.is_file() and path.stat().st_size == 0:
        raise UsageError(
            f"the Milvus Lite file {uri!r} is empty (0 bytes), not a database: check --uri{hint}"
        )


def diagnose_lite_files(args: argparse.Namespace) -> str | None:
    """After a backend failure: what is wrong with the Lite file(s) the command used (SQLite's
    integrity check), or None."""
    from milvus_rag.client.config import ConnectionConfig
    from milvus_rag.client.lite_file import lite_file_damage

    uris = [getattr(args, "uri", None) or os.environ.get("MILVUS_URI") or DEFAULT_URI]
    uris += [u for u in (getattr(args, "to_uri", None),) if u]
    for uri in uris:
        path = Path(uri).expanduser()
        if ConnectionConfig.is_local_for(uri) and path.is_file():
            damage = lite_file_damage(str(path))
            if damage is not None:
                return f"the Milvus Lite file {uri!r} {damage}"
    return None


def open_store(
    args: argparse.Namespace, *, dim: int | None = None, read_only: bool = False
) -> AsyncMilvusStore:
    """The store the flags name (no I/O yet), bound to ``--tenant`` when given (on a
    ``--tenant-field`` collection every data command needs one); ``read_only``: the commands
    that only read or delete refuse a Lite file that does not exist (not create one)."""
    from milvus_rag.client.store import AsyncMilvusStore

    uri, token, collection = resolve_settings(args, DEFAULT_COLLECTION)
    options: dict[str, Any] = {}
    if getattr(args, "tenant_field", None):
        options["tenant_field"] = args.tenant_field
    typed = parse_json_object(getattr(args, "metadata_fields", None), "--metadata-fields")
    if typed:
        options["metadata_fields"] = typed
    store = AsyncMilvusStore(
        uri, token=token or None, collection_name=collection, dim=dim, **options
    )
    if read_only:
        check_lite_file_to_read(uri, "; 'milvus-rag ingest' creates it")
    tenant = getattr(args, "tenant", None)
    return store.for_tenant(tenant) if tenant is not None else store


def parse_json_object(text: str | None, flag: str) -> dict[str, Any] | None:
    """A command-line JSON object (``--search-params '{"ef": 64}'``), or None."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{flag} is not valid JSON ({e.msg}): {text!r}") from None
    except (RecursionError, ValueError) as e:  # nested too deeply, a number too long
        raise UsageError(f"{flag} cannot be read: {str(e)[:120]}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{flag} must be a JSON object such as '{{\"ef\": 64}}'")
    return value


async def require_collection(store: AsyncMilvusStore, flag: str = "--collection") -> None:
    """A missing collection: one line naming those there and the ``flag`` that picks one."""
    if not await store.exists():
        names = await store.list_collections()
        known = ", ".join(sorted(names)) or "none"
        raise UsageError(
            f"collection {store.name!r} does not exist at {store.connection.uri} "
            f"(collections there: {known}); run 'milvus-rag ingest' first or pass {flag}"
        )


def snippet(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def shown_source(source: str) -> str:
    """A stored (absolute) source as shown: relative to the working directory when under it."""
    try:
        return Path(source).relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return source


def format_hits(hits: Sequence[Hit]) -> str:
    if not hits:
        return "no results"
    lines = []
    for rank, h in enumerate(hits, 1):
        meta = h.record.metadata
        where = shown_source(str(meta.get("source", h.record.doc_id or h.id)))
        if "page" in meta:
            where += f" p.{meta['page']}"
        lines.append(f"{rank:>2}. {h.relevance:.3f}  [{where}]  {snippet(h.record.text)}")
    return "\n".join(lines)


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cli_filter(text: str | None) -> Any:
    """``--filter`` parsed, with ``source`` paths made canonical (as ingest stores them)."""
    from milvus_rag.ingest.files import canonical_filter, parse_filter

    return canonical_filter(parse_filter(text))


# --------------------------------------------------------------------------- commands


async def cmd_ingest(args: argparse.Namespace) -> int:
    from milvus_rag.ingest.files import discover
    from milvus_rag.ingest.sync import ingest_files
    from milvus_rag.text_decoding import check_encoding

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


async def cmd_search(args: argparse.Namespace) -> int:
    light_pkg_resources()  # a one-off search: skip imports it does not need (_fast_start)
    skip_unneeded_scipy()
    filt = cli_filter(args.filter)
    if not args.query.strip():
        raise UsageError("the query is empty")
    wanted = SearchRequest(
        text=args.query,
        k=args.k,
        mode=args.mode,
        filter=filt,
        search_params=parse_json_object(args.search_params, "--search-params"),
        radius=args.radius,
        range_filter=args.range_filter,
        consistency_level=args.consistency,
        timeout=args.timeout,
    )
    open_store(args).prepare(wanted)  # a bad option, filter or tenant fails before anything
    store = open_store(args, read_only=True)
    try:
        request = store.prepare(wanted)
        if request.needs_vector:
            # the model loads and embeds while Milvus (Lite: a process of its own) opens
            embedding = asyncio.ensure_future(embed_query(args))
            try:
                await require_collection(store)
            except BaseException:
                embedding.cancel()
                embedding.add_done_callback(_retrieve)  # its own error would hide this one
                raise
            request = request.with_vector(await embedding)
        else:
            await require_collection(store)
        hits = await store.search(request)
    finally:
        await store.aclose()
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
    else:
        print(format_hits(hits))
    return 0


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
                print("\n".join(f"{k}: {v}" for k, v in info.items()))
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
    )
    serve(settings)
    return 0


async def cmd_demo(args: argparse.Namespace) -> int:
    from milvus_rag.cli.demo import cmd_demo as run_demo

    return await run_demo(args)


COMMANDS = {
    "ingest": cmd_ingest,
    "search": cmd_search,
    "delete": cmd_delete,
    "collections": cmd_collections,
    "demo": cmd_demo,
    "export": transfer.cmd_export,
    "import": transfer.cmd_import,
    "migrate": migrate.cmd_migrate,
}


def main(argv: list[str] | None = None) -> int:
    cli_environment()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "eval":
            return cmd_eval(args)
        if args.command == "mcp":
            return cmd_mcp(args)
        return asyncio.run(COMMANDS[args.command](args))
    except KeyboardInterrupt:
        print("milvus-rag: interrupted", file=sys.stderr)
        return 130
    except RecursionError:  # a filter or JSON value nested beyond Python's recursion limit
        if args.debug:
            raise
        print("milvus-rag: error: an argument is nested too deeply to read", file=sys.stderr)
        return 2
    except (MilvusRAGError, OSError, ImportError) as e:
        if args.debug:
            raise
        message = " ".join(str(e).split()) or type(e).__name__
        if isinstance(e, BackendError) and not isinstance(e, LiteFileDamagedError):
            damage = diagnose_lite_files(args)  # a damaged file, not the engine's assertion
            if damage is not None:
                print(f"milvus-rag: error: {damage}", file=sys.stderr)
                return 2
        print(f"milvus-rag: error: {message}", file=sys.stderr)
        return exit_status(e, UsageError)
    except Exception as e:  # a bug: still one line; --debug shows where
        if args.debug:
            raise
        message = " ".join(f"{type(e).__name__}: {e}".split())
        print(
            f"milvus-rag: internal error: {message} (--debug shows the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
