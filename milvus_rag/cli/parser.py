"""The argument parser of the ``milvus-rag`` command: every flag of every command is declared
here (the commands are in :mod:`milvus_rag.cli.commands` and :mod:`milvus_rag.cli.transfer`).

Example:
    >>> build_parser().parse_args(["search", "cats"]).mode is None  # hybrid, unless --fields
    True
"""

from __future__ import annotations

import os
from typing import Any

from milvus_rag.cli.args import OneLineParser, add_multi
from milvus_rag.cli.documents import add_document_args, add_eval_document_args
from milvus_rag.client.config import DEFAULT_COLLECTION, DEFAULT_URI, EVAL_COLLECTION
from milvus_rag.embeddings.encoder import DEFAULT_MODEL
from milvus_rag.transfer.jsonl import IMPORT_BATCH
from milvus_rag.transfer.migrate import DEFAULT_BATCH as MIGRATE_BATCH

DEMO_COLLECTION = "milvus_rag_demo"
MODES = ("dense", "sparse", "hybrid")


def connection_args(default_collection: str = DEFAULT_COLLECTION) -> OneLineParser:
    """The --uri/--token/--collection/--debug flags; ``eval``/``demo`` ignore
    MILVUS_COLLECTION (they never write into the user's collection)."""
    common = OneLineParser(add_help=False)
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
    env = "env MILVUS_COLLECTION; " if default_collection == DEFAULT_COLLECTION else ""
    g.add_argument(
        "--collection",
        default=None,
        help=f"collection name ({env}default {default_collection})",
    )
    g.add_argument(
        "--tenant-field",
        default=None,
        help="the collection's tenant field (a multi-tenant collection, e.g. 'tenant')",
    )
    g.add_argument("--tenant", default=None, help="the tenant that the command works on")
    g.add_argument(
        "--metadata-fields",
        default=None,
        help='typed metadata keys as JSON, e.g. \'{"year": "int64", "tags": "array<varchar>"}\'',
    )
    g.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    return common


def model_args() -> OneLineParser:
    model = OneLineParser(add_help=False)
    m = model.add_argument_group("embeddings")
    m.add_argument(
        "--model",
        default=os.environ.get("MILVUS_RAG_MODEL", DEFAULT_MODEL),
        help="sentence-transformers model name or path, installed locally (env "
        "MILVUS_RAG_MODEL; default %(default)s; HF_HUB_OFFLINE=0 allows downloads)",
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
    return model


def build_parser() -> OneLineParser:

    common, model = connection_args(), model_args()
    parser = OneLineParser(
        prog="milvus-rag",
        description="Ingest, search and serve a Milvus collection shared by LangChain and LlamaIndex.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "ingest",
        parents=[common, model],
        help="chunk, embed and store text, Markdown and PDF files (only what changed)",
        description="Make the collection hold exactly the chunks of the files given: new and "
        "changed chunks are written, chunks of earlier versions deleted, and chunks of files "
        "gone from a folder given are pruned (--no-prune keeps them). Files of other types in "
        "a folder are skipped and reported on stderr.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders (walked recursively)")
    p.add_argument(
        "--chunk-size", type=int, default=1000, help="characters per chunk (default %(default)s)"
    )
    p.add_argument(
        "--chunk-overlap", type=int, default=150, help="characters of overlap (default %(default)s)"
    )
    p.add_argument(
        "--no-prune", action="store_true", help="keep chunks of files deleted from the folders"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--encoding",
        default=None,
        help="encoding of the text files, e.g. latin-1 or cp1252 (default: UTF-8, or UTF-16/32 "
        "when the file starts with its BOM; a file that does not decode is skipped and named)",
    )

    p = sub.add_parser("search", parents=[common, model], help="search the collection")
    p.add_argument("query")
    p.add_argument("--mode", choices=MODES, default=None, help="default hybrid")
    add_multi(
        p,
        "--fields",
        metavar="FIELD",
        help="search these vector fields of the collection instead of a mode's (several are "
        "fused): dense fields get the query embedded with --model, the BM25 field the text",
    )
    add_multi(
        p,
        "--weights",
        type=float,
        metavar="W",
        help="weighted fusion of the --fields, one weight each, in order (default: RRF)",
    )
    p.add_argument("--k", type=int, default=5, help="number of hits (default %(default)s)")
    p.add_argument(
        "--filter",
        default=None,
        help='metadata filter as JSON, e.g. \'{"source": "docs/a.md"}\' (a source path as you '
        "would give it to ingest)",
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
    add_document_args(p)

    p = sub.add_parser(
        "delete",
        parents=[common],
        help="delete the chunks of files (or folders), or rows by filter or id",
    )
    add_multi(
        p,
        "--source",
        metavar="PATH",
        help="files or folders, as given to ingest (--source A B or --source A --source B)",
    )
    p.add_argument("--filter", default=None, help="rows matching this JSON filter")
    add_multi(p, "--id", metavar="ID", help="rows by id (--id A B or --id A --id B)")
    p.add_argument("--dry-run", action="store_true", help="only count what would be deleted")

    p = sub.add_parser(
        "eval",
        parents=[connection_args(EVAL_COLLECTION), model],
        help="nDCG@10, recall and MRR on a BEIR-format folder",
        description="Ingest a BEIR folder into a collection of its own, evaluate, and drop it "
        "(unless --keep). A collection that already exists is never replaced without "
        "--overwrite; --reuse evaluates its rows as they are.",
    )
    p.add_argument("data_dir", metavar="DATA_DIR", help="corpus.jsonl, queries.jsonl, qrels/")
    add_multi(
        p,
        "--modes",
        metavar="MODE",
        help="dense, sparse, hybrid, weighted[:ALPHA], fanout (default: dense sparse hybrid)",
    )
    p.add_argument("--k", type=int, default=None, help="hits retrieved per query (default 100)")
    p.add_argument("--reuse", action="store_true", help="evaluate an existing collection as is")
    p.add_argument(
        "--overwrite", action="store_true", help="drop an existing collection and re-ingest"
    )
    p.add_argument("--keep", action="store_true", help="keep the collection afterwards")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true")
    add_eval_document_args(p)

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
        "--databases",
        default="",
        metavar="A,B",
        help="Milvus databases the tools may name with `database` (default: the URI's only; "
        "not on a Milvus Lite file)",
    )
    add_multi(
        p,
        "--allow-path",
        metavar="DIR",
        help="offer ingest for files under DIR (repeatable; none: no ingest tool)",
    )
    p.add_argument(
        "--auth-token",
        default=None,
        help="bearer token every HTTP request must carry (better: env MILVUS_RAG_MCP_TOKEN); "
        "required to bind to a non-loopback host",
    )
    add_multi(
        p,
        "--allow-origin",
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
        parents=[connection_args(DEMO_COLLECTION), model],
        help="ingest the Python language reference (pydoc_data) and answer questions from it",
    )
    p.add_argument("--k", type=int, default=3)

    add_transfer_parsers(sub, common, model)
    add_migrate_parser(sub)
    return parser


def add_transfer_parsers(sub: Any, common: OneLineParser, model: OneLineParser) -> None:
    """Register ``export`` and ``import`` on the ``milvus-rag`` subcommands."""
    p = sub.add_parser(
        "export", parents=[common], help="write the collection's rows as JSON lines to stdout"
    )
    p.add_argument(
        "--filter", default=None, help='metadata filter as JSON, e.g. \'{"source": "a.md"}\''
    )
    p.add_argument(
        "--vectors", action="store_true", help="include the vectors (of every vector field)"
    )
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


def add_migrate_parser(sub: Any) -> None:
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
        "--batch-size", type=int, default=MIGRATE_BATCH, help="rows per page (default %(default)s)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
