"""The one canonicalisation of ``source`` paths, for every caller that filters by source: the
command line (search, delete, export), the MCP server and both frameworks' filters.

Ingest stores a file's ``source`` as :func:`canonical_source`: its resolved absolute POSIX
path, so the same file has the same ``source`` (and chunk ids) from any working directory.
A filter names a source as its user would: ``corpus/a.md``, ``../corpus/a.md``, or an
absolute path. :func:`canonical_filter` makes every ``source`` condition match the path
*as given or as ingest stores it*: rows written by ``milvus-rag ingest`` (absolute) and rows
a framework loader wrote with a relative ``source`` are both found, and ``$ne`` / ``$nin``
exclude both. A value that is already canonical, a URL (``://``) or not a string is kept
as it is. Pure apart from resolving the path against the working directory (and symlinks).

Example:
    >>> canonical_filter({"source": "/d/x/../a.md", "page": 1})
    {'source': {'$in': ['/d/x/../a.md', '/d/a.md']}, 'page': 1}
    >>> canonical_filter({"source": {"$ne": "/d/a.md"}})
    {'source': {'$ne': '/d/a.md'}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SOURCE_KEY = "source"


def canonical_source(path: str | Path) -> str:
    """The ``source`` stored for a file: its resolved absolute POSIX path.

    Example:
        >>> canonical_source("/docs/./sub/../a.md")
        '/docs/a.md'
    """
    return Path(path).expanduser().resolve().as_posix()


def source_forms(value: Any) -> list[Any]:
    """The values a ``source`` condition on ``value`` matches: itself, and its canonical
    path when that differs (a non-empty string that is not a URL)."""
    if not isinstance(value, str) or not value.strip() or "://" in value:
        return [value]
    try:
        canon = canonical_source(value)
    except (ValueError, OSError):  # not a path (a NUL byte, too long): matched as given
        return [value]
    return [value] if canon == value else [value, canon]


def _forms_of(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        out.extend(f for f in source_forms(v) if f not in out)
    return out


def _canonical_ops(value: Any) -> Any:
    """A ``source`` condition (a value or an operator dict) over every form of its paths."""
    ops = value if isinstance(value, dict) else {"$eq": value}
    out: dict[str, Any] = {}
    for op, arg in ops.items():
        if op in ("$eq", "$ne") and len(forms := source_forms(arg)) > 1:
            key, got = ("$in" if op == "$eq" else "$nin"), forms
        elif op in ("$in", "$nin") and isinstance(arg, list):
            key, got = op, _forms_of(arg)
        elif op == "$not":
            key, got = op, _canonical_ops(arg)
        else:  # an already canonical value, ranges, $contains...: as given
            key, got = op, arg
        if key in out and key == "$in":  # x in A and x in B: x in A ∩ B
            got = [v for v in out[key] if v in got]
        elif key in out and key == "$nin":  # x not in A and not in B: not in A ∪ B
            got = out[key] + [v for v in got if v not in out[key]]
        out[key] = got
    if not isinstance(value, dict) and list(out) == ["$eq"]:
        return value
    return out


def canonical_filter(filt: Any) -> Any:
    """``filt`` with every ``source`` condition (``$eq``, ``$ne``, ``$in``, ``$nin``, inside
    ``$and``/``$or``/``$not``) matching each path as given or canonical (see the module
    docstring); anything else (a raw expression string, other keys) is returned unchanged.

    Example:
        >>> canonical_filter({"$or": [{"source": {"$nin": ["/d/x/../a.md"]}}, {"page": 1}]})
        {'$or': [{'source': {'$nin': ['/d/x/../a.md', '/d/a.md']}}, {'page': 1}]}
    """
    if isinstance(filt, list):
        return [canonical_filter(f) for f in filt]
    if not isinstance(filt, dict):
        return filt
    out: dict[str, Any] = {}
    for key, value in filt.items():
        if key in ("$and", "$or", "$not"):
            out[key] = canonical_filter(value)
        elif key == SOURCE_KEY:
            out[key] = _canonical_ops(value)
        else:
            out[key] = value
    return out
