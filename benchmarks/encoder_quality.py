"""SciFact nDCG@10 of each encoder backend and precision, dense and hybrid, against torch fp32.

Each (backend, precision) embeds the whole corpus and the judged queries with that encoder
(its own query route: exported backends embed queries in float32 whatever the documents'
precision), fills a fresh Milvus Lite 2.5 collection and evaluates dense and hybrid RRF
(the store's defaults) with ``milvus_rag.evaluation``. The gate of ``backend="auto"``: a lossy
document path may be a default only within 0.003 nDCG@10 of torch fp32 in both modes.
Vectors are cached per backend and precision under benchmarks/results/cache/.

    python benchmarks/encoder_quality.py --data ../shared/data/scifact
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as c
import numpy as np

from milvus_rag import AsyncMilvusStore
from milvus_rag.embeddings._onnx_export import int8_scheme
from milvus_rag.evaluation import aevaluate_modes, aingest

GATE = 0.003
DEFAULT_VARIANTS = ["torch:fp32", "onnx:fp32", "onnx:int8", "openvino:fp32"]


def cpu_note() -> str:
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    model = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    has = [
        f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile") if f in flags
    ]
    return f"CPU: {model}, {os.cpu_count()} cores, flags {' '.join(has) or 'unknown'}"


async def one(args: argparse.Namespace, variant: str, uri: str) -> dict[str, Any]:
    backend, precision = variant.split(":")
    enc = c.get_encoder(backend=backend, precision=precision, cache_size=0)
    ds = c.load(args.data)
    t = time.perf_counter()
    docs, sec = c.cached_vectors(enc, list(ds.corpus.values()), "docs")
    texts = list(ds.queries.values())
    qv, _ = c.cached_vectors(enc, texts, "queries")
    print(f"  {variant}: embedded in {time.perf_counter() - t:.0f} s ({enc.routes})")
    store = AsyncMilvusStore(uri, collection_name=f"eq_{backend}_{precision}", dim=docs.shape[1])
    await store.drop()
    await aingest(store, ds, vectors=docs)
    res = await aevaluate_modes(
        store, ds, ["dense", "hybrid"], query_vectors=dict(zip(texts, qv, strict=True)), k=100
    )
    await store.drop()
    await store.aclose()
    row: dict[str, Any] = {
        "backend": backend,
        "precision": precision,
        "routes": f"query {enc.routes['query']}, documents {enc.routes['document']}"
        + (f" ({int8_scheme()} weights)" if precision == "int8" else ""),
        "docs/s (not interleaved)": (len(docs) / sec) if sec else None,
    }
    for r in res:
        row[f"{r['mode']} nDCG@10"] = r["nDCG@10"]
    return row


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    uri = str(Path(tempfile.mkdtemp(prefix="mrag_encq_")) / "q.db")
    rows = [await one(args, v, uri) for v in args.variants]
    ref = next((r for r in rows if (r["backend"], r["precision"]) == ("torch", "fp32")), None)
    for r in rows:
        for mode in ("dense", "hybrid"):
            key = f"{mode} nDCG@10"
            r[f"{mode} nDCG@10 vs torch fp32"] = r[key] - ref[key] if ref else None
        if ref:
            r[f"within {GATE}"] = all(
                abs(r[f"{m} nDCG@10 vs torch fp32"]) <= GATE for m in ("dense", "hybrid")
            )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(c.DEFAULT_DATA))
    p.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, help="backend:precision")
    args = p.parse_args()
    rows = asyncio.run(main_async(args))
    cols = [
        "backend",
        "precision",
        "dense nDCG@10",
        "dense nDCG@10 vs torch fp32",
        "hybrid nDCG@10",
        "hybrid nDCG@10 vs torch fp32",
        f"within {GATE}",
        "routes",
    ]
    text = (
        "## Encoder backends: retrieval quality (SciFact)\n\n"
        "`python benchmarks/encoder_quality.py --data DIR`: all-MiniLM-L6-v2, the whole "
        "SciFact corpus embedded by each backend and precision, Milvus Lite 2.5, dense and "
        f"hybrid RRF (store defaults), nDCG@10 against torch fp32. Gate for a lossy default: "
        f"within {GATE} in both modes.\n\n{cpu_note()}; a shared machine.\n\n"
        + c.md_table(rows, cols)
        + "\n"
    )
    c.write_section(c.RESULTS / "encoder_quality.md", text)
    (c.RESULTS / "encoder_quality.json").write_text(json.dumps(rows, indent=1, default=float))
    c.publish("encoder_quality.md")
    print(text)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
