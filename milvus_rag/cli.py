"""The ``milvus-rag`` command: ingest files, search, evaluate, manage collections, serve MCP.

    milvus-rag ingest docs/ notes.md paper.pdf
    milvus-rag search "how do I connect to a cluster?" --mode hybrid --k 5 --filter '{"page": 1}'
    milvus-rag eval ../data/scifact
    milvus-rag collections list | describe NAME | drop NAME [--yes]
    milvus-rag mcp --transport stdio|http [--host 127.0.0.1 --port 8000] [--read-only]
    milvus-rag demo
    milvus-rag export [--filter JSON] [--vectors] > rows.jsonl
    milvus-rag import rows.jsonl

Every command takes ``--uri``, ``--token`` and ``--collection``, defaulting to ``MILVUS_URI``,
``MILVUS_TOKEN`` and ``MILVUS_COLLECTION`` from the environment, then to ``./milvus_rag.db``,
no token and ``milvus_rag``. Errors print one line on stderr and exit with status 1
(``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milvus_rag import transfer
from milvus_rag.client.errors import ConfigError, MilvusRAGError
from milvus_rag.client.records import Hit, Record
from milvus_rag.client.request import SearchRequest
from milvus_rag.embeddings.encoder import DEFAULT_MODEL, Encoder

if TYPE_CHECKING:  # imported when used: `milvus-rag mcp` answers before pymilvus is imported
    from milvus_rag.client.store import AsyncMilvusStore

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URI = "./milvus_rag.db"
DEFAULT_COLLECTION = "milvus_rag"
DEMO_COLLECTION = "milvus_rag_demo"
MODES = ("dense", "sparse", "hybrid")
QUESTIONS = (
    "How do I connect to a Milvus server or cluster?",
    "What happens to filters that the embedded engine cannot express?",
    "Which commands set up the project and run the tests?",
)


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


async def load_encoder(
    model: str, device: str | None, precision: str = "auto", *, backend: str = "auto"
) -> Encoder:
    encoder = make_encoder(model, device, precision, backend=backend)
    aload = getattr(encoder, "aload", None)
    try:
        if aload is not None:
            await aload()
        _ = encoder.dim
    except ImportError as e:
        raise ConfigError(f"{e}") from None
    except (OSError, ValueError, RuntimeError) as e:
        if isinstance(e, MilvusRAGError):
            raise
        raise ConfigError(f"cannot load the embedding model {model!r}: {e}") from None
    return encoder


def resolve_settings(args: argparse.Namespace, default_collection: str) -> tuple[str, str, str]:
    """(uri, token, collection) from flags, then the environment, then defaults."""
    uri = args.uri or os.environ.get("MILVUS_URI") or DEFAULT_URI
    token = args.token if args.token is not None else os.environ.get("MILVUS_TOKEN", "")
    collection = args.collection or os.environ.get("MILVUS_COLLECTION") or default_collection
    return uri, token, collection


def open_store(args: argparse.Namespace, *, dim: int | None = None) -> AsyncMilvusStore:
    """The store of the flags; bound to ``--tenant`` when given (on a ``--tenant-field``
    collection every data command needs it)."""
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
    tenant = getattr(args, "tenant", None)
    return store.for_tenant(tenant) if tenant is not None else store


async def require_collection(store: AsyncMilvusStore) -> None:
    if not await store.exists():
        names = await store.list_collections()
        known = ", ".join(sorted(names)) or "none"
        raise UsageError(
            f"collection {store.name!r} does not exist at {store.connection.uri} "
            f"(collections there: {known}); run 'milvus-rag ingest' first or pass --collection"
        )


def snippet(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def format_hits(hits: Sequence[Hit]) -> str:
    if not hits:
        return "no results"
    lines = []
    for rank, h in enumerate(hits, 1):
        meta = h.record.metadata
        where = str(meta.get("source", h.record.doc_id or h.id))
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


# --------------------------------------------------------------------------- commands


async def cmd_ingest(args: argparse.Namespace) -> int:
    from milvus_rag.ingest import discover_files, ingest_files

    discover_files(args.paths)  # fail on a bad path before loading the model
    encoder = await load_encoder(args.model, args.device, args.precision, backend=args.backend)
    store = open_store(args, dim=encoder.dim)
    try:
        stats = await ingest_files(
            store,
            args.paths,
            encoder.aencode_documents,
            chunk_size=args.chunk_size,
            chunk_overlap=args.chunk_overlap,
            progress=False if args.no_progress else None,
        )
    finally:
        await store.aclose()
    print(f"{store.connection.uri} [{store.name}]: {stats.summary()}")
    return 0


async def cmd_search(args: argparse.Namespace) -> int:
    from milvus_rag.ingest import parse_filter

    filt = parse_filter(args.filter)
    if not args.query.strip():
        raise UsageError("the query is empty")
    store = open_store(args)
    try:
        request = store.prepare(  # a bad option or filter fails before anything is loaded
            SearchRequest(
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
        )
        await require_collection(store)
        if request.needs_vector:
            encoder = await load_encoder(
                args.model, args.device, args.precision, backend=args.backend
            )
            request = request.with_vector(await encoder.aencode_query(args.query))
        hits = await store.search(request)
    finally:
        await store.aclose()
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
    else:
        print(format_hits(hits))
    return 0


def parse_json_object(text: str | None, flag: str) -> dict[str, Any] | None:
    """A command-line JSON object (``--search-params '{"ef": 64}'``), or None."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{flag} is not valid JSON ({e.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{flag} must be a JSON object such as '{{\"ef\": 64}}'")
    return value


async def cmd_collections(args: argparse.Namespace) -> int:
    action = args.action or "list"
    if action == "list":
        store = open_store(args)
        try:
            names = sorted(await store.list_collections())
        finally:
            await store.aclose()
        if args.json:
            print(json.dumps(names))
        else:
            print("\n".join(names) if names else "no collections")
        return 0
    if args.name:
        args.collection = args.name
    store = open_store(args)
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
        count = await store.count(all_tenants=True)
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
    try:
        from milvus_rag import evaluation
    except ImportError as e:
        raise ConfigError(f"the evaluation module is not available: {e}") from None
    uri, token, collection = resolve_settings(args, "milvus_rag_eval")
    kwargs: dict[str, Any] = {
        "uri": uri,
        "token": token or None,
        "collection_name": collection,
        "encoder": make_encoder(args.model, args.device, args.precision, backend=args.backend),
        "reuse": args.reuse,
        "keep": args.keep,
    }
    if args.k is not None:
        kwargs["k"] = args.k
    rows = evaluation.run_eval(args.data_dir, list(args.modes), **kwargs)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print(evaluation.format_table(rows))
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from milvus_rag.integrations.mcp import MCPSettings, serve

    uri, token, collection = resolve_settings(args, DEFAULT_COLLECTION)
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
        allow_paths=tuple(args.allow_path),
        transport=args.transport,
        host=args.host,
        port=args.port,
        auth_token=args.auth_token,
        allowed_origins=tuple(args.allow_origin),
        max_body_bytes=args.max_body_bytes,
    )
    serve(settings)
    return 0


# --------------------------------------------------------------------------- demo


def demo_files() -> list[Path]:
    """The Markdown shipped with the project: *.md and docs/**/*.md of a source checkout."""
    files = sorted(p for p in ROOT.glob("*.md") if p.is_file())
    docs = ROOT / "docs"
    if docs.is_dir():
        files += sorted(p for p in docs.rglob("*.md") if p.is_file())
    return files


def docstring_corpus() -> list[tuple[str, str]]:
    """(source, text) of the package's module docstrings: the corpus of an installed wheel."""
    import importlib
    import pkgutil

    import milvus_rag

    out: list[tuple[str, str]] = []
    for mod in pkgutil.walk_packages(milvus_rag.__path__, "milvus_rag."):
        try:
            module = importlib.import_module(mod.name)
        except ImportError:
            continue
        doc = inspect.getdoc(module)
        if doc:
            out.append((mod.name, doc))
    return out


def demo_records() -> list[Record]:
    from milvus_rag.ingest import chunk_id, file_doc_id, file_records

    records: list[Record] = []
    files = demo_files()
    if files:
        for path in files:
            data = path.read_bytes()
            records += file_records(
                path.name, path.name, data, [(None, data.decode("utf-8", errors="replace"))]
            )
        return records
    for source, text in docstring_corpus():
        data = text.encode()
        records += [
            Record(
                id=chunk_id(source, text),
                text=text,
                metadata={"source": source},
                doc_id=file_doc_id(data),
            )
        ]
    return records


async def cmd_demo(args: argparse.Namespace) -> int:
    from milvus_rag.client.store import AsyncMilvusStore
    from milvus_rag.ingest import delete_stale

    uri, token, collection = resolve_settings(args, DEMO_COLLECTION)
    if not args.collection:
        collection = DEMO_COLLECTION  # never write the demo into the user's collection
    records = demo_records()
    if not records:
        raise MilvusRAGError(f"no documents to ingest in {ROOT}")
    encoder = await load_encoder(args.model, args.device, args.precision, backend=args.backend)
    store = AsyncMilvusStore(uri, token=token or None, collection_name=collection, dim=encoder.dim)
    try:
        t = time.perf_counter()
        existing = (
            {r.id for r in await store.get([r.id for r in records])}
            if await store.exists()
            else set()
        )
        todo = [r for r in records if r.id not in existing]
        if todo:
            await store.upsert(todo, embed=encoder.aencode_documents)
        await delete_stale(store, {str(r.metadata["source"]): r.doc_id for r in records})
        sources = {r.metadata.get("source") for r in records}
        print(
            f"ingested {len(records)} chunks from {len(sources)} documents into {store.connection.uri} "
            f"[{collection}] in {time.perf_counter() - t:.1f} s: {len(todo)} written, "
            f"{len(records) - len(todo)} unchanged (content-hash ids: running again changes nothing)\n"
        )
        for q in QUESTIONS:
            vec = await encoder.aencode_query(q)
            print(f"Q: {q}")
            for mode in MODES:
                label = {"dense": "dense", "sparse": "BM25", "hybrid": "hybrid"}[mode]
                hits = await store.search(text=q, vector=vec, k=args.k, mode=mode)
                print(f"  {label}:")
                for h in hits:
                    print(
                        f"    {h.relevance:.2f} [{h.record.metadata.get('source')}] {snippet(h.record.text)}"
                    )
            print()
    finally:
        await store.aclose()
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("connection")
    g.add_argument(
        "--uri",
        default=None,
        help=f"Milvus Lite file or server URL (env MILVUS_URI; default {DEFAULT_URI})",
    )
    g.add_argument(
        "--token",
        default=None,
        help="server token, 'user:password' or an API key (env MILVUS_TOKEN)",
    )
    g.add_argument(
        "--collection",
        default=None,
        help=f"collection name (env MILVUS_COLLECTION; default {DEFAULT_COLLECTION})",
    )
    g.add_argument(
        "--tenant-field",
        default=None,
        help="the collection's tenant field (a multi-tenant collection, e.g. 'tenant')",
    )
    g.add_argument("--tenant", default=None, help="the tenant that ingest and search work on")
    g.add_argument(
        "--metadata-fields",
        default=None,
        help='typed metadata keys as JSON, e.g. \'{"year": "int64", "tags": "array<varchar>"}\'',
    )
    g.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    model = argparse.ArgumentParser(add_help=False)
    m = model.add_argument_group("embeddings")
    m.add_argument(
        "--model",
        default=os.environ.get("MILVUS_RAG_MODEL", DEFAULT_MODEL),
        help="sentence-transformers model name or path (env MILVUS_RAG_MODEL; default %(default)s)",
    )
    m.add_argument("--device", default=None, help="cpu, cuda, mps... (default: best available)")
    m.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16", "fp16", "int8"),
        help="precision of the model: auto (bf16 on CPUs with AMX/AVX512-BF16, fp16 on CUDA, "
        "else fp32; env MILVUS_RAG_PRECISION), fp32, bf16, fp16 (torch autocast) or int8 "
        "(documents on the onnx backend; queries stay fp32) (default %(default)s)",
    )
    m.add_argument(
        "--backend",
        default="auto",
        choices=("auto", "torch", "onnx", "openvino"),
        help="encoder runtime: auto (per machine and job: an ONNX export for queries, no torch "
        "import once cached; env MILVUS_RAG_BACKEND), torch, onnx or openvino "
        "(default %(default)s)",
    )

    parser = argparse.ArgumentParser(
        prog="milvus-rag",
        description="Ingest, search and serve a Milvus collection shared by LangChain and LlamaIndex.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "ingest",
        parents=[common, model],
        help="chunk, embed and store text, Markdown and PDF files",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (walked recursively)")
    p.add_argument(
        "--chunk-size", type=int, default=1000, help="characters per chunk (default %(default)s)"
    )
    p.add_argument(
        "--chunk-overlap", type=int, default=150, help="characters of overlap (default %(default)s)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("search", parents=[common, model], help="search the collection")
    p.add_argument("query")
    p.add_argument("--mode", choices=MODES, default="hybrid", help="default %(default)s")
    p.add_argument("--k", type=int, default=5, help="number of hits (default %(default)s)")
    p.add_argument(
        "--filter", default=None, help='metadata filter as JSON, e.g. \'{"source": "a.md"}\''
    )
    p.add_argument("--json", action="store_true", help="print the hits as JSON")
    p.add_argument(
        "--search-params",
        default=None,
        metavar="JSON",
        help="index search parameters as JSON, e.g. '{\"ef\": 64}' or '{\"nprobe\": 16}'",
    )
    p.add_argument(
        "--consistency",
        default=None,
        choices=("Strong", "Bounded", "Session", "Eventually"),
        type=lambda s: s.capitalize(),
        help="consistency level of the search (default: the collection's)",
    )
    p.add_argument(
        "--timeout", type=float, default=None, help="seconds (default: the connection's)"
    )
    p.add_argument(
        "--radius", type=float, default=None, help="dense range search: outer bound of the score"
    )
    p.add_argument(
        "--range-filter",
        type=float,
        default=None,
        help="dense range search: inner bound (cosine: radius < score <= range-filter)",
    )

    p = sub.add_parser(
        "eval", parents=[common, model], help="nDCG@10, recall and MRR on a BEIR-format folder"
    )
    p.add_argument("data_dir", metavar="DATA_DIR", help="corpus.jsonl, queries.jsonl, qrels/")
    p.add_argument(
        "--modes",
        nargs="+",
        default=list(MODES),
        help="dense, sparse, hybrid, weighted[:ALPHA], fanout (default: dense sparse hybrid)",
    )
    p.add_argument("--k", type=int, default=None, help="hits retrieved per query (default 100)")
    p.add_argument("--reuse", action="store_true", help="reuse an already ingested collection")
    p.add_argument("--keep", action="store_true", help="keep the collection afterwards")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("collections", parents=[common], help="list, describe or drop collections")
    p.add_argument("action", nargs="?", choices=("list", "describe", "drop"), default="list")
    p.add_argument("name", nargs="?", default=None, help="collection (default: --collection)")
    p.add_argument("--yes", "-y", action="store_true", help="drop without asking")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("mcp", parents=[common, model], help="run the MCP server")
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP host (default %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default %(default)s)")
    p.add_argument("--read-only", action="store_true", help="offer the read tools only")
    p.add_argument("--allow-drop", action="store_true", help="offer drop_collection")
    p.add_argument(
        "--allow-path",
        action="append",
        default=[],
        metavar="DIR",
        help="offer ingest for files under DIR (repeatable; none: no ingest tool)",
    )
    p.add_argument(
        "--auth-token",
        default=None,
        help="bearer token every HTTP request must carry (better: env MILVUS_RAG_MCP_TOKEN); "
        "required to bind to a non-loopback host",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="browser Origin accepted besides loopback ones, e.g. https://app.example.com",
    )
    p.add_argument(
        "--max-body-bytes",
        type=int,
        default=4 * 1024 * 1024,
        help="largest HTTP request body (default %(default)s)",
    )

    p = sub.add_parser(
        "demo",
        parents=[common, model],
        help="ingest the project's docs and compare dense, BM25 and hybrid",
    )
    p.add_argument("--k", type=int, default=3)

    transfer.add_parsers(sub, common, model)
    return parser


COMMANDS = {
    "ingest": cmd_ingest,
    "search": cmd_search,
    "collections": cmd_collections,
    "demo": cmd_demo,
    "export": transfer.cmd_export,
    "import": transfer.cmd_import,
}


def quiet_libraries() -> None:
    """No third-party noise on stderr: the pkg_resources warning of milvus-lite 2.5,
    transformers' weight-loading bars."""
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main(argv: list[str] | None = None) -> int:
    quiet_libraries()
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
    except (MilvusRAGError, OSError, ImportError) as e:
        if args.debug:
            raise
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"milvus-rag: error: {message}", file=sys.stderr)
        return 2 if isinstance(e, UsageError) else 1


if __name__ == "__main__":
    sys.exit(main())
