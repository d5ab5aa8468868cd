"""The layer's cost in instructions: milvus-rag's search against raw pymilvus (issue 27).

Counts the client process's instructions per query (valgrind's callgrind, ``Ir``; the Milvus
Lite 2.5 engine is a child process, not counted) for the core store, raw
``AsyncMilvusClient.search`` / ``hybrid_search`` with the same parameters and output fields,
and the LangChain and LlamaIndex stores over the core, dense and hybrid, one query at a
time. Unlike CPU seconds, the count hardly moves with the machine's load (repeat runs agree
within 1 %), so a before/after comparison needs no quiet machine. What it does not show:
time the CPU spends waiting (cache misses), and the server's side.

    python benchmarks/layer_instructions.py --code . /path/to/an/older/checkout

Needs ``valgrind`` (``apt-get install valgrind``); about a minute per checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("ours", "raw", "langchain", "llama_index")
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]


async def inner(a: argparse.Namespace) -> None:
    """Under callgrind (instrumentation off until the measured loops): each side's queries
    between a zero and a dump of the counters, labelled ``<mode>-<side>``."""
    import numpy as np
    from langchain_core.embeddings import Embeddings
    from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode
    from pymilvus import AnnSearchRequest, AsyncMilvusClient, RRFRanker

    from milvus_rag import AsyncMilvusStore, Record
    from milvus_rag.integrations.langchain import MilvusVectorStore as LcStore
    from milvus_rag.integrations.llama_index import MilvusVectorStore as LiStore

    pid = os.getpid()

    def ctl(*args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)

    uri = str(Path(tempfile.mkdtemp(prefix="mrag_ir_")) / "ir.db")
    store = AsyncMilvusStore(uri, collection_name="ir", dim=384)
    rng = np.random.default_rng(27)
    docs = rng.normal(size=(a.rows, 384)).astype(np.float32)
    await store.upsert(
        [
            Record(
                id=f"d{i}",
                text=" ".join(WORDS[(i * j) % len(WORDS)] for j in range(1, 9)),
                vector=docs[i],
                metadata={"i": i},
            )
            for i in range(a.rows)
        ]
    )
    raw = AsyncMilvusClient(uri=uri)
    queries = rng.normal(size=(a.queries, 384)).astype(np.float32)
    cfg = store.config
    fields = ["id", "text", "doc_id", "metadata"]
    vecs: dict[str, list[float]] = {}

    class Precomputed(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return [vecs[t] for t in texts]

        def embed_query(self, text: str) -> list[float]:
            return vecs[text]

        async def aembed_query(self, text: str) -> list[float]:
            return vecs[text]

    lc, li = LcStore(Precomputed(), store=store), LiStore(store=store)

    async def ours(mode: str, v: Any, text: str) -> Any:
        hits = await store.search(text=text, vector=v, k=10, mode=mode)
        return [(h.id, h.distance, h.record) for h in hits]

    async def rawf(mode: str, v: Any, text: str) -> Any:
        if mode == "dense":
            res = await raw.search(
                store.name,
                data=[v.tolist()],
                anns_field="dense",
                limit=10,
                output_fields=fields,
                search_params={"metric_type": "COSINE"},
            )
        else:
            n = cfg.hybrid_candidates
            reqs = [
                AnnSearchRequest([v.tolist()], "dense", {"metric_type": "COSINE"}, n),
                AnnSearchRequest([text], "sparse", {"metric_type": "BM25"}, n),
            ]
            res = await raw.hybrid_search(
                store.name, reqs, RRFRanker(cfg.rrf_k), limit=10, output_fields=fields
            )
        return [[(h["id"], h["distance"], h["entity"]) for h in hits] for hits in res]

    async def langchain(mode: str, v: Any, text: str) -> Any:
        vecs[text] = v.tolist()  # what an embedding model returns: a list
        docs = await lc.asimilarity_search(text, k=10, retrieval_mode=mode)
        return [(d.id, d.page_content, d.metadata) for d in docs]

    async def llama(mode: str, v: Any, text: str) -> Any:
        m = VectorStoreQueryMode.DEFAULT if mode == "dense" else VectorStoreQueryMode.HYBRID
        q = VectorStoreQuery(
            query_embedding=v.tolist(), query_str=text, similarity_top_k=10, mode=m
        )
        res = await li.aquery(q)
        sims = res.similarities or []
        return [(n.node_id, s, n.metadata) for n, s in zip(res.nodes or [], sims, strict=True)]

    sides = {"ours": ours, "raw": rawf, "langchain": langchain, "llama_index": llama}
    text = "alpha beta gamma"
    for mode in ("dense", "hybrid"):
        for fn in sides.values():
            for i in range(10):
                await fn(mode, queries[i], text)
    ctl("-i", "on")
    time.sleep(1)
    for mode in ("dense", "hybrid"):
        for name, fn in sides.items():
            before = len(glob.glob(a.prefix + ".*"))
            ctl("-z")
            for i in range(a.queries):
                await fn(mode, queries[i], text)
            ctl("-d", f"{mode}-{name}")
            while len(glob.glob(a.prefix + ".*")) == before:
                time.sleep(0.05)
    ctl("-i", "off")
    await raw.close()
    await store.drop()
    await store.aclose()


def measure(code: Path, a: argparse.Namespace) -> dict[str, float]:
    """Millions of instructions per query by ``<mode>-<side>``, for the checkout ``code``."""
    prefix = str(Path(tempfile.mkdtemp(prefix="mrag_cg_")) / "cg")
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={prefix}.%p",
        sys.executable,
        __file__,
        "--inner",
        "--prefix",
        prefix,
        "--rows",
        str(a.rows),
        "--queries",
        str(a.queries),
    ]
    env = {**os.environ, "PYTHONPATH": str(code)}
    subprocess.run(cmd, check=True, env=env, cwd=tempfile.gettempdir(), capture_output=True)
    out: dict[str, float] = {}
    for path in glob.glob(prefix + ".*.*"):  # the dumps (the final one has no label)
        text = Path(path).read_text(errors="replace")
        label = re.search(r"^desc: Trigger: dump (\S+)", text, re.M)
        total = re.search(r"^summary: (\d+)", text, re.M)
        if label and total:
            out[label.group(1)] = int(total.group(1)) / a.queries / 1e6
    return out


def table(results: dict[str, dict[str, float]], a: argparse.Namespace) -> str:
    lines = [
        f"Client instructions per query (callgrind Ir, millions), Milvus Lite 2.5 file, "
        f"{a.rows} rows x 384, k=10, {a.queries} queries a side, one at a time; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load "
        f"{os.getloadavg()[0]:.1f}\n",
        "| code | mode | ours | raw | ours / raw | ours - raw | langchain - ours "
        "| llama_index - ours |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for code, r in results.items():
        for mode in ("dense", "hybrid"):
            o, w = r[f"{mode}-ours"], r[f"{mode}-raw"]
            lc, li = r[f"{mode}-langchain"] - o, r[f"{mode}-llama_index"] - o
            lines.append(
                f"| {code} | {mode} | {o:.3f} | {w:.3f} | {o / w:.2f} | {o - w:+.3f} "
                f"| {lc:+.3f} | {li:+.3f} |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--code", nargs="+", default=[str(ROOT)], help="checkouts to measure")
    p.add_argument("--rows", type=int, default=500)
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--out", help="also write the markdown table here")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--prefix", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inner:
        asyncio.run(inner(args))
        sys.exit(0)
    res = {c: measure(Path(c).resolve(), args) for c in args.code}
    md = table(res, args)
    print(md)
    if args.out:
        Path(args.out).write_text(md)
