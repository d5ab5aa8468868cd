"""Shared helpers of the SciFact benchmarks: dataset, cached MiniLM embeddings, timing, output.

Embeddings are computed once per corpus and model and cached as ``.npy`` files under
``benchmarks/results/cache/`` (git-ignored: the data's licence forbids shipping derived files
with the repository).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from milvus_rag.evaluation import BeirDataset, fanout_variants, load_beir

RESULTS = ROOT / "benchmarks" / "results"
CACHE = RESULTS / "cache"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "scifact"
MODEL = "all-MiniLM-L6-v2"


def load(data: str | Path) -> BeirDataset:
    return load_beir(data)


def _digest(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def get_encoder(**options: Any) -> Any:
    """The library's encoder of all-MiniLM-L6-v2, loaded (so ``precision`` is resolved)."""
    from milvus_rag.embeddings.encoder import SentenceTransformerEncoder

    enc = SentenceTransformerEncoder(**options)
    enc.load()
    return enc


def encoder_tag(encoder: Any) -> str:
    """What the vectors depend on: each job's runtime and precision (or the precision)."""
    routes = getattr(encoder, "routes", None)
    if routes:
        tag = "q-{}_d-{}".format(*(r.replace(" ", "-") for r in routes.values()))
        if "int8" in tag:  # the weight scheme depends on the CPU (see _onnx_export)
            from milvus_rag.embeddings._onnx_export import int8_scheme

            tag += f"-{int8_scheme()}"
        return tag
    return str(getattr(encoder, "precision", "fp32"))


def cache_path(encoder: Any, texts: Sequence[str], kind: str, *, tag: str | None = None) -> Path:
    """Where :func:`cached_vectors` keeps the vectors of ``texts`` by ``encoder``."""
    tag = tag or encoder_tag(encoder)  # vectors differ (slightly) by backend and precision
    return CACHE / f"{MODEL}-{tag}-{kind}-{len(texts)}-{_digest(texts)}.npy"


def cached_vectors(
    encoder: Any, texts: Sequence[str], kind: str, *, log: bool = True, tag: str | None = None
) -> tuple[np.ndarray, float | None]:
    """``(vectors, seconds)``; seconds is None when the vectors came from the cache."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = cache_path(encoder, texts, kind, tag=tag)
    if path.exists():
        return np.load(path), None
    t = time.perf_counter()
    if kind == "docs":
        arr = np.asarray(encoder.encode_documents(list(texts)), dtype=np.float32)
    else:
        arr = np.asarray(encoder.encode_queries(list(texts)), dtype=np.float32)
    sec = time.perf_counter() - t
    if log:
        print(f"embedded {len(texts)} {kind} in {sec:.1f} s ({len(texts) / sec:.0f}/s)")
    np.save(path, arr)
    return arr, sec


def dataset_vectors(
    ds: BeirDataset, encoder: Any
) -> tuple[np.ndarray, dict[str, np.ndarray], float | None]:
    """Corpus vectors (corpus order) and query-text -> vector (queries + fan-out variants)."""
    docs, sec = cached_vectors(encoder, list(ds.corpus.values()), "docs")
    texts = sorted({v for t in ds.queries.values() for v in fanout_variants(t)})
    qv, _ = cached_vectors(encoder, texts, "queries")
    return docs, dict(zip(texts, qv, strict=True)), sec


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    i = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[i]


async def run_concurrent(
    fns: Sequence[Callable[[], Awaitable[Any]]], concurrency: int
) -> tuple[float, list[float]]:
    """Wall seconds and per-call latencies of ``fns`` run with at most ``concurrency`` open."""
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []

    async def one(fn: Callable[[], Awaitable[Any]]) -> None:
        async with sem:
            t = time.perf_counter()
            await fn()
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(f) for f in fns))
    return time.perf_counter() - t0, lat


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def md_table(rows: Sequence[dict[str, Any]], cols: Sequence[str] | None = None) -> str:
    from milvus_rag.evaluation import format_table

    return format_table(rows, cols)


def cuda_note() -> str:
    """One line saying whether a CUDA GPU row is measured."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"GPU: {torch.cuda.get_device_name(0)}"
    except Exception:  # pragma: no cover - torch missing
        pass
    return "GPU row omitted: no CUDA device on this machine (torch.cuda.is_available() is False)."


def has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # pragma: no cover
        return False


def write_section(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)}")


INTRO = """# Benchmarks

Generated from `benchmarks/results/*.md` by the benchmark scripts (`make bench`: quality,
speed, core speed; `make bench-scale`: scaling to 1M rows). Every ratio compares runs made in
the same process and the same minutes on the same machine; absolute numbers depend on the
machine (the runs below: a 2-core CPU VM shared with other jobs, no GPU). The SciFact data
(CC BY-NC) is not in the repository: pass its folder with `--data`. Corpus embeddings are
cached in `benchmarks/results/cache/` (git-ignored).
"""


def publish(name: str) -> None:
    """Put ``benchmarks/results/<name>`` in BENCHMARKS.md in place of the section with its
    heading (its first line; ``# X`` becomes ``## X``); the other sections stay as they are."""
    text = (RESULTS / name).read_text(encoding="utf-8").strip()
    if text.startswith("# "):
        text = "#" + text
    heading = text.splitlines()[0]
    if not heading.startswith("## "):
        raise ValueError(f"{name} must start with a heading, got {heading[:60]!r}")
    replace_benchmarks_section(heading, text)
    print("wrote BENCHMARKS.md")


def replace_benchmarks_section(heading: str, text: str) -> None:
    """Put ``text`` in BENCHMARKS.md in place of the section that starts with ``heading``
    (up to the next heading of the same or a higher level), or at the end when there is none;
    every other section stays as it is."""
    path = ROOT / "BENCHMARKS.md"
    doc = path.read_text(encoding="utf-8") if path.exists() else INTRO
    level = len(heading) - len(heading.lstrip("#"))
    body = re.sub(r"\]\((?:results/)?([\w.-]+\.png)\)", r"](benchmarks/results/\1)", text.strip())
    lines = doc.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.startswith(heading)), None)
    if start is None:
        path.write_text(doc.rstrip() + "\n\n" + body + "\n", encoding="utf-8")
        return
    end = len(lines)
    for i in range(start + 1, len(lines)):
        m = re.match(r"(#+) ", lines[i])
        if m and len(m.group(1)) <= level:
            end = i
            break
    new = "".join(lines[:start]) + body + "\n\n" + "".join(lines[end:])
    path.write_text(new.rstrip() + "\n", encoding="utf-8")
    print("wrote BENCHMARKS.md (section replaced)")
