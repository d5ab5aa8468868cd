"""How ingest time and query latency grow with the collection: synthetic rows, dim 384.

Embedded Milvus Lite 2.5 file at 10k and 100k rows (1M with ``--full``, i.e.
``make bench-scale``); the Milvus Lite 3 gRPC server (tests/backends.py LiteServer) at growing
sizes until one size's ingest + queries would pass ``--server-budget`` seconds, and the limit
is stated. Per size: ``AsyncMilvusStore.upsert`` time of precomputed vectors (BM25 on, the
default schema), then p50/p95 latency of ``--queries`` sequential searches (concurrency 1),
dense and hybrid RRF. Log-log PNG: benchmarks/results/scaling.png.

    python benchmarks/scaling.py            # 10k, 100k
    python benchmarks/scaling.py --full     # + 1M on the embedded file
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c
import numpy as np

from milvus_rag import AsyncMilvusStore, Record

_WORDS_TEXT = (
    "protein cell gene cancer immune virus brain heart blood drug dose risk trial mouse human "
    "tumor receptor signal pathway therapy insulin glucose liver kidney lung bone muscle neuron "
    "vaccine infection antibody mutation expression binding kinase membrane stress aging diet"
)
WORDS = _WORDS_TEXT.split()


def make_records(n: int, dim: int, start: int = 0, seed: int = 0) -> list[Record]:
    rng = np.random.default_rng(seed + start)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    words = rng.integers(0, len(WORDS), size=(n, 16))
    return [
        Record(
            id=f"r{start + i}",
            text=" ".join(WORDS[w] for w in words[i]) + f" doc{start + i}",
            vector=vecs[i],
        )
        for i in range(n)
    ]


async def measure(
    uri: str, n: int, dim: int, n_queries: int, chunk: int, budget: float | None
) -> dict[str, Any]:
    # Milvus Lite 3 has no 'english' analyzer: name 'standard' there
    opts = {} if not uri.startswith("http") else {"analyzer": "standard"}
    store = AsyncMilvusStore(uri, collection_name=f"scale_{n}", dim=dim, **opts)
    await store.drop()
    await store.ensure_collection()
    t0 = time.perf_counter()
    done = 0
    while done < n:  # generate and write in chunks: bounded memory at 1M rows
        m = min(chunk, n - done)
        recs = make_records(m, dim, start=done)
        await store.upsert(recs)
        done += m
        if budget is not None and time.perf_counter() - t0 > budget:
            await store.drop()
            await store.aclose()
            return {"rows": n, "error": f"ingest passed {budget:.0f} s at {done} rows"}
    if not store.is_local:
        await store.flush()
    ingest = time.perf_counter() - t0
    q = make_records(n_queries, dim, seed=99, start=10**9)
    row: dict[str, Any] = {"rows": n, "ingest s": ingest, "rows/s": n / ingest}
    for mode in ("dense", "hybrid"):
        await store.search(text=q[0].text, vector=q[0].vector, k=10, mode=mode)  # warm
        lat = []
        for r in q:
            t = time.perf_counter()
            await store.search(text=r.text.split(" doc")[0][:40], vector=r.vector, k=10, mode=mode)
            lat.append(time.perf_counter() - t)
        row[f"{mode} p50 ms"] = 1000 * c.pct(lat, 50)
        row[f"{mode} p95 ms"] = 1000 * c.pct(lat, 95)
    await store.drop()
    await store.aclose()
    return row


def plot(results: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for backend, rows in results.items():
        ok = [r for r in rows if "error" not in r]
        if not ok:
            continue
        xs = [r["rows"] for r in ok]
        axes[0].plot(xs, [r["ingest s"] for r in ok], marker="o", label=backend)
        for mode, ls in (("dense", "-"), ("hybrid", "--")):
            axes[1].plot(
                xs,
                [r[f"{mode} p50 ms"] for r in ok],
                marker="o",
                ls=ls,
                label=f"{backend} {mode} p50",
            )
            axes[1].plot(
                xs,
                [r[f"{mode} p95 ms"] for r in ok],
                marker="x",
                ls=ls,
                alpha=0.5,
                label=f"{backend} {mode} p95",
            )
    for ax, title, yl in (
        (axes[0], "ingest time (upsert, precomputed vectors)", "seconds"),
        (axes[1], "query latency, concurrency 1, k=10", "ms"),
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("rows (dim 384)")
        ax.set_ylabel(yl)
        ax.set_title(title)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path.relative_to(c.ROOT)}")


async def run_server(args: argparse.Namespace, tmp: str) -> tuple[list[dict[str, Any]], str]:
    from tests.backends import LiteServer

    server = LiteServer(Path(tmp) / "lite3").start()
    rows: list[dict[str, Any]] = []
    limit = ""
    try:
        for n in args.server_sizes:
            t = time.perf_counter()
            row = await measure(server.uri, n, args.dim, args.queries, 10_000, args.server_budget)
            rows.append(row)
            print(f"  lite3 server {n}: {row}")
            if "error" in row:
                limit = f"stopped at {n:,} rows: {row['error']}"
                break
            if time.perf_counter() - t > args.server_budget:
                limit = (
                    f"{n:,} rows took {time.perf_counter() - t:.0f} s (budget "
                    f"{args.server_budget:.0f} s): larger sizes not tried"
                )
                break
        else:
            limit = f"every size up to {args.server_sizes[-1]:,} rows fitted in the budget"
    finally:
        server.stop()
    return rows, limit


async def main_async(args: argparse.Namespace, tmp: str) -> tuple[dict[str, Any], str]:
    sizes = [] if args.server_only else [10_000, 100_000] + ([1_000_000] if args.full else [])
    results: dict[str, Any] = {"embedded Milvus Lite 2.5": []}
    for n in sizes:
        row = await measure(
            str(Path(tmp) / f"scale_{n}.db"), n, args.dim, args.queries, 50_000, None
        )
        results["embedded Milvus Lite 2.5"].append(row)
        print(f"  embedded {n}: {row}")
    limit = "not run (--no-server)"
    if not args.no_server:
        results["Milvus Lite 3 server"], limit = await run_server(args, tmp)
    return results, limit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="add 1M rows on the embedded file")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--no-server", action="store_true")
    p.add_argument(
        "--server-only", action="store_true", help="keep the embedded rows of the last run"
    )
    p.add_argument("--server-sizes", nargs="+", type=int, default=[10_000, 30_000, 100_000])
    p.add_argument("--server-budget", type=float, default=240.0, help="seconds per size")
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="mrag_scale_")
    try:
        results, limit = asyncio.run(main_async(args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    saved = c.RESULTS / ("scaling_full.json" if args.full else "scaling.json")
    if saved.exists():  # a partial run (--server-only / --no-server) keeps the other rows
        old = json.loads(saved.read_text())
        for key, rows in old.get("results", {}).items():
            if not results.get(key):
                results[key] = rows
        if args.no_server and old.get("limit"):
            limit = old["limit"]
    saved.write_text(json.dumps({"results": results, "limit": limit}, indent=1))
    cols = [
        "rows",
        "ingest s",
        "rows/s",
        "dense p50 ms",
        "dense p95 ms",
        "hybrid p50 ms",
        "hybrid p95 ms",
        "error",
    ]
    parts = [
        "## Scaling (synthetic rows, dim 384)\n",
        f"`python benchmarks/scaling.py{' --full' if args.full else ''}`: upsert of precomputed "
        "vectors through `AsyncMilvusStore` (default schema: BM25 on, AUTOINDEX/COSINE), then "
        f"{args.queries} sequential queries (k=10). 1M rows run behind `--full` "
        "(`make bench-scale`).\n",
        c.cuda_note() + "\n",
    ]
    for backend, rows in results.items():
        if not rows:
            continue
        parts += [
            f"### {backend}\n",
            c.md_table(rows, [k for k in cols if any(k in r for r in rows)]) + "\n",
        ]
    parts += [
        f"Milvus Lite 3 server limit: {limit}.\n",
        f"![scaling]({'scaling_full' if args.full else 'scaling'}.png)\n",
    ]
    c.write_section(
        c.RESULTS / ("scaling_full.md" if args.full else "scaling.md"), "\n".join(parts)
    )
    plot(results, c.RESULTS / ("scaling_full.png" if args.full else "scaling.png"))
    c.publish("scaling_full.md" if args.full else "scaling.md")


if __name__ == "__main__":
    main()
