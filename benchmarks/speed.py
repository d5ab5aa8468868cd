"""Speed on SciFact with all-MiniLM-L6-v2 on Milvus Lite 2.5, as ratios measured in one run.

Parts (``--parts``, letters; the modules that measure them):

(e) encoder, lone query and micro-batching (``speed_encoder``);
(x) encoder, bulk documents per runtime vs torch fp32 (``speed_encoder``);
(a) end-to-end ingest (embedding included) of ``--e2e-docs`` documents, and
(h) hybrid QPS with query embedding at each concurrency (``speed_store``); with (d) these
    run between the competitors: ours, langchain-milvus, ours, llama-index, ours;
(d) langchain-milvus 0.4 and llama-index-vector-stores-milvus 1.2 (``speed_competitors``);
(b) store-only ingest and (c) store vs raw pymilvus queries (``speed_store``);
(s) ``milvus-rag search`` cold start with its profile (``speed_encoder``);
(q) SciFact nDCG@10 per encoder backend and precision (``encoder_quality``).

Every table is of this run only: a partial run (``--parts``) writes the parts it ran and
nothing stored by an earlier run. Each figure carries the 1-minute load average (``uptime``)
read when it was measured. Results: benchmarks/results/speed.md, .json and the Speed
section of BENCHMARKS.md; (b) and (c) in speed_layer.md, .json, .png and a section of their
own (the other sections are kept as they are).

(c) on 3,000 documents and 100 queries, random vectors (no encoder), in about 5 minutes:

    python benchmarks/speed.py --parts c --rows 3000 --queries 100 --vectors random

    python benchmarks/speed.py --data ../shared/data/scifact
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import _common as c
import encoder_quality
import numpy as np
import speed_competitors as comp
import speed_encoder as se
import speed_store as ss

HEADING = "## Speed (SciFact, all-MiniLM-L6-v2 on CPU, Milvus Lite 2.5 file)"
LAYER_HEADING = "## Speed: the layer's cost, store-only ingest (b) and queries (c)"
"""(b) and (c) have a section of their own: a run of ``--parts bc`` replaces it and leaves
the Speed section (the other parts) as it is."""


class Run:
    """What this run measured so far; written out after every step (a run cut short keeps
    the same-run ratios it has)."""

    def __init__(self, args: argparse.Namespace, routes: dict[str, str]) -> None:
        self.args = args
        self.routes = routes
        self.started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        self.res: dict[str, Any] = {
            "encoder": [],
            "docs": [],
            "ours_blocks": [],
            "competitors": [],
            "ingest_store": [],
            "queries_raw": [],
            "cold_start": None,
            "quality": [],
            "quality_missing": [],
        }

    def save(self) -> None:
        parts = set(self.args.parts)
        if parts - set("bc"):
            full = {**self.res, "routes": self.routes, "parts": self.args.parts}
            (c.RESULTS / "speed.json").write_text(json.dumps(full, indent=1, default=float))
            text = self.markdown()
            c.write_section(c.RESULTS / "speed.md", text)
            c.replace_benchmarks_section(HEADING, text)
        if parts & set("bc"):  # files of their own: a run of --parts bc keeps the others
            layer = {k: self.res[k] for k in ("ingest_store", "queries_raw")}
            text = json.dumps({**layer, "args": vars(self.args)}, indent=1, default=float)
            (c.RESULTS / "speed_layer.json").write_text(text)
            c.write_section(c.RESULTS / "speed_layer.md", self.layer_markdown())
            c.replace_benchmarks_section(LAYER_HEADING, self.layer_markdown())

    def layer_markdown(self) -> str:
        """(b) and (c): what the layer costs against raw pymilvus."""
        r, a = self.res, self.args
        out = [
            LAYER_HEADING + "\n",
            f"`python benchmarks/speed.py --parts {a.parts} --rows {a.rows} --queries "
            f"{a.queries} --query-repeat {a.query_repeat} --vectors {a.vectors} --rounds "
            f"{a.rounds}`, one run started {self.started}: the first {a.rows or 'all'} SciFact "
            f"documents, the first {a.queries or 'all'} queries (each round runs them "
            f"{a.query_repeat} time(s) over), k={a.k}, "
            + (
                "seeded random unit vectors of dim 384 for documents and queries (no encoder: "
                "the search path's cost does not depend on the vectors' content)"
                if a.vectors == "random"
                else "MiniLM vectors (precomputed)"
            )
            + f". {encoder_quality.cpu_note()}; each figure carries the 1-minute load "
            "average read at its start and end (2 cores: above 2 the machine is shared).\n",
        ]
        if r["ingest_store"]:
            cols = ["part", "what", "ours", "baseline", "baseline is", "ratio"]
            out += ["### Store-only ingest (b)\n", c.md_table(r["ingest_store"], cols) + "\n"]
        if r["queries_raw"]:
            out += [
                "### Store vs raw pymilvus queries, and the framework stores over the store "
                "(c), precomputed query vectors\n",
                "Sides: `ours` = `AsyncMilvusStore.search`; `raw` = pymilvus "
                "`AsyncMilvusClient.search` / `hybrid_search` (RRF) with the same parameters "
                "and output fields; `langchain` = `MilvusVectorStore.asimilarity_search`, "
                "`llama_index` = `MilvusVectorStore.aquery` (its similarities are relevances), "
                "both over the same core store with the query vectors looked up (no model). "
                "Every side reads each hit's id, score or distance and fields. Rounds "
                "interleaved: each round runs the queries in slices of 100 (at least 4 x the "
                "concurrency), every side in turn on each slice, the order rotating; QPS is the "
                "median round's, p50 over all rounds. `QPS langchain / ours` is the adapter's own cost on top of the core's, "
                "`QPS langchain / raw` the framework store against raw pymilvus."
                "\n",
                c.md_table(r["queries_raw"], ss.QUERY_COLUMNS) + "\n",
                "![speed](speed_layer.png)\n",
            ]
        return "\n".join(out)

    # ------------------------------------------------------------------ markdown
    def markdown(self) -> str:
        r, a = self.res, self.args
        out = [
            HEADING + "\n",
            f"`python benchmarks/speed.py --data DIR --parts {a.parts}`, one run started "
            f"{self.started}. Ratios are milvus-rag / baseline measured in the same run (for "
            "times: baseline time / our time), so > 1 means milvus-rag is faster. "
            f"{encoder_quality.cpu_note()}; **a machine shared with other jobs while measured**: "
            "every figure carries the 1-minute load average read when it was measured (the "
            "machine has 2 cores: a load of 8 means each process gets about a quarter of a "
            "core), so absolute numbers are inflated and the ratios are the comparable ones. "
            f"Encoder `auto` routes here: queries {self.routes['query']}, documents "
            f"{self.routes['document']}.\n",
            c.cuda_note() + "\n",
        ]
        if r["competitors"]:
            rows = comp.comparison_rows(r["competitors"], r["ours_blocks"])
            out += ["### Against langchain-milvus and llama-index-vector-stores-milvus (d)\n"]
            out += [
                f"Both sides ingest the first {a.e2e_docs or 'all'} SciFact documents (embedding "
                f"and writing timed), then run {a.e2e_queries or 'all 300'} judged queries "
                "(hybrid, k=10, query embedding included) at each concurrency on them.\n"
            ]
            out += [c.md_table(rows, comp.COLUMNS) + "\n", comp.NOTE]
            out += ["![competitors](speed_competitors.png)\n"]
        if r["ours_blocks"]:
            out += ["### milvus-rag's runs of (a) and (h), in order\n"]
            out += [c.md_table([_block_row(b) for b in r["ours_blocks"]]) + "\n"]
        if r["encoder"]:
            cols = ["what", "ours", "baseline", "baseline is", "ratio", "async - sync ms", "load"]
            out += ["### Encoder: a lone query (e)\n", c.md_table(r["encoder"], cols) + "\n"]
        if r["docs"]:
            out += [
                f"### Encoder: bulk documents (x), the first {a.doc_texts} SciFact documents, "
                f"batches of 32\n",
                c.md_table(r["docs"]) + "\n",
            ]
        cold = r["cold_start"]
        if cold:
            out += [
                "### `milvus-rag search` cold start (s)\n",
                f"Median of {len(cold['runs'])} fresh processes (the export cached): "
                f"**{cold['median s']:.2f} s** wall (runs: "
                + ", ".join(f"{w:.2f}" for w in cold["runs"])
                + f"; load {', '.join(f'{x:.1f}' for x in cold['load'])}); CPU of the process "
                f"and its children (the Milvus Lite server) {cold['median cpu s']:.2f} s median "
                f"(runs: {', '.join(f'{x:.2f}' for x in cold['cpu s'])}); torch imported: "
                f"{cold['torch imported']}. Profile: imports took {cold['imports s']:.2f} s "
                f"(`-X importtime`, top level, cumulative s: {', '.join(cold['slowest imports'])}); "
                "main thread's slowest calls (cProfile, cumulative s): "
                + "; ".join(f"`{x}`" for x in cold["slowest calls"])
                + ".\n",
            ]
        if r["quality"]:
            cols = [
                "backend",
                "precision",
                "routes",
                "dense nDCG@10",
                "dense nDCG@10 vs torch fp32",
            ]
            cols += ["hybrid nDCG@10", "hybrid nDCG@10 vs torch fp32"]
            cols += [f"within {encoder_quality.GATE}"]
            out += [
                "### SciFact nDCG@10 per backend and precision (q)\n",
                "Whole corpus and the 300 judged queries embedded by each encoder, Milvus Lite "
                "2.5, dense and hybrid RRF (store defaults).\n",
                c.md_table(r["quality"], cols) + "\n",
            ]
        if r["quality_missing"]:
            out += [
                "(q) not measured in this run for "
                + ", ".join(f"`{v}`" for v in r["quality_missing"])
                + ": their whole-corpus vectors were not cached, and embedding 5,183 documents "
                "on this loaded machine takes most of an hour (`--quality-all` embeds them).\n"
            ]
        return "\n".join(out)


def _block_row(b: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"block": b["block"]}
    if b.get("ingest"):
        row["ingest docs/s"] = b["ingest"]
        row["ingest load"] = "{:.1f} / {:.1f}".format(*b["ingest_load"])
    for conc, qps in b.get("qps", {}).items():
        row[f"QPS c={conc}"] = qps
        row[f"p50 ms c={conc}"] = b["p50_ms"][conc]
    if b.get("qps_load"):
        row["QPS load"] = ", ".join(f"{x:.1f}" for x in b["qps_load"].values())
    return row


async def ours_block(run: Run, name: str, uri: str, ds: Any, enc: Any) -> None:
    """One run of (a) then (h) on the collection (a) filled, as the competitors' driver does."""
    a = run.args
    ing, store = await ss.ingest_e2e(uri, ds, enc)
    block: dict[str, Any] = {"block": name, "ingest": ing["docs/s"], "ingest_load": ing["load"]}
    block["ingest_docs"] = ing["docs"]
    if "h" in a.parts:
        q = await ss.queries_e2e(store, ds, enc, a.concurrency, a.k)
        block.update(qps=q["qps"], p50_ms=q["p50_ms"], qps_load=q["load"])
    await store.drop()
    await store.aclose()
    run.res["ours_blocks"].append(block)
    run.save()


def subset(data: str, n_docs: int, n_queries: int, tmp: str) -> str:
    """A BEIR folder under ``tmp`` with the first ``n_docs`` documents and the first
    ``n_queries`` judged queries (0: all): what (a), (h) and (d) all ingest and search.
    Removed with ``tmp``."""
    src, dst = Path(data), Path(tmp) / f"scifact_{n_docs}_{n_queries}"
    dst.mkdir(parents=True, exist_ok=True)
    lines = [ln for ln in (src / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if ln]
    (dst / "corpus.jsonl").write_text("\n".join(lines[: n_docs or None]) + "\n", encoding="utf-8")
    shutil.copyfile(src / "queries.jsonl", dst / "queries.jsonl")
    head, *qrels = (src / "qrels.tsv").read_text(encoding="utf-8").splitlines()
    keep = list(dict.fromkeys(ln.split("\t")[0] for ln in qrels if ln))[: n_queries or None]
    kept = [ln for ln in qrels if ln and ln.split("\t")[0] in set(keep)]
    (dst / "qrels.tsv").write_text("\n".join([head, *kept]) + "\n", encoding="utf-8")
    return str(dst)


async def main_async(run: Run, tmp: str, enc: Any) -> None:
    a = run.args
    if set(a.parts) & set("ah"):
        # milvus-rag and the competitors ingest the same documents, then search them
        folder = subset(a.data, a.e2e_docs, a.e2e_queries, tmp)
        sub = argparse.Namespace(**{**vars(a), "data": folder})
        ds = c.load(sub.data)
        uri = str(Path(tmp) / "speed.db")
        libs = list(comp.COMPETITORS) if "d" in a.parts else []
        await ours_block(run, "ours 1", uri, ds, enc)
        for i, label in enumerate(libs):
            theirs = await asyncio.to_thread(comp.run_one, sub, tmp, label)
            run.res["competitors"].append(theirs)
            run.save()
            await ours_block(run, f"ours {i + 2}", uri, ds, enc)
        for i in range(len(libs) + 1, a.e2e_rounds):
            await ours_block(run, f"ours {i + 1}", uri, ds, enc)
    if set(a.parts) & set("bc"):
        ds = bc_dataset(c.load(a.data), a.rows, a.queries)
        uri = str(Path(tmp) / "speed_bc.db")
        docs, qvecs = bc_vectors(ds, enc, a.vectors)
    if "b" in a.parts:
        run.res["ingest_store"] = await ss.ingest_store(uri, ds, docs, a.rounds)
        run.save()
    if "c" in a.parts:
        for backend in a.backends:
            if backend == "lite":
                rows = await ss.queries(
                    uri, ds, docs, qvecs, a.concurrency, a.rounds, a.k, repeat=a.query_repeat
                )
            else:
                from tests.backends import LiteServer

                server = LiteServer(Path(tmp) / "lite3").start()
                try:
                    rows = await ss.queries(
                        server.uri,
                        ds,
                        docs,
                        qvecs,
                        a.concurrency,
                        a.rounds,
                        a.k,
                        backend="Milvus Lite 3 server",
                        repeat=a.query_repeat,
                    )
                finally:
                    server.stop()
            run.res["queries_raw"] += rows
            run.save()
        ss.plot_queries(run.res["queries_raw"], c.RESULTS / "speed_layer.png")
        run.save()


def bc_dataset(ds: Any, rows: int, queries: int) -> Any:
    """``ds`` with its first ``rows`` documents and ``queries`` queries (0: all)."""
    corpus = dict(list(ds.corpus.items())[: rows or None])
    return SimpleNamespace(corpus=corpus, queries=dict(list(ds.queries.items())[: queries or None]))


def bc_vectors(ds: Any, enc: Any, vectors: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Document vectors (corpus order) and query text -> vector for (b) and (c): the
    encoder's (cached), or seeded random unit vectors of dim 384."""
    texts = list(ds.queries.values())
    if vectors == "random":
        rng = np.random.default_rng(27)
        unit = rng.normal(size=(len(ds.corpus) + len(texts), 384)).astype(np.float32)
        unit /= np.linalg.norm(unit, axis=1, keepdims=True)
        return unit[: len(ds.corpus)], dict(zip(texts, unit[len(ds.corpus) :], strict=True))
    docs, _ = c.cached_vectors(enc, list(ds.corpus.values()), "docs")
    return docs, dict(zip(texts, enc.encode_queries(texts), strict=True))


def cached_variants(data: str, variants: list[str]) -> tuple[list[str], list[str]]:
    """The (q) variants whose corpus vectors are cached, and the others (not embedded here:
    on a loaded machine a whole-corpus embedding takes most of an hour)."""
    ds = c.load(data)
    texts = list(ds.corpus.values())
    have, missing = [], []
    for v in variants:
        backend, precision = v.split(":")
        enc = c.get_encoder(backend=backend, precision=precision, cache_size=0)
        (have if c.cache_path(enc, texts, "docs").exists() else missing).append(v)
    return have, missing


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(c.DEFAULT_DATA))
    p.add_argument("--parts", default="exahdsq", help="letters of e, x, a, h, d, b, c, s, q")
    p.add_argument("--rounds", type=int, default=3, help="rounds of (e), (b), (c)")
    p.add_argument(
        "--e2e-rounds", type=int, default=3, help="our runs of (a)/(h) (at least 1 + libraries)"
    )
    p.add_argument("--e2e-docs", type=int, default=1000, help="docs in (a) and (d); 0: all")
    p.add_argument(
        "--e2e-queries", type=int, default=0, help="judged queries in (h) and (d); 0: all"
    )
    p.add_argument("--doc-texts", type=int, default=128, help="documents of (x)")
    p.add_argument("--lone-queries", type=int, default=100, help="query texts of (e)")
    p.add_argument("--quality-all", action="store_true", help="(q): embed the variants not cached")
    p.add_argument("--doc-rounds", type=int, default=2, help="rounds of (x)")
    p.add_argument("--concurrency", nargs="+", type=int, default=[1, 16, 64])
    p.add_argument("--rows", type=int, default=0, help="(b), (c): first N documents; 0: all")
    p.add_argument("--queries", type=int, default=0, help="(c): first N queries; 0: all")
    p.add_argument(
        "--query-repeat", type=int, default=1, help="(c): each round runs the queries N times"
    )
    p.add_argument(
        "--vectors",
        choices=["encoder", "random"],
        default="encoder",
        help="(b), (c): MiniLM vectors (cached), or seeded random ones (no encoder loaded)",
    )
    p.add_argument(
        "--backends",
        nargs="+",
        choices=["lite", "server"],
        default=["lite", "server"],
        help="(c): the Lite 2.5 file and/or a Milvus Lite 3 server",
    )
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--competitor-timeout", type=int, default=1800)
    p.add_argument(
        "--quality-variants",
        nargs="+",
        default=["torch:fp32", "auto:auto"],
        help="(q): backend:precision (auto:auto is the default encoder)",
    )
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="mrag_speed_")
    if set(args.parts) <= set("bc") and args.vectors == "random":
        enc, routes = None, {"query": "not loaded", "document": "not loaded"}
    else:
        enc = c.get_encoder()
        enc.encode_documents(["warm up"])
        routes = enc.routes
    run = Run(args, routes)
    asyncio.run(main_async(run, tmp, enc))
    if run.res["competitors"]:
        rows = comp.comparison_rows(run.res["competitors"], run.res["ours_blocks"])
        comp.plot(rows, c.RESULTS / "speed_competitors.png")
    if "s" in args.parts:
        run.res["cold_start"] = se.cold_start(c.load(args.data), enc, tmp)
        run.save()
    if "e" in args.parts:
        run.res["encoder"] = asyncio.run(
            se.encoder_latency(c.load(args.data), enc, args.rounds, args.lone_queries)
        )
        run.save()
    if "x" in args.parts:
        run.res["docs"] = se.doc_throughput(c.load(args.data), args.doc_texts, args.doc_rounds)
        run.save()
    if "q" in args.parts:
        have, missing = cached_variants(args.data, args.quality_variants)
        if args.quality_all:
            have, missing = args.quality_variants, []
        qargs = argparse.Namespace(data=args.data, variants=have)
        run.res["quality"] = asyncio.run(encoder_quality.main_async(qargs)) if have else []
        for row in run.res["quality"]:
            row["load"] = f"{os.getloadavg()[0]:.1f}"
        run.res["quality_missing"] = missing
    run.save()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"done; load {os.getloadavg()}")


if __name__ == "__main__":
    sys.exit(main())
