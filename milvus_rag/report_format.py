"""How the commands and jobs word their numbers: counts with the right plural, rates with the
digits they need (a small rate never shows as "0 rows/s").

Example:
    >>> plural(1, "file"), plural(2, "file")
    ('1 file', '2 files')
"""

from __future__ import annotations


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
