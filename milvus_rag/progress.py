"""The one progress bar of ingestion, export/import, migration and evaluation: tqdm on stderr.

tqdm comes with the ``cli`` extra and is imported when a bar is made, with an install hint.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["CLI_HINT", "progress_bar", "tqdm_class"]

CLI_HINT = 'pip install "milvus-rag[cli]"'


def tqdm_class() -> Any:
    """tqdm (the `cli` extra), imported when a progress bar is made, with an install hint."""
    try:
        from tqdm import tqdm
    except ImportError as e:
        raise ImportError(f"progress bars need tqdm: {CLI_HINT}") from e
    return tqdm


def progress_bar(total: int | None, desc: str, progress: bool | None, unit: str = "rows") -> Any:
    """A tqdm bar on stderr (``progress=None``: only when stderr is a terminal)."""
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    return tqdm_class()(total=total, unit=unit, desc=desc, file=sys.stderr, disable=disable)
