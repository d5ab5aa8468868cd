"""How long jobs report their work: the one progress bar of ingestion, export/import,
migration and evaluation (tqdm on stderr), and how their numbers are worded (counts with the
right plural, rates with the digits they need: a small rate never shows as "0 rows/s").

tqdm comes with the ``cli`` extra and is imported when a bar is made, with an install hint.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["CLI_HINT", "plural", "progress_bar", "rate_note", "tqdm_class"]

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


def plural(n: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def rate_note(rows: int, seconds: float) -> str:
    """`` (12 rows/s)``, with the digits a small rate needs (`` (0.15 rows/s)``); "" when
    nothing was written or no time measured.

    Example:
        >>> rate_note(2, 13.3), rate_note(2000, 1.0), rate_note(0, 5.0)
        (' (0.15 rows/s)', ' (2000 rows/s)', '')
    """
    if rows <= 0 or seconds <= 0:
        return ""
    rate = rows / seconds
    shown = f"{rate:.0f}" if rate >= 10 else f"{rate:.2g}"
    return f" ({shown} rows/s)"
