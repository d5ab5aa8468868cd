"""Query micro-batching: 64 concurrent ``asimilarity_search`` calls through the LangChain
store with the real all-MiniLM-L6-v2 model, encoder micro-batching on vs off.

Both encoders share one loaded model and have the query cache off, and every repetition uses
fresh query strings, so each search really embeds its query. On and off alternate within
the same run, over the same collection. Prints a markdown table and writes it, with a bar
chart, to ``benchmarks/results/microbatch.{md,png}``.

    .venv/bin/python benchmarks/microbatch.py            # a temporary Milvus Lite file
    .venv/bin/python benchmarks/microbatch.py --uri http://127.0.0.1:19530 --reps 7
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from milvus_rag.embeddings.encoder import SentenceTransformerEncoder
from milvus_rag.embeddings.langchain import SentenceTransformerEmbeddings
from milvus_rag.integrations.langchain import MilvusVectorStore

RESULTS = ROOT / "benchmarks" / "results"

TOPICS = [
    "vector databases index embeddings for nearest neighbour search",
    "BM25 ranks documents by term frequency and document length",
    "reciprocal rank fusion merges ranked lists from several retrievers",
    "the Eiffel Tower was completed in 1889 for the World's Fair",
    "photosynthesis turns sunlight, water and carbon dioxide into glucose",
    "Mount Everest is the highest mountain above sea level",
    "penicillin was discovered by Alexander Fleming in 1928",
    "octopuses have three hearts and blue blood",
    "espresso is brewed by forcing hot water through ground coffee",
    "the Great Barrier Reef is the largest coral reef system",
    "Python was created by Guido van Rossum and released in 1991",
    "honey bees use the waggle dance to share where flowers are",
    "Jupiter is a gas giant with a storm called the Great Red Spot",
    "the Rosetta Stone made it possible to decipher hieroglyphs",
    "the Sahara is the largest hot desert in the world",
    "Marie Curie won Nobel Prizes in physics and chemistry",
]
CORPUS = [
    f"{t}. Note {i}: details and context about this topic, part {j}."
    for i, t in enumerate(TOPICS)
    for j in range(4)
]


def queries(rep: int, label: str, n: int) -> list[str]:
    """Fresh query strings per repetition and setting (the query cache is off anyway)."""
    return [f"{TOPICS[i % len(TOPICS)]}? ({label} run {rep} query {i})" for i in range(n)]


async def burst(store: MilvusVectorStore, qs: list[str], k: int, mode: str) -> float:
    start = time.perf_counter()
    results = await asyncio.gather(
        *(store.asimilarity_search(q, k=k, retrieval_mode=mode) for q in qs)
    )
    elapsed = time.perf_counter() - start
    assert all(len(r) == k for r in results)
    return elapsed


async def run(args: argparse.Namespace, uri: str) -> list[dict[str, float]]:
    on = SentenceTransformerEncoder(cache_size=0, micro_batching=True)
    model = await asyncio.to_thread(on.load)
    off = SentenceTransformerEncoder(cache_size=0, micro_batching=False, model=model)
    name = "microbatch_bench"
    stores = {
        "on": MilvusVectorStore(
            SentenceTransformerEmbeddings(encoder=on), uri=uri, collection_name=name
        ),
        "off": MilvusVectorStore(
            SentenceTransformerEmbeddings(encoder=off), uri=uri, collection_name=name
        ),
    }
    encoders = {"on": on, "off": off}
    await stores["on"].adrop()
    await stores["on"].aadd_texts(CORPUS)
    for label in ("on", "off"):  # warm-up: clients, collection load, model threads
        await burst(stores[label], queries(-1, label, args.concurrency), args.k, args.mode)
    rows: list[dict[str, float]] = []
    for rep in range(args.reps):
        row: dict[str, float] = {"rep": rep + 1}
        order = ("on", "off") if rep % 2 == 0 else ("off", "on")
        for label in order:
            calls = encoders[label].model_calls
            elapsed = await burst(
                stores[label], queries(rep, label, args.concurrency), args.k, args.mode
            )
            row[f"qps_{label}"] = args.concurrency / elapsed
            row[f"calls_{label}"] = encoders[label].model_calls - calls
        row["ratio"] = row["qps_on"] / row["qps_off"]
        rows.append(row)
        print(
            f"rep {rep + 1}: on {row['qps_on']:.1f} q/s ({row['calls_on']:.0f} model calls), "
            f"off {row['qps_off']:.1f} q/s ({row['calls_off']:.0f} calls), "
            f"ratio {row['ratio']:.2f}",
            flush=True,
        )
    await stores["on"].adrop()
    for store in stores.values():
        await store.aclose()
    return rows


def table(rows: list[dict[str, float]], args: argparse.Namespace, backend: str) -> str:
    on = [r["qps_on"] for r in rows]
    off = [r["qps_off"] for r in rows]
    ratios = [r["ratio"] for r in rows]
    lines = [
        f"# Query micro-batching: {args.concurrency} concurrent `asimilarity_search` "
        f"(mode={args.mode}, k={args.k})",
        "",
        f"all-MiniLM-L6-v2 on CPU, {backend}, {len(CORPUS)} documents, query cache off, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "",
        "| repetition | micro-batching on (q/s) | model calls | off (q/s) | model calls | "
        "on / off |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rep']:.0f} | {r['qps_on']:.1f} | {r['calls_on']:.0f} | "
            f"{r['qps_off']:.1f} | {r['calls_off']:.0f} | {r['ratio']:.2f}x |"
        )
    lines.append(
        f"| **median** | **{statistics.median(on):.1f}** | | "
        f"**{statistics.median(off):.1f}** | | "
        f"**{statistics.median(ratios):.2f}x** |"
    )
    return "\n".join(lines) + "\n"


def chart(rows: list[dict[str, float]], path: Path, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reps = [int(r["rep"]) for r in rows]
    width = 0.38
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(
        [x - width / 2 for x in reps], [r["qps_on"] for r in rows], width, label="micro-batching on"
    )
    ax.bar(
        [x + width / 2 for x in reps],
        [r["qps_off"] for r in rows],
        width,
        label="micro-batching off",
    )
    ax.set_xlabel("repetition")
    ax.set_ylabel("queries per second")
    ratio = statistics.median(r["ratio"] for r in rows)
    ax.set_title(
        f"{args.concurrency} concurrent asimilarity_search, MiniLM (median ratio {ratio:.2f}x)"
    )
    ax.set_xticks(reps)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--uri", default=None, help="Milvus Lite file or server URI (default: a temporary file)"
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--mode", default="dense", choices=["dense", "hybrid"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    tmp = None
    uri = args.uri
    if uri is None:
        tmp = tempfile.TemporaryDirectory()
        uri = os.path.join(tmp.name, "microbatch.db")
    backend = "Milvus Lite file" if "://" not in uri else f"server {uri}"
    try:
        rows = asyncio.run(run(args, uri))
    finally:
        if tmp is not None:
            tmp.cleanup()
    md = table(rows, args, backend)
    print()
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "microbatch.md").write_text(md)
    chart(rows, args.out / "microbatch.png", args)
    print(f"wrote {args.out / 'microbatch.md'} and {args.out / 'microbatch.png'}")


if __name__ == "__main__":
    main()
