"""LangChain's structured queries (self-query retrievers) -> milvus-rag's filter dict.

:class:`MilvusRAGTranslator` is a ``langchain_core.structured_query.Visitor``: give it to a
self-query retriever (``structured_query_translator=MilvusRAGTranslator()``) and the filters an
LLM writes run on either milvus-rag LangChain store, compiled, escaped and (where a backend
cannot express a part) checked client-side by the core like every other filter. Pure.

==============  ===========================================================================
``eq ne``       ``$eq`` / ``$ne``
``gt gte``      ``$gt`` / ``$gte`` (and ``lt lte``): a number or a str
``in nin``      ``$in`` / ``$nin`` (a single value is a list of one)
``contain v``   a str ``v``: the value is a string holding ``v`` or a list holding ``v``
                (``$contains_text`` or ``$contains``); another ``v``: ``$contains``
``like v``      ``$contains_text`` of ``v`` without its leading and trailing ``%`` (a
                substring, case-sensitive; ``%`` and ``_`` inside are plain characters)
``and or``      ``$and`` / ``$or``
``not``         ``$not`` (of several arguments: none of them holds)
==============  ===========================================================================

Dates as LangChain's query constructor writes them (``{"type": "date", "date": "2024-01-31"}``)
compare as their ISO strings.

Example:
    >>> from langchain_core.structured_query import Comparator, Comparison
    >>> MilvusRAGTranslator().visit_comparison(Comparison(comparator=Comparator.GT,
    ...     attribute="year", value=2020))
    {'year': {'$gt': 2020}}
"""

from __future__ import annotations

from typing import Any

from langchain_core.structured_query import (
    Comparator,
    Comparison,
    Operation,
    Operator,
    StructuredQuery,
    Visitor,
)

from milvus_rag.client.errors import FilterError

__all__ = ["MilvusRAGTranslator"]

_SIMPLE = {
    Comparator.EQ: "$eq",
    Comparator.NE: "$ne",
    Comparator.GT: "$gt",
    Comparator.GTE: "$gte",
    Comparator.LT: "$lt",
    Comparator.LTE: "$lte",
}


def _value(value: Any) -> Any:
    """A comparison value: LangChain's date objects become their ISO string."""
    if isinstance(value, dict) and value.get("type") in ("date", "datetime"):
        return value.get(value["type"])
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    return value


class MilvusRAGTranslator(Visitor):
    """Translate LangChain's structured query language into milvus-rag's filter dict."""

    allowed_comparators = tuple(Comparator)
    allowed_operators = tuple(Operator)

    def visit_operation(self, operation: Operation) -> dict[str, Any]:
        """``and`` / ``or`` / ``not`` of the translated arguments."""
        self._validate_func(operation.operator)
        args: list[dict[str, Any]] = [a.accept(self) for a in operation.arguments]
        if not args:
            raise FilterError(f"{operation.operator.value}: give at least one condition")
        if operation.operator is Operator.NOT:
            return {"$not": args[0] if len(args) == 1 else {"$or": args}}
        if len(args) == 1:
            return args[0]
        return {f"${operation.operator.value}": args}

    def visit_comparison(self, comparison: Comparison) -> dict[str, Any]:
        """One condition on one metadata key."""
        self._validate_func(comparison.comparator)
        key, op, value = comparison.attribute, comparison.comparator, _value(comparison.value)
        if op in _SIMPLE:
            return {key: {_SIMPLE[op]: value}}
        if op in (Comparator.IN, Comparator.NIN):
            values = value if isinstance(value, list) else [value]
            return {key: {"$in" if op is Comparator.IN else "$nin": values}}
        if op is Comparator.CONTAIN:
            if isinstance(value, str):
                return {"$or": [{key: {"$contains_text": value}}, {key: {"$contains": value}}]}
            return {key: {"$contains": value}}
        if not isinstance(value, str):
            raise FilterError(f"like on {key!r}: expected a str pattern, got {value!r}")
        return {key: {"$contains_text": value.strip("%")}}

    def visit_structured_query(
        self, structured_query: StructuredQuery
    ) -> tuple[str, dict[str, Any]]:
        """``(query, search kwargs)``: the filter under ``filter`` when there is one."""
        if structured_query.filter is None:
            return structured_query.query, {}
        return structured_query.query, {"filter": structured_query.filter.accept(self)}
