"""The first ONNX export (what the first ``make demo`` runs) prints nothing of torch's: it
printed 8 "[torch.onnx] ..." lines on stdout and about 10 warnings on stderr (fd-level capture)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from milvus_rag.embeddings._onnx_export import ONNX_FILE, export_fp32
from milvus_rag.embeddings.encoder import DEFAULT_MODEL, resolve_model_path


@pytest.mark.slow
def test_the_onnx_export_is_silent(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    model_dir = Path(resolve_model_path(DEFAULT_MODEL))
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = export_fp32(model_dir, tmp_path)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert [str(w.message) for w in caught] == []
    assert (tmp_path / ONNX_FILE).is_file() and info["check_cosine"] >= 0.99999
