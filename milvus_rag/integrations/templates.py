"""Prepared search requests by the shape of a call, so that a front validates, maps and
compiles a call's options once per shape instead of once per query.

A front's search turns its framework's arguments (keyword options, a filter, the store's
settings) into one prepared :class:`~milvus_rag.client.request.SearchRequest`: validated,
its filter compiled. Only the query (text, vector) differs between two calls of the same
shape, and :meth:`SearchRequest.for_query` gives the request for another query, everything
else as it is. :class:`Templates` keeps the prepared request of each shape, keyed by
:func:`shape_key` (values with their types: ``1``, ``1.0`` and ``True`` differ; ``None``
when a value is not plain data, then nothing is cached), and forgets them all when the
collection's config changes (it is replaced on every change: an adopted schema, a dim).

Example:
    >>> shape_key("search", {"filter": {"a": 1}}) == shape_key("search", {"filter": {"a": 1}})
    True
    >>> shape_key("search", {"filter": {"a": 1}}) == shape_key("search", {"filter": {"a": True}})
    False
    >>> shape_key("search", {"embedder": object()}) is None
    True
"""

from __future__ import annotations

from collections.abc import Hashable
from enum import Enum
from typing import Any

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.request import SearchRequest

__all__ = ["Templates", "shape_key"]

#: shapes kept per store (a front rarely sees more; past it, the cache starts again)
SHAPES = 64


def shape_key(*parts: Any) -> Hashable | None:
    """A hashable key, equal for parts that are equal with the same types and the same
    order (plain data: ``None``, ``str``, numbers, ``bool``, enums, and dicts / lists /
    tuples of them: two keys are equal exactly where the parts' ``repr`` are), or ``None``
    if a part is anything else."""
    try:
        return _items(parts)
    except _NotPlain:
        return None


class _NotPlain(Exception):
    """A value :func:`shape_key` does not key."""


_TAGGED = frozenset({int, float, bool, type(None)})


def _items(values: Any) -> tuple[Hashable, ...]:
    """The keys of ``values`` (scalars inline: a function call costs more than a key)."""
    out: list[Hashable] = []
    for value in values:
        t = type(value)
        if t is str:
            out.append(value)
        elif t in _TAGGED:  # 1, 1.0 and True are equal in Python
            out.append((t, value.hex() if t is float else value))  # 0.0 and -0.0 too
        elif t is dict:
            keys = tuple(value)
            if not all(type(k) is str for k in keys):
                raise _NotPlain
            out.append((dict, keys, _items(value.values())))
        elif t is list or t is tuple:
            out.append((t, _items(value)))
        elif isinstance(value, Enum):
            out.append((t, value))
        else:
            raise _NotPlain
    return tuple(out)


class Templates:
    """The prepared request of each call shape of one front, for its current config.

    Example:
        >>> t = Templates()
        >>> t.get(None, ("k", 1)) is None
        True
    """

    def __init__(self) -> None:
        self._config: CollectionConfig | None = None
        self._by_key: dict[Hashable, SearchRequest] = {}

    def get(self, config: CollectionConfig | None, key: Hashable | None) -> SearchRequest | None:
        """The request prepared for ``key`` under ``config`` (``None``: none yet)."""
        if config is not self._config:
            self._by_key.clear()
            self._config = config
        return None if key is None else self._by_key.get(key)

    def put(self, key: Hashable | None, request: SearchRequest) -> SearchRequest:
        """Keep ``request`` (prepared under the config last given to :meth:`get`) for
        ``key``; returns it."""
        if key is not None:
            if len(self._by_key) >= SHAPES:
                self._by_key.clear()
            self._by_key[key] = request
        return request
