"""The ``milvus-rag`` dispatcher: parse the flags, run the command, one-line errors.

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
:func:`milvus_rag.cli.args.exit_status`), 1 for a failure while working (``--debug`` shows the
traceback). Commands that only read never create a file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from milvus_rag._quiet import cli_environment, quiet_rpc_tracebacks
from milvus_rag.cli import commands, transfer
from milvus_rag.cli.args import exit_status
from milvus_rag.cli.common import UsageError, diagnose_lite_files
from milvus_rag.cli.parser import build_parser
from milvus_rag.client.errors import BackendError, MilvusRAGError
from milvus_rag.client.lite_file import LiteFileDamagedError

__all__ = ["COMMANDS", "main"]


async def cmd_demo(args: argparse.Namespace) -> int:
    from milvus_rag.cli.demo import cmd_demo as run_demo

    return await run_demo(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "ingest": commands.cmd_ingest,
    "search": commands.cmd_search,
    "delete": commands.cmd_delete,
    "collections": commands.cmd_collections,
    "demo": cmd_demo,
    "export": transfer.cmd_export,
    "import": transfer.cmd_import,
    "migrate": transfer.cmd_migrate,
}


def main(argv: list[str] | None = None) -> int:
    cli_environment()
    with quiet_rpc_tracebacks():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "eval":
            return commands.cmd_eval(args)
        if args.command == "mcp":
            return commands.cmd_mcp(args)
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
