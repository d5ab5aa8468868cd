"""Ray Data ingestion (milvus_rag.ray) against the single-process pipeline, on the same data.

On SciFact documents (``--data``, first ``--docs``) with the real all-MiniLM-L6-v2, into a
Milvus Lite 3 server, in one run, rounds interleaved:

- single process: ``AsyncMilvusStore.upsert(records, embed=...)`` (embedding of batch k+1
  overlaps the write of batch k; torch on every core of the machine);
- Ray, 1 embedding actor (all cores) and 2 actors (half the cores each), through
  ``ingest_dataset`` (prepare -> actor pool -> MilvusDatasink write tasks). A job's time
  includes starting its actors and loading the model in each: a job of ``--tiny`` docs
  measures that fixed cost, and ``steady docs/s = (docs - tiny) / (t_docs - t_tiny)``;
- writes/s of the server path with precomputed vectors (``--write-rows`` rows: the corpus
  vectors tiled under new ids): the core store's upsert, and the Ray sink.

Results: ``benchmarks/results/ray_ingest.md`` and ``ray_ingest.png``; the N-worker projection
is computed from the measured numbers (see the section's text).

    python benchmarks/ray_ingest.py --data ../shared/data/scifact --docs 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # the script's folder is on sys.path

from milvus_rag import AsyncMilvusStore, MilvusStore, Record
from tests.backends import LiteServer

ROOT = c.ROOT


def records_of(data: str, n: int) -> list[Record]:
    ds = c.load(data)
    items = list(ds.corpus.items())[:n]
    return [Record(id=k, text=v, doc_id=k, metadata={"source": "scifact"}) for k, v in items]


async def single_process(uri: str, name: str, recs: list[Record], encoder: Any) -> float:
    """Seconds for the core store's pipelined embed + upsert of ``recs``."""
    store = AsyncMilvusStore(uri, collection_name=name, dim=encoder.dim)
    try:
        t = time.perf_counter()
        await store.upsert(recs, embed=encoder.aencode_documents)
        await store.flush()
        return time.perf_counter() - t
    finally:
        await store.aclose()


def ray_job(uri: str, name: str, recs: list[Record], actors: int, cores: int) -> float:
    """Seconds of one ingest_dataset job (actor start and model load included)."""
    import ray.data

    from milvus_rag.ray import EncoderSpec, ingest_dataset

    rows = [{"id": r.id, "text": r.text, "doc_id": r.doc_id, "metadata": r.metadata} for r in recs]
    result = ingest_dataset(
        ray.data.from_items(rows),
        uri,
        collection_name=name,
        encoder=EncoderSpec(batch_size=32),
        num_actors=actors,
        num_cpus=max(1, cores // actors),
        batch_size=128,
    )
    assert result.rows_written == len(recs), result
    return result.seconds


def tiled(vectors: dict[str, Record], n: int) -> list[Record]:
    base = list(vectors.values())
    out = []
    for i in range(n):
        r = base[i % len(base)]
        out.append(Record(id=f"{r.id}-{i}", text=r.text, vector=r.vector, doc_id=r.doc_id))
    return out


def write_rates(uri: str, prefix: str, recs: list[Record]) -> tuple[float, float]:
    """(core store upsert rows/s, Ray sink rows/s) with precomputed vectors."""
    import ray.data

    from milvus_rag.ray import MilvusDatasink

    store = MilvusStore(uri, collection_name=f"{prefix}_core", dim=len(recs[0].vector))
    t = time.perf_counter()
    store.upsert(recs)
    store.flush()
    core = len(recs) / (time.perf_counter() - t)
    store.close()
    rows = [
        {
            "id": r.id,
            "text": r.text,
            "doc_id": r.doc_id,
            "metadata": "{}",
            "vector": np.asarray(r.vector, dtype=np.float32),
        }
        for r in recs
    ]
    ds = ray.data.from_items(rows).materialize()  # the rows are ready: time the writes only
    sink = MilvusDatasink(uri, collection_name=f"{prefix}_sink")
    t = time.perf_counter()
    ds.write_datasink(sink, ray_remote_args={"num_cpus": 0.5})
    sink_rate = len(recs) / (time.perf_counter() - t)
    return core, sink_rate


def main(args: argparse.Namespace) -> None:
    import ray

    recs = records_of(args.data, args.docs)
    tiny = recs[: args.tiny]
    cores = os.cpu_count() or 1
    encoder = c.get_encoder()  # precision resolved for this CPU
    print(f"{len(recs)} docs, {cores} cores, encoder precision {encoder.precision}")
    times: dict[str, list[float]] = {}
    load = [os.getloadavg()[0]]
    # Ray's workers import this checkout's milvus_rag
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    with tempfile.TemporaryDirectory() as tmp:
        server = LiteServer(Path(tmp) / "srv").start()
        ray.init(
            address="local",
            num_cpus=cores + 1,  # the actors' cores + room for the write tasks
            include_dashboard=False,
            object_store_memory=300 * 1024 * 1024,
            log_to_driver=False,
        )
        ray.data.DataContext.get_current().enable_progress_bars = False
        try:
            for rnd in range(args.rounds):
                for actors in (1, 2):
                    for label, data in ((f"ray{actors}", recs), (f"ray{actors}_tiny", tiny)):
                        sec = ray_job(server.uri, f"{label}_r{rnd}", data, actors, cores)
                        times.setdefault(label, []).append(sec)
                        print(f"round {rnd} {label}: {len(data)} docs in {sec:.1f} s")
                sec = asyncio.run(single_process(server.uri, f"single_r{rnd}", recs, encoder))
                times.setdefault("single", []).append(sec)
                print(f"round {rnd} single: {len(recs)} docs in {sec:.1f} s")
            stored = MilvusStore(server.uri, collection_name="single_r0")
            with_vectors = {r.id: r for r in stored.get([r.id for r in recs], with_vectors=True)}
            stored.close()
            core_w, sink_w = write_rates(server.uri, "writes", tiled(with_vectors, args.write_rows))
            print(f"writes/s: core {core_w:.0f}, sink {sink_w:.0f}")
        finally:
            ray.shutdown()
            server.stop()
    load.append(os.getloadavg()[0])
    report(args, cores, times, core_w, sink_w, load)


def report(
    args: argparse.Namespace,
    cores: int,
    times: dict[str, list[float]],
    core_w: float,
    sink_w: float,
    load: list[float],
) -> None:
    med = {k: statistics.median(v) for k, v in times.items()}
    n, t = args.docs, args.tiny
    single = n / med["single"]
    rows: list[dict[str, Any]] = [
        {
            "pipeline": "single process (core store upsert, embed pipelined)",
            "docs/s": f"{single:.1f}",
            "vs single": "1.00x",
            "fixed cost s": "-",
            "steady docs/s": f"{single:.1f}",
        }
    ]
    steady: dict[int, float] = {}
    for actors in (1, 2):
        total, small = med[f"ray{actors}"], med[f"ray{actors}_tiny"]
        rate = n / total
        steady[actors] = (n - t) / max(total - small, 1e-9)
        rows.append(
            {
                "pipeline": f"Ray, {actors} embedding actor{'s' if actors > 1 else ''} "
                f"({max(1, cores // actors)} core{'s' if cores // actors > 1 else ''} each)",
                "docs/s": f"{rate:.1f}",
                "vs single": f"{rate / single:.2f}x",
                "fixed cost s": f"{small:.1f}",
                "steady docs/s": f"{steady[actors]:.1f}",
            }
        )
    per_core = steady[2] / min(2, cores)
    lines = [
        "# Ray Data ingestion (milvus_rag.ray)",
        "",
        f"SciFact, first {n} documents, all-MiniLM-L6-v2 on CPU, into a Milvus Lite 3 server "
        f"on the same machine; median of {args.rounds} interleaved round(s). Machine: "
        f"{cores} CPU cores (AMD EPYC Zen 3, no GPU), **shared with other jobs while measured** "
        f"(1-minute load average {load[0]:.0f} at the start, {load[-1]:.0f} at the end), so "
        "absolute rates are noisy; the ratios compare runs of the same minutes. A Ray job's "
        f"time includes starting its actors and loading the model; the {t}-doc job of the same "
        "configuration measures that fixed cost, and steady docs/s = "
        f"({n} - {t}) / (t_{n} - t_{t}).",
        "",
        c.md_table(rows),
        "",
        f"Writes of the server path with precomputed vectors ({args.write_rows} rows of dim 384): "
        f"core store upsert **{core_w:.0f} rows/s**, Ray sink (write tasks, 2,000 rows each) "
        f"**{sink_w:.0f} rows/s**.",
        "",
        "### Projection for N workers (on paper, from the numbers above)",
        "",
        "Ingest rate with N embedding workers is min(N x r, W): r the steady rate of one "
        "worker, W what the store takes. Here one CPU core embeds "
        f"r = {per_core:.1f} docs/s (steady rate with 2 one-core actors / 2), and this "
        f"single-process Milvus Lite 3 server takes W = {sink_w:.0f} rows/s through the sink, "
        f"so about {sink_w / per_core:.0f} such cores saturate it. A GPU worker's r was not "
        "measured here (no GPU on this machine): with a measured per-GPU rate r_gpu, "
        f"N = {sink_w:.0f} / r_gpu GPU workers saturate this server; past that, add write "
        "capacity (a Milvus cluster: more data nodes and shards) rather than GPUs. The write "
        "path scales with write tasks only while the server has CPU to spare: on this 2-core "
        "machine the server shares the cores with the embedding.",
    ]
    text = "\n".join(lines)
    c.write_section(c.RESULTS / "ray_ingest.md", text)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    labels = ["single process", "Ray, 1 actor", "Ray, 2 actors"]
    total = [single, n / med["ray1"], n / med["ray2"]]
    stead = [single, steady[1], steady[2]]
    x = np.arange(3)
    ax.bar(x - 0.2, total, 0.4, label="end to end", color="#4477aa")
    ax.bar(x + 0.2, stead, 0.4, label="steady (fixed cost removed)", color="#66ccee")
    ax.set_xticks(x, labels)
    ax.set_ylabel("docs/s (MiniLM, CPU)")
    ax.set_title(f"SciFact {n} docs into Milvus Lite 3 (shared {cores}-core machine)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(c.RESULTS / "ray_ingest.png", dpi=120)
    print(text)
    c.publish("ray_ingest.md")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(c.DEFAULT_DATA), help="a BEIR SciFact folder")
    p.add_argument("--docs", type=int, default=1000)
    p.add_argument("--tiny", type=int, default=32)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--write-rows", type=int, default=20000)
    main(p.parse_args())
