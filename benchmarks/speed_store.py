"""Parts of ``speed.py`` that go through the store (Milvus Lite 2.5 file).

(a) end-to-end ingest (embedding included) of the first N SciFact documents: pipelined
    ``upsert(records, embed=encoder.aencode_documents)``, the path a user of milvus-rag takes;
(b) store-only ingest of precomputed vectors: ``AsyncMilvusStore.upsert`` vs raw pymilvus
    ``AsyncMilvusClient.insert`` (and ``.upsert``) with the same batches and batches in flight;
(c) the judged queries with precomputed vectors: ``AsyncMilvusStore.search`` vs raw
    ``search`` / ``hybrid_search`` with the same parameters, and the LangChain and LlamaIndex
    stores over the same core store (their own cost on top of the core's), on the Lite 2.5
    file and on a Milvus Lite 3 server;
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


SIDES = ("ours", "raw", "langchain", "llama_index")
"""(c)'s sides: the core store, raw pymilvus, and the two framework stores over the core."""


class _Lookup:
    """The precomputed query vectors as the adapters' embedders: text -> vector, as an
    embedding model would return it (a list of floats), no model run."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def __call__(self, text: str) -> list[float]:
        out: list[float] = self.vectors[text].tolist()
        return out


def _langchain(store: AsyncMilvusStore, lookup: _Lookup) -> Any:
    from langchain_core.embeddings import Embeddings

    from milvus_rag.integrations.langchain import MilvusVectorStore

    class Precomputed(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [lookup(t) for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return lookup(text)

        async def aembed_query(self, text: str) -> list[float]:
            return lookup(text)

    return MilvusVectorStore(Precomputed(), store=store)


async def queries(
    uri: str,
    ds: Any,
    docs: np.ndarray,
    qvecs: dict[str, np.ndarray],
    concurrencies: list[int],
    rounds: int,
    k: int,
    *,
    backend: str = "Milvus Lite 2.5 file",
    sides: tuple[str, ...] = SIDES,
    repeat: int = 1,
    slice_size: int = 100,
) -> list[dict[str, Any]]:
    """(c): the core store's search vs raw ``search`` / ``hybrid_search`` (same parameters,
    same output fields, the same fields read from every hit), and the LangChain and
    LlamaIndex stores over the same core store, at each concurrency; the sides' rounds
    interleaved in slices of ``slice_size`` queries (at least 4 x the concurrency; the
    order rotates), the median round reported. ``repeat``: each round runs the queries that
    many times over (longer rounds, steadier medians)."""
    from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

    from milvus_rag.integrations.llama_index import MilvusVectorStore as LlamaStore

    dim = docs.shape[1]
    store = AsyncMilvusStore(uri, collection_name="c_search", dim=dim, read_concurrency=256)
    await store.drop()
    await store.upsert(_records(ds, docs))
    await store.flush()  # the Lite 3 server searches ~10x faster after flush: both sides
    cfg = store.config
    # the gRPC keepalive milvus-rag's clients use: with pymilvus's default (a ping every
    # 10 s) the Lite 3 server answers GOAWAY too_many_pings in the middle of a run
    keepalive = {"grpc.keepalive_time_ms": 360_000, "grpc.keepalive_permit_without_calls": False}
    raw = AsyncMilvusClient(uri=uri, grpc_options=keepalive)
    texts = list(ds.queries.values()) * repeat
    vecs = [qvecs[t] for t in texts]
    lookup = _Lookup(qvecs)
    lc = _langchain(store, lookup)
    li = LlamaStore(store=store)
    fields = ["id", "text", "doc_id", "metadata"]
    cand = cfg.hybrid_candidates

    def read(res: Any) -> list[list[tuple[Any, float, dict[str, Any]]]]:
        # what any caller does with the answer: take each hit's id, distance and fields
        return [[(h["id"], h["distance"], h["entity"]) for h in hits] for hits in res]

    async def ours(v: np.ndarray, q: str, mode: str) -> Any:
        hits = await store.search(text=q, vector=v, k=k, mode=mode)
        return [(h.id, h.distance, h.record) for h in hits]

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

    async def langchain(q: str, mode: str) -> Any:
        docs = await lc.asimilarity_search(q, k=k, retrieval_mode=mode)
        return [(d.id, d.page_content, d.metadata) for d in docs]

    async def llama(q: str, mode: str) -> Any:
        li_mode = VectorStoreQueryMode.DEFAULT if mode == "dense" else VectorStoreQueryMode.HYBRID
        query = VectorStoreQuery(
            query_embedding=lookup(q), query_str=q, similarity_top_k=k, mode=li_mode
        )
        res = await li.aquery(query)
        sims = res.similarities or []
        return [(n.node_id, s, n.metadata) for n, s in zip(res.nodes or [], sims, strict=True)]

    def fns(who: str, mode: str) -> list[Callable[[], Awaitable[Any]]]:
        pairs = list(zip(vecs, texts, strict=True))
        if who == "ours":
            return [lambda v=v, q=q: ours(v, q, mode) for v, q in pairs]
        if who == "langchain":
            return [lambda q=q: langchain(q, mode) for _, q in pairs]
        if who == "llama_index":
            return [lambda q=q: llama(q, mode) for _, q in pairs]
        if mode == "dense":
            return [lambda v=v: dense(v) for v, _ in pairs]
        return [lambda v=v, q=q: hyb(v, q) for v, q in pairs]

    for who in sides:  # warm every path
        await c.run_concurrent(fns(who, "hybrid")[:20], 4)
        await c.run_concurrent(fns(who, "dense")[:20], 4)
    out: list[dict[str, Any]] = []
    for mode in ("dense", "hybrid"):
        for conc in concurrencies:
            res: dict[str, list[tuple[float, list[float]]]] = {w: [] for w in sides}
            cpu: dict[str, list[float]] = {w: [] for w in sides}
            load = [os.getloadavg()[0]]
            for r in range(rounds):
                # a round: the queries in slices, each slice run by every side in turn (the
                # order rotating), so a machine whose speed drifts within a round (a shared VM
                # does, by 20-40 % over seconds) weighs on every side alike
                lists = {who: fns(who, mode) for who in sides}
                step = max(slice_size, 4 * conc)
                wall = dict.fromkeys(sides, 0.0)
                spent = dict.fromkeys(sides, 0.0)
                lats: dict[str, list[float]] = {who: [] for who in sides}
                for j, start in enumerate(range(0, len(texts), step)):
                    turn = r + j
                    order = sides[turn % len(sides) :] + sides[: turn % len(sides)]  # rotate
                    for who in order:
                        t = time.process_time()  # this process only: the client's side
                        w, ls = await c.run_concurrent(lists[who][start : start + step], conc)
                        spent[who] += time.process_time() - t
                        wall[who] += w
                        lats[who] += ls
                for who in sides:
                    res[who].append((wall[who], lats[who]))
                    cpu[who].append(spent[who])
            load.append(os.getloadavg()[0])
            row: dict[str, Any] = {"backend": backend, "mode": mode, "concurrency": conc}
            for who in sides:
                walls = [w for w, _ in res[who]]
                lat = [x for _, ls in res[who] for x in ls]
                row[f"{who} QPS"] = len(texts) / statistics.median(walls)
                row[f"{who} p50 ms"] = 1000 * c.pct(lat, 50)
                row[f"{who} rounds QPS"] = [len(texts) / w for w in walls]
                row[f"{who} client CPU ms/query"] = 1000 * statistics.median(cpu[who]) / len(texts)
            row["QPS ours / raw"] = row["ours QPS"] / row["raw QPS"]
            for who in ("langchain", "llama_index"):
                if who in sides:
                    row[f"QPS {who} / raw"] = row[f"{who} QPS"] / row["raw QPS"]
                    row[f"QPS {who} / ours"] = row[f"{who} QPS"] / row["ours QPS"]
            row["load"] = "{:.1f} / {:.1f}".format(*load)
            out.append(row)
            print(
                f"  (c) {backend} {mode} c={conc}: "
                + ", ".join(f"{w} {row[f'{w} QPS']:.0f}" for w in sides)
                + f" QPS (load {row['load']}; {time.strftime('%H:%M:%S')})",
                flush=True,
            )
    await store.drop()
    await store.aclose()
    await raw.close()
    return out


QUERY_COLUMNS = [
    "backend",
    "mode",
    "concurrency",
    "ours p50 ms",
    "raw p50 ms",
    "QPS ours / raw",
    "QPS langchain / raw",
    "QPS llama_index / raw",
    "QPS langchain / ours",
    "QPS llama_index / ours",
    "ours client CPU ms/query",
    "raw client CPU ms/query",
    "langchain client CPU ms/query",
    "llama_index client CPU ms/query",
    "ours QPS",
    "raw QPS",
    "langchain QPS",
    "llama_index QPS",
    "load",
]
"""The columns of (c)'s table (its rows also keep each round's QPS, in speed.json)."""


def plot_queries(qrows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, mode in zip(axes, ("dense", "hybrid"), strict=True):
        first = qrows[0]["backend"] if qrows else None
        rows = [r for r in qrows if r["mode"] == mode and r.get("backend") == first]
        xs = [r["concurrency"] for r in rows]
        labels = {
            "ours": "milvus-rag store",
            "raw": "raw AsyncMilvusClient",
            "langchain": "LangChain store over it",
            "llama_index": "LlamaIndex store over it",
        }
        for (who, label), marker in zip(labels.items(), "osv^", strict=True):
            if rows and f"{who} QPS" in rows[0]:
                ax.plot(xs, [r[f"{who} QPS"] for r in rows], marker=marker, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrency")
        ax.set_ylabel("QPS")
        ax.set_title(f"SciFact queries, {mode}, {first}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path.relative_to(c.ROOT)}")
