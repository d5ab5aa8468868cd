"""LlamaIndex ``MetadataFilters`` -> the core's filter dict language: pure, no I/O.

The dict is compiled (and validated, escaped, pushed down for the backend) by
:func:`milvus_rag.client.filters.compile_filter`; nothing is dropped: whatever has no exact
equivalent raises :class:`~milvus_rag.client.errors.FilterError`.

Operators (``k`` is a metadata key or dotted path; ``id`` / ``doc_id`` are the row's node id
and ``ref_doc_id``):

==========================  ==============================================================
``EQ v`` / ``NE v``         ``{k: {"$eq": v}}`` / ``{k: {"$ne": v}}``; ``v=None``:
                            ``{k: {"$exists": False}}`` / ``{k: {"$exists": True}}``
``GT GTE LT LTE``           ``$gt $gte $lt $lte`` (a number or a str)
``IN`` / ``NIN``            ``$in`` / ``$nin`` (a list)
``CONTAINS v``              ``$contains`` (the metadata value is a list holding ``v``)
``ANY`` / ``ALL``           ``$any`` / ``$all`` (a list)
``IS_EMPTY``                ``{k: {"$exists": False}}``: the key is missing or its value
                            is null. An empty list ``[]`` or an empty string is a value
                            and does not match (the core language cannot test for an
                            empty array).
``TEXT_MATCH v``             ``{k: {"$contains_text": v}}``: the value is a str holding
                            ``v`` (LlamaIndex's reference: ``v in value``)
``TEXT_MATCH_INSENSITIVE``  ``{k: {"$icontains_text": v}}``: the same, lower-cased
==========================  ==============================================================

Conditions: ``AND`` -> ``$and``, ``OR`` -> ``$or``, ``NOT`` -> ``$not`` of the ``$or`` of its
filters (LlamaIndex's reference semantics: none of the filters holds), nested to any depth. An
empty ``MetadataFilters`` is no constraint.

Example:
    >>> from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
    >>> metadata_filters_to_dict(MetadataFilters(filters=[
    ...     MetadataFilter(key="year", value=2020, operator=">")]))
    {'year': {'$gt': 2020}}
"""

from __future__ import annotations

from typing import Any

from milvus_rag.client.errors import FilterError
from milvus_rag.sources import canonical_filter

try:
    from llama_index.core.vector_stores.types import (
        FilterCondition,
        FilterOperator,
        MetadataFilter,
        MetadataFilters,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "milvus_rag.integrations.llama_index needs llama-index-core: "
        'pip install "milvus-rag[llama-index]"'
    ) from exc

__all__ = ["combine_filters", "metadata_filters_to_dict"]

#: A filter that matches nothing, in the core language (an empty ``$in``).
MATCH_NONE: dict[str, Any] = {"id": {"$in": []}}

_SIMPLE = {
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
}
_LISTS = {
    FilterOperator.IN: "$in",
    FilterOperator.NIN: "$nin",
    FilterOperator.ANY: "$any",
    FilterOperator.ALL: "$all",
}

# The result of a conversion: a filter dict, or a constant (True: every row, False: none).
_Out = dict[str, Any] | bool


def metadata_filters_to_dict(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """The core filter dict for ``filters``; ``None`` when it constrains nothing."""
    if filters is None:
        return None
    out = _convert(filters)
    if out is True:
        return None
    if out is False:
        return dict(MATCH_NONE)
    canon: dict[str, Any] = canonical_filter(out)  # a source as given or as ingest stores it
    return canon


def combine_filters(*parts: dict[str, Any] | None) -> dict[str, Any] | None:
    """``$and`` of the non-empty filter dicts (``None`` if there are none)."""
    kept = [p for p in parts if p]
    if not kept:
        return None
    return kept[0] if len(kept) == 1 else {"$and": kept}


def _convert(filters: MetadataFilters) -> _Out:
    if not isinstance(filters, MetadataFilters):
        raise FilterError(f"expected MetadataFilters, got {type(filters).__name__}")
    parts: list[_Out] = []
    for f in filters.filters:
        if isinstance(f, MetadataFilters):
            parts.append(_convert(f))
        elif isinstance(f, MetadataFilter):
            parts.append(_leaf(f))
        else:
            raise FilterError(f"expected MetadataFilter or MetadataFilters, got {f!r}")
    if not parts:
        return True  # LlamaIndex: an empty filter list matches everything
    condition = FilterCondition(filters.condition or FilterCondition.AND)
    if condition is FilterCondition.NOT:
        inner = _join(parts, "$or")
        if isinstance(inner, bool):
            return not inner
        return {"$not": inner}
    if condition is FilterCondition.OR:
        return _join(parts, "$or")
    if condition is FilterCondition.AND:
        return _join(parts, "$and")
    raise FilterError(f"unknown filter condition {filters.condition!r}; use AND, OR or NOT")


def _join(parts: list[_Out], op: str) -> _Out:
    absorbing = op == "$or"  # True absorbs an OR, False absorbs an AND
    kept: list[dict[str, Any]] = []
    for p in parts:
        if p is absorbing:
            return absorbing
        if isinstance(p, dict):
            kept.append(p)
    if not kept:
        return not absorbing
    return kept[0] if len(kept) == 1 else {op: kept}


def _leaf(f: MetadataFilter) -> dict[str, Any]:
    key, value = f.key, f.value
    op = FilterOperator(f.operator)
    where = f"filter on {key!r} ({op.name})"
    if op in (FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE):
        if not isinstance(value, str):
            raise FilterError(f"{where}: expected the text to look for (a str), got {value!r}")
        insensitive = op is FilterOperator.TEXT_MATCH_INSENSITIVE
        return {key: {"$icontains_text" if insensitive else "$contains_text": value}}
    if op is FilterOperator.IS_EMPTY:
        return {key: {"$exists": False}}
    if op in (FilterOperator.EQ, FilterOperator.NE):
        if value is None:
            return {key: {"$exists": op is FilterOperator.NE}}
        if isinstance(value, list):
            raise FilterError(
                f"{where}: a list is not a value; use IN / NIN for one of several values, "
                f"ANY / ALL / CONTAINS for list-valued metadata"
            )
        return {key: {"$eq" if op is FilterOperator.EQ else "$ne": value}}
    if op in _SIMPLE:
        if value is None or isinstance(value, list):
            raise FilterError(f"{where}: expected a number or a str, got {value!r}")
        return {key: {_SIMPLE[op]: value}}
    if op in _LISTS:
        if not isinstance(value, list):
            raise FilterError(
                f"{where}: expected a list of values, got {value!r}"
                + (
                    "; for a single list element use CONTAINS"
                    if op in (FilterOperator.ANY, FilterOperator.ALL)
                    else "; for one value use EQ / NE"
                )
            )
        return {key: {_LISTS[op]: list(value)}}
    if op is FilterOperator.CONTAINS:
        if value is None or isinstance(value, list):
            raise FilterError(
                f"{where}: expected one value (the list element), got {value!r}; use ANY / ALL "
                f"for several"
            )
        return {key: {"$contains": value}}
    raise FilterError(f"{where}: unsupported filter operator {f.operator!r}")
