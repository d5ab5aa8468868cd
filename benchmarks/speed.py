"""Speed on SciFact with all-MiniLM-L6-v2 on Milvus Lite 2.5, as ratios measured in one run.

(a) end-to-end ingest (embedding included): pipelined ``upsert(records,
    embed=encoder.aencode_documents)`` vs embed everything, then ``upsert`` the vectors;
(b) store-only ingest of precomputed vectors: ``AsyncMilvusStore.upsert`` vs raw pymilvus
    ``AsyncMilvusClient.insert`` (and ``.upsert``, the store's semantics) with the same batches
    and batches in flight, the raw side building its row dicts from the same numpy vectors
    inside the timing (target >= 0.95x);
(c) the judged SciFact queries at concurrency 1, 16, 64, dense and hybrid RRF, with
    precomputed query vectors: QPS, p50, p95 of ``AsyncMilvusStore.search`` vs raw
    ``search`` / ``hybrid_search`` with the same parameters (target >= 0.9x); plus the
    end-to-end query (``aencode_query`` + ``search``) that (d) compares against;
(d) langchain-milvus 0.4 and llama-index-vector-stores-milvus 1.2, each from its own venv
    under ``.bench-venvs/`` (``benchmarks/competitors/setup.sh`` makes them), same model and
    backend, run as subprocesses (``benchmarks/competitors/driver.py``); a mode one cannot
    run is recorded with its error text;
(e) the encoder: a lone query's embedding p50, ours (sync and async, cache off) against plain
    ``SentenceTransformer.encode`` (fp32, what the competitors run), interleaved rounds; and
    64 concurrent async queries with micro-batching on against off;
(s) ``milvus-rag search`` cold start: a fresh process, the export cached, median of 5, with
    whether it imported torch and the slowest imports (``-X importtime``) as its profile;
(q) SciFact nDCG@10 per encoder backend and precision (``encoder_quality.py``; vectors
    cached per backend and precision).

Rounds alternate ours and raw; medians are reported. Every table is of this run only: a
partial run (``--parts``) writes the parts it ran and nothing stored by an earlier run.
Results: benchmarks/results/speed.md, .png

    python benchmarks/speed.py --data ../shared/data/scifact
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import _common as c
import numpy as np
from pymilvus import AnnSearchRequest, AsyncMilvusClient, RRFRanker

from milvus_rag import AsyncMilvusStore, Record
from milvus_rag.client.records import plan_batches

COMPETITORS = {
    "langchain-milvus 0.4": "langchain",
    "llama-index-vector-stores-milvus 1.2": "llamaindex",
}
VENVS = c.ROOT / ".bench-venvs"
COMPETITOR_NOTE = """
Each competitor runs in its own process (its own venv), once before milvus-rag's runs and,
with `--competitor-passes 2`, once after (then the median of the two passes, both shown). Their
embedder is a plain `SentenceTransformer` in fp32, what their documentation shows; the
`milvus-rag encoder` column says which of our encoders the row compares: the default (`auto`:
per job, the routes named above) and `torch fp32` (sentence-transformers, as before this
change), so the part that comes from the encoder backend and the part that comes from the
library can be told apart.
langchain-milvus 0.4 with default settings fails on Milvus Lite (`invalid index type:
AUTOINDEX, local mode only support SPARSE_INVERTED_INDEX SPARSE_WAND`); its rows use explicit
`index_params` (dense FLAT/COSINE, sparse SPARSE_INVERTED_INDEX). It also declares
`milvus-lite>=3.1`: milvus-lite 2.5.1 is installed over it so that all three run on the same
Milvus Lite 2.5 engine.
"""


def _records(ds: Any, docs: np.ndarray | None) -> list[Record]:
    ids = list(ds.corpus)
    if docs is None:
        return [Record(id=d, text=ds.corpus[d]) for d in ids]
    return [Record(id=d, text=ds.corpus[d], vector=docs[i]) for i, d in enumerate(ids)]


async def ingest_e2e(
    uri: str, ds: Any, encoders: dict[str, Any], rounds: int, n_docs: int
) -> list[dict[str, Any]]:
    """(a): pipelined vs embed-then-insert, both through the store, fresh collections.

    ``encoders`` maps a precision label to an encoder; the first is the default one. Every
    other precision gets a pipelined row of its own, against the same baseline."""
    ids = list(ds.corpus)[: n_docs or None]
    sub = dataclasses.replace(ds, corpus={d: ds.corpus[d] for d in ids})
    default = next(iter(encoders))
    kinds = [("pipelined", default), ("sequential", default)]
    kinds += [("pipelined", p) for p in encoders if p != default]
    times: dict[tuple[str, str], list[float]] = {kp: [] for kp in kinds}
    for r in range(rounds):
        for kind, prec in kinds if r % 2 == 0 else kinds[::-1]:
            enc = encoders[prec]
            store = AsyncMilvusStore(uri, collection_name="e2e", dim=enc.dim)
            await store.drop()
            await store.ensure_collection()
            t = time.perf_counter()
            if kind == "pipelined":
                await store.upsert(_records(sub, None), embed=enc.aencode_documents)
            else:
                vecs = await enc.aencode_documents(list(sub.corpus.values()))
                await store.upsert(_records(sub, vecs))
            sec = time.perf_counter() - t
            times[(kind, prec)].append(sec)
            print(f"  (a) {kind} {prec}: {sec:.1f} s")
            await store.drop()
            await store.aclose()
    n = len(sub.corpus)
    s = statistics.median(times[("sequential", default)])
    return [
        {
            "part": "a",
            "what": f"end-to-end ingest (embed + write) of {n} docs, docs/s, {prec} encoder",
            "ours": n / statistics.median(times[(kind, prec)]),
            "baseline": n / s,
            "baseline is": f"embed all, then upsert ({default} encoder)",
            "ratio": s / statistics.median(times[(kind, prec)]),
            "precision": prec,
        }
        for kind, prec in kinds
        if kind == "pipelined"
    ]


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
    encoders: dict[str, Any],
    concurrencies: list[int],
    rounds: int,
    k: int,
) -> list[dict[str, Any]]:
    """(c): store search vs raw search/hybrid_search at each concurrency; plus end to end."""
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

    def ours_e2e(mode: str, enc: Any) -> list[Callable[[], Awaitable[Any]]]:
        async def one(q: str) -> Any:
            v = await enc.aencode_query(q)
            return await store.search(text=q, vector=v, k=k, mode=mode)

        return [lambda q=q: one(q) for q in texts]

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
    # end to end (query embedding included): what (d) compares against
    default = next(iter(encoders))
    for prec, enc in encoders.items():
        for mode in ("dense", "hybrid") if prec == default else ("hybrid",):
            for conc in concurrencies:
                walls, lat = [], []
                for _ in range(min(rounds, 3)):
                    enc.cache_clear()
                    w, ls = await c.run_concurrent(ours_e2e(mode, enc), conc)
                    walls.append(w)
                    lat += ls
                label = f"{mode} + embed" + ("" if prec == default else f" ({prec})")
                out.append(
                    {
                        "mode": label,
                        "concurrency": conc,
                        "ours QPS": len(texts) / statistics.median(walls),
                        "ours p50 ms": 1000 * c.pct(lat, 50),
                        "ours p95 ms": 1000 * c.pct(lat, 95),
                    }
                )
                print(f"  (c) {label} c={conc}: {out[-1]['ours QPS']:.0f} QPS")
    await store.drop()
    await store.aclose()
    await raw.close()
    return out


def competitors(args: argparse.Namespace, tmp: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ds = c.load(args.data)
    # fp32 vectors, what their plain SentenceTransformer computes, for the untimed rest
    docs, _, _ = c.dataset_vectors(ds, c.get_encoder(precision="fp32"))
    vectors_path = Path(tmp) / "corpus_vectors.npy"
    np.save(vectors_path, docs)
    driver = c.ROOT / "benchmarks" / "competitors" / "driver.py"
    for label, venv in COMPETITORS.items():
        py = VENVS / venv / "bin" / "python"
        if not py.exists():
            rows.append(
                {"library": label, "error": f"{py} missing: run benchmarks/competitors/setup.sh"}
            )
            continue
        out = Path(tmp) / f"{venv}.json"
        cmd = [
            str(py),
            str(driver),
            "--lib",
            venv,
            "--data",
            str(args.data),
            "--uri",
            str(Path(tmp) / f"{venv}.db"),
            "--out",
            str(out),
            "--e2e-docs",
            str(args.e2e_docs),
            "--vectors",
            str(vectors_path),
            "--concurrency",
            *map(str, args.concurrency),
        ]
        print(f"  (d) {label}: {' '.join(cmd[1:3])} ...")
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH="")
        try:
            p = subprocess.run(
                cmd, capture_output=True, text=True, timeout=args.competitor_timeout, env=env
            )
        except subprocess.TimeoutExpired:
            rows.append({"library": label, "error": f"timed out after {args.competitor_timeout} s"})
            continue
        if out.exists():
            data = json.loads(out.read_text())
            data["library"] = label
            rows.append(data)
        else:
            tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
            rows.append({"library": label, "error": " / ".join(tail) or f"exit {p.returncode}"})
    return rows


def plot(qrows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, mode in zip(axes, ("dense", "hybrid"), strict=True):
        rows = [r for r in qrows if r["mode"] == mode]
        e2e = [r for r in qrows if r["mode"] == f"{mode} + embed"]
        xs = [r["concurrency"] for r in rows]
        ax.plot(xs, [r["ours QPS"] for r in rows], marker="o", label="milvus-rag store")
        ax.plot(xs, [r["raw QPS"] for r in rows], marker="s", label="raw AsyncMilvusClient")
        ax.plot(
            [r["concurrency"] for r in e2e],
            [r["ours QPS"] for r in e2e],
            marker="^",
            label="milvus-rag + query embedding",
        )
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrency")
        ax.set_ylabel("QPS")
        ax.set_title(f"SciFact queries, {mode}, Milvus Lite 2.5")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path.relative_to(c.ROOT)}")


async def main_async(args: argparse.Namespace, tmp: str) -> dict[str, Any]:
    ds = c.load(args.data)
    enc = c.get_encoder()
    if set(args.parts) & set("bc"):
        docs, qvecs, _ = c.dataset_vectors(ds, enc)
    await enc.aencode_documents(["warm up"])
    # the default encoder (backend and precision "auto") first; torch fp32 beside it shows
    # what the exported backends give
    encoders = {"auto": enc}
    if "torch" not in enc.routes["document"] or "torch" not in enc.routes["query"]:
        encoders["torch fp32"] = c.get_encoder(backend="torch", precision="fp32")
        await encoders["torch fp32"].aencode_documents(["warm up"])
    uri = str(Path(tmp) / "speed.db")
    out: dict[str, Any] = {"ingest": [], "queries": [], "encoder": [], "routes": enc.routes}
    if "e" in args.parts:
        out["encoder"] = await encoder_latency(ds, enc, args.rounds)
    if "a" in args.parts:
        out["ingest"] += await ingest_e2e(uri, ds, encoders, args.e2e_rounds, args.e2e_docs)
    if "b" in args.parts:
        out["ingest"] += await ingest_store(uri, ds, docs, args.rounds)
    if "c" in args.parts:
        out["queries"] = await queries(
            uri, ds, docs, qvecs, encoders, args.concurrency, args.rounds, args.k
        )
    return out


async def encoder_latency(ds: Any, enc: Any, rounds: int) -> list[dict[str, Any]]:
    """(e): a lone query's embedding p50 (ours sync / async vs SentenceTransformer.encode), and
    micro-batching at concurrency 64; both sides interleaved in every round."""
    from sentence_transformers import SentenceTransformer

    from milvus_rag.embeddings import SentenceTransformerEncoder
    from milvus_rag.embeddings.encoder import resolve_model_path

    st = SentenceTransformer(resolve_model_path(c.MODEL), device="cpu")
    texts = list(ds.queries.values())[:100]
    ours = SentenceTransformerEncoder(backend=args_backend(enc), cache_size=0)
    off = SentenceTransformerEncoder(backend=args_backend(enc), cache_size=0, micro_batching=False)
    ours.encode_query("warm up")
    off.encode_query("warm up")
    st.encode(["warm up"], normalize_embeddings=True)
    lat: dict[str, list[float]] = {"st": [], "sync": [], "async": []}
    burst: dict[str, list[float]] = {"on": [], "off": []}
    for r in range(rounds):
        order = ["st", "sync", "async"]
        for who in order[r % 3 :] + order[: r % 3]:
            for q in texts:
                t = time.perf_counter()
                if who == "st":
                    st.encode([q], normalize_embeddings=True)
                elif who == "sync":
                    ours.encode_query(q)
                else:
                    await ours.aencode_query(q)
                lat[who].append(time.perf_counter() - t)
        for who in ("on", "off") if r % 2 == 0 else ("off", "on"):
            e = ours if who == "on" else off
            qs = [f"{q} ({who} {r})" for q in texts[:64]]
            t = time.perf_counter()
            await asyncio.gather(*(e.aencode_query(q) for q in qs))
            burst[who].append(time.perf_counter() - t)
        print(
            f"  (e) round {r}: "
            + ", ".join(f"{k} {1000 * c.pct(v, 50):.2f} ms" for k, v in lat.items())
        )
    p50 = {k: 1000 * c.pct(v, 50) for k, v in lat.items()}
    on, off_s = statistics.median(burst["on"]), statistics.median(burst["off"])
    return [
        {
            "what": "lone query embedding p50, sync (ms)",
            "ours": p50["sync"],
            "baseline": p50["st"],
            "baseline is": "SentenceTransformer.encode([q]) fp32",
            "ratio": p50["st"] / p50["sync"],
        },
        {
            "what": "lone query embedding p50, async (ms)",
            "ours": p50["async"],
            "baseline": p50["sync"],
            "baseline is": "ours, sync (target: at most 1 ms more)",
            "ratio": p50["sync"] / p50["async"],
            "async - sync ms": p50["async"] - p50["sync"],
        },
        {
            "what": "64 concurrent async queries, wall (ms)",
            "ours": 1000 * on,
            "baseline": 1000 * off_s,
            "baseline is": "micro-batching off",
            "ratio": off_s / on,
        },
    ]


def args_backend(enc: Any) -> str:
    """The backend of the default encoder's query route, for the encoders (e) builds."""
    return str(enc.routes["query"].split()[0])


def cold_start(args: argparse.Namespace, tmp: str, runs: int = 5) -> dict[str, Any]:
    """(s): ``milvus-rag search`` in a fresh process (the export cached), median of ``runs``."""
    ds = c.load(args.data)
    enc = c.get_encoder()
    uri = str(Path(tmp) / "cold.db")

    async def fill() -> None:
        ids = list(ds.corpus)[:200]
        store = AsyncMilvusStore(uri, collection_name="cold", dim=enc.dim)
        await store.drop()
        await store.upsert(
            [Record(id=d, text=ds.corpus[d]) for d in ids], embed=enc.aencode_documents
        )
        await store.aclose()

    asyncio.run(fill())
    env = {k: v for k, v in os.environ.items() if k != "MILVUS_RAG_BACKEND"}
    env["PYTHONPATH"] = str(c.ROOT)
    cmd = [sys.executable, "-m", "milvus_rag.cli", "search", "cats", "--uri", uri]
    cmd += ["--collection", "cold", "--k", "3"]
    walls = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        walls.append(time.perf_counter() - t)
    probe = (
        "import runpy, sys; sys.argv = sys.argv[1:]\n"
        "try:\n    runpy.run_module('milvus_rag.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('TORCH', 'torch' in sys.modules)"
    )
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe, *cmd[2:]],
        capture_output=True,
        text=True,
        env=env,
    )
    imports = []
    for line in p.stderr.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit():
            imports.append((int(parts[1]), parts[2].rstrip()))
    top = [n.strip() for _, n in sorted(imports, reverse=True) if n.count("  ") <= 1][:6]
    total = sum(us for us, n in imports if not n.startswith("  ")) / 1e6
    print(f"  (s) cold start {[round(w, 2) for w in walls]} s")
    return {
        "median s": statistics.median(walls),
        "runs": walls,
        "torch imported": "TORCH True" in p.stdout,
        "imports s": total,
        "slowest imports": top,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(c.DEFAULT_DATA))
    p.add_argument("--parts", default="abcdesq", help="subset of a, b, c, d, e, s, q")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--e2e-rounds", type=int, default=2)
    p.add_argument(
        "--e2e-docs",
        type=int,
        default=1000,
        help="docs in the end-to-end ingest runs (a, d); 0: the whole corpus",
    )
    p.add_argument("--concurrency", nargs="+", type=int, default=[1, 16, 64])
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--competitor-timeout", type=int, default=900)
    p.add_argument(
        "--competitor-passes",
        type=int,
        choices=(1, 2),
        default=2,
        help="2: each competitor before and after ours (median); 1: before only",
    )
    p.add_argument("--quality-variants", nargs="+", default=None, help="(q): backend:precision")
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="mrag_speed_")
    # competitors run once before and once after milvus-rag's runs (the machine's load
    # drifts over minutes): their rows are the median of the two, both shown
    before = competitors(args, tmp) if "d" in args.parts else []
    res = asyncio.run(main_async(args, tmp))
    comp: list[dict[str, Any]] = []
    if "d" in args.parts:
        runs = [before] + ([competitors(args, tmp)] if args.competitor_passes == 2 else [])
        comp = merge_runs(*runs)
    # never pair this run's numbers with stored ones: only the parts run now are written
    cold = cold_start(args, tmp) if "s" in args.parts else None
    quality: list[dict[str, Any]] = []
    if "q" in args.parts:
        import encoder_quality

        qargs = argparse.Namespace(
            data=args.data, variants=args.quality_variants or encoder_quality.DEFAULT_VARIANTS
        )
        quality = asyncio.run(encoder_quality.main_async(qargs))
    ing_cols = ["part", "what", "ours", "baseline", "baseline is", "ratio"]
    q_cols = [
        "mode",
        "concurrency",
        "ours QPS",
        "raw QPS",
        "QPS ratio",
        "ours p50 ms",
        "raw p50 ms",
        "ours p95 ms",
        "raw p95 ms",
    ]
    import encoder_quality

    parts = [
        "## Speed (SciFact, all-MiniLM-L6-v2 on CPU, Milvus Lite 2.5 file)\n",
        f"`python benchmarks/speed.py --data DIR --parts {args.parts}`, one run. Ratios are "
        "ours / baseline measured in the same run (for times: baseline time / our time), so "
        "> 1 means milvus-rag is faster. Targets: (b) >= 0.95x, (c) >= 0.9x.\n",
        f"{encoder_quality.cpu_note()}; a machine shared with other jobs. Encoder `auto` "
        f"routes here: queries {res['routes']['query']}, documents {res['routes']['document']}.\n",
        c.cuda_note() + "\n",
    ]
    if res["encoder"]:
        e_cols = ["what", "ours", "baseline", "baseline is", "ratio", "async - sync ms"]
        parts += ["### Encoder (e)\n", c.md_table(res["encoder"], e_cols) + "\n"]
    if cold:
        parts += [
            "### `milvus-rag search` cold start (s)\n",
            f"Median of 5 fresh processes: **{cold['median s']:.2f} s** (runs: "
            + ", ".join(f"{w:.2f}" for w in cold["runs"])
            + f"); torch imported: {cold['torch imported']}; imports took "
            f"{cold['imports s']:.2f} s, slowest: {', '.join(cold['slowest imports'])}.\n",
        ]
    if quality:
        q_cols_ = ["backend", "precision", "dense nDCG@10", "dense vs torch fp32"]
        q_cols_ += ["hybrid nDCG@10", "hybrid vs torch fp32", f"within {encoder_quality.GATE}"]
        parts += [
            "### SciFact nDCG@10 per backend and precision (q)\n",
            c.md_table(quality, q_cols_) + "\n",
        ]
    if res["ingest"]:
        parts += ["### Ingest\n", c.md_table(res["ingest"], ing_cols) + "\n"]
    if res["queries"] and "c" in args.parts:
        plot(res["queries"], c.RESULTS / "speed.png")
    if res["queries"]:
        parts += [
            "### Queries (300 judged SciFact queries, k=10, hybrid = RRF, 100 candidates per leg)\n",
            "Rows `+ embed` include query embedding with MiniLM (micro-batched; the encoder's "
            "default precision, or the one in brackets), no raw baseline. The raw side converts "
            "the same numpy query vectors to lists and reads every hit's id, distance and "
            "fields, as a caller must; milvus-rag returns `Hit` objects.\n",
            c.md_table(res["queries"], q_cols) + "\n",
            "![speed](speed.png)\n",
        ]
    if comp and ("a" in args.parts or "c" in args.parts):
        parts += ["### Against langchain-milvus and llama-index-vector-stores-milvus\n"]
        parts += [comparison_table(comp, res) + "\n"]
        parts += [COMPETITOR_NOTE]
    c.write_section(c.RESULTS / "speed.md", "\n".join(parts))
    full = {**res, "competitors": comp, "cold_start": cold, "quality": quality, "parts": args.parts}
    (c.RESULTS / "speed.json").write_text(json.dumps(full, indent=1, default=float))
    c.render_benchmarks_md()


def merge_runs(*runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per library from several passes: medians, each pass's value kept."""
    merged: list[dict[str, Any]] = []
    for rows in zip(*runs, strict=True):
        ok = [r for r in rows if "error" not in r and "ingest_error" not in r]
        if len(ok) < len(rows):
            merged.append(next(r for r in rows if r not in ok))
            continue
        row = dict(ok[0])
        ing = [r["ingest_docs_per_s"] for r in ok]
        row["ingest_docs_per_s"], row["ingest_runs"] = statistics.median(ing), ing
        queries = []
        for qs in zip(*(r["queries"] for r in ok), strict=True):
            if any("error" in q for q in qs):
                queries.append(next(q for q in qs if "error" in q))
                continue
            q = dict(qs[0])
            for key in ("qps", "p50_ms", "p95_ms"):
                q[key] = statistics.median(x[key] for x in qs)
            q["qps_runs"] = [x["qps"] for x in qs]
            queries.append(q)
        row["queries"] = queries
        merged.append(row)
    return merged


def _runs(values: list[float] | None) -> str:
    return f"passes: {', '.join(f'{v:.1f}' for v in values)}" if values else ""


def comparison_table(comp: list[dict[str, Any]], res: dict[str, Any]) -> str:
    """Their rows against ours: one line per precision of milvus-rag's encoder."""
    ours_ingest = {r.get("precision", ""): r["ours"] for r in res["ingest"] if r["part"] == "a"}
    ours_q: dict[tuple[str, int], dict[str, float]] = {}
    for r in res["queries"]:
        if "+ embed" in r["mode"]:
            mode, _, rest = r["mode"].partition(" + embed")
            prec = rest.strip(" ()") or next(iter(ours_ingest), "")
            ours_q.setdefault((mode, r["concurrency"]), {})[prec] = r["ours QPS"]
    lines = [
        "| library | what | milvus-rag encoder | theirs | milvus-rag | milvus-rag / theirs | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in comp:
        lib = row["library"]
        if "error" in row:
            lines.append(f"| {lib} | all | | | | | {row['error']} |")
            continue
        ing = row.get("ingest_docs_per_s")
        if ing:
            note = _runs(row.get("ingest_runs"))
            for prec, mine in ours_ingest.items():
                lines.append(
                    f"| {lib} | end-to-end ingest, docs/s | {prec} | {ing:.1f} | {mine:.1f} | "
                    f"{mine / ing:.2f}x | {note} |"
                )
        elif row.get("ingest_error"):
            lines.append(f"| {lib} | end-to-end ingest | | | | | {row['ingest_error']} |")
        for q in row.get("queries", []):
            what = f"{q['mode']} QPS at concurrency {q['concurrency']} (query embedding included)"
            if "error" in q:
                lines.append(f"| {lib} | {what} | | | | | {q['error'][:200]} |")
                continue
            note = f"theirs: p50 {q['p50_ms']:.0f} ms, p95 {q['p95_ms']:.0f} ms; "
            note += _runs(q.get("qps_runs"))
            for prec, mine in ours_q.get((q["mode"], q["concurrency"]), {}).items():
                lines.append(
                    f"| {lib} | {what} | {prec} | {q['qps']:.1f} | {mine:.1f} | "
                    f"{mine / q['qps']:.2f}x | {note} |"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
