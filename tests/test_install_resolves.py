"""``pip install milvus-rag langchain-milvus`` (and beside llama-index-vector-stores-milvus)
resolves, with the engine README promises: pip's resolver against the package index, in dry-run
mode on milvus-rag's dependencies as pyproject.toml declares them (nothing is installed; both
resolves run at once). Needs the package index (CI has it)."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.backends import ROOT

pytestmark = pytest.mark.slow

# (what is installed beside milvus-rag, the versions the resolver must pick)
COMBINATIONS = {
    "langchain-milvus==0.4.*": {"milvus-lite": "3.", "pymilvus": "3.", "langchain-milvus": "0.4."},
    "llama-index-vector-stores-milvus==1.2.*": {
        "pymilvus": "2.6.",
        "llama-index-vector-stores-milvus": "1.2.",
    },
}


def core_requirements() -> list[str]:
    """milvus-rag's own dependencies, from pyproject.toml (resolving these instead of the
    project itself saves building its metadata in an isolated environment)."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: pip's vendored copy
        from pip._vendor import tomli as tomllib
    with open(ROOT / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def resolve(beside: str, report: Path) -> tuple[int, str, dict[str, str]]:
    cmd = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
        "--disable-pip-version-check", "--report", str(report), *core_requirements(), beside,
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    picked: dict[str, str] = {}
    if out.returncode == 0:
        for item in json.loads(report.read_text())["install"]:
            meta = item["metadata"]
            picked[meta["name"].lower().replace("_", "-")] = meta["version"]
    return out.returncode, out.stderr, picked


def test_milvus_rag_installs_beside_each_official_integration(tmp_path: Path) -> None:
    with ThreadPoolExecutor(len(COMBINATIONS)) as pool:
        results = dict(
            zip(
                COMBINATIONS,
                pool.map(lambda b: resolve(b, tmp_path / f"{b.split('=')[0]}.json"), COMBINATIONS),
            )
        )
    for beside, expected in COMBINATIONS.items():
        code, err, picked = results[beside]
        assert code == 0, f"pip cannot install milvus-rag beside {beside}:\n{err[-3000:]}"
        assert "milvus-lite" in picked, picked
        for name, prefix in expected.items():
            assert picked.get(name, "").startswith(prefix), (beside, name, picked.get(name))
