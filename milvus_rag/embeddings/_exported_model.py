"""A sentence-transformers model exported to ONNX, run by ONNX Runtime or OpenVINO, no torch.

:class:`ExportedModel` looks enough like a ``SentenceTransformer`` for the encoder (``encode``,
``prompts``, ``get_embedding_dimension``) and computes what the model's sentence-transformers
modules compute: the fast tokenizer (``tokenizer.json``, the ``tokenizers`` package), the
exported transformer, then the pooling and normalisation that ``modules.json`` and
``1_Pooling/config.json`` describe, in numpy. :func:`read_layout` reads that description and
refuses (``UnsupportedModelError``) the models whose modules it does not reproduce.

Example:
    >>> model = ExportedModel.open(model_dir, onnx_file, runtime="onnx")  # doctest: +SKIP
    >>> model.encode(["a query"], normalize_embeddings=True).shape  # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ExportedModel", "ModelLayout", "UnsupportedModelError", "read_layout"]

FloatArray = npt.NDArray[np.float32]
RUNTIMES = ("onnx", "openvino")
_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_SUPPORTED_POOLING = ("cls", "mean", "max", "mean_sqrt_len")
_INSTALL_HINT = 'pip install "milvus-rag[onnx]"'


class UnsupportedModelError(ValueError):
    """The model's sentence-transformers modules are not ones an export reproduces."""


@dataclasses.dataclass(frozen=True)
class ModelLayout:
    """What a sentence-transformers model does after its transformer (from its config files)."""

    pooling: str
    normalize: bool
    max_seq_length: int
    dim: int
    prompts: dict[str, str]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def read_layout(model_dir: Path) -> ModelLayout:
    """The pooling, normalisation, length limit and prompts of the model in ``model_dir``."""
    try:
        modules = _read_json(model_dir / "modules.json")
    except (OSError, ValueError) as exc:
        raise UnsupportedModelError(f"{model_dir} has no readable modules.json") from exc
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise UnsupportedModelError(
            f"modules {kinds} of {model_dir}: an export supports Transformer, Pooling[, Normalize]"
        )
    if modules[0].get("path", "") not in ("", "."):
        raise UnsupportedModelError(f"the transformer of {model_dir} is not in its top folder")
    pool_cfg = _read_json(model_dir / modules[1]["path"] / "config.json")
    modes = [name for key, name in _POOLING_KEYS.items() if pool_cfg.get(key)]
    if len(modes) != 1 or modes[0] not in _SUPPORTED_POOLING:
        raise UnsupportedModelError(f"pooling {modes} of {model_dir}: one of {_SUPPORTED_POOLING}")
    st_cfg: dict[str, Any] = {}
    if (model_dir / "config_sentence_transformers.json").exists():
        st_cfg = _read_json(model_dir / "config_sentence_transformers.json")
    prompts = {str(k): str(v) for k, v in (st_cfg.get("prompts") or {}).items()}
    if any(prompts.values()) and pool_cfg.get("include_prompt") is False:
        raise UnsupportedModelError(f"{model_dir} pools without its prompt tokens")
    bert_cfg = {}
    if (model_dir / "sentence_bert_config.json").exists():
        bert_cfg = _read_json(model_dir / "sentence_bert_config.json")
    if bert_cfg.get("do_lower_case"):
        raise UnsupportedModelError(f"{model_dir} lower-cases in sentence-transformers")
    max_len = bert_cfg.get("max_seq_length")
    if not max_len:
        max_len = _read_json(model_dir / "config.json").get("max_position_embeddings", 512)
    return ModelLayout(
        pooling=modes[0],
        normalize=kinds[-1] == "Normalize",
        max_seq_length=int(max_len),
        dim=int(pool_cfg["word_embedding_dimension"]),
        prompts=prompts,
    )


def pool(layout: ModelLayout, hidden: FloatArray, mask: npt.NDArray[np.int64]) -> FloatArray:
    """Pool token vectors (batch, tokens, dim) into sentence vectors as sentence-transformers."""
    if layout.pooling == "cls":
        out = hidden[:, 0]
    else:
        m = mask[..., None].astype(np.float32)
        if layout.pooling == "max":
            out = np.where(m > 0, hidden, np.float32(-1e9)).max(axis=1)
        else:
            total = (hidden * m).sum(axis=1)
            count = np.clip(m.sum(axis=1), 1e-9, None)
            out = total / (np.sqrt(count) if layout.pooling == "mean_sqrt_len" else count)
    return np.ascontiguousarray(out, dtype=np.float32)


def l2_normalize(vectors: FloatArray) -> FloatArray:
    norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


Runner = Callable[[dict[str, npt.NDArray[np.int64]]], FloatArray]


def _threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def ort_runner(onnx_file: Path) -> tuple[Runner, list[str]]:
    """An ONNX Runtime session on the CPU: (run, input names)."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ImportError(f"backend 'onnx' needs onnxruntime: {_INSTALL_HINT}") from exc
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = _threads()
    opts.inter_op_num_threads = 1
    # no spin-waiting after a run: spinning pool threads kept the event loop (and Milvus
    # Lite) off the CPU for milliseconds after every query
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(onnx_file), opts, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(feeds: dict[str, npt.NDArray[np.int64]]) -> FloatArray:
        return np.asarray(session.run(None, feeds)[0], dtype=np.float32)

    return run, names


def openvino_runner(onnx_file: Path) -> tuple[Runner, list[str]]:
    """An OpenVINO model compiled for the CPU in float32: (run, input names)."""
    try:
        import openvino as ov
    except ImportError as exc:
        raise ImportError(
            'backend "openvino" needs openvino: pip install "milvus-rag[openvino]"'
        ) from exc
    # f32: OpenVINO would otherwise infer in bf16 on CPUs that have it (not exact)
    compiled = ov.Core().compile_model(
        str(onnx_file), "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    )
    request = compiled.create_infer_request()
    names = [next(iter(i.get_names())) for i in compiled.inputs]

    def run(feeds: dict[str, npt.NDArray[np.int64]]) -> FloatArray:
        return np.asarray(request.infer(feeds)[0], dtype=np.float32)

    return run, names


class ExportedModel:
    """An exported model with the part of ``SentenceTransformer``'s interface the encoder uses.

    Example:
        >>> m = ExportedModel.open(Path(model_dir), Path(onnx_file), "onnx")  # doctest: +SKIP
        >>> m.encode(["hello"], normalize_embeddings=True)  # doctest: +SKIP
    """

    def __init__(
        self,
        tokenizer: Any,
        run: Runner,
        input_names: Sequence[str],
        layout: ModelLayout,
        *,
        runtime: str,
        precision: str,
    ) -> None:
        self._tokenizer = tokenizer
        self._run = run
        self._inputs = list(input_names)
        self.layout = layout
        self.prompts = dict(layout.prompts)
        self.runtime = runtime
        self.precision = precision

    @classmethod
    def open(
        cls, model_dir: Path, onnx_file: Path, runtime: str, *, precision: str = "fp32"
    ) -> ExportedModel:
        """Load the tokenizer of ``model_dir`` and a ``runtime`` session of ``onnx_file``."""
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
        layout = read_layout(model_dir)
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ImportError(f"exported models need tokenizers: {_INSTALL_HINT}") from exc
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tokenizer.no_padding()  # the file's own padding (a fixed length) would pad every text
        tokenizer.enable_truncation(layout.max_seq_length)
        pad_token = "[PAD]"
        if (model_dir / "tokenizer_config.json").exists():
            found = _read_json(model_dir / "tokenizer_config.json").get("pad_token")
            if isinstance(found, str) and tokenizer.token_to_id(found) is not None:
                pad_token = found
        pad_id = tokenizer.token_to_id(pad_token)
        # pads each batch to its longest text, as sentence-transformers does
        tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad_token)
        make = ort_runner if runtime == "onnx" else openvino_runner
        run, names = make(onnx_file)
        return cls(tokenizer, run, names, layout, runtime=runtime, precision=precision)

    def get_embedding_dimension(self) -> int:
        return self.layout.dim

    def _forward(self, texts: list[str]) -> FloatArray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        hidden = self._run({k: v for k, v in feeds.items() if k in self._inputs})
        return pool(self.layout, hidden, mask)

    def encode(
        self,
        sentences: Sequence[str],
        *,
        prompt_name: str | None = None,
        batch_size: int = 32,
        normalize_embeddings: bool = False,
        **_ignored: Any,
    ) -> FloatArray:
        """Embed texts as ``SentenceTransformer.encode`` does (longest first, in batches)."""
        prompt = self.prompts.get(prompt_name or "", "")
        texts = [(prompt + t).strip() for t in sentences]
        if not texts:
            return np.zeros((0, self.layout.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self.layout.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._forward([texts[i] for i in idx])
        if self.layout.normalize or normalize_embeddings:
            out = l2_normalize(out)
        return out
