"""The ``precision=`` option of :class:`~milvus_rag.embeddings.SentenceTransformerEncoder`.

A requested precision (``"auto"``, ``"fp32"``, ``"bf16"``, ``"fp16"``) resolves, once the model
is loaded, to the autocast dtype its forward passes run under (or none: plain float32).
``"auto"`` picks bf16 autocast on CPUs with native bf16 matrix units (AMX or AVX512-BF16: about
2x faster for all-MiniLM-L6-v2, cosine >= 0.9999 with float32), fp16 on CUDA, float32 elsewhere;
on CPUs without native bf16, bf16 autocast is slower than float32.

Nothing here imports torch unless the model is a torch model (torch is then imported already).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from milvus_rag.client.errors import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")  # int8: exported backends only
PRECISION_ENV = "MILVUS_RAG_PRECISION"
# The devices whose autocast takes each reduced precision (what this package supports).
_AUTOCAST_DEVICES = {"bf16": ("cpu", "cuda"), "fp16": ("cuda",)}


def requested_option(value: object, name: str, choices: Sequence[str], env_var: str) -> str:
    """The validated request of option ``name`` (one of ``choices``), or ``$env_var`` in
    place of "auto" (the precision's and the backend's rule)."""

    def check(v: object, source: str) -> str:
        if not isinstance(v, str) or v not in choices:
            accepted = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"{source} must be one of {accepted}, got {v!r}")
        return v

    out = check(value, name)
    env = os.environ.get(env_var)
    if out == "auto" and env:
        out = check(env.strip().lower(), f"${env_var}")
    return out


def requested_precision(precision: object) -> str:
    """The validated request: ``precision``, or ``$MILVUS_RAG_PRECISION`` in place of "auto"."""
    return requested_option(precision, "precision", PRECISIONS, PRECISION_ENV)


def _probe(module: object, name: str) -> bool:
    """Call ``module.name()`` if it exists; missing or raising counts as False."""
    fn = getattr(module, name, None)
    try:
        return callable(fn) and bool(fn())
    except Exception:
        return False


def _cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bf16 matrices natively (AMX tiles or AVX512-BF16) for oneDNN.

    The CPU probes are private torch functions, hence the guards.
    """
    try:
        import torch
    except ImportError:
        return False
    native = _probe(torch.cpu, "_is_amx_tile_supported") or _probe(
        torch.cpu, "_is_avx512_bf16_supported"
    )
    return native and _probe(torch.backends.mkldnn, "is_available")


def _resolve_precision(requested: str, device_type: str | None, cpu_fast_bf16: bool) -> str:
    """The effective precision ("fp32", "bf16" or "fp16") of ``requested`` on a device type.

    ``device_type`` is ``"cpu"``, ``"cuda"``, ``"mps"``..., or None for a model that is not a
    torch model (no autocast possible). Raises ConfigError for a request the device cannot run.
    """
    if requested == "fp32":
        return "fp32"
    if requested == "auto":
        if device_type == "cuda":
            return "fp16"
        if device_type == "cpu" and cpu_fast_bf16:
            return "bf16"
        return "fp32"
    if device_type is None:
        raise ConfigError(
            f'precision="{requested}" needs a torch model (autocast); this model is not one: '
            'use precision="fp32" or "auto"'
        )
    if device_type not in _AUTOCAST_DEVICES.get(requested, ()):
        if requested == "fp16" and device_type == "cpu":
            raise ConfigError(
                'precision="fp16": fp16 autocast on CPU is slow or unsupported; '
                'use precision="bf16" or "fp32"'
            )
        raise ConfigError(
            f'precision="{requested}": {requested} autocast is not available on '
            f'{device_type!r} devices; use precision="fp32"'
        )
    return requested


def check_device(requested: str, device: str | None) -> None:
    """Fail early (before loading anything) on a request the configured device cannot run."""
    if device is not None and requested in ("bf16", "fp16"):
        _resolve_precision(requested, device.split(":", 1)[0], cpu_fast_bf16=False)


def model_device_type(model: Any) -> str | None:
    """The torch device type a model runs on, or None when it is not a torch model."""
    torch = sys.modules.get("torch")
    if torch is None:  # a torch model implies torch is imported: never import it for a stub
        return None
    device = getattr(model, "device", None)
    if isinstance(device, torch.device):
        return str(device.type)
    if isinstance(model, torch.nn.Module):
        for param in model.parameters():
            return str(param.device.type)
        return "cpu"
    return None


def resolve_for_model(requested: str, model: Any) -> tuple[str, str | None]:
    """(effective precision, device type) for a loaded model."""
    device_type = model_device_type(model)
    fast = requested == "auto" and device_type == "cpu" and _cpu_has_fast_bf16()
    return _resolve_precision(requested, device_type, fast), device_type


def autocast(precision: str, device_type: str | None) -> contextlib.AbstractContextManager[Any]:
    """The context a forward pass at ``precision`` runs in (a no-op for fp32)."""
    if precision == "fp32" or device_type is None:
        return contextlib.nullcontext()
    import torch

    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type, dtype=dtype)


def to_float32(out: Any) -> npt.NDArray[np.float32]:
    """A model's output as a float32 array (torch tensors, bf16 ones included, converted)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(out, torch.Tensor):
        out = out.detach().float().cpu().numpy()
    return np.asarray(out, dtype=np.float32)
