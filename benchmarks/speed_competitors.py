"""(d) of ``speed.py``: langchain-milvus and llama-index-vector-stores-milvus, each run from its
own venv under ``.bench-venvs/`` (``benchmarks/competitors/setup.sh`` makes them) as a
subprocess (``benchmarks/competitors/driver.py``): end-to-end ingest of the first N SciFact
documents (their embedder: a plain ``SentenceTransformer``, fp32) and hybrid QPS with query
embedding at each concurrency. ``speed.py`` runs milvus-rag's side between them (ours, theirs,
ours, theirs, ours) and compares each library with the median of our runs of the same minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
from pathlib import Path
from typing import Any

import _common as c

COMPETITORS = {
    "langchain-milvus 0.4": "langchain",
    "llama-index-vector-stores-milvus 1.2": "llamaindex",
}
VENVS = c.ROOT / ".bench-venvs"
TARGETS = {"ingest": 1.5, 1: 1.2, 16: 1.5, 64: 1.5}  # on a CPU without AMX (issue #17)
NOTE = """
Each competitor runs in its own process (its own venv), between milvus-rag's runs: ours,
langchain-milvus, ours, llama-index, ours; milvus-rag's figure is the median of its runs (each
shown). Their embedder is a plain `SentenceTransformer` (torch, fp32), what their documentation
shows; ours is the default encoder (`backend="auto"`, routes above).
langchain-milvus 0.4 with default settings fails on Milvus Lite (`invalid index type:
AUTOINDEX, local mode only support SPARSE_INVERTED_INDEX SPARSE_WAND`); its rows use explicit
`index_params` (dense FLAT/COSINE, sparse SPARSE_INVERTED_INDEX). It also declares
`milvus-lite>=3.1`: milvus-lite 2.5.1 is installed over it so that all three run on the same
Milvus Lite 2.5 engine.
"""


def run_one(args: argparse.Namespace, tmp: str, label: str) -> dict[str, Any]:
    """One library's ingest and queries, in a subprocess; its JSON, or ``{"error": ...}``."""
    venv = COMPETITORS[label]
    py = VENVS / venv / "bin" / "python"
    if not py.exists():
        return {"library": label, "error": f"{py} missing: run benchmarks/competitors/setup.sh"}
    out = Path(tmp) / f"{venv}.json"
    out.unlink(missing_ok=True)
    cmd = [
        str(py),
        str(c.ROOT / "benchmarks" / "competitors" / "driver.py"),
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
        "--concurrency",
        *map(str, args.concurrency),
    ]
    print(f"  (d) {label} ...", flush=True)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH="")
    load = os.getloadavg()[0]
    try:
        p = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.competitor_timeout, env=env
        )
    except subprocess.TimeoutExpired:
        return {"library": label, "error": f"timed out after {args.competitor_timeout} s"}
    if not out.exists():
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return {"library": label, "error": " / ".join(tail) or f"exit {p.returncode}"}
    data: dict[str, Any] = json.loads(out.read_text())
    data["library"] = label
    data["load"] = (load, os.getloadavg()[0])
    print(f"  (d) {label}: ingest {data.get('ingest_docs_per_s', 0):.2f} docs/s", flush=True)
    return data


def _fmt_runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def comparison_rows(comp: list[dict[str, Any]], ours: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows (library, measure, theirs, ours, ratio) from the competitors' JSON and our blocks.

    ``ours``: one dict per block of milvus-rag's runs: ``ingest`` docs/s and ``qps`` by
    concurrency (hybrid, query embedding included)."""
    ing = [b["ingest"] for b in ours if b.get("ingest")]
    rows: list[dict[str, Any]] = []
    for row in comp:
        lib = row["library"]
        load = "{:.1f} / {:.1f}".format(*row["load"]) if "load" in row else ""
        if "error" in row:
            rows.append({"library": lib, "measure": "all", "note": row["error"][:300]})
            continue
        if row.get("ingest_docs_per_s") and ing:
            mine = statistics.median(ing)
            theirs = row["ingest_docs_per_s"]
            rows.append(
                {
                    "library": lib,
                    "measure": f"end-to-end ingest of {row.get('ingest_docs')} docs, docs/s",
                    "theirs": theirs,
                    "milvus-rag": mine,
                    "ratio": mine / theirs,
                    "target": TARGETS["ingest"],
                    "note": f"ours: {_fmt_runs(ing)}",
                    "load (theirs, start / end)": load,
                }
            )
        elif row.get("ingest_error"):
            rows.append({"library": lib, "measure": "ingest", "note": row["ingest_error"][:300]})
        for q in row.get("queries", []):
            conc = q["concurrency"]
            measure = f"hybrid QPS at concurrency {conc}, query embedding included"
            if "error" in q:
                rows.append({"library": lib, "measure": measure, "note": q["error"][:200]})
                continue
            mine_runs = [b["qps"][conc] for b in ours if conc in b.get("qps", {})]
            if not mine_runs:
                continue
            mine = statistics.median(mine_runs)
            rows.append(
                {
                    "library": lib,
                    "measure": measure,
                    "theirs": q["qps"],
                    "milvus-rag": mine,
                    "ratio": mine / q["qps"],
                    "target": TARGETS.get(conc),
                    "note": f"ours: {_fmt_runs(mine_runs)}; theirs p50 {q['p50_ms']:.0f} ms",
                    "load (theirs, start / end)": load,
                }
            )
    for r in rows:
        if r.get("ratio") is not None and r.get("target") is not None:
            r["met"] = "yes" if r["ratio"] >= r["target"] else "no"
    return rows


COLUMNS = [
    "library",
    "measure",
    "theirs",
    "milvus-rag",
    "ratio",
    "target",
    "met",
    "note",
    "load (theirs, start / end)",
]


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("ratio") is not None]
    if not ok:
        return
    libs = list(dict.fromkeys(r["library"] for r in ok))
    measures = list(dict.fromkeys(r["measure"] for r in ok))
    short = [
        m.split(",")[0].replace("hybrid QPS at ", "QPS ").replace("end-to-end ", "")
        for m in measures
    ]
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / max(1, len(libs))
    for i, lib in enumerate(libs):
        vals = [
            next((r["ratio"] for r in ok if r["library"] == lib and r["measure"] == m), 0.0)
            for m in measures
        ]
        xs = [j + i * width for j in range(len(measures))]
        ax.bar(xs, vals, width, label=lib)
    for j, m in enumerate(measures):
        target = next((r.get("target") for r in ok if r["measure"] == m), None)
        if target:
            ax.hlines(target, j - 0.1, j + 0.9 - 0.1, colors="k", linestyles="dashed")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(measures))], short)
    ax.set_ylabel("milvus-rag / theirs (same run)")
    ax.set_title("SciFact on Milvus Lite 2.5, shared 2-core AVX2 CPU (dashed: target)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"wrote {path.relative_to(c.ROOT)}")
