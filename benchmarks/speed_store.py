"""Parts of ``speed.py`` that go through the store (Milvus Lite 2.5 file).

(a) end-to-end ingest (embedding included) of the first N SciFact documents: pipelined
    ``upsert(records, embed=encoder.aencode_documents)``, the path a user of milvus-rag takes;
(b) store-only ingest of precomputed vectors: ``AsyncMilvusStore.upsert`` vs raw pymilvus
    ``AsyncMilvusClient.insert`` (and ``.upsert``) with the same batches and batches in flight;
(c) the judged queries with precomputed vectors: ``AsyncMilvusStore.search`` vs raw
    ``search`` / ``hybrid_search`` with the same parameters;
(h) hybrid queries with query embedding (``aencode_query`` + ``search``) at each concurrency:
    what (d) compares against.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import _common as c
import numpy as np
from pymilvus import AnnSearchRequest, AsyncMilvusClient, RRFRanker

from milvus_rag import AsyncMilvusStore, Record
from milvus_rag.client.records import plan_batches


def _records(ds: Any, docs: np.ndarray | None) -> list[Record]:
    ids = list(ds.corpus)
    if docs is None:
        return [Record(id=d, text=ds.corpus[d]) for d in ids]
    return [Record(id=d, text=ds.corpus[d], vector=docs[i]) for i, d in enumerate(ids)]


async def ingest_e2e(uri: str, ds: Any, enc: Any) -> tuple[dict[str, Any], AsyncMilvusStore]:
    """(a), one run: every document of ``ds`` into a fresh collection, pipelined; the store
    is returned with the rows in it, for (h)."""
    store = AsyncMilvusStore(uri, collection_name="e2e", dim=enc.dim, read_concurrency=256)
    await store.drop()
    await store.ensure_collection()
    load = os.getloadavg()[0]
    t = time.perf_counter()
    await store.upsert(_records(ds, None), embed=enc.aencode_documents)
    sec = time.perf_counter() - t
    n = len(ds.corpus)
    print(f"  (a) {n} docs in {sec:.1f} s: {n / sec:.2f} docs/s (load {load:.1f})", flush=True)
    return {"docs": n, "seconds": sec, "docs/s": n / sec, "load": (load, os.getloadavg()[0])}, store


async def queries_e2e(
    store: AsyncMilvusStore, ds: Any, enc: Any, concurrencies: list[int], k: int
) -> dict[str, Any]:
    """(h), one run: the judged queries, hybrid, query embedding included (cache cleared)."""
    texts = list(ds.queries.values())

    async def one(q: str) -> Any:
        v = await enc.aencode_query(q)
        return await store.search(text=q, vector=v, k=k, mode="hybrid")

    out: dict[str, Any] = {"qps": {}, "p50_ms": {}, "p95_ms": {}, "load": {}}
    for conc in concurrencies:
        enc.cache_clear()
        load = os.getloadavg()[0]
        wall, lat = await c.run_concurrent([lambda q=q: one(q) for q in texts], conc)
        out["qps"][conc] = len(texts) / wall
        out["p50_ms"][conc] = 1000 * c.pct(lat, 50)
        out["p95_ms"][conc] = 1000 * c.pct(lat, 95)
        out["load"][conc] = load
        print(f"  (h) hybrid + embed c={conc}: {out['qps'][conc]:.1f} QPS (load {load:.1f})")
    return out


async def ingest_store(uri: str, ds: Any, docs: np.ndarray, rounds: int) -> list[dict[str, Any]]:
    """(b): store upsert of precomputed vectors vs raw insert, same batches."""
    dim = docs.shape[1]
    store = AsyncMilvusStore(uri, collection_name="b_core", dim=dim)
    await store.drop()
    info = await store.ensure_collection()
    cfg = store.config
    recs = _records(ds, docs)
    batches = plan_batches(recs, info.dim, cfg.batch_size, cfg.max_batch_bytes)

    def raw_rows(b: list[Record]) -> list[dict[str, Any]]:
        # what a raw user does with the encoder's numpy output: build the row dicts (timed)
        return [
            {
                "id": r.id,
                "text": r.text,
                "dense": np.asarray(r.vector).tolist(),
                "doc_id": "",
                "metadata": {},
            }
            for r in b
        ]

    raw = AsyncMilvusClient(uri=uri)
    in_flight = store.write_concurrency
    times: dict[str, list[float]] = {"store": [], "insert": [], "upsert": []}

    async def raw_run(op: str, i: int) -> float:
        name = f"b_raw_{op}_{i}"
        twin = AsyncMilvusStore(uri, collection_name=name, dim=dim)
        await twin.drop()
        await twin.ensure_collection()  # same schema and indexes
        await twin.aclose()
        sem = asyncio.Semaphore(in_flight)
        fn = raw.insert if op == "insert" else raw.upsert

        async def put(b: list[Record]) -> None:
            async with sem:
                await fn(name, raw_rows(b))

        t = time.perf_counter()
        await asyncio.gather(*(put(b) for b in batches))
        sec = time.perf_counter() - t
        await raw.drop_collection(name)
        return sec

    for i in range(rounds):
        order = ["store", "insert", "upsert"]
        for who in order[i % 3 :] + order[: i % 3]:  # rotate the order between rounds
            if who == "store":
                await store.drop()
                await store.ensure_collection()
                t = time.perf_counter()
                await store.upsert(recs)
                times["store"].append(time.perf_counter() - t)
            else:
                times[who].append(await raw_run(who, i))
        print(f"  (b) round {i}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    await store.drop()
    await store.aclose()
    await raw.close()
    n = len(recs)
    co = statistics.median(times["store"])
    return [
        {
            "part": "b",
            "what": f"store-only ingest, rows/s ({len(batches)} batches, {in_flight} in flight)",
            "ours": n / co,
            "baseline": n / statistics.median(times[op]),
            "baseline is": f"raw AsyncMilvusClient.{op}",
            "ratio": statistics.median(times[op]) / co,
        }
        for op in ("insert", "upsert")
    ]


async def queries(
    uri: str,
    ds: Any,
    docs: np.ndarray,
    qvecs: dict[str, np.ndarray],
    concurrencies: list[int],
    rounds: int,
    k: int,
) -> list[dict[str, Any]]:
    """(c): store search vs raw search/hybrid_search at each concurrency."""
    dim = docs.shape[1]
    store = AsyncMilvusStore(uri, collection_name="c_search", dim=dim, read_concurrency=256)
    await store.drop()
    await store.upsert(_records(ds, docs))
    cfg = store.config
    raw = AsyncMilvusClient(uri=uri)
    texts = list(ds.queries.values())
    vecs = [qvecs[t] for t in texts]
    fields = ["id", "text", "doc_id", "metadata"]
    cand = cfg.hybrid_candidates

    def ours(mode: str) -> list[Callable[[], Awaitable[Any]]]:
        return [
            lambda v=v, q=q: store.search(text=q, vector=v, k=k, mode=mode)
            for v, q in zip(vecs, texts, strict=True)
        ]

    def read(res: Any) -> list[list[tuple[Any, float, dict[str, Any]]]]:
        # what any caller does with the answer: take each hit's id, distance and fields
        return [[(h["id"], h["distance"], h["entity"]) for h in hits] for hits in res]

    def raw_fns(mode: str) -> list[Callable[[], Awaitable[Any]]]:
        # the raw side gets the encoder's numpy vectors too, and reads its results
        async def dense(v: np.ndarray) -> Any:
            res = await raw.search(
                store.name,
                data=[v.tolist()],
                anns_field="dense",
                limit=k,
                output_fields=fields,
                search_params={"metric_type": "COSINE"},
            )
            return read(res)

        async def hyb(v: np.ndarray, q: str) -> Any:
            reqs = [
                AnnSearchRequest([v.tolist()], "dense", {"metric_type": "COSINE"}, cand),
                AnnSearchRequest([q], "sparse", {"metric_type": "BM25"}, cand),
            ]
            res = await raw.hybrid_search(
                store.name, reqs, RRFRanker(cfg.rrf_k), limit=k, output_fields=fields
            )
            return read(res)

        if mode == "dense":
            return [lambda v=v: dense(v) for v in vecs]
        return [lambda v=v, q=q: hyb(v, q) for v, q in zip(vecs, texts, strict=True)]

    # warm both paths
    await c.run_concurrent(ours("hybrid")[:20], 4)
    await c.run_concurrent(raw_fns("hybrid")[:20], 4)
    out: list[dict[str, Any]] = []
    for mode in ("dense", "hybrid"):
        for conc in concurrencies:
            res: dict[str, list[tuple[float, list[float]]]] = {"ours": [], "raw": []}
            for r in range(rounds):
                order = ("ours", "raw") if r % 2 == 0 else ("raw", "ours")
                for who in order:
                    fns = ours(mode) if who == "ours" else raw_fns(mode)
                    res[who].append(await c.run_concurrent(fns, conc))
            row: dict[str, Any] = {"mode": mode, "concurrency": conc}
            for who in ("ours", "raw"):
                walls = [w for w, _ in res[who]]
                lat = [x for _, ls in res[who] for x in ls]
                row[f"{who} QPS"] = len(texts) / statistics.median(walls)
                row[f"{who} p50 ms"] = 1000 * c.pct(lat, 50)
                row[f"{who} p95 ms"] = 1000 * c.pct(lat, 95)
            row["QPS ratio"] = row["ours QPS"] / row["raw QPS"]
            out.append(row)
            print(
                f"  (c) {mode} c={conc}: ours {row['ours QPS']:.0f} QPS, raw {row['raw QPS']:.0f}"
            )
    await store.drop()
    await store.aclose()
    await raw.close()
    return out


def plot_queries(qrows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, mode in zip(axes, ("dense", "hybrid"), strict=True):
        rows = [r for r in qrows if r["mode"] == mode]
        xs = [r["concurrency"] for r in rows]
        ax.plot(xs, [r["ours QPS"] for r in rows], marker="o", label="milvus-rag store")
        ax.plot(xs, [r["raw QPS"] for r in rows], marker="s", label="raw AsyncMilvusClient")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrency")
        ax.set_ylabel("QPS")
        ax.set_title(f"SciFact queries, {mode}, Milvus Lite 2.5")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path.relative_to(c.ROOT)}")
