"""``milvus-rag demo``: retrieval over a corpus every Python install has, the Python language
reference topics that ship with CPython (``pydoc_data.topics``: what ``help("try")`` shows).

The demo ingests the topics about statements and scopes (``TOPICS``: 22 topics, 75 chunks,
so the first run takes seconds) into a collection of its own, then asks a few questions and
prints, for each, the top hybrid hits in rank order as a reader wants them: the topic, its
title and a short clean snippet, plus which topic dense, BM25 and hybrid retrieval ranked
first (where they differ, hybrid is usually right). Ids are content hashes: running it again
writes nothing.

Example:
    >>> sorted(demo_corpus())[:3]
    ['assert', 'break', 'class']
    >>> clean_snippet('The "try" statement\\n*****\\n\\nThe "try" statement specifies handlers.')
    'The "try" statement specifies handlers.'
"""

from __future__ import annotations

import argparse
import re
import time

from milvus_rag.cli import common as cli
from milvus_rag.cli.parser import DEMO_COLLECTION
from milvus_rag.client.errors import MilvusRAGError
from milvus_rag.client.records import Hit, Record

MODES = ("dense", "sparse", "hybrid")
MODE_LABELS = {"dense": "dense", "sparse": "BM25", "hybrid": "hybrid"}
# Statements and scopes: ~55k characters, 75 chunks. All 79 topics (465k characters, 251
# chunks) took 71 s to ingest on a 2-core VM at load average 5; these 33 s there.
TOPICS = (
    *("assert", "break", "class", "context-managers", "continue", "del", "exceptions", "for"),
    *("function", "global", "if", "import", "lambda", "naming", "nonlocal", "pass", "raise"),
    *("return", "try", "while", "with", "yield"),
)
SOURCE_PREFIX = "python-reference/"
# (question, the topic that answers it): a test checks it is the top hybrid hit (real MiniLM)
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("What does the finally clause of a try statement do?", "try"),
    ("What does a with statement do with a context manager?", "with"),
    ("How do I import a module from a package?", "import"),
    ("What does the yield statement do in a function?", "yield"),
)
_UNDERLINE = re.compile(r"^\s*([*=\-~^\"#])\1{2,}\s*$")


def demo_corpus() -> dict[str, str]:
    """The :data:`TOPICS` of this Python's language reference (name -> text)."""
    try:
        from pydoc_data.topics import topics
    except ImportError as e:  # some distributions strip it
        raise MilvusRAGError(
            "the demo reads the Python language reference topics (pydoc_data), which this "
            "Python does not have; try 'milvus-rag ingest' on your own files"
        ) from e
    return {name: topics[name] for name in TOPICS if name in topics}


def title_of(text: str) -> str:
    """The topic's heading (its first line)."""
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def demo_records(corpus: dict[str, str] | None = None) -> list[Record]:
    """Chunks of the topics; ``source`` ``python-reference/<topic>``, ``title`` its heading."""
    from milvus_rag.ingest import file_records

    corpus = demo_corpus() if corpus is None else corpus
    out: list[Record] = []
    for name, text in corpus.items():
        for r in file_records(SOURCE_PREFIX + name, [(None, text)]):
            r.metadata["title"] = title_of(text)
            out.append(r)
    return out


def clean_snippet(text: str, width: int = 160) -> str:
    """A chunk as one readable line of its prose: headings (a line and its underline),
    indented blocks (grammar, code, tables) and interpreter lines (``>>>``) dropped,
    whitespace collapsed, cut at a word near ``width`` (the whole chunk, flattened, when it
    holds no prose)."""
    lines = text.splitlines()
    prose: list[str] = []
    for i, line in enumerate(lines):
        if _UNDERLINE.match(line):
            if prose and i > 0 and prose[-1] == lines[i - 1]:
                prose.pop()  # the heading above this underline
        elif not line.startswith("   ") and not line.lstrip().startswith((">>>", "...")):
            prose.append(line)
    flat = " ".join(" ".join(prose).split()) or " ".join(text.split())
    if len(flat) <= width:
        return flat
    cut = flat[:width].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + " …"


def topic_of(hit: Hit) -> str:
    return str(hit.record.metadata.get("source", "")).removeprefix(SOURCE_PREFIX)


def format_answer(question: str, hits: list[Hit], firsts: dict[str, str]) -> str:
    """One question's block: the hits (topic, title, snippet) and each mode's first topic."""
    lines = [f"Q: {question}"]
    for rank, h in enumerate(hits, 1):
        title = h.record.metadata.get("title", "")
        lines.append(f"  {rank}. {topic_of(h)}: {title}")
        lines.append(f"     {clean_snippet(h.record.text)}")
    lines.append("  first hit by mode: " + ", ".join(f"{m} {t}" for m, t in firsts.items()))
    return "\n".join(lines)


async def cmd_demo(args: argparse.Namespace) -> int:
    from milvus_rag.client.request import check_k
    from milvus_rag.client.store import AsyncMilvusStore
    from milvus_rag.ingest.sync import apply_plan, plan_sync, rows_of

    check_k(args.k)  # before anything is ingested
    uri, token, _ = cli.resolve_settings(args, DEMO_COLLECTION, env_collection=False)
    collection = args.collection or DEMO_COLLECTION  # never the user's MILVUS_COLLECTION
    records = demo_records()
    encoder = await cli.load_encoder(args.model, args.device, args.precision)
    store = AsyncMilvusStore(uri, token=token or None, collection_name=collection, dim=encoder.dim)
    try:
        t = time.perf_counter()
        sources = sorted({str(r.metadata["source"]) for r in records})
        stored = await rows_of(store, sources) if await store.exists() else []
        plan = plan_sync(records, stored)
        written, _ = await apply_plan(store, plan, encoder.aencode_documents)
        print(
            f"The Python language reference ({len(sources)} topics of pydoc_data, "
            f"{len(records)} chunks) in {store.connection.uri} [{collection}]: {written} "
            f"written, {plan.unchanged} unchanged in {time.perf_counter() - t:.1f} s.\n"
        )
        for question, _topic in QUESTIONS:
            vec = await encoder.aencode_query(question)
            firsts: dict[str, str] = {}
            shown: list[Hit] = []
            for mode in MODES:
                hits = await store.search(text=question, vector=vec, k=args.k, mode=mode)
                firsts[MODE_LABELS[mode]] = topic_of(hits[0]) if hits else "-"
                if mode == "hybrid":
                    shown = hits
            print(format_answer(question, shown, firsts) + "\n")
        print(
            'Your own files: milvus-rag ingest docs/ && milvus-rag search "your question" '
            f"(this demo's rows: --uri {store.connection.uri} --collection {collection})"
        )
    finally:
        await store.aclose()
    return 0
