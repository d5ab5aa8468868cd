"""Grouped search: ``k`` documents (groups of chunks), not ``k`` chunks. Pure functions.

A grouped search ranks chunks as usual, then keeps, for each distinct value of the group
field (``doc_id`` by default), its best ``group_size`` chunks; groups come in the order of
their best chunk and ``k`` counts groups. With ``strict_group_size`` only full groups are
returned. The same definition holds whether Milvus groups on the server (its grouping
search) or the core groups client-side over a deeper chunk ranking (:func:`group_hits`,
:func:`settled`): see :mod:`milvus_rag.client.search` for which backend does what.

Example:
    >>> from milvus_rag.client.records import Hit, Record
    >>> hits = [Hit(i, 1.0, 1.0, Record(i, "t", doc_id=i[0])) for i in ["a1", "a2", "b1", "c1"]]
    >>> g = Grouping("doc_id", size=1)
    >>> [h.id for h in group_hits(hits, g, k=2)]
    ['a1', 'b1']
    >>> [h.id for h in group_hits(hits, Grouping("doc_id", size=2, strict=True), k=2)]
    ['a1', 'a2']
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.records import Hit, Record

DEFAULT_GROUP_FIELD = "doc_id"
"""The field a grouped search groups by when the caller names none."""
MAX_CANDIDATES = 16384
GROWTH = 4

__all__ = [
    "DEFAULT_GROUP_FIELD",
    "Grouping",
    "check_grouping",
    "deepen_groups",
    "group_hits",
    "group_key",
    "settled",
]


@dataclass(frozen=True, slots=True)
class Grouping:
    """Group hits by ``field`` (``"doc_id"``, ``"id"``, a typed field, the tenant field, or
    a metadata key, dotted for nested keys), ``size`` chunks per group, ``strict``: only
    full groups."""

    field: str = DEFAULT_GROUP_FIELD
    size: int = 1
    strict: bool = False


def check_grouping(
    group_by: str | bool | None, group_size: int | None, strict_group_size: bool, k: int
) -> Grouping | None:
    """The grouping a search asked for (``None``: chunks, not groups), validated.

    ``group_by=True`` (or a ``group_size`` / ``strict_group_size`` alone) groups by
    ``doc_id``; ``k * group_size`` must stay within Milvus's 16,384 hits."""
    if not isinstance(strict_group_size, bool):
        raise ConfigError(f"strict_group_size must be a bool, got {strict_group_size!r}")
    if group_size is not None and (
        isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1
    ):
        raise ConfigError(f"group_size must be an integer >= 1, got {group_size!r}")
    if group_by is False or (group_by is None and group_size is None and not strict_group_size):
        if group_by is False and (group_size is not None or strict_group_size):
            raise ConfigError("group_size / strict_group_size need grouping: drop group_by=False")
        return None
    if group_by is None or group_by is True:
        field = DEFAULT_GROUP_FIELD
    elif isinstance(group_by, str) and group_by.strip():
        field = group_by.strip()
    else:
        raise ConfigError(
            f"group_by must be a field name such as 'doc_id' (or True for 'doc_id'), "
            f"got {group_by!r}"
        )
    size = 1 if group_size is None else group_size
    if k * size > MAX_CANDIDATES:
        raise ConfigError(
            f"k * group_size must be at most {MAX_CANDIDATES} (Milvus's hit limit), got "
            f"{k} * {size}: ask for fewer groups or smaller ones"
        )
    return Grouping(field, size, strict_group_size)


def _hashable(value: Any) -> Hashable:
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return value  # type: ignore[no-any-return]


def group_key(record: Record, field: str) -> Hashable:
    """The value ``record`` is grouped by: its ``doc_id`` / ``id`` column, else the metadata
    key (typed keys and the tenant are metadata keys too; ``a.b`` walks nested dicts). A
    missing value is ``None``: such chunks form one group, as Milvus groups nulls."""
    if field == "doc_id":
        return record.doc_id
    if field == "id":
        return record.id
    meta: Any = record.metadata or {}
    if field in meta:
        return _hashable(meta[field])
    for part in field.split("."):
        if not isinstance(meta, dict) or part not in meta:
            return None
        meta = meta[part]
    return _hashable(meta)


def _groups(hits: Sequence[Hit], g: Grouping) -> list[list[Hit]]:
    """Every group of ``hits`` in the order of its best hit, each with at most ``g.size``
    hits, in ranking order."""
    by_key: dict[Hashable, list[Hit]] = {}
    for h in hits:
        members = by_key.setdefault(group_key(h.record, g.field), [])
        if len(members) < g.size:
            members.append(h)
    return list(by_key.values())


def group_hits(hits: Sequence[Hit], g: Grouping, k: int) -> list[Hit]:
    """The first ``k`` groups of a ranking (only full ones when ``g.strict``), flattened:
    each group's hits together, groups in the order of their best hit."""
    groups = _groups(hits, g)
    if g.strict:
        groups = [m for m in groups if len(m) == g.size]
    return [h for members in groups[:k] for h in members]


def settled(hits: Sequence[Hit], g: Grouping, k: int) -> bool:
    """Whether a deeper ranking can no longer change :func:`group_hits`: the first ``k``
    groups (by best hit) are all full. (Later hits start later groups or fall in full ones.)"""
    groups = _groups(hits, g)
    return len(groups) >= k and all(len(m) == g.size for m in groups[:k])


async def deepen_groups(
    fetch: Callable[[int], Awaitable[list[Hit]]],
    g: Grouping,
    k: int,
    *,
    start: int,
    limit: int = MAX_CANDIDATES,
) -> list[Hit]:
    """Client-side grouping: ``fetch(n)`` (the top ``n`` chunks) with ``n`` growing from
    ``start`` by 4x until the first ``k`` groups are full, the candidates run out (fewer
    than ``n`` came back) or ``limit`` is reached; then :func:`group_hits`."""
    n = max(1, min(limit, start))
    while True:
        hits = await fetch(n)
        if settled(hits, g, k) or len(hits) < n or n >= limit:
            return group_hits(hits, g, k)
        n = min(limit, n * GROWTH)
