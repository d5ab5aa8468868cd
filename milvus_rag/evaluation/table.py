"""The results of an evaluation as a markdown table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_table"]


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A markdown table of result rows: metrics (``name@k``) with 4 decimals, other floats
    short (``1.5``) or with 2 decimals."""
    if not rows:
        return ""
    cols = list(columns) if columns else list(rows[0])

    def cell(col: str, v: Any) -> str:
        if isinstance(v, bool) or v is None:
            return "" if v is None else str(v)
        if isinstance(v, float):
            if "@" in col:  # a metric
                return f"{v:.4f}"
            return f"{v:g}" if v == round(v, 3) else f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(c, r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)
