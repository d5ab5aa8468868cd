"""What a user gets from each install combination: the embedded engine and its speed.

Each combination is a virtual environment (``NAME=PYTHON``), e.g. milvus-rag alone,
``milvus-rag[lite25]``, milvus-rag beside langchain-milvus 0.4 (milvus-lite 3, pymilvus 3) or
beside llama-index-vector-stores-milvus 1.2 (pymilvus 2.6). In each, a fresh interpreter runs the
same probe with this worktree's milvus-rag on ``PYTHONPATH``: open an embedded ``.db`` file, upsert
``--rows`` rows (random 384-d vectors, short texts, BM25 on) in one call, then ``--queries`` dense
and hybrid (RRF) searches one at a time. Rounds alternate the environments; the median of the
rounds is reported. Results: ``benchmarks/results/install_combos.md`` and ``.png``.

    python benchmarks/install_combos.py --venv lite25=/work/main/.venv/bin/python \\
        --venv langchain=/tmp/lc/bin/python --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def probe(rows: int, queries: int) -> dict[str, Any]:
    """Run in the environment under test: one upsert of ``rows`` rows, then searches."""
    from importlib import metadata

    import numpy as np

    from milvus_rag import MilvusStore, Record

    rng = np.random.default_rng(0)
    words = [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "lambda",
        "mu",
    ]
    vectors = rng.standard_normal((rows, 384)).astype(np.float32)
    records = [
        Record(
            id=f"r{i}",
            text=" ".join(rng.choice(words, 12)),
            vector=vectors[i],
            metadata={"n": i, "even": i % 2 == 0},
        )
        for i in range(rows)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        store = MilvusStore(uri=os.path.join(tmp, "probe.db"), collection_name="probe", dim=384)
        try:
            t0 = time.perf_counter()
            store.ensure_collection()
            open_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            store.upsert(records)
            upsert_s = time.perf_counter() - t0
            found = store.count()
            lat: dict[str, list[float]] = {"dense": [], "hybrid": []}
            for q in range(queries):
                for mode in lat:
                    t0 = time.perf_counter()
                    hits = store.search(
                        " ".join(rng.choice(words, 3)), vector=vectors[q % rows], k=10, mode=mode
                    )
                    lat[mode].append(time.perf_counter() - t0)
                    assert hits, mode
            dialect = store.dialect.name
        finally:
            store.drop()
            store.close()
    return {
        "milvus_lite": metadata.version("milvus-lite"),
        "pymilvus": metadata.version("pymilvus"),
        "dialect": dialect,
        "count": found,
        "open_s": open_s,
        "upsert_s": upsert_s,
        "dense_p50_ms": 1000 * statistics.median(lat["dense"]),
        "hybrid_p50_ms": 1000 * statistics.median(lat["hybrid"]),
    }


def run_probe(python: str, rows: int, queries: int) -> dict[str, Any]:
    code = (
        "import json, sys; sys.path.insert(0, 'benchmarks');"
        f"from install_combos import probe; print(json.dumps(probe({rows}, {queries})))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [python, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    if out.returncode:
        raise RuntimeError(f"{python}: {out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--venv", action="append", required=True, help="NAME=PYTHON (repeatable)")
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=RESULTS / "install_combos")
    args = ap.parse_args()
    venvs = dict(v.split("=", 1) for v in args.venv)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in venvs}
    for rnd in range(args.rounds):
        for name, python in venvs.items():  # interleaved: every round visits every venv
            r = run_probe(python, args.rows, args.queries)
            runs[name].append(r)
            print(f"round {rnd + 1} {name}: {json.dumps(r)}", flush=True)
    keys = ("open_s", "upsert_s", "dense_p50_ms", "hybrid_p50_ms")
    table = [
        "| install | milvus-lite | pymilvus | filter dialect | open s | "
        f"{args.rows:,}-row upsert s | dense p50 ms | hybrid p50 ms |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    medians: dict[str, dict[str, float]] = {}
    for name, rs in runs.items():
        m = {k: statistics.median(r[k] for r in rs) for k in keys}
        medians[name] = m
        first = rs[0]
        table.append(
            f"| {name} | {first['milvus_lite']} | {first['pymilvus']} | {first['dialect']} | "
            f"{m['open_s']:.2f} | {m['upsert_s']:.2f} | {m['dense_p50_ms']:.1f} | "
            f"{m['hybrid_p50_ms']:.1f} |"
        )
    note = (
        f"\nMedian of {args.rounds} interleaved rounds; {args.rows:,} rows of 384-d random "
        f"vectors, {args.queries} queries per mode, k=10, one at a time. Shared 2-core AMD EPYC "
        "machine (other jobs running): compare rows of one run, not across runs.\n"
    )
    text = "\n".join(table) + "\n" + note
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".md").write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(runs, indent=1))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no PNG", file=sys.stderr)
        return
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    names = list(medians)
    for ax, key, title in zip(
        axes,
        ("upsert_s", "dense_p50_ms", "hybrid_p50_ms"),
        (f"{args.rows:,}-row upsert (s)", "dense search p50 (ms)", "hybrid search p50 (ms)"),
    ):
        ax.bar(names, [medians[n][key] for n in names])
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(args.out.with_suffix(".png"), dpi=110)


if __name__ == "__main__":
    main()
