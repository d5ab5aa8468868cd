"""The filter tree: parse the dict language into validated nodes, and evaluate a node on a
row in pure Python (the reference semantics the compiler in :mod:`filters` must match).

Example:
    >>> node = parse_filter({"year": {"$gte": 2020}})
    >>> evaluate(node, {"id": "a", "doc_id": "", "metadata": {"year": 2021}})
    True
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, cast

from milvus_rag.client.errors import ConfigError, FilterError

Scalar: TypeAlias = str | int | float | bool
CompareOp: TypeAlias = Literal["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"]

#: Filter keys that address the scalar VARCHAR fields instead of a metadata path.
SCALAR_KEYS: frozenset[str] = frozenset({"id", "doc_id"})
COMPARE_OPS: frozenset[str] = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"})
_RANGE_OPS = frozenset({"$gt", "$gte", "$lt", "$lte"})
#: Operators allowed inside a field's operator dict.
FIELD_OPS: frozenset[str] = COMPARE_OPS | {
    "$in",
    "$nin",
    "$contains",
    "$any",
    "$all",
    "$exists",
    "$not",
    "$contains_text",
    "$icontains_text",
}
_LOGICAL_OPS = frozenset({"$and", "$or", "$not"})
_INT64_MAX = 2**63 - 1
OP_SYMBOL = {"$eq": "==", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
INVERSE_OP: dict[str, CompareOp] = {
    "$eq": "$ne",
    "$ne": "$eq",
    "$gt": "$lte",
    "$gte": "$lt",
    "$lt": "$gte",
    "$lte": "$gt",
}
_FORBIDDEN_KEY_CHARS = frozenset("\"'\\[]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS_HINT = "supported: " + ", ".join(sorted(FIELD_OPS | _LOGICAL_OPS))


@dataclass(frozen=True)
class FieldNames:
    """Schema names of the fields that the keys ``id``, ``doc_id`` and metadata paths address.

    ``storage``: where metadata keys without a column live: the JSON field ``metadata``
    (``metadata["a"]["b"]``), Milvus dynamic fields (``a["b"]``, or ``$meta["a"]`` for a
    key that is not an identifier), or nowhere (``"columns"``: only typed columns can be
    filtered). ``id_type="int64"``: the primary key is an INT64 (ids compare as ints).
    ``has_doc_id=False``: the collection has no doc_id field (the key is an error).
    """

    id: str = "id"
    doc_id: str = "doc_id"
    metadata: str = "metadata"
    storage: Literal["json", "dynamic", "columns"] = "json"
    id_type: Literal["varchar", "int64"] = "varchar"
    has_doc_id: bool = True

    def __post_init__(self) -> None:
        for name in (self.id, self.doc_id, self.metadata):
            if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
                raise ConfigError(
                    f"invalid field name {name!r}: use letters, digits and '_', "
                    f"not starting with a digit"
                )

    def scalar(self, key: str) -> str:
        """The schema field of the scalar key ``"id"`` or ``"doc_id"``."""
        return self.id if key == "id" else self.doc_id


# --- validation -------------------------------------------------------------------------


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise FilterError(
            f"invalid filter key {key!r}: keys are non-empty strings, 'id', 'doc_id' or a "
            f"dotted metadata path such as 'author.name'"
        )
    if key in SCALAR_KEYS:
        return key
    if key.startswith("$"):
        raise FilterError(
            f"unknown operator {key!r} at the top of a filter: use $and, $or or $not there, "
            f"and put field operators under a key, e.g. {{'year': {{'$gt': 2020}}}}"
        )
    for i, segment in enumerate(key.split(".")):
        if not segment:
            raise FilterError(
                f"invalid filter key {key!r}: empty path segment; write dotted paths such as "
                f"'author.name' (no leading, trailing or double dots)"
            )
        bad = sorted({c for c in segment if c in _FORBIDDEN_KEY_CHARS or not c.isprintable()})
        if bad:
            raise FilterError(
                f"invalid filter key {key!r}: the characters {bad!r} cannot be addressed "
                f"safely in a Milvus JSON path; rename the metadata key (letters, digits, "
                f"spaces and most punctuation are fine)"
            )
        if i > 0 and segment.isascii() and segment.isdigit():
            raise FilterError(
                f"invalid filter key {key!r}: the nested segment {segment!r} is all digits, "
                f"which Milvus reads as an array index; rename the metadata key"
            )
    return key


def check_text(value: str, where: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise FilterError(
            f"{where}: the string {value!r} is not valid Unicode text (lone surrogate); "
            f"pass a properly decoded str"
        ) from exc
    return value


def _check_value(value: object, where: str) -> Scalar:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        if not -_INT64_MAX <= value <= _INT64_MAX:
            raise FilterError(
                f"{where}: the integer {value} is outside the int64 range Milvus supports "
                f"(±{_INT64_MAX}); store and filter it as a string or a float"
            )
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FilterError(f"{where}: {value!r} cannot be compared; use a finite number")
        return float(value)
    if isinstance(value, str):
        return check_text(str(value), where)
    if value is None:
        raise FilterError(
            f"{where}: None is not a value here; use {{'$exists': False}} (or $eq/$ne None) "
            f"to test for a missing key"
        )
    if isinstance(value, Mapping):
        raise FilterError(
            f"{where}: a dict is not a value; address nested keys with a dotted path such as "
            f"'author.name', and write operators as {{'$gt': 5}}"
        )
    if isinstance(value, list | tuple | set | frozenset):
        raise FilterError(
            f"{where}: a list is not a value; use {{'$in': [...]}} for one of several values, "
            f"{{'$contains': v}}, {{'$any': [...]}} or {{'$all': [...]}} for arrays"
        )
    raise FilterError(
        f"{where}: unsupported value {value!r} of type {type(value).__name__}; "
        f"use str, int, float or bool"
    )


def _check_values(values: object, where: str) -> tuple[Scalar, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, list | tuple | set | frozenset):
        raise FilterError(f"{where}: expected a list of values, got {values!r}")
    out: list[Scalar] = []
    seen: set[tuple[str, Scalar]] = set()
    for v in values:
        checked = _check_value(v, where)
        mark = (_kind(checked), checked)
        if mark not in seen:
            seen.add(mark)
            out.append(checked)
    return tuple(out)


def _check_scalar_field_value(key: str, value: Scalar, where: str) -> None:
    if key in SCALAR_KEYS and not isinstance(value, str):
        raise FilterError(
            f"{where}: {key!r} is a string field; compare it with a str such as "
            f"{str(value)!r}, not {value!r}"
        )


# --- node tree --------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    """``key <op> value`` with op one of ``$eq $ne $gt $gte $lt $lte``."""

    key: str
    op: CompareOp
    value: Scalar

    def __post_init__(self) -> None:
        _check_key(self.key)
        if self.op not in COMPARE_OPS:
            raise FilterError(f"unknown comparison {self.op!r}; use one of {sorted(COMPARE_OPS)}")
        where = f"{self.key!r} {self.op}"
        value = _check_value(self.value, where)
        if self.op in _RANGE_OPS and isinstance(value, bool):
            raise FilterError(f"{where}: ordering needs a number or a str, not a bool")
        _check_scalar_field_value(self.key, value, where)
        object.__setattr__(self, "value", value)


@dataclass(frozen=True)
class In:
    """``key`` is present and equal to one of ``values`` (none: matches nothing)."""

    key: str
    values: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        _check_key(self.key)
        where = f"{self.key!r} $in"
        values = _check_values(self.values, where)
        for v in values:
            _check_scalar_field_value(self.key, v, where)
        object.__setattr__(self, "values", values)


@dataclass(frozen=True)
class Contains:
    """``key`` is a JSON array holding all (``mode="all"``) or any of ``values``."""

    key: str
    values: tuple[Scalar, ...]
    mode: Literal["all", "any"] = "all"

    def __post_init__(self) -> None:
        _check_key(self.key)
        op = "$all" if self.mode == "all" else "$any"
        where = f"{self.key!r} {op}"
        if self.mode not in ("all", "any"):
            raise FilterError(f"{self.key!r}: Contains mode is 'all' or 'any', not {self.mode!r}")
        if self.key in SCALAR_KEYS:
            raise FilterError(
                f"{where}: {self.key!r} is a string field, not an array; use $eq or $in"
            )
        values = _check_values(self.values, where)
        if self.mode == "all" and not values:
            raise FilterError(f"{where}: give at least one value to $all")
        object.__setattr__(self, "values", values)


@dataclass(frozen=True)
class Exists:
    """``key`` is present (the path resolves to a non-null value)."""

    key: str

    def __post_init__(self) -> None:
        _check_key(self.key)


@dataclass(frozen=True)
class And:
    """All children hold."""

    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "children", _check_children(self.children, "$and"))


@dataclass(frozen=True)
class Or:
    """At least one child holds."""

    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "children", _check_children(self.children, "$or"))


@dataclass(frozen=True)
class Not:
    """The exact complement of the child."""

    child: Node

    def __post_init__(self) -> None:
        if not isinstance(self.child, _NODE_TYPES):
            raise FilterError(f"$not: expected a filter node, got {self.child!r}")


@dataclass(frozen=True)
class Substring:
    """``key`` is a string holding ``value`` (``ignore_case``: compared lower-cased)."""

    key: str
    value: str
    ignore_case: bool = False

    def __post_init__(self) -> None:
        _check_key(self.key)
        op = "$icontains_text" if self.ignore_case else "$contains_text"
        if not isinstance(self.value, str):
            raise FilterError(
                f"{self.key!r} {op}: expected the text to look for (a str), got {self.value!r}"
            )
        check_text(self.value, f"{self.key!r} {op}")


Node: TypeAlias = Compare | In | Contains | Exists | Substring | And | Or | Not
Leaf: TypeAlias = Compare | In | Contains | Exists | Substring
_NODE_TYPES = (Compare, In, Contains, Exists, Substring, And, Or, Not)


def _check_children(children: object, op: str) -> tuple[Node, ...]:
    if not isinstance(children, list | tuple) or not children:
        raise FilterError(f"{op}: expected a non-empty list of filters, got {children!r}")
    for child in children:
        if not isinstance(child, _NODE_TYPES):
            raise FilterError(f"{op}: expected filter nodes, got {child!r}")
    return tuple(cast("Iterable[Node]", children))


# --- parsing ----------------------------------------------------------------------------


def parse_filter(obj: object) -> Node | None:
    """Parse a filter dict (or pass a node through) into a validated node tree.

    ``None`` and ``{}`` give ``None`` (no filter). Raises :class:`FilterError`.
    """
    if obj is None:
        return None
    if isinstance(obj, _NODE_TYPES):
        return obj
    if not isinstance(obj, Mapping):
        raise FilterError(
            f"a filter is a dict such as {{'source': 'a.pdf'}} (or a raw Milvus expression "
            f"string where accepted), got {type(obj).__name__}: {obj!r}"
        )
    if not obj:
        return None
    return _parse_dict(obj, "filter")


def _parse_dict(obj: object, where: str) -> Node:
    if not isinstance(obj, Mapping):
        raise FilterError(f"{where}: expected a filter dict, got {obj!r}")
    if not obj:
        raise FilterError(f"{where}: empty filter dict; remove it or give at least one condition")
    clauses: list[Node] = []
    for key, value in obj.items():
        if isinstance(key, str) and key in ("$and", "$or"):
            if not isinstance(value, list | tuple) or not value:
                raise FilterError(
                    f"{key}: expected a non-empty list of filter dicts, got {value!r}"
                )
            children = tuple(_parse_dict(v, key) for v in value)
            if len(children) == 1:
                clauses.append(children[0])
            else:
                clauses.append(And(children) if key == "$and" else Or(children))
        elif isinstance(key, str) and key == "$not":
            clauses.append(Not(_parse_dict(value, "$not")))
        elif isinstance(key, str) and key in FIELD_OPS:
            raise FilterError(
                f"{key} must be applied to a key, e.g. {{'year': {{{key!r}: ...}}}}; at the top "
                f"of a filter only $and, $or and $not are allowed"
            )
        else:
            clauses.append(_parse_field(_check_key(key), value))
    return clauses[0] if len(clauses) == 1 else And(tuple(clauses))


def _parse_field(key: str, value: object) -> Node:
    if isinstance(value, Mapping):
        if not value:
            raise FilterError(f"{key!r}: empty operator dict; give e.g. {{'$eq': v}}")
        if not all(isinstance(op, str) and op.startswith("$") for op in value):
            raise FilterError(
                f"{key!r}: a dict is not a value; address nested keys with a dotted path "
                f"such as '{key}.sub', and write operators as {{'$gt': 5}}"
            )
        parts = [_parse_op(key, op, arg) for op, arg in value.items()]
        return parts[0] if len(parts) == 1 else And(tuple(parts))
    if value is None:
        return Not(Exists(key))
    return Compare(key, "$eq", _check_value(value, repr(key)))


def _parse_op(key: str, op: str, arg: object) -> Node:
    where = f"{key!r} {op}"
    if op in ("$eq", "$ne"):
        if arg is None:
            return Not(Exists(key)) if op == "$eq" else Exists(key)
        return Compare(key, cast("CompareOp", op), _check_value(arg, where))
    if op in _RANGE_OPS:
        return Compare(key, cast("CompareOp", op), _check_value(arg, where))
    if op in ("$in", "$nin"):
        node: Node = In(key, _check_values(arg, where))
        return node if op == "$in" else Not(node)
    if op == "$contains":
        return Contains(key, (_check_value(arg, where),), "all")
    if op in ("$any", "$all"):
        return Contains(key, _check_values(arg, where), "any" if op == "$any" else "all")
    if op in ("$contains_text", "$icontains_text"):
        return Substring(key, arg, ignore_case=op == "$icontains_text")  # type: ignore[arg-type]
    if op == "$exists":
        if not isinstance(arg, bool):
            raise FilterError(f"{where}: expected True or False, got {arg!r}")
        return Exists(key) if arg else Not(Exists(key))
    if op == "$not":
        if not isinstance(arg, Mapping) or not arg:
            raise FilterError(
                f"{where}: expected an operator dict such as {{'$gt': 5}}, got {arg!r} "
                f"(for 'not equal' use $ne)"
            )
        return Not(_parse_field(key, arg))
    raise FilterError(f"{where}: unknown operator {op!r}; {_OPS_HINT}")


# --- evaluation (the reference semantics) -----------------------------------------------

_MISSING: Any = object()


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "other"


def _equal(found: object, value: Scalar) -> bool:
    kind = _kind(value)
    return _kind(found) == kind and found == value


def _resolve(key: str, row: Mapping[str, Any], fields: FieldNames) -> Any:
    if key in SCALAR_KEYS:
        found = row.get(fields.scalar(key))
        return _MISSING if found is None else found
    current: Any = row.get(fields.metadata)
    if isinstance(current, str | bytes):
        current = json.loads(current)
    for segment in key.split("."):
        if not isinstance(current, Mapping):
            return _MISSING
        current = current.get(segment)
        if current is None:
            return _MISSING
    return current


def evaluate(
    node_or_dict: object, row: Mapping[str, Any], fields: FieldNames = FieldNames()
) -> bool:
    """Whether ``row`` (``{id, doc_id, metadata}``) matches the filter: the reference semantics."""
    node = parse_filter(node_or_dict)
    return True if node is None else _eval(node, row, fields)


def _eval(node: Node, row: Mapping[str, Any], fields: FieldNames) -> bool:
    if isinstance(node, And):
        return all(_eval(c, row, fields) for c in node.children)
    if isinstance(node, Or):
        return any(_eval(c, row, fields) for c in node.children)
    if isinstance(node, Not):
        return not _eval(node.child, row, fields)
    found = _resolve(node.key, row, fields)
    present = found is not _MISSING
    if isinstance(node, Exists):
        return present
    if isinstance(node, Substring):
        if not present or not isinstance(found, str):
            return False
        if node.ignore_case:
            return node.value.lower() in found.lower()
        return node.value in found
    if isinstance(node, In):
        return present and any(_equal(found, v) for v in node.values)
    if isinstance(node, Contains):
        if not isinstance(found, list | tuple):
            return False
        hits = (any(_equal(item, v) for item in found) for v in node.values)
        return all(hits) if node.mode == "all" else any(hits)
    if node.op == "$eq":
        return present and _equal(found, node.value)
    if node.op == "$ne":
        return not (present and _equal(found, node.value))
    kind = _kind(node.value)
    if not present or _kind(found) != kind:
        return False
    a, b = found, node.value
    if node.op == "$gt":
        return bool(a > b)
    if node.op == "$gte":
        return bool(a >= b)
    if node.op == "$lt":
        return bool(a < b)
    return bool(a <= b)


# --- compilation ------------------------------------------------------------------------
