"""The layer's cost in client CPU: milvus-rag's search against raw pymilvus (issue 27).

Client CPU per query (``time.process_time()`` of this process: the Lite 2.5 engine and the
Lite 3 server are other processes, so the figure a loaded machine disturbs least) for the
core store and raw ``AsyncMilvusClient.search`` / ``hybrid_search`` with the same parameters
and output fields, and the LangChain and LlamaIndex stores over the core (their own cost on
top of it), dense and hybrid, at each concurrency; the sides' rounds interleaved, the median
round reported, and the median of the rounds' paired differences. With ``--profile``, cProfile of the core and raw at concurrency 1 and the
functions whose time differs most between them (per query).

    python benchmarks/layer_profile.py --rows 3000 --queries 300 --rounds 5
    python benchmarks/layer_profile.py --backends lite --profile hybrid --out before.md

``MILVUS_RAG_CODE=/path/to/a/checkout`` measures that checkout's milvus_rag (a before/after
comparison runs the same script over both, alternately, each in a fresh process).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CODE = Path(os.environ.get("MILVUS_RAG_CODE", ROOT)).resolve()
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(CODE))  # the code measured comes first

import milvus_rag
from milvus_rag import AsyncMilvusStore, Record

DATA = ROOT.parent / "shared" / "data" / "scifact"
SIDES = ("ours", "raw", "langchain", "llama_index")
Fn = Callable[[], Awaitable[Any]]


def dataset(rows: int, queries: int) -> tuple[list[tuple[str, str]], list[str]]:
    from milvus_rag.evaluation import load_beir

    ds = load_beir(DATA)
    return list(ds.corpus.items())[:rows], list(ds.queries.values())[:queries]


async def run_concurrent(fns: list[Fn], conc: int) -> None:
    sem = asyncio.Semaphore(conc)

    async def one(fn: Fn) -> None:
        async with sem:
            await fn()

    await asyncio.gather(*(one(f) for f in fns))


class Bench:
    """The four sides over one collection of ``uri``."""

    def __init__(self, uri: str, corpus: list[tuple[str, str]], texts: list[str], k: int) -> None:
        self.uri, self.corpus, self.texts, self.k = uri, corpus, texts, k
        rng = np.random.default_rng(27)
        unit = rng.normal(size=(len(corpus) + len(texts), 384)).astype(np.float32)
        unit /= np.linalg.norm(unit, axis=1, keepdims=True)
        self.docs = unit[: len(corpus)]
        self.qvecs = dict(zip(texts, unit[len(corpus) :], strict=True))

    async def open(self) -> None:
        from langchain_core.embeddings import Embeddings
        from pymilvus import AsyncMilvusClient

        from milvus_rag.integrations.langchain import MilvusVectorStore as LcStore
        from milvus_rag.integrations.llama_index import MilvusVectorStore as LiStore

        self.store = AsyncMilvusStore(
            self.uri, collection_name="layer", dim=384, read_concurrency=256
        )
        await self.store.drop()
        await self.store.upsert(
            [Record(id=d, text=t, vector=self.docs[i]) for i, (d, t) in enumerate(self.corpus)]
        )
        await self.store.flush()
        keepalive = {
            "grpc.keepalive_time_ms": 360_000,
            "grpc.keepalive_permit_without_calls": False,
        }
        self.raw = AsyncMilvusClient(uri=self.uri, grpc_options=keepalive)
        qv = self.qvecs

        class Precomputed(Embeddings):
            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return [qv[t].tolist() for t in texts]

            def embed_query(self, text: str) -> list[float]:
                out: list[float] = qv[text].tolist()
                return out

            async def aembed_query(self, text: str) -> list[float]:
                return self.embed_query(text)

        self.lc = LcStore(Precomputed(), store=self.store)
        self.li = LiStore(store=self.store)

    async def close(self) -> None:
        await self.store.drop()
        await self.store.aclose()
        await self.raw.close()

    def fns(self, who: str, mode: str) -> list[Fn]:
        from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode
        from pymilvus import AnnSearchRequest, RRFRanker

        store, raw, k = self.store, self.raw, self.k
        cfg = store.config
        fields = ["id", "text", "doc_id", "metadata"]

        def read(res: Any) -> Any:  # what any caller does: each hit's id, distance, fields
            return [[(h["id"], h["distance"], h["entity"]) for h in hits] for hits in res]

        async def ours(v: np.ndarray, q: str) -> Any:
            hits = await store.search(text=q, vector=v, k=k, mode=mode)
            return [(h.id, h.distance, h.record) for h in hits]

        async def dense(v: np.ndarray, q: str) -> Any:
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
                AnnSearchRequest(
                    [v.tolist()], "dense", {"metric_type": "COSINE"}, cfg.hybrid_candidates
                ),
                AnnSearchRequest([q], "sparse", {"metric_type": "BM25"}, cfg.hybrid_candidates),
            ]
            res = await raw.hybrid_search(
                store.name, reqs, RRFRanker(cfg.rrf_k), limit=k, output_fields=fields
            )
            return read(res)

        async def langchain(v: np.ndarray, q: str) -> Any:
            docs = await self.lc.asimilarity_search(q, k=k, retrieval_mode=mode)
            return [(d.id, d.page_content, d.metadata) for d in docs]

        li_mode = VectorStoreQueryMode.DEFAULT if mode == "dense" else VectorStoreQueryMode.HYBRID

        async def llama(v: np.ndarray, q: str) -> Any:
            query = VectorStoreQuery(
                query_embedding=self.qvecs[q].tolist(),
                query_str=q,
                similarity_top_k=k,
                mode=li_mode,
            )
            res = await self.li.aquery(query)
            sims = res.similarities or []
            return [(n.node_id, s, n.metadata) for n, s in zip(res.nodes or [], sims, strict=True)]

        fn = {"ours": ours, "langchain": langchain, "llama_index": llama}.get(who)
        if fn is None:
            fn = dense if mode == "dense" else hyb
        return [lambda v=self.qvecs[q], q=q: fn(v, q) for q in self.texts]

    async def cpu(
        self, sides: tuple[str, ...], mode: str, conc: int, rounds: int
    ) -> dict[str, float]:
        """Client CPU ms a query per side: the median of ``rounds`` interleaved rounds; and
        ``"<side> - ours"`` / ``"ours - raw"``: the median of the rounds' differences (each
        round's sides run back to back, so a difference sees one machine load)."""
        per: dict[str, list[float]] = {w: [] for w in sides}
        for r in range(rounds):
            for who in sides[r % len(sides) :] + sides[: r % len(sides)]:
                fns = self.fns(who, mode)
                t = time.process_time()
                await run_concurrent(fns, conc)
                per[who].append(1000 * (time.process_time() - t) / len(fns))
        out = {w: statistics.median(v) for w, v in per.items()}
        pairs = [("ours", "raw")] + [(w, "ours") for w in ("langchain", "llama_index")]
        for a, b in pairs:
            if a in per and b in per:
                out[f"{a} - {b}"] = statistics.median(
                    x - y for x, y in zip(per[a], per[b], strict=True)
                )
        return out

    async def profile(self, who: str, mode: str, conc: int) -> pstats.Stats:
        fns = self.fns(who, mode)
        prof = cProfile.Profile(time.process_time)  # CPU, not waiting
        prof.enable()
        await run_concurrent(fns, conc)
        prof.disable()
        return pstats.Stats(prof)


def _short(key: tuple[str, int, str]) -> str:
    path, line, name = key
    for mark in ("site-packages/", "milvus_rag/", "lib/python"):
        if mark in path:
            path = (
                path[path.index(mark) + len(mark) :]
                if mark != "milvus_rag/"
                else path[path.index(mark) :]
            )
            break
    return f"{path}:{line}({name})" if line else name


def profile_diff(ours: pstats.Stats, raw: pstats.Stats, n: int, top: int) -> str:
    """The functions whose own time (tottime) per query differs most, ours minus raw, in us."""
    a: dict[Any, Any] = ours.stats  # type: ignore[attr-defined]
    b: dict[Any, Any] = raw.stats  # type: ignore[attr-defined]
    rows = []
    for key in set(a) | set(b):
        ta = a[key][2] if key in a else 0.0
        tb = b[key][2] if key in b else 0.0
        ca = a[key][1] if key in a else 0
        cb = b[key][1] if key in b else 0
        rows.append((1e6 * (ta - tb) / n, 1e6 * ta / n, 1e6 * tb / n, ca / n, cb / n, key))
    rows.sort(key=lambda r: -r[0])
    tot_a = 1e6 * sum(v[2] for v in a.values()) / n
    tot_b = 1e6 * sum(v[2] for v in b.values()) / n
    out = [
        f"profiled total per query: ours {tot_a:.0f} us, raw {tot_b:.0f} us\n",
        "| function | ours - raw us/q | ours us/q | raw us/q | calls/q ours | calls/q raw |",
        "|---|---|---|---|---|---|",
    ]
    for d, ta, tb, ca, cb, key in rows[:top]:
        out.append(f"| `{_short(key)}` | {d:.1f} | {ta:.1f} | {tb:.1f} | {ca:.1f} | {cb:.1f} |")
    return "\n".join(out)


async def main(a: argparse.Namespace) -> str:
    corpus, texts = dataset(a.rows, a.queries)
    out = [
        f"code: `{Path(milvus_rag.__file__).parent.parent}`; {len(corpus)} rows x 384 (random "
        f"unit vectors), {len(texts)} queries, k={a.k}, {a.rounds} interleaved rounds, the "
        f"median; client CPU ms a query (`time.process_time()`); started "
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}\n",
        "| backend | mode | c | ours | raw | ours / raw | ours - raw | langchain - ours "
        "| llama_index - ours | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    tmp = tempfile.mkdtemp(prefix="mrag_layer_")
    profiles: list[str] = []
    for backend in a.backends:
        server = None
        if backend == "lite":
            uri = str(Path(tmp) / "layer.db")
        else:
            from tests.backends import LiteServer

            server = LiteServer(Path(tmp) / "lite3").start()
            uri = server.uri
        try:
            b = Bench(uri, corpus, texts, a.k)
            await b.open()
            sides = tuple(s for s in SIDES if s in a.sides)
            for mode in ("dense", "hybrid"):
                for who in sides:  # warm every path
                    await run_concurrent(b.fns(who, mode)[:30], 4)
            for mode in a.modes:
                for conc in a.concurrency:
                    load = os.getloadavg()[0]
                    cpu = await b.cpu(sides, mode, conc, a.rounds)
                    load2 = os.getloadavg()[0]
                    lc = f"{cpu['langchain - ours']:+.3f}" if "langchain" in cpu else ""
                    li = f"{cpu['llama_index - ours']:+.3f}" if "llama_index" in cpu else ""
                    row = (
                        f"| {backend} | {mode} | {conc} | {cpu['ours']:.3f} | {cpu['raw']:.3f} | "
                        f"{cpu['ours'] / cpu['raw']:.2f} | {cpu['ours - raw']:+.3f} | {lc} | {li} "
                        f"| {load:.1f} / {load2:.1f} |"
                    )
                    out.append(row)
                    print(row, flush=True)
            for mode in a.profile:
                ps = {w: await b.profile(w, mode, 1) for w in ("ours", "raw")}
                profiles.append(
                    f"\n### cProfile, {backend}, {mode}, concurrency 1 ({len(texts)} queries)\n\n"
                    + profile_diff(ps["ours"], ps["raw"], len(texts), a.top)
                )
            await b.close()
        finally:
            if server is not None:
                server.stop()
    return "\n".join(out + profiles) + "\n"


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rows", type=int, default=3000)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    p.add_argument("--modes", nargs="+", choices=["dense", "hybrid"], default=["dense", "hybrid"])
    p.add_argument("--backends", nargs="+", choices=["lite", "server"], default=["lite", "server"])
    p.add_argument("--sides", nargs="+", choices=list(SIDES), default=list(SIDES))
    p.add_argument("--profile", nargs="*", choices=["dense", "hybrid"], default=[])
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--out", help="also write the markdown here")
    args = p.parse_args()
    text = asyncio.run(main(args))
    print(text)
    if args.out:
        Path(args.out).write_text(text)
