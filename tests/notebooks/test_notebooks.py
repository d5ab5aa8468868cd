"""Every notebook in notebooks/ runs top to bottom without an error, and is stored with the
outputs of such a run.

The kernel is this interpreter (``sys.executable``), through a kernelspec written to a temp
folder, so the test works from ``make test`` whether or not ``.venv/bin`` is on PATH. The
notebooks run concurrently (one kernel each) to keep the suite fast. A notebook whose metadata
says ``{"milvus_rag": {"needs_server": true}}`` gets the Milvus Lite 3 test server as
``MILVUS_URI`` in its kernel's environment, and runs after the others, as does one that says
``{"milvus_rag": {"runs_last": true}}`` (ray_ingest.ipynb: it starts a server of its own).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import one_ray_runtime

nbformat = importlib.import_module("nbformat")
nbclient = importlib.import_module("nbclient")
importlib.import_module("ipykernel")

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "milvus-rag-tests"


@pytest.fixture(scope="module")
def executed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, BaseException | None]:
    jupyter = tmp_path_factory.mktemp("jupyter")
    spec = jupyter / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "milvus-rag tests",
                "language": "python",
                "env": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg"},
            }
        )
    )
    needs_server = [
        p
        for p in NOTEBOOKS
        if nbformat.read(p, as_version=4).metadata.get("milvus_rag", {}).get("needs_server")
    ]
    server_uri = request.getfixturevalue("lite3_server").uri if needs_server else ""
    last = [
        p
        for p in NOTEBOOKS
        if p in needs_server
        or nbformat.read(p, as_version=4).metadata.get("milvus_rag", {}).get("runs_last")
    ]
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(jupyter), saved]))

    def run(path: Path) -> BaseException | None:
        nb = nbformat.read(path, as_version=4)
        workdir = tmp_path_factory.mktemp(path.stem)
        env = dict(os.environ)
        if nb.metadata.get("milvus_rag", {}).get("needs_server"):
            env["MILVUS_URI"] = server_uri
        client = nbclient.NotebookClient(
            nb,
            kernel_name=KERNEL,
            timeout=120,
            resources={"metadata": {"path": str(workdir)}},
        )
        try:
            client.execute(env=env)
        except BaseException as e:  # reported by the test of this notebook
            return e
        return None

    try:
        alone = [p for p in NOTEBOOKS if p not in last]
        with ThreadPoolExecutor(len(alone) or 1) as pool:
            results = dict(zip((p.name for p in alone), pool.map(run, alone)))
        # After the others: these start a Ray runtime, whose startup has a fixed 30 s limit
        # that three concurrent model loads on a small machine can exceed.
        with one_ray_runtime():  # never beside the Ray tests' runtime (another worker)
            results.update((p.name, run(p)) for p in last)
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved
    return results


# the one line Ray's C++ core prints when RAY_BACKEND_LOG_LEVEL quiets it (ray_ingest.ipynb)
RAY_LEVEL_NOTE = re.compile(
    r"^\[[^\]]*\] logging\.cc:\d+: Set ray log level from environment variable "
    r"RAY_BACKEND_LOG_LEVEL to \d+\n?",
    re.M,
)


def test_the_three_notebooks_exist() -> None:
    assert {p.name for p in NOTEBOOKS} >= {
        "langchain_rag.ipynb",
        "llama_index_rag.ipynb",
        "hybrid_and_async.ipynb",
    }


@pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS])
def test_notebook_is_stored_with_its_outputs(name: str) -> None:
    """A reader sees what each cell prints (``python notebooks/execute.py`` stores them): every
    code cell ran, in order, without an error, a warning or a progress bar in its output."""
    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), name
    assert any(c.outputs for c in code), name
    for cell in code:
        for out in cell.outputs:
            assert out.output_type != "error", (name, out)
            text = out.get("text", "") if out.output_type == "stream" else ""
            if out.get("name") == "stderr":  # Ray's C++ core notes the level it was given
                text = RAY_LEVEL_NOTE.sub("", text)
                assert not text.strip(), (name, text)
            assert "Warning" not in text, (name, text)


@pytest.mark.timeout(900)  # the first one runs every notebook (the fixture)
@pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS])
def test_notebook_runs(name: str, executed: dict[str, BaseException | None]) -> None:
    error = executed[name]
    if error is not None:
        pytest.fail(f"{name} failed:\n{error}", pytrace=False)
