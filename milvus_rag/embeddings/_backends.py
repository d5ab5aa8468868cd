"""Which runtime embeds each job: the ``backend=`` option of the encoder (no I/O but probes).

A :class:`Plan` holds one :class:`Route` per job, queries (a few short texts, latency) and
documents (bulk, throughput). ``"auto"`` takes, per job, the fastest path measured for the
machine's kind (``benchmarks/speed.py``, ``benchmarks/encoder_quality.py``):

- queries: the float32 ONNX export run by ONNX Runtime (exact: cosine >= 0.9999 to torch; a
  lone query has a fraction of torch's per-call overhead);
- documents: torch with bf16 autocast on CPUs with AMX or AVX512-BF16 (about 2x float32
  there); elsewhere the float32 export run by ONNX Runtime (:data:`CPU_DOCUMENT_RUNTIMES`),
  as fast as torch float32 there without importing torch (0.93-0.96x on an AVX2 CPU).
  OpenVINO was faster for batches on that CPU (1.14-1.27x torch float32 in two runs;
  BENCHMARKS.md, part x) but runs only on request
  (``backend="openvino"``): ``import openvino`` starts Intel's usage telemetry, which forks
  a process to send it (measured; with gRPC's threads running that fork is also unsafe), and
  a library must not do that to its users by default. int8 only on request
  (``precision="int8"``) unless :data:`INT8_DOCUMENTS_BY_DEFAULT`;
- torch for both jobs on a GPU, when ONNX Runtime or ``tokenizers`` is not installed, or when
  the model's modules are not ones an export reproduces.

``$MILVUS_RAG_BACKEND`` replaces ``"auto"``. Probing imports nothing heavy (no torch).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from pathlib import Path

from milvus_rag.client.errors import ConfigError
from milvus_rag.embeddings._precision import requested_option

__all__ = ["BACKENDS", "BACKEND_ENV", "Plan", "Route", "plan", "requested_backend"]

BACKENDS = ("auto", "torch", "onnx", "openvino")
BACKEND_ENV = "MILVUS_RAG_BACKEND"
EXPORTED = ("onnx", "openvino")
ONNX_HINT = 'pip install "milvus-rag[onnx]"'
# int8 document vectors may be the default only once benchmarks/encoder_quality.py measures
# their SciFact nDCG@10 within 0.003 of torch fp32 in dense and hybrid mode; until then
# (see BENCHMARKS.md) int8 is used only when asked for.
INT8_DOCUMENTS_BY_DEFAULT = False


@dataclasses.dataclass(frozen=True)
class Route:
    """How one job runs: ``runtime`` ("torch", "onnx", "openvino") at ``precision``.

    torch routes keep the requested precision ("auto", "fp32", "bf16", "fp16"), resolved for
    the model's device once it is loaded; exported routes are "fp32" or "int8".
    """

    runtime: str
    precision: str

    def __str__(self) -> str:
        return f"{self.runtime} {self.precision}"


@dataclasses.dataclass(frozen=True)
class Plan:
    query: Route
    document: Route


# The float32 document runtimes ``auto`` uses on CPUs without native bf16, first installed
# wins; OpenVINO is left out on purpose (see the module docstring).
CPU_DOCUMENT_RUNTIMES = ("onnx",)


def requested_backend(backend: object) -> str:
    """The validated request: ``backend``, or ``$MILVUS_RAG_BACKEND`` in place of "auto"."""
    return requested_option(backend, "backend", BACKENDS, BACKEND_ENV)


def installed(runtime: str) -> bool:
    """Whether an exported runtime and the tokenizer can be imported (nothing is imported)."""
    module = {"onnx": "onnxruntime", "openvino": "openvino"}[runtime]
    return all(importlib.util.find_spec(m) is not None for m in (module, "tokenizers"))


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[-1].split())
    return frozenset()


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX512-BF16 (False where the flags cannot be read)."""
    return bool(cpu_flags() & {"amx_bf16", "amx_tile", "avx512_bf16"})


def cpu_has_vnni() -> bool:
    """An int8 dot-product instruction (AVX512-VNNI or AVX-VNNI): int8 x int8 sums of
    four products into int32, with no 16-bit intermediate to saturate."""
    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})


def cuda_driver_present() -> bool:
    """A cheap hint that torch may find a CUDA device (checked without importing torch)."""
    return os.path.exists("/proc/driver/nvidia/version")


def plan(
    backend: str,
    precision: str,
    *,
    device: str | None,
    exportable: bool,
    available: dict[str, bool],
    fast_bf16: bool,
    cuda: bool,
) -> Plan:
    """The routes of both jobs. ``backend``/``precision`` are validated requests.

    ``exportable``: the model is a local folder whose modules an export reproduces;
    ``available``: which exported runtimes are installed; ``fast_bf16``/``cuda``: the probes.
    """
    if precision == "int8" and backend == "openvino":
        raise ConfigError('precision="int8" runs on backend "onnx" (or "auto"), not "openvino"')
    if backend == "torch" or (
        backend == "auto" and (precision in ("bf16", "fp16") or not exportable)
    ):
        if precision == "int8":
            raise ConfigError(
                'precision="int8" needs an exported backend: backend="onnx" or "auto" with a '
                f"local model folder of a supported layout ({ONNX_HINT})"
            )
        return Plan(Route("torch", precision), Route("torch", precision))
    on_gpu = device is not None and not device.startswith("cpu")
    if backend in EXPORTED:
        if precision in ("bf16", "fp16"):
            raise ConfigError(
                f'precision="{precision}" is torch autocast: use backend="torch" or "auto"'
            )
        if on_gpu:
            raise ConfigError(f'backend "{backend}" runs on the CPU: device must be "cpu" or None')
        if not exportable:
            raise ConfigError(
                f'backend "{backend}" needs a local model folder with sentence-transformers '
                'modules Transformer, Pooling[, Normalize]: use backend="torch"'
            )
        if not available.get(backend):
            hint = ONNX_HINT if backend == "onnx" else 'pip install "milvus-rag[openvino]"'
            raise ConfigError(f'backend "{backend}" is not installed: {hint}')
        int8 = precision == "int8" or (precision == "auto" and INT8_DOCUMENTS_BY_DEFAULT)
        return Plan(Route(backend, "fp32"), Route(backend, "int8" if int8 else "fp32"))
    # auto
    if on_gpu or (device is None and cuda) or not available.get("onnx"):
        if precision == "int8":
            raise ConfigError(
                f'precision="int8" needs ONNX Runtime on the CPU ({ONNX_HINT}, device "cpu")'
            )
        return Plan(Route("torch", precision), Route("torch", precision))
    query = Route("onnx", "fp32")
    if precision == "int8" or (precision == "auto" and INT8_DOCUMENTS_BY_DEFAULT):
        return Plan(query, Route("onnx", "int8"))
    if precision == "auto" and fast_bf16:
        return Plan(query, Route("torch", "auto"))
    runtime = next(rt for rt in CPU_DOCUMENT_RUNTIMES if available.get(rt))  # onnx is
    return Plan(query, Route(runtime, "fp32"))
