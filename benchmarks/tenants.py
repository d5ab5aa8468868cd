"""Tenants and typed metadata fields: search latency against the same rows selected by JSON.

Synthetic rows (unit vectors of dim 384, 16-word texts) spread over ``--tenants`` tenants
(1,000 by default). One collection per backend with ``tenant_field="tenant"`` and
``metadata_fields={"cat": "int64"}``; every row also holds the same values as JSON keys
(``org`` = its tenant, ``cat_j`` = ``cat``) and a JSON ``score_j`` uniform in [0, 1). Per
query (hybrid RRF, k=10, concurrency 1), interleaved so that both sides of each ratio see the
same machine load:

- tenant: ``tenant=t`` (a partition key on the server, an indexed column on the file) vs
  ``all_tenants=True, filter={"org": t}`` (the JSON key);
- typed: a selective filter (``cat`` takes 1,000 values: about 0.1 % of rows) on the typed
  column vs the same value of the JSON key ``cat_j``;
- NOT (server only): ``{"$not": {"score_j": {"$gt": 0.9}}}`` evaluated by the server vs the
  same filter evaluated client-side (the path Milvus Lite 2.5 takes: a relaxed search and the
  reference evaluator over the hits, fetching deeper until k pass).

    python benchmarks/tenants.py [WORKDIR] --lite-rows 100000 --server-rows 100000

Writes benchmarks/results/tenants.md (+ .json) and tenants.png.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c
import numpy as np

from milvus_rag import AsyncMilvusStore, Record
from milvus_rag.client.filters import Dialect

_WORDS_TEXT = (
    "protein cell gene cancer immune virus brain heart blood drug dose risk trial mouse human "
    "tumor receptor signal pathway therapy insulin glucose liver kidney lung bone muscle neuron "
    "vaccine infection antibody mutation expression binding kinase membrane stress aging diet"
)
WORDS = _WORDS_TEXT.split()
NOT_FILTER = {"$not": {"score_j": {"$gt": 0.9}}}


def make_records(n: int, dim: int, tenants: int, start: int) -> list[Record]:
    rng = np.random.default_rng(start)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    words = rng.integers(0, len(WORDS), size=(n, 16))
    cats = rng.integers(0, 1000, size=n)
    scores = rng.random(size=n)
    out = []
    for i in range(n):
        t = f"t{(start + i) % tenants}"
        meta = {"tenant": t, "org": t, "cat": int(cats[i]), "cat_j": int(cats[i])}
        meta["score_j"] = float(scores[i])
        text = " ".join(WORDS[w] for w in words[i])
        out.append(Record(id=f"r{start + i}", text=text, vector=vecs[i], metadata=meta))
    return out


def open_store(uri: str, dim: int, client_side: bool = False) -> AsyncMilvusStore:
    opts: dict[str, Any] = {"analyzer": "standard"} if uri.startswith("http") else {}
    store = AsyncMilvusStore(
        uri,
        collection_name="bench_tenants",
        dim=dim,
        tenant_field="tenant",
        metadata_fields={"cat": "int64"},
        **opts,
    )
    if client_side:  # benchmark only: plan filters as for Milvus Lite 2.5 (client-side NOT)
        pool = store._pool
        pool.__class__ = type("Lite25Plans", (type(pool),), {"dialect": Dialect.LITE25})
    return store


async def ingest(store: AsyncMilvusStore, n: int, dim: int, tenants: int) -> float:
    await store.drop()
    t0 = time.perf_counter()
    for start in range(0, n, 20_000):
        recs = make_records(min(20_000, n - start), dim, tenants, start)
        await store.upsert(recs, all_tenants=True)
    if not store.is_local:
        await store.flush()
    return time.perf_counter() - t0


async def timed(fn: Any) -> tuple[float, int]:
    t = time.perf_counter()
    hits = await fn()
    return time.perf_counter() - t, len(hits)


async def measure(
    uri: str, n: int, dim: int, tenants: int, queries: int, server: bool
) -> dict[str, Any]:
    store = open_store(uri, dim)
    row: dict[str, Any] = {"rows": n, "ingest s": await ingest(store, n, dim, tenants)}
    client = open_store(uri, dim, client_side=True) if server else None
    rng = np.random.default_rng(7)
    pairs: dict[str, tuple[list[float], list[float]]] = {
        "tenant": ([], []),
        "typed": ([], []),
    }
    if client is not None:
        pairs["not"] = ([], [])
    sizes: dict[str, list[int]] = {k: [] for k in pairs}
    for i in range(queries + 5):  # 5 warm-up queries
        vec = rng.normal(size=dim)
        vec /= np.linalg.norm(vec)
        text = " ".join(rng.choice(WORDS, size=3))
        t, cat = f"t{rng.integers(tenants)}", int(rng.integers(1000))
        v = vec.tolist()
        one = functools.partial(store.search, text, v, k=10)
        every = functools.partial(store.search, text, v, k=10, all_tenants=True)
        sides = {
            "tenant": (
                functools.partial(one, tenant=t),
                functools.partial(every, filter={"org": t}),
            ),
            "typed": (
                functools.partial(every, filter={"cat": cat}),
                functools.partial(every, filter={"cat_j": cat}),
            ),
        }
        if client is not None:
            sides["not"] = (
                functools.partial(every, filter=NOT_FILTER),
                functools.partial(
                    client.search, text, v, k=10, all_tenants=True, filter=NOT_FILTER
                ),
            )
        for name, (a, b) in sides.items():
            order = (0, 1) if i % 2 == 0 else (1, 0)
            got = [(0.0, 0), (0.0, 0)]
            for j in order:
                got[j] = await timed((a, b)[j])
            if i >= 5:
                pairs[name][0].append(got[0][0])
                pairs[name][1].append(got[1][0])
                sizes[name].append(got[0][1])
    for name, (a, b) in pairs.items():
        for side, lat in (("a", a), ("b", b)):
            row[f"{name} {side} p50 ms"] = 1000 * c.pct(lat, 50)
            row[f"{name} {side} p95 ms"] = 1000 * c.pct(lat, 95)
        row[f"{name} ratio p50"] = c.pct(b, 50) / c.pct(a, 50)
        row[f"{name} mean hits"] = sum(sizes[name]) / max(1, len(sizes[name]))
    await store.drop()
    await store.aclose()
    if client is not None:
        await client.aclose()
    return row


LABELS = {
    "tenant": ("tenant=t", "JSON org == t"),
    "typed": ("typed cat == v", "JSON cat_j == v"),
    "not": ("server NOT", "client-side NOT"),
}


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| backend | rows | ingest s | comparison | A p50 / p95 ms | B p50 / p95 ms | B / A (p50) |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for backend, row in results.items():
        for name, (la, lb) in LABELS.items():
            if f"{name} ratio p50" not in row:
                continue
            lines.append(
                f"| {backend} | {row['rows']:,} | {row['ingest s']:.0f} | A {la} vs B {lb} | "
                f"{row[f'{name} a p50 ms']:.1f} / {row[f'{name} a p95 ms']:.1f} | "
                f"{row[f'{name} b p50 ms']:.1f} / {row[f'{name} b p95 ms']:.1f} | "
                f"{row[f'{name} ratio p50']:.2f}x |"
            )
    return "\n".join(lines)


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    labels, a_vals, b_vals = [], [], []
    for backend, row in results.items():
        for name in LABELS:
            if f"{name} ratio p50" in row:
                labels.append(f"{backend}\n{name}")
                a_vals.append(row[f"{name} a p50 ms"])
                b_vals.append(row[f"{name} b p50 ms"])
    x = np.arange(len(labels))
    ax.bar(x - 0.2, a_vals, 0.4, label="A: tenant / typed column / server NOT")
    ax.bar(x + 0.2, b_vals, 0.4, label="B: JSON key / JSON key / client-side NOT")
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("hybrid search p50, ms (k=10)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


async def main_async(args: argparse.Namespace, work: Path) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    if args.lite_rows:
        uri = str(work / "tenants.db")
        results["embedded Milvus Lite 2.5"] = await measure(
            uri, args.lite_rows, args.dim, args.tenants, args.queries, server=False
        )
        print(results)
    if args.server_rows:
        from tests.backends import LiteServer

        srv = LiteServer(work / "lite3").start()
        try:
            results["Milvus Lite 3 server"] = await measure(
                srv.uri, args.server_rows, args.dim, args.tenants, args.queries, server=True
            )
        finally:
            srv.stop()
        print(results)
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("workdir", nargs="?", help="where the .db file and server data go")
    p.add_argument("--lite-rows", type=int, default=100_000)
    p.add_argument("--server-rows", type=int, default=100_000)
    p.add_argument("--tenants", type=int, default=1000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--dim", type=int, default=384)
    args = p.parse_args()
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="mrag_ten_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = asyncio.run(main_async(args, work))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    c.RESULTS.mkdir(parents=True, exist_ok=True)
    md = table(results)
    (c.RESULTS / "tenants.json").write_text(json.dumps(results, indent=1))
    (c.RESULTS / "tenants.md").write_text(md + "\n")
    plot(results, c.RESULTS / "tenants.png")
    print(md)


if __name__ == "__main__":
    main()
