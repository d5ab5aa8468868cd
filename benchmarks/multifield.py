"""Several vector fields on a BEIR corpus: title and abstract as two dense fields plus BM25
(three legs) against today's one dense field (title + abstract) plus BM25, Milvus Lite 2.5.

Collections:

- ``one``: the default collection: one dense field ``dense`` (all-MiniLM-L6-v2 of "title
  abstract") and the BM25 field on the same text;
- ``two``: ``abstract`` (MiniLM of the abstract, the primary dense field), ``title`` (MiniLM
  of the title) and the BM25 field on "title abstract";
- ``three``: ``one`` plus a ``title`` field (what adding a title field to an existing setup
  gives).

Searches (each judged query, ``--k`` hits, RRF ``rrf_k`` the collection's 20): on ``one`` its
dense, BM25 and hybrid (2 legs); on ``two`` each dense leg alone, both dense legs, and all three
legs, fused on the server (``hybrid_search``). Metrics: nDCG@10, Recall@10, Recall@k
(``milvus_rag.evaluation.metrics``). Vectors are cached under benchmarks/results/cache/
(git-ignored; the data's licence forbids shipping derived files).

    python benchmarks/multifield.py --data ../shared/data/scifact
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import _common as c
import numpy as np

from milvus_rag import AsyncMilvusStore
from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.records import Record
from milvus_rag.client.request import Leg, SearchRequest
from milvus_rag.client.vector_fields import VectorField
from milvus_rag.evaluation.metrics import ndcg_at_k, recall_at_k

COLS = ["collection", "legs", "nDCG@10", "Recall@10", "Recall@k", "p50 ms"]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def abstracts(ds: Any) -> dict[str, str]:
    """Each document's abstract: the corpus text without its leading title."""
    out = {}
    for did, text in ds.corpus.items():
        title = ds.titles.get(did, "")
        out[did] = text[len(title) :].strip() if title and text.startswith(title) else text
    return {d: (a or ds.corpus[d]) for d, a in out.items()}


async def build(
    path: str, ds: Any, full: np.ndarray, title: np.ndarray, abstract: np.ndarray
) -> dict[str, AsyncMilvusStore]:
    dim = full.shape[1]
    ids = list(ds.corpus)
    one = AsyncMilvusStore(uri=path, collection=CollectionConfig(name="one", dim=dim))
    two = AsyncMilvusStore(
        uri=path,
        collection=CollectionConfig.from_fields(
            [
                VectorField.dense("abstract", dim=dim),
                VectorField.dense("title", dim=dim),
                VectorField.sparse("sparse", bm25=True),
            ],
            name="two",
        ),
    )
    three = AsyncMilvusStore(
        uri=path,
        collection=CollectionConfig(
            name="three", dim=dim, extra_vector_fields=(VectorField.dense("title", dim=dim),)
        ),
    )
    await one.upsert([Record(id=d, text=ds.corpus[d], vector=full[i]) for i, d in enumerate(ids)])
    await three.upsert(
        [
            Record(id=d, text=ds.corpus[d], vector=full[i], vectors={"title": title[i]})
            for i, d in enumerate(ids)
        ]
    )
    await two.upsert(
        [
            Record(id=d, text=ds.corpus[d], vector=abstract[i], vectors={"title": title[i]})
            for i, d in enumerate(ids)
        ]
    )
    return {"one": one, "two": two, "three": three}


#: each measured search: label -> (collection, the legs' fields)
PLANS: dict[str, tuple[str, tuple[str, ...]]] = {
    "one: dense": ("one", ("dense",)),
    "one: BM25": ("one", ("sparse",)),
    "one: dense + BM25": ("one", ("dense", "sparse")),
    "two: abstract": ("two", ("abstract",)),
    "two: title": ("two", ("title",)),
    "two: abstract + title": ("two", ("abstract", "title")),
    "two: abstract + BM25": ("two", ("abstract", "sparse")),
    "two: abstract + title + BM25": ("two", ("abstract", "title", "sparse")),
    "three: dense + title": ("three", ("dense", "title")),
    "three: dense + title + BM25": ("three", ("dense", "title", "sparse")),
}


def request(fields: tuple[str, ...], qtext: str, qv: np.ndarray, k: int) -> SearchRequest:
    """The search of ``fields``: the BM25 field with the query text, a dense one with its
    vector (both dense fields embed with the same model, so one query vector serves)."""
    legs = tuple(Leg(f, qtext if f == "sparse" else qv) for f in fields)
    return SearchRequest(text=qtext, legs=legs, k=k)


async def evaluate(
    stores: dict[str, AsyncMilvusStore], ds: Any, qvecs: dict[str, np.ndarray], k: int
) -> list[dict[str, Any]]:
    per: dict[str, dict[str, list[float]]] = {}
    for qid, qtext in ds.queries.items():
        rels = ds.qrels.get(qid, {})
        for label, (coll, fields) in PLANS.items():
            req = request(fields, qtext, qvecs[qtext], k)
            t = time.perf_counter()
            hits = await stores[coll].search(req)
            ms = (time.perf_counter() - t) * 1000
            ranking = [h.id for h in hits]
            m = per.setdefault(label, {"ndcg": [], "r10": [], "rk": [], "ms": []})
            m["ndcg"].append(ndcg_at_k(ranking, rels, 10))
            m["r10"].append(recall_at_k(ranking, rels, 10))
            m["rk"].append(recall_at_k(ranking, rels, k))
            m["ms"].append(ms)
    rows = []
    for label, m in per.items():
        coll, legs = label.split(": ", 1)
        rows.append(
            {
                "collection": coll,
                "legs": legs,
                "nDCG@10": f"{np.mean(m['ndcg']):.4f}",
                "Recall@10": f"{np.mean(m['r10']):.4f}",
                "Recall@k": f"{np.mean(m['rk']):.4f}",
                "p50 ms": f"{c.median(m['ms']):.1f}",
            }
        )
    return rows


def plot(rows: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['collection']}: {r['legs']}" for r in rows]
    vals = [float(r["nDCG@10"]) for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.barh(
        labels[::-1],
        vals[::-1],
        color=["#4c72b0" if lb.startswith("two") else "#999999" for lb in labels[::-1]],
    )
    ax.set_xlabel("nDCG@10")
    lo = min(vals) - 0.05
    ax.set_xlim(max(0.0, lo), max(vals) + 0.02)
    ax.set_title("One dense field + BM25 vs title and abstract fields + BM25")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


async def main_async(args: argparse.Namespace) -> None:
    ds = c.load(args.data)
    ids = list(ds.corpus)
    enc = c.get_encoder()
    load0 = os.getloadavg()[0]
    full, _ = c.cached_vectors(enc, [ds.corpus[d] for d in ids], "docs")
    title, _ = c.cached_vectors(enc, [ds.titles.get(d) or ds.corpus[d] for d in ids], "docs")
    ab = abstracts(ds)
    abstract, _ = c.cached_vectors(enc, [ab[d] for d in ids], "docs")
    qtexts = list(ds.queries.values())
    qv, _ = c.cached_vectors(enc, qtexts, "queries")
    qvecs = dict(zip(qtexts, qv, strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        stores = await build(os.path.join(tmp, "multi.db"), ds, full, title, abstract)
        try:
            rows = await evaluate(stores, ds, qvecs, args.k)
        finally:
            for s in stores.values():
                await s.aclose()
    load1 = os.getloadavg()[0]
    name = Path(args.data).name
    head = (
        f"`python benchmarks/multifield.py --data {name} --k {args.k}`: {len(ids)} documents, "
        f"{len(ds.queries)} judged queries, all-MiniLM-L6-v2, Milvus Lite 2.5 file, RRF k=20 "
        f"fused on the server; CPU {cpu_model()}; 1-minute load {load0:.1f} / {load1:.1f}"
        f"{' (above 2: the latencies are not evidence)' if max(load0, load1) > 2 else ''}; "
        f"Recall@k with k={args.k}; p50: each query alone, one after the other."
    )
    table = c.md_table(rows, COLS)
    text = head + "\n\n" + table + "\n"
    print(text)
    out = c.RESULTS / "multifield.md"
    out.write_text(text)
    (c.RESULTS / "multifield.json").write_text(json.dumps(rows, indent=1))
    plot(rows, c.RESULTS / "multifield.png")


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data", default=str(c.DEFAULT_DATA), help="a BEIR folder (corpus.jsonl with titles)"
    )
    p.add_argument("--k", type=int, default=100, help="hits per search (Recall@k)")
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
