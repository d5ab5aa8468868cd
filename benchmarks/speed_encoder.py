"""Encoder parts of ``speed.py``: no store involved, except the cold start's.

(e) a lone query's embedding p50: ours (sync and async, cache off) against plain
    ``SentenceTransformer.encode`` (fp32, what the competitors run), interleaved; the floor of
    the async path (a no-op's round trip through the encoder's worker thread) as its profile;
    64 concurrent async queries with micro-batching on against off;
(x) bulk documents: docs/s of ``encode_documents`` on each exported runtime (float32)
    against ``SentenceTransformer.encode`` (torch fp32), the same texts, interleaved;
(s) ``milvus-rag search`` cold start: a fresh process, the export cached, median of 5, its
    CPU seconds (process and children), whether it imported torch, and the profile: the
    slowest imports (``-X importtime``) and the main thread's slowest calls (cProfile).
"""

from __future__ import annotations

import asyncio
import os
import pstats
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import _common as c

from milvus_rag import AsyncMilvusStore, Record


def _st_model() -> Any:
    from sentence_transformers import SentenceTransformer

    from milvus_rag.embeddings.encoder import resolve_model_path

    return SentenceTransformer(resolve_model_path(c.MODEL), device="cpu")


async def encoder_latency(
    ds: Any, enc: Any, rounds: int, n_queries: int = 100
) -> list[dict[str, Any]]:
    """(e): lone-query p50s and the micro-batching burst, every side in every round."""
    from milvus_rag.embeddings import SentenceTransformerEncoder

    st = _st_model()
    texts = list(ds.queries.values())[:n_queries]
    backend = str(enc.routes["query"].split()[0])
    ours = SentenceTransformerEncoder(backend=backend, cache_size=0)
    off = SentenceTransformerEncoder(backend=backend, cache_size=0, micro_batching=False)
    ours.encode_query("warm up")
    off.encode_query("warm up")
    st.encode(["warm up"], normalize_embeddings=True)
    await ours.aencode_query("warm up")
    lat: dict[str, list[float]] = {"st": [], "sync": [], "async": [], "hop": []}
    burst: dict[str, list[float]] = {"on": [], "off": []}
    loads = [os.getloadavg()[0]]
    for r in range(rounds):
        order = ["st", "sync", "async", "hop"]
        for who in order[r % 4 :] + order[: r % 4]:
            for q in texts:
                t = time.perf_counter()
                if who == "st":
                    st.encode([q], normalize_embeddings=True)
                elif who == "sync":
                    ours.encode_query(q)
                elif who == "async":
                    await ours.aencode_query(q)
                else:  # the thread hop alone: what async adds at the least
                    await ours._run_in_worker(len, q)
                lat[who].append(time.perf_counter() - t)
        for who in ("on", "off") if r % 2 == 0 else ("off", "on"):
            e = ours if who == "on" else off
            qs = [f"{q} ({who} {r} {i})" for i, q in enumerate((texts * 64)[:64])]
            t = time.perf_counter()
            await asyncio.gather(*(e.aencode_query(q) for q in qs))
            burst[who].append(time.perf_counter() - t)
        loads.append(os.getloadavg()[0])
        print(
            f"  (e) round {r}: "
            + ", ".join(f"{k} {1000 * c.pct(v, 50):.2f} ms" for k, v in lat.items())
            + f" (load {loads[-1]:.1f})",
            flush=True,
        )
    p50 = {k: 1000 * c.pct(v, 50) for k, v in lat.items()}
    on, off_s = statistics.median(burst["on"]), statistics.median(burst["off"])
    load = f"{min(loads):.1f}-{max(loads):.1f}"
    return [
        {
            "what": "lone query embedding p50, sync (ms)",
            "ours": p50["sync"],
            "baseline": p50["st"],
            "baseline is": "SentenceTransformer.encode([q]) fp32",
            "ratio": p50["st"] / p50["sync"],
            "load": load,
        },
        {
            "what": "lone query embedding p50, async (ms)",
            "ours": p50["async"],
            "baseline": p50["sync"],
            "baseline is": "ours, sync (target: at most 1 ms more)",
            "ratio": p50["sync"] / p50["async"],
            "async - sync ms": p50["async"] - p50["sync"],
            "load": load,
        },
        {
            "what": "worker-thread round trip of a no-op p50 (ms): the async floor",
            "ours": p50["hop"],
            "baseline is": "(profile of the async - sync difference)",
            "load": load,
        },
        {
            "what": "64 concurrent async queries, wall (ms)",
            "ours": 1000 * on,
            "baseline": 1000 * off_s,
            "baseline is": "micro-batching off",
            "ratio": off_s / on,
            "load": load,
        },
    ]


def doc_throughput(ds: Any, n_docs: int, rounds: int, batch_size: int = 32) -> list[dict[str, Any]]:
    """(x): docs/s of each runtime's document encoding (float32, and int8) vs
    SentenceTransformer.encode."""
    from milvus_rag.embeddings import SentenceTransformerEncoder

    texts = list(ds.corpus.values())[:n_docs]
    st = _st_model()
    sides: dict[str, Any] = {
        "torch fp32 (SentenceTransformer.encode)": lambda: st.encode(
            texts, batch_size=batch_size, normalize_embeddings=True
        )
    }
    from milvus_rag.embeddings._onnx_export import int8_scheme

    for runtime, precision in (("onnx", "fp32"), ("openvino", "fp32"), ("onnx", "int8")):
        enc = SentenceTransformerEncoder(
            backend=runtime, precision=precision, batch_size=batch_size, cache_size=0
        )
        enc.encode_documents(["warm up"])
        label = f"{runtime} {precision}" + (f" {int8_scheme()}" if precision == "int8" else "")
        sides[f"{label} (encode_documents)"] = lambda e=enc: e.encode_documents(texts)
    st.encode(["warm up"])
    times: dict[str, list[float]] = {k: [] for k in sides}
    loads = [os.getloadavg()[0]]
    names = list(sides)
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t = time.perf_counter()
            sides[name]()
            times[name].append(time.perf_counter() - t)
        loads.append(os.getloadavg()[0])
        print(
            f"  (x) round {r}: "
            + ", ".join(f"{k.split()[0]} {n_docs / v[-1]:.2f}" for k, v in times.items())
            + f" docs/s (load {loads[-1]:.1f})",
            flush=True,
        )
    base = statistics.median(times[names[0]])
    return [
        {
            "encoder": name,
            "docs/s": n_docs / statistics.median(v),
            "vs torch fp32": base / statistics.median(v),
            "runs docs/s": ", ".join(f"{n_docs / x:.2f}" for x in v),
            "load": f"{min(loads):.1f}-{max(loads):.1f}",
        }
        for name, v in times.items()
    ]


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def cold_start(ds: Any, enc: Any, tmp: str, runs: int = 5) -> dict[str, Any]:
    """(s): ``milvus-rag search`` in a fresh process (the export cached), median of ``runs``."""
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
    args = ["search", "cats", "--uri", uri, "--collection", "cold", "--k", "3"]
    cmd = [sys.executable, "-m", "milvus_rag.cli", *args]
    walls, cpus, loads = [], [], []
    for _ in range(runs):
        loads.append(os.getloadavg()[0])
        cpu0 = _children_cpu()
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        walls.append(time.perf_counter() - t)
        cpus.append(_children_cpu() - cpu0)
    probe = (
        "import runpy, sys; sys.argv = sys.argv[1:]\n"
        "try:\n    runpy.run_module('milvus_rag.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('TORCH', 'torch' in sys.modules)"
    )
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe, "milvus-rag", *args],
        capture_output=True,
        text=True,
        env=env,
    )
    imports = []
    for line in p.stderr.splitlines():
        parts = line.split("|")
        if line.startswith("import time:") and len(parts) == 3 and parts[1].strip().isdigit():
            imports.append((int(parts[1]), parts[2].rstrip()[1:]))  # (cumulative us, name)
    top_level = [(us, n) for us, n in imports if not n.startswith(" ")]
    total = sum(us for us, _ in top_level) / 1e6
    prof_file = Path(tmp) / "cold.prof"
    subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(prof_file), "-m", "milvus_rag.cli", *args],
        check=True,
        capture_output=True,
        env=env,
    )
    stats = pstats.Stats(str(prof_file))
    calls = []
    for (file, line, fn), (_, _, _, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        calls.append((cum, f"{Path(file).name}:{line}({fn})"))
    calls.sort(reverse=True)
    print(f"  (s) cold start {[round(w, 2) for w in walls]} s, cpu {[round(x, 2) for x in cpus]}")
    return {
        "median s": statistics.median(walls),
        "runs": walls,
        "cpu s": cpus,
        "median cpu s": statistics.median(cpus),
        "load": loads,
        "torch imported": "TORCH True" in p.stdout,
        "imports s": total,
        "slowest imports": [f"{n} {us / 1e6:.2f}" for us, n in sorted(top_level, reverse=True)[:8]],
        "slowest calls": [
            f"{name} {cum:.2f}"
            for cum, name in calls
            if "<frozen" not in name and "{built-in" not in name
        ][:14],
    }
