"""The encoder's precision option: validation, resolution per device, autocast (stub models)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from milvus_rag.client.errors import ConfigError
from milvus_rag.embeddings import SentenceTransformerEncoder, _precision
from milvus_rag.embeddings._precision import PRECISION_ENV, _resolve_precision
from tests.unit.encoder_stubs import DIM, StubModel, make


def test_precision_validation_lists_the_accepted_values() -> None:
    with pytest.raises(ConfigError, match="'auto', 'fp32', 'bf16', 'fp16'"):
        SentenceTransformerEncoder(precision="half")
    with pytest.raises(ConfigError, match='"bf16" or "fp32"'):
        SentenceTransformerEncoder(precision="fp16", device="cpu")
    with pytest.raises(ConfigError, match='use precision="fp32"'):
        SentenceTransformerEncoder(precision="bf16", device="mps:0")
    for ok in ("auto", "fp32", "bf16"):
        assert SentenceTransformerEncoder(precision=ok, device="cpu").precision == ok
    assert SentenceTransformerEncoder(precision="fp16", device="cuda:1").precision == "fp16"


RESOLUTIONS = [
    # requested, device type, cpu has fast bf16 -> effective
    ("fp32", "cpu", True, "fp32"),
    ("fp32", "cuda", False, "fp32"),
    ("fp32", None, False, "fp32"),
    ("auto", "cpu", True, "bf16"),
    ("auto", "cpu", False, "fp32"),
    ("auto", "cuda", False, "fp16"),
    ("auto", "cuda", True, "fp16"),
    ("auto", "mps", True, "fp32"),
    ("auto", "xpu", True, "fp32"),
    ("auto", None, True, "fp32"),
    ("bf16", "cpu", False, "bf16"),  # asked for: slow without native bf16, but it runs
    ("bf16", "cpu", True, "bf16"),
    ("bf16", "cuda", False, "bf16"),
    ("fp16", "cuda", False, "fp16"),
]


@pytest.mark.parametrize(("requested", "device", "fast", "expected"), RESOLUTIONS)
def test_resolve_precision(requested: str, device: str | None, fast: bool, expected: str) -> None:
    assert _resolve_precision(requested, device, fast) == expected


@pytest.mark.parametrize(
    ("requested", "device", "message"),
    [
        ("fp16", "cpu", "slow or unsupported"),
        ("fp16", "mps", "not available on 'mps'"),
        ("bf16", "mps", "not available on 'mps'"),
        ("bf16", "xpu", 'use precision="fp32"'),
        ("bf16", None, "needs a torch model"),
        ("fp16", None, "needs a torch model"),
    ],
)
def test_resolve_precision_errors(requested: str, device: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _resolve_precision(requested, device, True)


def test_precision_env_replaces_auto_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PRECISION_ENV, " FP32 ")
    assert SentenceTransformerEncoder().precision == "fp32"
    assert SentenceTransformerEncoder(precision="bf16").precision == "bf16"
    monkeypatch.setenv(PRECISION_ENV, "")  # empty: unset
    assert SentenceTransformerEncoder().precision == "auto"
    monkeypatch.setenv(PRECISION_ENV, "double")
    with pytest.raises(ConfigError, match=PRECISION_ENV):
        SentenceTransformerEncoder()
    assert SentenceTransformerEncoder(precision="fp32").precision == "fp32"


def test_a_model_without_torch_runs_fp32_without_importing_torch() -> None:
    code = (
        "import sys, numpy as np\n"
        "from milvus_rag.embeddings import SentenceTransformerEncoder\n"
        "class Stub:\n"
        "    def encode(self, texts, **kw):\n"
        "        return np.ones((len(texts), 4), dtype=np.float64)\n"
        "enc = SentenceTransformerEncoder('stub', model=Stub())\n"
        "assert enc.precision == 'auto'\n"
        "out = enc.encode_documents(['a', 'b'])\n"
        "assert out.dtype == np.float32 and out.shape == (2, 4), out\n"
        "assert enc.precision == 'fp32' and repr(enc).endswith('dim=4, fp32)'), repr(enc)\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_forced_reduced_precision_needs_a_torch_model() -> None:
    for precision in ("bf16", "fp16"):
        enc, stub = make(precision=precision)
        assert enc.precision == precision  # requested: the stub's device is not known yet
        with pytest.raises(ConfigError, match="needs a torch model"):
            enc.encode_documents(["a"])
        assert enc._model is None and stub.calls == []


def test_cpu_has_fast_bf16_guards_the_private_probes(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = importlib.import_module("torch")
    assert isinstance(_precision._cpu_has_fast_bf16(), bool)

    def boom() -> bool:
        raise RuntimeError("no cpuinfo")

    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert _precision._cpu_has_fast_bf16() is True
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert _precision._cpu_has_fast_bf16() is False
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    assert _precision._cpu_has_fast_bf16() is False
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", boom)
    assert _precision._cpu_has_fast_bf16() is False
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True, raising=False)
    assert _precision._cpu_has_fast_bf16() is True  # one failing probe does not hide the other


class TorchStub(StubModel):
    """A stub on a torch device that records the autocast state of each call."""

    def __init__(self, device: str = "cpu", *, tensor_dtype: Any = None) -> None:
        import torch

        super().__init__()
        self.device = torch.device(device)
        self.tensor_dtype = tensor_dtype
        self.autocast: list[tuple[bool, Any]] = []

    def encode(self, texts: list[str], **kwargs: Any) -> Any:
        import torch

        self.autocast.append((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
        out = super().encode(texts, **kwargs)
        return out if self.tensor_dtype is None else torch.from_numpy(out).to(self.tensor_dtype)


@pytest.mark.parametrize(
    ("precision", "fast", "expected"),
    [
        ("auto", True, "bf16"),
        ("auto", False, "fp32"),
        ("bf16", False, "bf16"),
        ("fp32", True, "fp32"),
    ],
)
def test_encode_runs_under_the_resolved_autocast(
    monkeypatch: pytest.MonkeyPatch, precision: str, fast: bool, expected: str
) -> None:
    torch = importlib.import_module("torch")
    monkeypatch.setattr(_precision, "_cpu_has_fast_bf16", lambda: fast)
    enc, stub = make(TorchStub(), precision=precision)
    docs = enc.encode_documents(["a", "b"])
    query = enc.encode_query("q")
    assert enc.precision == expected and repr(enc).endswith(f"dim=8, {expected})")
    if expected == "bf16":
        assert stub.autocast == [(True, torch.bfloat16)] * 2
    else:
        assert [enabled for enabled, _ in stub.autocast] == [False, False]
    assert not torch.is_autocast_enabled("cpu")  # left again after each call
    assert docs.dtype == np.float32 and query.dtype == np.float32


def test_cuda_models_resolve_to_fp16(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = importlib.import_module("torch")
    monkeypatch.setattr(_precision, "_cpu_has_fast_bf16", lambda: True)
    model = TorchStub("cuda:0")
    assert _precision.resolve_for_model("auto", model) == ("fp16", "cuda")
    assert _precision.resolve_for_model("bf16", model) == ("bf16", "cuda")
    assert _precision.resolve_for_model("auto", TorchStub("mps")) == ("fp32", "mps")
    with pytest.raises(ConfigError, match="slow or unsupported"):
        _precision.resolve_for_model("fp16", TorchStub("cpu"))
    module = torch.nn.Linear(2, 2)  # an nn.Module without a device attribute: its parameters'
    assert _precision.model_device_type(module) == "cpu"
    assert _precision.model_device_type(StubModel()) is None


def test_bf16_tensor_output_becomes_float32() -> None:
    torch = importlib.import_module("torch")
    enc, _ = make(TorchStub(tensor_dtype=torch.bfloat16), precision="bf16")
    docs = enc.encode_documents(["a", "b"])
    assert docs.dtype == np.float32 and docs.shape == (2, DIM)
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-2)
