"""The one-off command's start-up shortcuts (``milvus_rag._fast_start``): same answers, fewer
imports. Each check runs in a fresh interpreter, where nothing has imported scipy yet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # fresh interpreters importing pymilvus and scipy

SCIPY_CHILD = r"""
import json, sys
from milvus_rag._fast_start import skip_unneeded_scipy
from pymilvus.client.utils import SciPyHelper
skip_unneeded_scipy()
skip_unneeded_scipy()  # idempotent: one guard, not two
out = {"rows": SciPyHelper.is_scipy_sparse([{1: 0.5}]), "warm": SciPyHelper.is_spmatrix(None),
       "imported_before": "scipy.sparse" in sys.modules}
import scipy.sparse
m = scipy.sparse.csr_matrix([[0.0, 1.5]])
out.update(matrix=SciPyHelper.is_scipy_sparse(m), spmatrix=SciPyHelper.is_spmatrix(m),
           array=SciPyHelper.is_sparray(scipy.sparse.csr_array([[0.0, 1.5]])),
           rows_after=SciPyHelper.is_scipy_sparse([{1: 0.5}]))
print(json.dumps(out))
"""

PKG_CHILD = r"""
import json, sys
from importlib import metadata
from milvus_rag._fast_start import light_pkg_resources
light_pkg_resources()
from pkg_resources import DistributionNotFound, get_distribution
out = {"light": type(sys.modules["pkg_resources"]).__name__,
       "version": get_distribution("numpy").version == metadata.version("numpy")}
try:
    get_distribution("no-such-distribution-xyz")
except DistributionNotFound:
    out["missing"] = "raised"
import pkg_resources
out["other_name"] = pkg_resources.parse_version("1.2") < pkg_resources.parse_version("1.10")
out["real_after"] = type(sys.modules["pkg_resources"]).__name__
print(json.dumps(out))
"""


def _child(code: str) -> dict[str, object]:
    p = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_scipy_probes_answer_alike_without_importing_scipy() -> None:
    got = _child(SCIPY_CHILD)
    assert got == {
        "rows": False,
        "warm": False,
        "imported_before": False,  # the probes imported nothing
        "matrix": True,  # once scipy is there, pymilvus answers as before
        "spmatrix": True,
        "array": True,
        "rows_after": False,
    }


def test_light_pkg_resources_answers_versions_and_hands_over_the_rest() -> None:
    got = _child(PKG_CHILD)
    assert got == {
        "light": "_LightPkgResources",
        "version": True,
        "missing": "raised",
        "other_name": True,
        "real_after": "module",
    }
