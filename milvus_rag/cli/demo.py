"""``milvus-rag demo``: ingest the project's own docs into a collection of its own and compare
dense, BM25 and hybrid answers to three questions. Running it again changes nothing.

Example:
    >>> len(QUESTIONS)
    3
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import time
from pathlib import Path

from milvus_rag.client.errors import MilvusRAGError
from milvus_rag.client.records import Record

ROOT = Path(__file__).resolve().parents[2]
DEMO_COLLECTION = "milvus_rag_demo"
MODES = ("dense", "sparse", "hybrid")
QUESTIONS = (
    "How do I connect to a Milvus server or cluster?",
    "What happens to filters that the embedded engine cannot express?",
    "Which commands set up the project and run the tests?",
)


def demo_files(root: Path | None = None) -> list[Path]:
    """The Markdown shipped with the project: *.md and docs/**/*.md of a source checkout."""
    root = ROOT if root is None else root
    files = sorted(p for p in root.glob("*.md") if p.is_file())
    docs = root / "docs"
    if docs.is_dir():
        files += sorted(p for p in docs.rglob("*.md") if p.is_file())
    return files


def docstring_corpus() -> list[tuple[str, str]]:
    """(source, text) of the package's module docstrings: the corpus of an installed wheel."""
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


def demo_records(root: Path | None = None) -> list[Record]:
    """Chunks of the project's Markdown (``source``: the file name), or of the package's
    docstrings (``source``: the module) where no Markdown ships."""
    from milvus_rag.ingest.files import file_records

    files = demo_files(root)
    if files:
        return [
            r
            for path in files
            for r in file_records(path.name, [(None, path.read_text("utf-8", errors="replace"))])
        ]
    return [r for source, text in docstring_corpus() for r in file_records(source, [(None, text)])]


async def cmd_demo(args: argparse.Namespace) -> int:
    from milvus_rag.cli import commands as cli
    from milvus_rag.client.store import AsyncMilvusStore
    from milvus_rag.ingest.sync import apply_plan, plan_sync, rows_of

    uri, token, _ = cli.resolve_settings(args, DEMO_COLLECTION, env_collection=False)
    collection = args.collection or DEMO_COLLECTION  # never the user's MILVUS_COLLECTION
    records = demo_records()
    if not records:
        raise MilvusRAGError(f"no documents to ingest in {ROOT}")
    encoder = await cli.load_encoder(args.model, args.device, args.precision)
    store = AsyncMilvusStore(uri, token=token or None, collection_name=collection, dim=encoder.dim)
    try:
        t = time.perf_counter()
        sources = sorted({str(r.metadata["source"]) for r in records})
        stored = await rows_of(store, sources) if await store.exists() else []
        plan = plan_sync(records, stored)
        written, _ = await apply_plan(store, plan, encoder.aencode_documents)
        print(
            f"ingested {len(records)} chunks from {len(sources)} documents into "
            f"{store.connection.uri} [{collection}] in {time.perf_counter() - t:.1f} s: "
            f"{written} written, {plan.unchanged} unchanged, {len(plan.delete)} deleted "
            "(content-hash ids: running again changes nothing)\n"
        )
        for q in QUESTIONS:
            vec = await encoder.aencode_query(q)
            print(f"Q: {q}")
            for mode in MODES:
                label = {"dense": "dense", "sparse": "BM25", "hybrid": "hybrid"}[mode]
                hits = await store.search(text=q, vector=vec, k=args.k, mode=mode)
                print(f"  {label}:")
                for h in hits:
                    where = h.record.metadata.get("source")
                    print(f"    {h.relevance:.2f} [{where}] {cli.snippet(h.record.text)}")
            print()
    finally:
        await store.aclose()
    return 0
