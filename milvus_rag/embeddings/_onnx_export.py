"""Export a local sentence-transformers model to ONNX (float32, or int8 for documents), cached.

:func:`load_exported` returns an :class:`~._exported_model.ExportedModel` from the on-disk
cache (``_export_cache``), exporting first when the cache has no intact copy. Only the export
imports torch and transformers (``torch.onnx.export`` (dynamo) of the model's transformer, from the
weights in the model folder: nothing is downloaded); a process that finds the export cached
never imports them. Every export is checked against torch before it is cached: the float32
one must give the same embeddings (cosine >= 0.99999) on texts of several lengths.

int8 is ONNX Runtime's dynamic quantization of the weights, per channel, signed: ONNX
Runtime's fast int8 kernels multiply unsigned activations by signed weights. Without VNNI
(AVX2) they sum pairs of products in 16 bits, which saturate with full 8-bit weights, so
there the weights are quantized to 7 bits (``reduce_range``; scheme ``s8r7``, else ``s8``).
Measured on an AVX2 CPU (AMD EPYC, 2 cores), 96 SciFact abstracts against float32: unsigned
per-channel weights (ONNX Runtime's slower u8 x u8 kernel) mean cosine 0.9945 and no
speed-up; ``s8r7`` 0.9931 and 1.46x; per-tensor signed 8-bit 0.934 (saturated).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from milvus_rag._quiet import quiet_model_loading
from milvus_rag.embeddings import _export_cache
from milvus_rag.embeddings._backends import cpu_has_vnni
from milvus_rag.embeddings._exported_model import ExportedModel, l2_normalize, read_layout

__all__ = ["load_exported"]

log = logging.getLogger("milvus_rag.embeddings")
ONNX_FILE = "model.onnx"
OPSET = 18
_PROBES = (
    "a",
    "What is the capital of France?",
    "Mean pooling averages the token vectors of a sentence, weighted by its attention mask, "
    "and the result is normalised to unit length so that cosine equals the inner product.",
)
_EXPORT_HINT = (
    'exporting the model needs torch, transformers and onnx: pip install "milvus-rag[onnx]" '
    '(the export runs once; the cached export needs none of them), or use backend="torch"'
)


def _torch_reference(model: Any, tokenizer: Any, texts: list[str]) -> np.ndarray:
    import torch

    enc = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        return model(**enc).last_hidden_state.float().numpy()  # type: ignore[no-any-return]


@contextlib.contextmanager
def quiet_torch_onnx() -> Iterator[None]:
    """The exporter's chatter off the terminal: its Python warnings (tracing notes,
    deprecations) and its loggers below ERROR ("torchvision is not installed", ...). The
    export is checked against torch afterwards, so nothing it says is needed."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


def export_fp32(model_dir: Path, folder: Path) -> dict[str, Any]:
    """Write ``folder/model.onnx``: the model's transformer, token vectors out."""
    try:
        import torch
        from transformers import AutoModel, AutoTokenizer
    except ImportError as exc:
        raise ImportError(_EXPORT_HINT) from exc
    started = time.perf_counter()
    with quiet_model_loading():  # no "Loading weights" bar
        model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    names = [
        n
        for n in ("input_ids", "attention_mask", "token_type_ids")
        if n in tokenizer.model_input_names
    ]

    class Transformer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
            if token_type_ids is not None:
                feeds["token_type_ids"] = token_type_ids
            return self.model(**feeds).last_hidden_state

    # torch.export (dynamo): the TorchScript exporter bakes transformers 5's mask handling
    # into constants of the traced lengths (measured: wrong vectors for any other length)
    sample = tokenizer(list(_PROBES[:2]), padding=True, return_tensors="pt")
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens", max=8192)
    with torch.no_grad(), quiet_torch_onnx():
        torch.onnx.export(
            Transformer().eval(),
            (),
            str(folder / ONNX_FILE),
            kwargs={n: sample[n] for n in names},
            dynamo=True,
            external_data=False,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_shapes={n: {0: batch, 1: tokens} for n in names},
            opset_version=OPSET,
            verbose=False,  # no "[torch.onnx] ..." progress lines on stdout
        )
    # the trace must hold for other batch sizes, lengths and padding: compare with torch
    check = ExportedModel.open(model_dir, folder / ONNX_FILE, "onnx")
    probes = list(_PROBES)
    ref = _torch_reference(model, tokenizer, probes)
    mask = tokenizer(probes, padding=True, return_tensors="np")["attention_mask"]
    from milvus_rag.embeddings._exported_model import pool

    want = l2_normalize(pool(check.layout, ref, mask))
    got = check.encode(probes, normalize_embeddings=True, batch_size=len(probes))
    cosine = float((want * got).sum(axis=1).min())
    if cosine < 0.99999:
        raise RuntimeError(f"the ONNX export of {model_dir} differs from torch (cosine {cosine})")
    return {
        "variant": "fp32",
        "opset": OPSET,
        "torch": torch.__version__,
        "check_cosine": cosine,
        "export_s": round(time.perf_counter() - started, 2),
    }


def int8_scheme() -> str:
    """The int8 weight scheme for this CPU: ``s8`` with VNNI, ``s8r7`` (7-bit) without."""
    return "s8" if cpu_has_vnni() else "s8r7"


def export_int8(fp32_file: Path, folder: Path, scheme: str) -> dict[str, Any]:
    """Write ``folder/model.onnx``: ``fp32_file`` with int8 weights (dynamic quantization)."""
    if scheme not in ("s8", "s8r7"):
        raise ValueError(f"int8 schemes are s8 and s8r7, got {scheme!r}")
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ImportError(_EXPORT_HINT) from exc
    quantize_dynamic(
        str(fp32_file),
        str(folder / ONNX_FILE),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=scheme == "s8r7",
    )
    bits = "7-bit" if scheme == "s8r7" else "8-bit"
    return {"variant": "int8", "scheme": scheme, "quantization": f"dynamic, per-channel, {bits}"}


def fuse_for_ort(model_dir: Path, fp32_file: Path, folder: Path) -> dict[str, Any]:
    """Write ``folder/model.onnx``: ``fp32_file`` with ONNX Runtime's transformer fusions
    (LayerNorm + residual, bias + GELU; ``onnxruntime.transformers.optimizer``), kept only when
    it embeds as the plain export does (cosine >= 0.99999), else the plain export itself.

    Measured on an AVX2 CPU (AMD EPYC, 2 cores), 64 SciFact abstracts in batches of 32: 1.08x
    torch float32 against the plain export's 0.93x (the graph ONNX Runtime runs unfused).
    """
    try:
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError as exc:
        raise ImportError(_EXPORT_HINT) from exc
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    heads, hidden = cfg.get("num_attention_heads"), cfg.get("hidden_size")
    out = folder / ONNX_FILE
    graph = "as exported (the fusions changed its vectors)"
    if isinstance(heads, int) and isinstance(hidden, int):
        fused = optimize_model(
            str(fp32_file), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0
        )
        fused.save_model_to_file(str(out))
        probes = list(_PROBES)
        want = ExportedModel.open(model_dir, fp32_file, "onnx").encode(probes, batch_size=2)
        got = ExportedModel.open(model_dir, out, "onnx").encode(probes, batch_size=2)
        cosine = float((l2_normalize(want) * l2_normalize(got)).sum(axis=1).min())
        if cosine >= 0.99999:
            counts = {k: v for k, v in fused.get_fused_operator_statistics().items() if v}
            return {"variant": "fp32-ort", "graph": f"fused {counts}", "check_cosine": cosine}
        out.unlink()
    else:
        graph = "as exported (config.json names no head count / hidden size)"
    shutil.copyfile(fp32_file, out)
    return {"variant": "fp32-ort", "graph": graph}


def cached_onnx(model_dir: Path, precision: str, runtime: str = "onnx") -> Path:
    """The cached ONNX file of the model at ``precision`` ("fp32" or "int8") for ``runtime``,
    exported if needed (ONNX Runtime's float32 file is the fused graph, OpenVINO's the plain)."""
    if precision not in ("fp32", "int8"):
        raise ValueError(f"exported precisions are fp32 and int8, got {precision!r}")
    read_layout(model_dir)  # refuse models an export cannot reproduce before any work
    key = _export_cache.export_key(model_dir, "onnx-fp32")

    def build_fp32(folder: Path) -> dict[str, Any]:
        log.info(
            "milvus-rag: exporting %s to ONNX (once; cached)", model_dir
        )  # no output by default
        return export_fp32(model_dir, folder)

    fp32_folder, _ = _export_cache.cached_export(key, build_fp32)
    if precision == "fp32" and runtime == "onnx":
        try:
            fused, _ = _export_cache.cached_export(
                _export_cache.export_key(model_dir, "onnx-fp32-ort"),
                lambda folder: fuse_for_ort(model_dir, fp32_folder / ONNX_FILE, folder),
            )
        except ImportError:  # the optimizer needs the onnx package: run the plain export
            return fp32_folder / ONNX_FILE
        return fused / ONNX_FILE
    if precision == "fp32":  # OpenVINO reads the plain export (no ONNX Runtime contrib ops)
        return fp32_folder / ONNX_FILE
    scheme = int8_scheme()
    key8 = _export_cache.export_key(model_dir, f"onnx-int8-{scheme}")
    folder8, _ = _export_cache.cached_export(
        key8, lambda folder: export_int8(fp32_folder / ONNX_FILE, folder, scheme)
    )
    return folder8 / ONNX_FILE


def load_exported(model_dir: Path, runtime: str, precision: str) -> ExportedModel:
    """The exported model of ``model_dir`` run by ``runtime`` ("onnx", "openvino")."""
    onnx_file = cached_onnx(model_dir, precision, runtime)
    return ExportedModel.open(model_dir, onnx_file, runtime, precision=precision)
