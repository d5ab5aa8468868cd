"""Encoder backends without a model: the route plan, the export cache, the model layout, pooling."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from milvus_rag.client.errors import ConfigError
from milvus_rag.embeddings import SentenceTransformerEncoder, _backends, _export_cache
from milvus_rag.embeddings._backends import BACKEND_ENV, Plan, Route, plan
from milvus_rag.embeddings._exported_model import (
    ModelLayout,
    UnsupportedModelError,
    pool,
    read_layout,
)
from tests.unit.encoder_stubs import StubModel

BOTH = {"onnx": True, "openvino": True}
NONE = {"onnx": False, "openvino": False}
ONLY_ORT = {"onnx": True, "openvino": False}
T, OX, OV = "torch", "onnx", "openvino"

# backend, precision, device, exportable, available, fast_bf16, cuda -> (query, document)
PLANS = [
    ("auto", "auto", None, True, BOTH, False, False, ((OX, "fp32"), (OX, "fp32"))),
    ("auto", "auto", None, True, ONLY_ORT, False, False, ((OX, "fp32"), (OX, "fp32"))),
    ("auto", "fp32", None, True, BOTH, False, False, ((OX, "fp32"), (OX, "fp32"))),
    ("auto", "auto", None, True, BOTH, True, False, ((OX, "fp32"), (T, "auto"))),  # AMX: bf16
    ("auto", "fp32", None, True, BOTH, True, False, ((OX, "fp32"), (OX, "fp32"))),
    ("auto", "fp32", None, True, ONLY_ORT, True, False, ((OX, "fp32"), (OX, "fp32"))),
    ("auto", "int8", None, True, BOTH, False, False, ((OX, "fp32"), (OX, "int8"))),
    ("auto", "bf16", None, True, BOTH, False, False, ((T, "bf16"), (T, "bf16"))),
    ("auto", "auto", "cpu", True, BOTH, False, False, ((OX, "fp32"), (OX, "fp32"))),
    ("auto", "auto", "cuda:0", True, BOTH, False, True, ((T, "auto"), (T, "auto"))),
    ("auto", "auto", None, True, BOTH, False, True, ((T, "auto"), (T, "auto"))),  # a GPU
    ("auto", "auto", None, True, NONE, False, False, ((T, "auto"), (T, "auto"))),  # no ORT
    ("auto", "auto", None, True, {"openvino": True}, False, False, ((T, "auto"), (T, "auto"))),
    ("auto", "auto", None, False, BOTH, False, False, ((T, "auto"), (T, "auto"))),  # hub name
    ("torch", "auto", None, True, BOTH, False, False, ((T, "auto"), (T, "auto"))),
    ("torch", "bf16", None, True, BOTH, True, False, ((T, "bf16"), (T, "bf16"))),
    ("onnx", "auto", None, True, BOTH, True, False, ((OX, "fp32"), (OX, "fp32"))),
    ("onnx", "int8", "cpu", True, BOTH, False, False, ((OX, "fp32"), (OX, "int8"))),
    ("openvino", "fp32", None, True, BOTH, False, False, (("openvino", "fp32"),) * 2),
]


@pytest.mark.parametrize(
    ("backend", "precision", "device", "exportable", "available", "fast", "cuda", "want"), PLANS
)
def test_plan(
    backend: str,
    precision: str,
    device: str | None,
    exportable: bool,
    available: dict[str, bool],
    fast: bool,
    cuda: bool,
    want: tuple[tuple[str, str], tuple[str, str]],
) -> None:
    got = plan(
        backend,
        precision,
        device=device,
        exportable=exportable,
        available=available,
        fast_bf16=fast,
        cuda=cuda,
    )
    assert got == Plan(Route(*want[0]), Route(*want[1]))
    # queries are exact on every plan: float32 export, or torch at the asked precision
    assert got.query.precision != "int8"


PLAN_ERRORS = [
    ("torch", "int8", None, True, BOTH, "needs an exported backend"),
    ("auto", "int8", None, False, BOTH, "needs an exported backend"),
    ("auto", "int8", None, True, NONE, "needs ONNX Runtime"),
    ("auto", "int8", "cuda", True, BOTH, "needs ONNX Runtime"),
    ("onnx", "bf16", None, True, BOTH, "torch autocast"),
    ("onnx", "auto", "cuda", True, BOTH, "runs on the CPU"),
    ("onnx", "auto", None, False, BOTH, "needs a local model folder"),
    ("onnx", "auto", None, True, NONE, r"milvus-rag\[onnx\]"),
    ("openvino", "auto", None, True, NONE, r"milvus-rag\[openvino\]"),
    ("openvino", "int8", None, True, BOTH, 'runs on backend "onnx"'),
]


@pytest.mark.parametrize(
    ("backend", "precision", "device", "exportable", "available", "message"), PLAN_ERRORS
)
def test_plan_refuses_what_it_cannot_run(
    backend: str,
    precision: str,
    device: str | None,
    exportable: bool,
    available: dict[str, bool],
    message: str,
) -> None:
    with pytest.raises(ConfigError, match=message):
        plan(
            backend,
            precision,
            device=device,
            exportable=exportable,
            available=available,
            fast_bf16=False,
            cuda=False,
        )


def test_backend_option_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    with pytest.raises(ConfigError, match="'auto', 'torch', 'onnx', 'openvino'"):
        SentenceTransformerEncoder(backend="tensorrt")
    assert SentenceTransformerEncoder("stub").routes == {
        "query": "torch auto",
        "document": "torch auto",
    }
    monkeypatch.setenv(BACKEND_ENV, " TORCH ")
    assert SentenceTransformerEncoder().routes["query"] == "torch auto"  # env replaces auto
    monkeypatch.setenv(BACKEND_ENV, "onnx")
    assert SentenceTransformerEncoder(backend="torch").routes["query"] == "torch auto"
    monkeypatch.setenv(BACKEND_ENV, "cuda")
    with pytest.raises(ConfigError, match=BACKEND_ENV):
        SentenceTransformerEncoder()


def test_a_model_object_takes_no_backend() -> None:
    for kwargs in ({"backend": "onnx"}, {"precision": "int8"}):
        with pytest.raises(ConfigError, match="model= runs the given model object"):
            SentenceTransformerEncoder(model=StubModel(), **kwargs)
    enc = SentenceTransformerEncoder(model=StubModel(), backend="torch")
    assert enc.encode_documents(["a"]).shape == (1, 8)


def test_default_routes_on_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundled model and the installed runtimes: auto never reaches torch for queries."""
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    enc = SentenceTransformerEncoder()
    assert enc.routes["query"] == "onnx fp32"
    expected = "torch auto" if _backends.cpu_has_fast_bf16() else "onnx fp32"
    assert enc.routes["document"] == expected
    assert enc.precision in ("auto", "fp32")  # nothing loaded yet
    assert "not loaded" in repr(enc) and "onnx" in repr(enc)


# ----------------------------------------------------------------------------- export cache
def _writer(payload: bytes, calls: list[Path]) -> Any:
    def build(folder: Path) -> dict[str, Any]:
        calls.append(folder)
        (folder / "model.onnx").write_bytes(payload)
        return {"variant": "test"}

    return build


PAYLOAD = os.urandom(3 << 20)  # over two sampled MiB: the middle is not hashed


def test_cache_builds_once_and_reuses(tmp_path: Path) -> None:
    calls: list[Path] = []
    folder, manifest = _export_cache.cached_export("k", _writer(PAYLOAD, calls), root=tmp_path)
    again, _ = _export_cache.cached_export("k", _writer(PAYLOAD, calls), root=tmp_path)
    assert folder == again == tmp_path / "k" and len(calls) == 1
    assert manifest["variant"] == "test" and manifest["files"]["model.onnx"]["size"] == len(PAYLOAD)
    assert (folder / "model.onnx").read_bytes() == PAYLOAD
    assert [p.name for p in tmp_path.iterdir()] == ["k"]  # no temporary folder left


@pytest.mark.parametrize(
    "damage",
    [
        "truncate",
        "append",
        "flip first byte",
        "flip last byte",
        "no manifest",
        "bad manifest",
        "missing file",
    ],
)
def test_cache_detects_a_partial_or_corrupt_export_and_rebuilds(
    tmp_path: Path, damage: str
) -> None:
    calls: list[Path] = []
    folder, _ = _export_cache.cached_export("k", _writer(PAYLOAD, calls), root=tmp_path)
    model = folder / "model.onnx"
    if damage == "truncate":
        model.write_bytes(PAYLOAD[: len(PAYLOAD) // 2])
    elif damage == "append":
        model.write_bytes(PAYLOAD + b"x")
    elif damage.startswith("flip"):
        data = bytearray(PAYLOAD)
        data[0 if "first" in damage else -1] ^= 0xFF
        model.write_bytes(bytes(data))
    elif damage == "no manifest":
        (folder / "manifest.json").unlink()
    elif damage == "bad manifest":
        (folder / "manifest.json").write_text("{not json")
    else:
        model.unlink()
    assert _export_cache.verify(folder) is None
    folder2, _ = _export_cache.cached_export("k", _writer(PAYLOAD, calls), root=tmp_path)
    assert len(calls) == 2 and (folder2 / "model.onnx").read_bytes() == PAYLOAD
    assert _export_cache.verify(folder2) is not None


def test_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    def broken(folder: Path) -> dict[str, Any]:
        (folder / "model.onnx").write_bytes(b"half")
        raise RuntimeError("export failed")

    with pytest.raises(RuntimeError, match="export failed"):
        _export_cache.cached_export("k", broken, root=tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="wrote no file"):
        _export_cache.cached_export("k", lambda folder: {}, root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_concurrent_builders_agree(tmp_path: Path) -> None:
    barrier = threading.Barrier(4)
    calls: list[Path] = []

    def build(folder: Path) -> dict[str, Any]:
        barrier.wait(timeout=10)  # all four build at once: all but one lose the rename
        return _writer(PAYLOAD, calls)(folder)

    out: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda: out.append(_export_cache.cached_export("k", build, root=tmp_path)[0])
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [tmp_path / "k"] * 4 and len(calls) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["k"]
    assert (tmp_path / "k" / "model.onnx").read_bytes() == PAYLOAD


def test_cache_root_and_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(_export_cache.CACHE_ENV, str(tmp_path / "c"))
    assert _export_cache.cache_root() == tmp_path / "c"
    monkeypatch.delenv(_export_cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert _export_cache.cache_root() == tmp_path / "x" / "milvus-rag"
    model = tmp_path / "my model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"1234")
    key = _export_cache.export_key(model, "onnx-fp32")
    assert key.startswith("my_model-") and key.endswith("-onnx-fp32")
    assert key == _export_cache.export_key(model, "onnx-fp32")
    assert key != _export_cache.export_key(model, "onnx-int8")
    (model / "weights.bin").write_bytes(b"12345")  # new weights: a new export
    assert key != _export_cache.export_key(model, "onnx-fp32")


# ----------------------------------------------------------------------------- layout
def _model_dir(tmp_path: Path, modules: list[str], pooling: dict[str, Any], **extra: Any) -> Path:
    d = tmp_path / "m"
    (d / "1_Pooling").mkdir(parents=True)
    paths = {"Transformer": "", "Pooling": "1_Pooling", "Normalize": "2_Normalize", "Dense": "2"}
    mods = [
        {"idx": i, "name": str(i), "path": paths[m], "type": f"sentence_transformers.models.{m}"}
        for i, m in enumerate(modules)
    ]
    (d / "modules.json").write_text(json.dumps(mods))
    (d / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 16, **pooling})
    )
    (d / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64, **extra}))
    return d


def test_read_layout(tmp_path: Path) -> None:
    d = _model_dir(
        tmp_path, ["Transformer", "Pooling", "Normalize"], {"pooling_mode_mean_tokens": True}
    )
    assert read_layout(d) == ModelLayout("mean", True, 64, 16, {})
    (d / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"query": "q: "}}))
    assert read_layout(d).prompts == {"query": "q: "}


@pytest.mark.parametrize(
    ("modules", "pooling", "extra", "message"),
    [
        (["Transformer", "Pooling", "Dense"], {"pooling_mode_mean_tokens": True}, {}, "modules"),
        (["Transformer", "Pooling"], {"pooling_mode_lasttoken": True}, {}, "pooling"),
        (
            ["Transformer", "Pooling"],
            {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True},
            {},
            "pooling",
        ),
        (
            ["Transformer", "Pooling"],
            {"pooling_mode_cls_token": True},
            {"do_lower_case": True},
            "lower-cases",
        ),
    ],
)
def test_read_layout_refuses_what_an_export_does_not_reproduce(
    tmp_path: Path, modules: list[str], pooling: dict[str, Any], extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(UnsupportedModelError, match=message):
        read_layout(_model_dir(tmp_path, modules, pooling, **extra))
    with pytest.raises(UnsupportedModelError, match=r"modules\.json"):
        read_layout(tmp_path / "nowhere")


def _reference_pool(mode: str, hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """sentence-transformers' pooling, one sentence at a time, the slow and obvious way."""
    out = []
    for h, m in zip(hidden, mask, strict=True):
        tokens = h[m.astype(bool)]
        if mode == "cls":
            out.append(h[0])
        elif mode == "max":
            out.append(tokens.max(axis=0))
        elif mode == "mean":
            out.append(tokens.mean(axis=0))
        else:
            out.append(tokens.sum(axis=0) / np.sqrt(len(tokens)))
    return np.stack(out)


@settings(max_examples=60, deadline=None)
@given(
    mode=st.sampled_from(["cls", "mean", "max", "mean_sqrt_len"]),
    hidden=hnp.arrays(np.float32, (3, 5, 4), elements=st.floats(-100, 100, width=32)),
    lengths=st.lists(st.integers(1, 5), min_size=3, max_size=3),
)
def test_pooling_matches_the_reference(mode: str, hidden: np.ndarray, lengths: list[int]) -> None:
    mask = np.array([[1] * n + [0] * (5 - n) for n in lengths], dtype=np.int64)
    layout = ModelLayout(mode, False, 8, 4, {})
    got = pool(layout, hidden, mask)
    assert got.dtype == np.float32 and got.shape == (3, 4)
    np.testing.assert_allclose(got, _reference_pool(mode, hidden, mask), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    ("flags", "scheme"),
    [
        ({"avx2", "fma"}, "s8r7"),  # pairs of products summed in 16 bits: 7-bit weights
        ({"avx2", "avx512f", "avx512_vnni"}, "s8"),
        ({"avx2", "avx_vnni"}, "s8"),
        (set(), "s8r7"),  # flags unreadable: the scheme that cannot saturate
    ],
)
def test_int8_scheme_follows_the_cpus_dot_product(
    monkeypatch: pytest.MonkeyPatch, flags: set[str], scheme: str
) -> None:
    from milvus_rag.embeddings import _onnx_export

    monkeypatch.setattr(_backends, "cpu_flags", lambda: frozenset(flags))
    assert _onnx_export.int8_scheme() == scheme
