"""Core store against raw pymilvus ``AsyncMilvusClient``, on the same rows, in one run.

Measures, per backend (embedded Milvus Lite 2.5 file, Milvus Lite 3 gRPC server):
- upsert rows/s: ``AsyncMilvusStore.upsert`` vs raw ``insert`` with the same batches and the
  same number of batches in flight;
- search QPS at concurrency 16, dense and hybrid (RRF), vs raw ``search`` / ``hybrid_search``
  with the same parameters and output fields;
- on the Milvus Lite 3 server: search latency before and after ``flush``.

Rounds alternate core and raw; the median of the rounds is reported, with the ratio
core / raw. Results: ``benchmarks/results/core_speed.md`` and ``core_speed.png``.

    python benchmarks/core_speed.py --rows 20000 --queries 800
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
from pymilvus import AnnSearchRequest, AsyncMilvusClient, RRFRanker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import run_concurrent  # the script's folder is on sys.path

from milvus_rag import AsyncMilvusStore, Record
from milvus_rag.client.records import plan_batches
from tests.backends import LiteServer

RESULTS = ROOT / "benchmarks" / "results"
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
]


def make_rows(n: int, dim: int, seed: int = 0) -> list[Record]:
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    words = rng.integers(0, len(WORDS), size=(n, 12))
    return [
        Record(
            id=f"id{i}",
            text=" ".join(WORDS[w] for w in words[i]) + f" tok{i % 500}",
            vector=vecs[i],
            metadata={"i": int(i), "g": int(i % 10)},
        )
        for i in range(n)
    ]


async def timed_concurrent(
    fns: list[Callable[[], Awaitable[Any]]], concurrency: int
) -> tuple[float, list[float]]:
    return await run_concurrent(fns, concurrency)


async def bench_backend(
    name: str, uri: str, rows: list[Record], queries: int, rounds: int, concurrency: int, k: int
) -> list[dict[str, Any]]:
    dim = len(rows[0].vector)  # type: ignore[arg-type]
    out: list[dict[str, Any]] = []
    store = AsyncMilvusStore(uri, collection_name="bench_core", dim=dim)
    await store.drop()
    info = await store.ensure_collection()
    cfg = store.config
    raw_names = iter(f"bench_raw_{i}" for i in range(1000))
    raw_name = next(raw_names)
    raw = AsyncMilvusClient(uri=uri)
    batches = plan_batches(rows, info.dim, cfg.batch_size, cfg.max_batch_bytes)
    raw_batches = [
        [
            {
                "id": r.id,
                "text": r.text,
                "dense": r.vector,
                "doc_id": r.doc_id,
                "metadata": r.metadata,
            }
            for r in b
        ]
        for b in batches
    ]
    in_flight = store.write_concurrency

    async def raw_insert() -> None:
        nonlocal raw_name
        if await raw.has_collection(raw_name):
            await raw.drop_collection(raw_name)
        raw_name = next(raw_names)  # a new name: the core caches the schema of known names
        twin = AsyncMilvusStore(uri, collection_name=raw_name, dim=dim)
        await twin.ensure_collection()  # same schema and indexes, created by the core
        await twin.aclose()
        sem = asyncio.Semaphore(in_flight)

        async def put(b: list[dict[str, Any]]) -> None:
            async with sem:
                await raw.insert(raw_name, b)

        await asyncio.gather(*(put(b) for b in raw_batches))
        threshold = store.config.auto_flush_rows
        if not store.is_local and threshold is not None and len(rows) >= threshold:
            await raw.flush(raw_name)  # the core flushes bulk upserts on servers: same here

    core_rates, raw_rates = [], []
    for _ in range(rounds):
        await store.drop()
        await store.ensure_collection()
        t = time.perf_counter()
        await store.upsert(rows)
        core_rates.append(len(rows) / (time.perf_counter() - t))
        t = time.perf_counter()
        await raw_insert()
        raw_rates.append(len(rows) / (time.perf_counter() - t))
    c, r = statistics.median(core_rates), statistics.median(raw_rates)
    out.append(
        {
            "backend": name,
            "what": f"upsert rows/s ({len(batches)} batches, {in_flight} in flight)",
            "core": c,
            "raw": r,
            "ratio": c / r,
        }
    )

    rng = np.random.default_rng(1)
    qidx = rng.integers(0, len(rows), size=queries)
    qvecs = [rows[i].vector for i in qidx]
    qtexts = [f"tok{i % 500} {WORDS[i % len(WORDS)]}" for i in qidx]
    fields = ["id", "text", "doc_id", "metadata"]
    cand = cfg.hybrid_candidates

    def core_fns(mode: str) -> list[Callable[[], Awaitable[Any]]]:
        return [
            lambda v=v, q=q: store.search(text=q, vector=v, k=k, mode=mode)
            for v, q in zip(qvecs, qtexts, strict=True)
        ]

    def raw_fns(mode: str) -> list[Callable[[], Awaitable[Any]]]:
        if mode == "dense":
            return [
                lambda v=v: raw.search(
                    raw_name,
                    data=[np.asarray(v).tolist()],
                    anns_field="dense",
                    limit=k,
                    output_fields=fields,
                    search_params={"metric_type": "COSINE"},
                )
                for v in qvecs
            ]
        return [
            lambda v=v, q=q: raw.hybrid_search(
                raw_name,
                [
                    AnnSearchRequest(
                        [np.asarray(v).tolist()], "dense", {"metric_type": "COSINE"}, cand
                    ),
                    AnnSearchRequest([q], "sparse", {"metric_type": "BM25"}, cand),
                ],
                RRFRanker(60),
                limit=k,
                output_fields=fields,
            )
            for v, q in zip(qvecs, qtexts, strict=True)
        ]

    for mode in ("dense", "hybrid"):
        await timed_concurrent(core_fns(mode)[:32], concurrency)  # warm both
        await timed_concurrent(raw_fns(mode)[:32], concurrency)
        cq, rq, cl, rl = [], [], [], []
        for _ in range(rounds):
            dt, lat = await timed_concurrent(core_fns(mode), concurrency)
            cq.append(queries / dt)
            cl.extend(lat)
            dt, lat = await timed_concurrent(raw_fns(mode), concurrency)
            rq.append(queries / dt)
            rl.extend(lat)
        c, r = statistics.median(cq), statistics.median(rq)
        out.append(
            {
                "backend": name,
                "what": f"{mode} search QPS, concurrency {concurrency}",
                "core": c,
                "raw": r,
                "ratio": c / r,
                "p50_ms": (
                    1000 * float(np.percentile(cl, 50)),
                    1000 * float(np.percentile(rl, 50)),
                ),
            }
        )

    if name == "milvus-lite-3 server":
        unflushed = AsyncMilvusStore(
            uri, collection_name="bench_flush", dim=dim, auto_flush_rows=None
        )

        def flush_fns(mode: str) -> list[Callable[[], Awaitable[Any]]]:
            return [
                lambda v=v, q=q: unflushed.search(text=q, vector=v, k=k, mode=mode)
                for v, q in zip(qvecs[:100], qtexts[:100], strict=True)
            ]

        for mode in ("dense", "hybrid"):
            await unflushed.drop()
            await unflushed.upsert(rows)
            _, before = await timed_concurrent(flush_fns(mode), 1)
            await unflushed.flush()
            _, after = await timed_concurrent(flush_fns(mode), 1)
            b, a = 1000 * statistics.median(before), 1000 * statistics.median(after)
            out.append(
                {
                    "backend": name,
                    "what": f"{mode} search p50 ms, before / after flush",
                    "core": b,
                    "raw": a,
                    "ratio": b / a,
                }
            )
        await unflushed.drop()
        await unflushed.aclose()
    if await raw.has_collection(raw_name):
        await raw.drop_collection(raw_name)
    await raw.close()
    await store.drop()
    await store.aclose()  # last: on a file this stops the embedded engine the raw client used
    return out


def write_results(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"Rows: {args.rows} x dim {args.dim}; {args.queries} queries; k={args.k}; "
        f"median of {args.rounds} alternating rounds.",
        "",
        "| backend | measure | milvus-rag | raw pymilvus | ratio |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        if "flush" in r["what"]:
            lines.append(
                f"| {r['backend']} | {r['what']} | {r['core']:.1f} (before) | "
                f"{r['raw']:.1f} (after) | {r['ratio']:.1f}x faster after flush |"
            )
        else:
            extra = ""
            if "p50_ms" in r:
                extra = f" (p50 {r['p50_ms'][0]:.1f} / {r['p50_ms'][1]:.1f} ms)"
            lines.append(
                f"| {r['backend']} | {r['what']} | {r['core']:.0f} | {r['raw']:.0f} | "
                f"{r['ratio']:.2f}x{extra} |"
            )
    table = "\n".join(lines)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "core_speed.md").write_text("# Core store vs raw pymilvus\n\n" + table + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ratios = [r for r in results if "flush" not in r["what"]]
    fig, ax = plt.subplots(figsize=(9, 4))
    labels = [f"{r['backend']}\n{r['what'].split(',')[0].split(' (')[0]}" for r in ratios]
    ax.bar(range(len(ratios)), [r["ratio"] for r in ratios], color="#4477aa")
    ax.axhline(1.0, color="black", lw=0.8)
    ax.axhline(0.9, color="red", lw=0.8, ls="--", label="0.9x target (search)")
    ax.set_xticks(range(len(ratios)), labels, fontsize=7)
    ax.set_ylabel("milvus-rag / raw pymilvus")
    ax.set_title("Core store throughput relative to raw AsyncMilvusClient (same run)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "core_speed.png", dpi=120)
    return table


async def main(args: argparse.Namespace) -> None:
    rows = make_rows(args.rows, args.dim)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if "lite" in args.backends:
            results += await bench_backend(
                "milvus-lite-2.5 file",
                str(Path(tmp) / "b.db"),
                rows,
                args.queries,
                args.rounds,
                args.concurrency,
                args.k,
            )
        if "server" in args.backends:
            server = LiteServer(Path(tmp) / "srv").start()
            try:
                results += await bench_backend(
                    "milvus-lite-3 server",
                    server.uri,
                    rows,
                    args.queries,
                    args.rounds,
                    args.concurrency,
                    args.k,
                )
            finally:
                server.stop()
    print(write_results(results, args))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--queries", type=int, default=800)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--backends", default="lite,server")
    asyncio.run(main(p.parse_args()))
