"""Documents, not chunks: a BEIR corpus chunked, judged by documents, chunk search with
duplicates removed afterwards against grouped search (``group_by="doc_id"``), Milvus Lite 2.5.

The corpus (title + abstract) is cut into chunks of at most ``--chunk-size`` characters
(``--chunk-overlap`` overlap) by milvus-rag's ingest splitter; chunks and queries are embedded
with all-MiniLM-L6-v2 (cached under benchmarks/results/cache/). For dense, BM25 and hybrid
RRF, each judged query asks for ``--k`` (default 100):

- ``dedupe``: k chunks, each document kept once at its best chunk (fewer than k documents);
- ``grouped``: k groups by ``doc_id`` (k distinct documents, Milvus grouping search for
  dense and BM25, client-side grouping of the fused ranking for hybrid).

Metrics: document-level nDCG@10, Recall@10 and Recall@k (``milvus_rag.evaluation``); latency:
each query alone, one after the other (median and p95 over ``--latency-queries`` queries).
Results go to ``benchmarks/results/documents[_NAME].md`` (NAME: the folder's name, when it is
not ``scifact``) and their own section of BENCHMARKS.md.

    python benchmarks/documents.py --data ../shared/data/scifact
    python benchmarks/pydoc_corpus.py /tmp/pydoc && python benchmarks/documents.py --data /tmp/pydoc --k 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c
import numpy as np

from milvus_rag import AsyncMilvusStore, SearchRequest
from milvus_rag.evaluation import aevaluate_modes, aingest
from milvus_rag.evaluation.chunked import chunk_corpus

MODES = ("dense", "sparse", "hybrid")


def cols(k: int) -> list[str]:
    return [
        "mode",
        "search",
        "nDCG@10",
        "Recall@10",
        f"Recall@{k}",
        "docs/query",
        "p50 ms",
        "p95 ms",
    ]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


async def latency(
    store: AsyncMilvusStore,
    queries: list[str],
    vecs: dict[str, np.ndarray],
    mode: str,
    group: bool,
    k: int,
) -> tuple[float, float, float]:
    """Median and p95 ms of one search at a time, and the mean number of documents."""
    lat, docs = [], []
    for q in queries:
        req = SearchRequest(
            text=q,
            vector=None if mode == "sparse" else vecs[q],
            k=k,
            mode=mode,
            group_by=True if group else None,
        )
        t = time.perf_counter()
        hits = await store.search(req)
        lat.append((time.perf_counter() - t) * 1000)
        docs.append(len({h.record.doc_id for h in hits}))
    return c.median(lat), c.pct(lat, 95), float(np.mean(docs))


async def main_async(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    ds = c.load(args.data)
    chunks = chunk_corpus(ds, args.chunk_size, args.chunk_overlap)
    enc = c.get_encoder(backend=args.backend)
    load0 = os.getloadavg()
    vectors, embed_s = c.cached_vectors(enc, [r.text for r in chunks], "docs")
    qtexts = sorted(set(ds.queries.values()))
    qv, _ = c.cached_vectors(enc, qtexts, "queries")
    vecs = dict(zip(qtexts, qv, strict=True))
    print(
        f"{ds.name}: {len(ds.corpus)} documents -> {len(chunks)} chunks "
        f"(<= {args.chunk_size} chars, overlap {args.chunk_overlap}); embeddings "
        f"{'cached' if embed_s is None else f'{embed_s:.0f} s'}"
    )
    tmp = tempfile.mkdtemp(prefix="mrag_documents_")
    store = AsyncMilvusStore(str(Path(tmp) / "docs.db"), collection_name="chunks", dim=384)
    rows: list[dict[str, Any]] = []
    try:
        ingest_s = await aingest(
            store,
            ds,
            vectors=vectors,
            chunk_size=args.chunk_size,
            chunk_overlap=args.chunk_overlap,
        )
        print(f"ingested {len(chunks)} chunks in {ingest_s:.1f} s")
        lat_q = [ds.queries[q] for q in list(ds.queries)[: args.latency_queries]]
        for mode in MODES:
            for level, label in (("dedupe", "chunks, deduped"), ("group", "grouped")):
                metrics = ("nDCG@10", "Recall@10", f"Recall@{args.k}")
                res = await aevaluate_modes(
                    store,
                    ds,
                    [mode],
                    query_vectors=vecs,
                    k=args.k,
                    documents=level,
                    metrics=metrics,
                )
                p50, p95, ndocs = await latency(store, lat_q, vecs, mode, level == "group", args.k)
                row = {
                    "mode": "bm25" if mode == "sparse" else mode,
                    "search": label,
                    "nDCG@10": res[0]["nDCG@10"],
                    "Recall@10": res[0]["Recall@10"],
                    f"Recall@{args.k}": res[0][f"Recall@{args.k}"],
                    "docs/query": round(ndocs, 1),
                    "p50 ms": round(p50, 1),
                    "p95 ms": round(p95, 1),
                }
                rows.append(row)
                print(row)
    finally:
        await store.drop()
        await store.aclose()
    env = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_before": load0,
        "load_after": os.getloadavg(),
        "dataset": "SciFact" if ds.name.lower() == "scifact" else ds.name,
        "k": args.k,
        "documents": len(ds.corpus),
        "chunks": len(chunks),
        "queries": len(ds.queries),
        "embed_seconds": embed_s,
        "encoder": enc,
    }
    return rows, env


def plot(rows: list[dict[str, Any]], path: Path, name: str, k: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    x = np.arange(len(MODES))
    for ax, metric in zip(axes, ("nDCG@10", f"Recall@{k}", "p50 ms"), strict=True):
        for j, label in enumerate(("chunks, deduped", "grouped")):
            vals = [r[metric] for r in rows if r["search"] == label]
            ax.bar(x + (j - 0.5) * 0.38, vals, width=0.38, label=label)
        ax.set_xticks(x, [r["mode"] for r in rows if r["search"] == "grouped"])
        ax.set_title(metric)
        if metric != "p50 ms":
            ax.set_ylim(0.0, 1.0)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{name} chunked: document-level retrieval, deduped chunks vs grouped search")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path.relative_to(c.ROOT)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(c.DEFAULT_DATA), help="a BEIR folder (default SciFact)")
    p.add_argument("--k", type=int, default=100, help="documents (groups) a query asks for")
    p.add_argument("--chunk-size", type=int, default=500)
    p.add_argument("--chunk-overlap", type=int, default=50)
    p.add_argument("--latency-queries", type=int, default=100)
    p.add_argument(
        "--backend",
        default="onnx",
        help="encoder runtime (default onnx, fp32: twice the default's speed on a 2-core EPYC)",
    )
    p.add_argument("--no-publish", action="store_true", help="do not update BENCHMARKS.md")
    args = p.parse_args()
    t = time.perf_counter()
    rows, env = asyncio.run(main_async(args))
    env["encoder"] = c.encoder_tag(env["encoder"])
    env["wall_seconds"] = time.perf_counter() - t
    env.update(chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap)
    env["latency_queries"] = args.latency_queries
    c.RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "documents" if env["dataset"].lower() == "scifact" else f"documents_{env['dataset']}"
    text = report(rows, env, stem)
    c.write_section(c.RESULTS / f"{stem}.md", text)
    (c.RESULTS / f"{stem}.json").write_text(json.dumps({"rows": rows, "env": env}, indent=1))
    plot(rows, c.RESULTS / f"{stem}.png", env["dataset"], args.k)
    if not args.no_publish:
        c.publish(f"{stem}.md")
    print(text)


def reading(rows: list[dict[str, Any]], k: int) -> str:
    """What the table says, per mode: grouped minus deduped (computed, not assumed)."""
    parts = []
    same_top = []
    recall = f"Recall@{k}"
    for mode in ("dense", "bm25", "hybrid"):
        d, g = (
            next(r for r in rows if r["mode"] == mode and r["search"] == s)
            for s in ("chunks, deduped", "grouped")
        )
        if g["nDCG@10"] == d["nDCG@10"]:
            same_top.append(mode)
        parts.append(
            f"{mode}: {d['docs/query']:.0f} -> {g['docs/query']:.0f} documents a query, "
            f"nDCG@10 {g['nDCG@10'] - d['nDCG@10']:+.4f}, {recall} "
            f"{g[recall] - d[recall]:+.4f}, p50 {d['p50 ms']:.1f} -> {g['p50 ms']:.1f} ms"
        )
    same = (
        f" nDCG@10 is equal in {', '.join(same_top)}: grouping keeps the documents' order "
        "where it groups one chunk ranking."
        if same_top
        else ""
    )
    return (
        "Grouped minus deduped: " + "; ".join(parts) + "." + same + f" Deduping {k} chunks "
        f"leaves fewer than {k} documents; grouped search fills them, which is what "
        f"{recall} can gain. Hybrid grouping is client-side: its chunk ranking is deepened "
        "(4x the chunks, and candidates per leg), which costs latency."
    )


def report(rows: list[dict[str, Any]], env: dict[str, Any], stem: str) -> str:
    load = ", ".join(f"{x:.1f}" for x in env["load_after"])
    load0 = ", ".join(f"{x:.1f}" for x in env["load_before"])
    sec = env["embed_seconds"]
    k = env["k"]
    embed_note = "" if sec is None else f" (embedding the chunks {sec:.0f} s)"
    return (
        f"## Documents, not chunks: grouped search ({env['dataset']} chunked)\n\n"
        f"`python benchmarks/documents.py --data DIR --k {k}`: BEIR folder `{env['dataset']}` "
        f"({env['queries']} judged queries), {env['documents']:,} documents cut into "
        f"{env['chunks']:,} chunks of at most {env['chunk_size']} characters (overlap "
        f"{env['chunk_overlap']}, milvus-rag's ingest splitter), all-MiniLM-L6-v2 "
        f"({env['encoder']}), embedded "
        f"Milvus Lite 2.5 file, judged by documents. Each query asks for k = {k}: "
        f"*chunks, deduped* = {k} chunks with each document kept once at its best chunk; "
        f'*grouped* = `group_by="doc_id"`, {k} groups (Milvus grouping search for dense '
        "and BM25, client-side grouping of the fused chunk ranking for hybrid RRF). Latency: "
        f"one query at a time over {env['latency_queries']} queries. CPU: {env['cpu']} "
        f"({env['cores']} cores; load average {load0} before, "
        f"{load} after). Run time {env['wall_seconds']:.0f} s{embed_note}."
        f"\n\n{c.md_table(rows, cols(k))}\n\n{reading(rows, k)}\n\n![documents]({stem}.png)\n"
    )


if __name__ == "__main__":
    main()
