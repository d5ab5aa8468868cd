"""Index tuning and reads without a ceiling.

1. ``ef`` sweep (the Milvus Lite 3 gRPC server, tests/backends.py LiteServer): one HNSW and
   one FLAT collection of the same rows, created by ``AsyncMilvusStore(index_type=...)``.
   For ``ef`` in 16..256: recall@10 of HNSW against the exact top 10 (numpy), and QPS at
   concurrency 16 of dense searches; the FLAT collection is searched in the same round, so
   each row's QPS ratio is measured in the same minutes. Searches go through
   ``AsyncMilvusStore.search(search_params={"ef": ef})`` where the store has the per-call
   option, else through pymilvus's ``AsyncMilvusClient`` (stated in the output).
2. Iteration over N rows of an embedded Milvus Lite 2.5 file: ``AsyncMilvusStore.iterate``
   (ids + text + metadata) against a raw pymilvus ``MilvusClient.query_iterator`` loop over
   the same fields, interleaved, same process.

Rows: ``--vectors PATH.npy`` (float32, one row per vector; the last ``--queries`` rows are
the queries), else a seeded synthetic mixture of Gaussians (dim ``--dim``).

    python benchmarks/index_tuning.py ef --rows 100000
    python benchmarks/index_tuning.py iterate --rows 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c
import numpy as np

from milvus_rag import AsyncMilvusStore, Record

EFS = (16, 32, 64, 128, 256)
K = 10


def synthetic(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """A mixture of 1,000 Gaussians: neighbours are meaningful, as in embedding spaces."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(1000, dim)).astype(np.float32)
    x = centers[rng.integers(0, 1000, n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


def load_vectors(path: str | None, n: int, dim: int, queries: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.load(path).astype(np.float32) if path else synthetic(n + queries, dim)
    x = x[: n + queries]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x[:n], x[n : n + queries]


def exact_top(x: np.ndarray, q: np.ndarray, k: int) -> list[set[int]]:
    out = []
    for start in range(0, len(q), 256):
        sims = q[start : start + 256] @ x.T
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        out.extend(set(map(int, row)) for row in top)
    return out


async def fill(store: AsyncMilvusStore, x: np.ndarray, chunk: int = 20000) -> float:
    t = time.perf_counter()
    for s in range(0, len(x), chunk):
        await store.upsert(
            [Record(id=str(s + i), text="r", vector=v) for i, v in enumerate(x[s : s + chunk])]
        )
    await store.flush()
    return time.perf_counter() - t


def has_search_params(store: AsyncMilvusStore) -> bool:
    return "search_params" in inspect.signature(store.search).parameters


async def search_fn(store: AsyncMilvusStore, params: dict[str, Any]) -> Any:
    """One dense search callable: the store's per-call option where it has it."""
    if has_search_params(store):

        async def via_store(v: np.ndarray) -> list[int]:
            hits = await store.search(vector=v, k=K, mode="dense", search_params=params)  # type: ignore[call-arg]
            return [int(h.id) for h in hits]

        return via_store
    from pymilvus import AsyncMilvusClient

    client = AsyncMilvusClient(uri=store.connection.uri)

    async def via_client(v: np.ndarray) -> list[int]:
        res = await client.search(
            store.name,
            [v.tolist()],
            limit=K,
            anns_field=store.config.vector_field,
            search_params={"metric_type": "COSINE", "params": params},
        )
        return [int(h["id"]) for h in res[0]]

    via_client.client = client  # type: ignore[attr-defined]
    return via_client


async def round_(fn: Any, q: np.ndarray, concurrency: int) -> tuple[float, list[list[int]]]:
    results: list[list[int]] = [[] for _ in q]

    def call(i: int) -> Any:
        async def go() -> None:
            results[i] = await fn(q[i])

        return go

    wall, _ = await c.run_concurrent([call(i) for i in range(len(q))], concurrency)
    return len(q) / wall, results


def recall(results: list[list[int]], truth: list[set[int]]) -> float:
    return float(np.mean([len(set(r) & t) / K for r, t in zip(results, truth)]))


async def ef_sweep(args: argparse.Namespace) -> None:
    from tests.backends import LiteServer

    x, q = load_vectors(args.vectors, args.rows, args.dim, args.queries)
    truth = exact_top(x, q, K)
    tmp = Path(tempfile.mkdtemp(prefix="ef_"))
    server = LiteServer(tmp / "data").start()
    rows: list[dict[str, Any]] = []
    try:
        hnsw = AsyncMilvusStore(
            server.uri,
            collection_name="hnsw",
            dim=x.shape[1],
            enable_bm25=False,
            index_type="HNSW",
            index_params={"M": args.m, "efConstruction": args.ef_construction},
        )
        flat = AsyncMilvusStore(
            server.uri, collection_name="flat", dim=x.shape[1], enable_bm25=False, index_type="FLAT"
        )
        t_h = await fill(hnsw, x)
        t_f = await fill(flat, x)
        print(f"ingest {len(x)} rows: HNSW {t_h:.0f} s, FLAT {t_f:.0f} s")
        warm = await search_fn(hnsw, {"ef": 64})
        for _ in range(3):  # the server builds the sealed segment's index on first use
            await round_(warm, q[:32], 4)
        flat_fn = await search_fn(flat, {})
        via = (
            "AsyncMilvusStore.search(search_params=...)"
            if has_search_params(hnsw)
            else ("pymilvus AsyncMilvusClient.search (this store has no search_params yet)")
        )
        for ef in EFS:
            fn = await search_fn(hnsw, {"ef": ef})
            qps_f, res_f = await round_(flat_fn, q[: args.flat_queries], args.concurrency)
            qps_h, res_h = await round_(fn, q, args.concurrency)
            row = {
                "ef": ef,
                "recall@10 HNSW": round(recall(res_h, truth), 4),
                "recall@10 FLAT": round(recall(res_f, truth[: args.flat_queries]), 4),
                "QPS@16 HNSW": round(qps_h, 1),
                "QPS@16 FLAT": round(qps_f, 1),
                "HNSW/FLAT QPS": round(qps_h / qps_f, 2),
            }
            print(row)
            rows.append(row)
        await hnsw.aclose()
        await flat.aclose()
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    data = "synthetic Gaussian mixture" if not args.vectors else Path(args.vectors).name
    text = (
        f"## HNSW `ef` sweep (Milvus Lite 3 server)\n\n"
        f"{len(x):,} rows of dim {x.shape[1]} ({data}), {len(q)} queries ({args.flat_queries} "
        f"on FLAT, exact and slow), HNSW M={args.m} "
        f"efConstruction={args.ef_construction}; recall@10 against the exact top 10 (numpy); "
        f"QPS at concurrency {args.concurrency}, HNSW and FLAT collections searched in the "
        f"same round. Searches via {via}. A 2-core VM shared with other jobs: QPS is noisy, "
        f"the ratio column is the comparable one.\n\n"
        + c.md_table(rows)
        + "\n\n![ef sweep](index_tuning_ef.png)\n"
    )
    c.write_section(c.RESULTS / "index_tuning_ef.md", text)
    (c.RESULTS / "index_tuning_ef.json").write_text(json.dumps(rows, indent=1))
    plot_ef(rows, c.RESULTS / "index_tuning_ef.png")


def plot_ef(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(
        [r["recall@10 HNSW"] for r in rows], [r["QPS@16 HNSW"] for r in rows], "o-", label="HNSW"
    )
    for r in rows:
        ax.annotate(f"ef={r['ef']}", (r["recall@10 HNSW"], r["QPS@16 HNSW"]), fontsize=8)
    ax.plot(
        [r["recall@10 FLAT"] for r in rows],
        [r["QPS@16 FLAT"] for r in rows],
        "s",
        label="FLAT (exact)",
    )
    ax.set_xlabel("recall@10")
    ax.set_ylabel("QPS at concurrency 16")
    ax.set_title("HNSW ef sweep, Milvus Lite 3 server")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path.relative_to(c.ROOT)}")


async def iterate_bench(args: argparse.Namespace) -> None:
    from pymilvus import MilvusClient

    tmp = Path(tempfile.mkdtemp(prefix="iter_"))
    uri = str(tmp / "iter.db")
    store = AsyncMilvusStore(uri, collection_name="iter", dim=args.iter_dim, enable_bm25=False)
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    for s in range(0, args.rows, 50000):
        n = min(50000, args.rows - s)
        v = rng.normal(size=(n, args.iter_dim)).astype(np.float32)
        await store.upsert(
            [
                Record(id=f"r{s + i:08d}", text=f"row {s + i}", vector=v[i], metadata={"i": s + i})
                for i in range(n)
            ]
        )
    print(f"ingest {args.rows} rows: {time.perf_counter() - t:.0f} s")
    fields = ["id", "text", "doc_id", "metadata"]
    raw = MilvusClient(uri)

    async def ours() -> int:
        n = 0
        async for page in store.iterate_pages(batch_size=args.batch):
            n += len(page)
        return n

    def theirs() -> int:
        it = raw.query_iterator(collection_name="iter", batch_size=args.batch, output_fields=fields)
        n = 0
        while page := it.next():
            n += sum(1 for row in page if row["id"])  # materialise each row, as a user does
        it.close()
        return n

    rows: list[dict[str, Any]] = []
    try:
        for rep in range(args.repeats):
            t = time.perf_counter()
            n1 = await ours()
            a = time.perf_counter() - t
            t = time.perf_counter()
            n2 = theirs()
            b = time.perf_counter() - t
            assert n1 == n2 == args.rows, (n1, n2)
            row = {
                "round": rep + 1,
                "rows": args.rows,
                "store.iterate rows/s": round(n1 / a),
                "pymilvus query_iterator rows/s": round(n2 / b),
                "ratio": round((n1 / a) / (n2 / b), 2),
            }
            print(row)
            rows.append(row)
    finally:
        raw.close()
        await store.aclose()
        shutil.rmtree(tmp, ignore_errors=True)
    text = (
        "## Iteration throughput (Milvus Lite 2.5 file)\n\n"
        f"{args.rows:,} rows (dim {args.iter_dim}, id + text + doc_id + metadata read back, "
        f"batch {args.batch}): `AsyncMilvusStore.iterate_pages` (records built) against a raw "
        "pymilvus `MilvusClient.query_iterator` loop (each row read as a dict: pymilvus builds "
        "rows lazily), interleaved in one process. "
        "A 2-core VM shared with other jobs.\n\n" + c.md_table(rows) + "\n"
    )
    c.write_section(c.RESULTS / "index_tuning_iterate.md", text)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", choices=("ef", "iterate"))
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--vectors", default=None, help="a .npy of float32 vectors (else synthetic)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--flat-queries", type=int, default=48, help="FLAT queries per round (slow)")
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=200)
    p.add_argument("--iter-dim", type=int, default=8)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    asyncio.run(ef_sweep(args) if args.part == "ef" else iterate_bench(args))


if __name__ == "__main__":
    main()
