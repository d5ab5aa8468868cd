"""Encoder backends with the real all-MiniLM-L6-v2: vectors against torch fp32, the export
cache's rebuild, and a cached query path that never imports torch.

The first run exports the bundled weights into the export cache (``$MILVUS_RAG_CACHE_DIR`` or
``~/.cache/milvus-rag``; a minute or two); later runs reuse it. These tests fail, not skip,
when ONNX Runtime, tokenizers, OpenVINO or the model package is missing.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from milvus_rag.embeddings import SentenceTransformerEncoder, _export_cache

pytestmark = pytest.mark.slow

TEXTS = [
    "",
    "a",
    "What is the capital of France?",
    "Milvus stores vectors and searches them by similarity.",
    "Preheat the oven, knead the dough and bake the loaf of bread for forty minutes.",
    "The Milky Way is a barred spiral galaxy containing hundreds of billions of stars.",
    "  leading and trailing spaces  ",
    "Numbers: 3.14159, 2.71828 and 1.41421.",
    "Ünïcödé text, émojis 🙂 and CJK 中文.",
    "A long text that the tokenizer must truncate at 256 tokens. " * 40,
] + [
    f"Short sentence number {i} about {t}." for i, t in enumerate(["cats", "tea", "chess", "jazz"])
]

# backend, precision, (min, mean) cosine of document vectors to torch fp32
BOUNDS = [
    ("onnx", "fp32", (0.9999, 0.99999)),
    ("openvino", "fp32", (0.9999, 0.99999)),
    # lossy: documents only; queries stay fp32 (exact). Measured mean 0.990 with 7-bit weights
    # (AVX2) on these texts; a saturating scheme (8-bit, AVX2) gave 0.934 on SciFact abstracts
    ("onnx", "int8", (0.97, 0.985)),
]


@functools.cache
def torch_fp32() -> SentenceTransformerEncoder:
    enc = SentenceTransformerEncoder(backend="torch", precision="fp32", cache_size=0)
    enc.load()
    return enc


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))


@pytest.mark.parametrize(("backend", "precision", "bounds"), BOUNDS)
def test_vectors_against_torch_fp32(
    backend: str, precision: str, bounds: tuple[float, float]
) -> None:
    ref = torch_fp32()
    enc = SentenceTransformerEncoder(backend=backend, precision=precision, cache_size=0)
    assert enc.routes == {"query": f"{backend} fp32", "document": f"{backend} {precision}"}
    docs = enc.encode_documents(TEXTS)
    assert docs.dtype == np.float32 and docs.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    c = cosines(docs, ref.encode_documents(TEXTS))
    assert c.min() >= bounds[0] and c.mean() >= bounds[1], c
    queries = enc.encode_queries(TEXTS)
    assert cosines(queries, ref.encode_queries(TEXTS)).min() >= 0.9999  # exact on every route
    # async, micro-batched and chunked paths give the same vectors
    assert np.allclose(asyncio.run(enc.aencode_documents(TEXTS)), docs, atol=1e-6)
    assert enc.precision == precision
    assert "torch" in sys.modules  # (the reference imported it: the subprocess test checks)


def test_truncated_export_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut the cached int8 export short: the next encoder rebuilds it and gives the same vectors.

    The float32 exports are copied from the real cache (re-exporting costs minutes); the int8
    one is quantized from it in the temporary cache, truncated, then rebuilt."""
    warm = SentenceTransformerEncoder(backend="onnx")
    warm.encode_query("warm the real cache")
    fp32_folders = [
        p
        for p in _export_cache.cache_root().iterdir()
        if p.name.endswith(("-onnx-fp32", "-onnx-fp32-ort"))  # the plain and the fused export
    ]
    assert fp32_folders, "no float32 export in the cache"
    root = tmp_path / "cache"
    root.mkdir()
    for folder in fp32_folders:
        shutil.copytree(folder, root / folder.name)
    monkeypatch.setenv(_export_cache.CACHE_ENV, str(root))
    first = SentenceTransformerEncoder(backend="onnx", precision="int8").encode_documents(TEXTS)
    (folder8,) = [p for p in root.iterdir() if "-onnx-int8-" in p.name]
    model = folder8 / "model.onnx"
    size = model.stat().st_size
    with model.open("r+b") as f:
        f.truncate(size // 3)
    assert _export_cache.verify(folder8) is None
    again = SentenceTransformerEncoder(backend="onnx", precision="int8").encode_documents(TEXTS)
    assert model.stat().st_size == size and _export_cache.verify(folder8) is not None
    np.testing.assert_allclose(again, first, atol=1e-6)
    assert sorted(p.name for p in root.iterdir()) == sorted(
        [folder8.name] + [f.name for f in fp32_folders]
    )


CHILD = """
import json, sys
from milvus_rag.cli import commands as cli
code = cli.main(sys.argv[1:])
heavy = [m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules]
# what the one-off search skips (milvus_rag._fast_start): scipy, and the real pkg_resources
heavy += [m for m in ("scipy.sparse", "openvino") if m in sys.modules]
if type(sys.modules.get("pkg_resources")).__name__ == "module":
    heavy.append("pkg_resources")
print(json.dumps({"code": code, "heavy": heavy}))
"""


def test_cached_query_path_never_imports_torch(tmp_path: Path) -> None:
    """``milvus-rag search`` in a fresh process: with the export cached, torch stays out (and
    the document route's runtime, scipy and the real pkg_resources)."""
    from milvus_rag import AsyncMilvusStore, Record

    enc = SentenceTransformerEncoder()  # auto: the export is cached by now (or made here)
    assert enc.routes["query"] == "onnx fp32"
    docs = ["Cats purr when they are content.", "Volcanoes erupt molten rock."]
    uri = str(tmp_path / "q.db")

    async def fill() -> None:
        store = AsyncMilvusStore(uri, collection_name="docs", dim=enc.dim)
        vecs = await enc.aencode_documents(docs)
        await store.upsert(
            [Record(id=str(i), text=t, vector=v) for i, (t, v) in enumerate(zip(docs, vecs))]
        )
        await store.aclose()

    asyncio.run(fill())
    env = {k: v for k, v in os.environ.items() if k != "MILVUS_RAG_BACKEND"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    args = [
        "search",
        "why do cats purr",
        "--uri",
        uri,
        "--collection",
        "docs",
        "--json",
        "--k",
        "1",
    ]
    p = subprocess.run(
        [sys.executable, "-c", CHILD, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    result = json.loads(lines[-1])
    assert result == {"code": 0, "heavy": []}, p.stderr
    hits = json.loads("\n".join(lines[:-1]))
    assert hits[0]["id"] == "0"


def test_fused_graph_is_checked_and_falls_back_to_the_plain_export(tmp_path: Path) -> None:
    """ONNX Runtime's float32 file is the fused graph (checked against the plain export);
    where the fusions cannot be set up, it is the plain export, byte for byte."""
    from milvus_rag.embeddings import _onnx_export

    SentenceTransformerEncoder(backend="onnx").encode_query("warm the real cache")
    root = _export_cache.cache_root()
    (plain,) = [p / "model.onnx" for p in root.iterdir() if p.name.endswith("-onnx-fp32")][:1]
    (fused_dir,) = [p for p in root.iterdir() if p.name.endswith("-onnx-fp32-ort")][:1]
    manifest = _export_cache.verify(fused_dir)
    assert manifest is not None and "SkipLayerNormalization" in manifest["graph"], manifest
    assert manifest["check_cosine"] >= 0.99999
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "bert"}')  # no head count
    out = tmp_path / "out"
    out.mkdir()
    info = _onnx_export.fuse_for_ort(model, plain, out)
    assert info["graph"].startswith("as exported")
    assert (out / "model.onnx").read_bytes() == plain.read_bytes()
