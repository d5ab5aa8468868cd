"""The first ONNX export (what the first ``make demo`` runs) prints nothing of torch's: it
printed 8 "[torch.onnx] ..." lines on stdout and about 10 warnings on stderr (fd-level).

The export runs in a fresh interpreter whose stdout and stderr are the test's to read: in
the test process itself, other tests' background threads (a Ray runtime's gRPC pings, seen
in CI) can write to the same file descriptors while the export runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXPORT = """
import json, sys, warnings
from pathlib import Path
from milvus_rag.embeddings._onnx_export import ONNX_FILE, export_fp32
from milvus_rag.embeddings.encoder import DEFAULT_MODEL, resolve_model_path

out = Path(sys.argv[1])
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    info = export_fp32(Path(resolve_model_path(DEFAULT_MODEL)), out)
(out / "result.json").write_text(json.dumps({
    "warnings": [str(w.message) for w in caught],
    "cosine": info["check_cosine"],
    "file": (out / ONNX_FILE).is_file(),
}))
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_onnx_export_is_silent(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-c", EXPORT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert (res.stdout, res.stderr) == ("", "")
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["warnings"] == []
    assert result["file"] and result["cosine"] >= 0.99999
