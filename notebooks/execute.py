"""Run every notebook here top to bottom and store it with its outputs (``make notebooks``).

The kernel is this interpreter, offline (``HF_HUB_OFFLINE=1``), plots rendered inline as PNG;
each notebook runs in a temporary folder, so nothing is written next to it but the notebook.

    python notebooks/execute.py [NAME.ipynb ...]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import nbclient
import nbformat

HERE = Path(__file__).resolve().parent
KERNEL = "milvus-rag-notebooks"


def kernel_env(folder: Path) -> None:
    """A kernelspec for this interpreter under ``folder``, put on JUPYTER_PATH."""
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "milvus-rag",
                "language": "python",
                "env": {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
            }
        )
    )
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        filter(None, [str(folder), os.environ.get("JUPYTER_PATH")])
    )


def execute(path: Path, timeout: int = 600) -> None:
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as work:
        nbclient.NotebookClient(
            nb, kernel_name=KERNEL, timeout=timeout, resources={"metadata": {"path": work}}
        ).execute()
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    nbformat.write(nb, path)
    print(f"{path.name}: executed and stored with outputs")


def main(names: list[str]) -> None:
    paths = [HERE / n for n in names] if names else sorted(HERE.glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as jupyter:
        kernel_env(Path(jupyter))
        for path in paths:
            execute(path)


if __name__ == "__main__":
    main(sys.argv[1:])
