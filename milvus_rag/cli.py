"""The ``milvus-rag`` command. For now: ``demo`` (ingest the project's docs, answer questions).

milvus-rag demo [--uri ./milvus_rag.db] [--collection milvus_rag_demo]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import time
from pathlib import Path

from milvus_rag.client.errors import MilvusRAGError
from milvus_rag.client.records import Record
from milvus_rag.client.store import AsyncMilvusStore

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = (
    "How do I connect to a Milvus server or cluster?",
    "What happens to filters that the embedded engine cannot express?",
    "Which commands set up the project and run the tests?",
)


def chunk_markdown(text: str, max_chars: int = 800) -> list[str]:
    """Paragraph-packed chunks of at most about ``max_chars`` characters."""
    chunks: list[str] = []
    cur = ""
    for para in (p.strip() for p in text.split("\n\n")):
        if not para:
            continue
        if cur and len(cur) + len(para) > max_chars:
            chunks.append(cur)
            cur = ""
        cur = f"{cur}\n\n{para}" if cur else para
    if cur:
        chunks.append(cur)
    return chunks


def demo_corpus() -> list[tuple[str, str, str]]:
    """(id, text, source) for the Markdown files shipped with the project."""
    files = sorted(p for p in ROOT.glob("*.md") if p.is_file())
    out = []
    for path in files:
        for chunk in chunk_markdown(path.read_text(encoding="utf-8")):
            cid = hashlib.sha256(f"{path.name}\0{chunk}".encode()).hexdigest()[:32]
            out.append((cid, chunk, path.name))
    return out


async def run_demo(uri: str, collection: str, k: int) -> None:
    from milvus_rag.embeddings import SentenceTransformerEncoder

    encoder = SentenceTransformerEncoder()
    await encoder.aload()
    corpus = demo_corpus()
    if not corpus:
        raise MilvusRAGError(f"no Markdown files to ingest in {ROOT}")
    store = AsyncMilvusStore(uri, collection_name=collection, dim=encoder.dim)
    try:
        t = time.perf_counter()
        records = [Record(id=i, text=t_, metadata={"source": s}) for i, t_, s in corpus]
        await store.upsert(records, embed=encoder.aencode_documents)
        print(
            f"ingested {len(records)} chunks from {len({s for *_, s in corpus})} files "
            f"into {uri} [{collection}] in {time.perf_counter() - t:.1f} s "
            f"(content-hash ids: running again changes nothing)\n"
        )
        for q in QUESTIONS:
            vec = await encoder.aencode_query(q)
            print(f"Q: {q}")
            for mode in ("dense", "sparse", "hybrid"):
                hits = await store.search(text=q, vector=vec, k=k, mode=mode)
                print(f"  {mode:>6}:")
                for h in hits:
                    snippet = " ".join(h.record.text.split())[:90]
                    print(f"    {h.relevance:.2f} [{h.record.metadata.get('source')}] {snippet}")
            print()
    finally:
        await store.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="milvus-rag", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="ingest the project's docs and answer a few questions")
    demo.add_argument("--uri", default=os.environ.get("MILVUS_URI", "./milvus_rag.db"))
    demo.add_argument("--collection", default="milvus_rag_demo")
    demo.add_argument("--k", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            asyncio.run(run_demo(args.uri, args.collection, args.k))
    except MilvusRAGError as e:
        print(f"milvus-rag: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
