"""Metadata filters: a small dict language, its node tree, a Python oracle, and a compiler
to escaped Milvus boolean expressions. Pure: no I/O, no pymilvus.

Rows and keys
-------------
A filter selects rows ``{id, doc_id, metadata}``. The keys ``"id"`` and ``"doc_id"`` address
the scalar VARCHAR fields (their schema names come from :class:`FieldNames`). Any other key
is a dotted path into the JSON ``metadata`` field: ``"a.b"`` is ``metadata["a"]["b"]``. A
metadata key is *present* when the path resolves and the value is not ``None``; JSON
``null`` counts as missing. The scalar fields are never missing and only take ``str``
values. A path segment holds no ``"``, ``'``, ``\\``, ``[``, ``]``, ``.`` or control
character, the key does not start with ``$``, and a segment after the first is not all
digits (Milvus would read it as an array index). A metadata key literally named ``id``
or ``doc_id`` cannot be addressed.

Language (dicts, like Mongo)
----------------------------
::

    {"source": "a.pdf"}                                    # $eq shorthand; keys are ANDed
    {"year": {"$gte": 2020}, "lang": {"$in": ["en", "de"]}}  # ops in one dict are ANDed
    {"$or": [{"tag": {"$contains": "x"}}, {"$not": {"draft": True}}]}
    {"k": {"$not": {"$gt": 5}}}                            # field-level $not

Semantics (two-valued; :func:`evaluate` is the reference):

- ``$eq v``: present and equal. Values are ``str``, ``int`` (int64), finite ``float`` and
  ``bool``. A bool equals only a bool (``True != 1``); numbers compare numerically
  (``1 == 1.0``); strings exactly. ``$eq None`` is ``$exists False``; ``$ne None`` is
  ``$exists True``.
- ``$ne``: the exact complement of ``$eq`` (it matches rows without the key);
  ``$nin``: the exact complement of ``$in``.
- ``$gt $gte $lt $lte`` (a number, not a bool, or a str): present, of the same kind
  (number vs number, str vs str), and the comparison holds.
- ``$in [..]``: present and equal to one of the values; ``[]`` matches nothing.
- ``$contains v``: the value is a JSON array holding an element equal to ``v``;
  ``$any [..]``: the array holds any of them (``[]`` matches nothing); ``$all [..]``
  (non-empty): the array holds all of them.
- ``$contains_text s`` (a str): the value is a string holding ``s``; ``$icontains_text s``:
  the same, both lower-cased. Sent as ``P like "%s%"`` where exact (see
  :mod:`milvus_rag.client.substring`), else checked client-side.
- ``$exists bool``; ``$and``/``$or``: non-empty lists of filters; ``$not``: the exact
  logical complement of its sub-filter.

Anything else (unknown operator, list value without ``$in``, NaN, a nested dict as a value,
an empty or unsafe key, an int outside int64, ...) raises :class:`FilterError` saying how to
fix it.

Compilation
-----------
Negation is pushed to the leaves (De Morgan); ``$in`` on a JSON path becomes a disjunction
of ``==`` (Milvus Lite 3 rejects ``in`` on JSON paths and Milvus Lite 2.5 crashes on a mixed
int/float list); ``id in [...]`` is kept on the scalar fields. Per leaf, with ``P`` the path
``metadata["a"]["b"]``:

- ``$eq v``: ``P == v`` on both.
- ``$ne v``: ``P != v`` (LITE25); ``(not exists P or P != v)`` (MILVUS).
- ``$gt v`` (and the other ranges): ``P > v`` on both. Negated: FilterError (LITE25);
  ``(not exists P or not (P > v) or K)`` (MILVUS).
- ``$in [a, b]``: ``(P == a or P == b)`` on both. ``$nin [a, b]``: ``(P != a and P != b)``
  (LITE25); ``(not exists P or (P != a and P != b))`` (MILVUS).
- ``$contains v``, ``$any``, ``$all``: ``json_contains(P, v)``, ``json_contains_any(P, [..])``,
  ``json_contains_all(P, [..])`` on both. Negated: FilterError (LITE25);
  ``not (json_contains(...))`` (MILVUS).
- ``$exists``: FilterError (LITE25); ``exists P`` / ``not exists P`` (MILVUS).
- constants (empty ``$in``, ``$exists`` on ``id``): ``(id == "" and id != "")`` and
  ``(id == "" or id != "")``, folded away inside ``and``/``or``.

``K`` catches present values of the other kind, which a server using SQL three-valued logic
(Milvus Lite 3) leaves out of ``not (...)``: ``P >= ""`` (strings) when ``v`` is a number,
``P < 0 or P >= 0`` (numbers) when ``v`` is a str. On the scalar fields a negated leaf takes
the inverse operator (``id != v``, ``id <= v``, ``id not in [...]``), exact on both.

Measured on the engines: the embedded Milvus Lite 2.5 engine rejects ``not (...)``,
``exists`` and ``is null`` on JSON; its ``!=`` matches missing and null keys, so ``!=``
leaves are exact there. A filter that needs NOT or EXISTS on a metadata key (``$exists``,
``$eq/$ne None``, a negated range, ``$contains``, ``$any`` or ``$all``) raises
:class:`FilterError` on ``LITE25`` rather than returning different rows. The Milvus Lite 3
server compares JSON values with Python semantics: there ``true == 1`` and ``false == 0``
(keep bools and numbers under different keys), and a negated range does not match a key
holding an array or an object.

String literals and id lists: :mod:`milvus_rag.client.literals`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from milvus_rag.client.errors import FilterError
from milvus_rag.client.filter_tree import (
    COMPARE_OPS,
    FIELD_OPS,
    INVERSE_OP,
    OP_SYMBOL,
    SCALAR_KEYS,
    And,
    Compare,
    CompareOp,
    Contains,
    Exists,
    FieldNames,
    In,
    Node,
    Not,
    Or,
    Scalar,
    Substring,
    evaluate,
    parse_filter,
)
from milvus_rag.client.literals import (
    Dialect,
    Inexpressible,
    false_expr,
    ids_expr,
    int_id_literal,
    literal,
    string_literal,
    true_expr,
)
from milvus_rag.client.substring import like_pattern

__all__ = [
    "COMPARE_OPS",
    "FIELD_OPS",
    "SCALAR_KEYS",
    "And",
    "Compare",
    "CompareOp",
    "Contains",
    "Dialect",
    "Exists",
    "FieldNames",
    "In",
    "Node",
    "Not",
    "Or",
    "Scalar",
    "Substring",
    "compile_filter",
    "evaluate",
    "ids_expr",
    "parse_filter",
    "string_literal",
]


@dataclass(frozen=True)
class _Expr:
    """A compiled sub-expression; ``op`` is set when it is ``(a <op> b ...)``, ours."""

    text: str
    op: str | None = None

    def inner(self, op: str) -> str:
        """The text to join under ``op``: a same-op group is flattened."""
        return self.text[1:-1] if self.op == op else self.text


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: words of Milvus's expression grammar: a dynamic key spelled so is addressed as $meta["..."]
_KEYWORDS = frozenset(
    [
        "and",
        "or",
        "not",
        "in",
        "like",
        "exists",
        "is",
        "null",
        "true",
        "false",
        "json_contains",
        "json_contains_all",
        "json_contains_any",
        "array_contains",
        "array_contains_all",
        "array_contains_any",
        "array_length",
        "text_match",
    ]
)
_Out: TypeAlias = "_Expr | bool"  # True / False: constants, folded away in And/Or


ColumnType: TypeAlias = Literal["int64", "double", "varchar", "bool"]
_COLUMN_KIND = {"int64": "number", "double": "number", "varchar": "str", "bool": "bool"}
_ZERO: dict[str, Scalar] = {"int64": 0, "double": 0.0, "varchar": "", "bool": False}
#: JSON key listing the missing typed keys where columns cannot be null (see typed_fields)
NULLS_KEY = "_milvus_rag_nulls"


@dataclass(frozen=True)
class Column:
    """A filter key stored as its own scalar column (a typed metadata key, the tenant).

    ``nullable=False``: never missing (the tenant). Missing values are nulls on servers; on
    ``LITE25`` the column holds the zero value and ``metadata["_milvus_rag_nulls"][name]`` is
    ``true`` (no nullable fields there).
    """

    name: str
    element: ColumnType
    array: bool = False
    nullable: bool = True


@dataclass(frozen=True)
class _Ctx:
    dialect: Dialect
    fields: FieldNames
    columns: Mapping[str, Column] = field(default_factory=dict)
    #: relax: an inexpressible leaf becomes True (a superset) instead of raising
    relax: bool = False
    relaxed: list[bool] = field(default_factory=list)

    def path(self, key: str) -> str:
        segments = key.split(".")
        storage = self.fields.storage
        if storage == "json":
            return self.fields.metadata + "".join(f'["{s}"]' for s in segments)
        if storage == "columns":
            known = sorted(self.columns)
            raise FilterError(
                f"metadata key {segments[0]!r} is not a field of this collection: it stores "
                f"metadata as the columns {known} only"
            )
        head, rest = segments[0], "".join(f'["{s}"]' for s in segments[1:])
        if _IDENT.fullmatch(head) and head.lower() not in _KEYWORDS:
            return head + rest  # a dynamic field, by name (json_contains needs the name)
        return f'$meta["{head}"]' + rest

    def lit(self, value: Scalar) -> str:
        return literal(value, self.dialect)


@dataclass(frozen=True)
class FilterPlan:
    """What a backend is sent, and what the client must still check.

    ``expr`` (``None``: no condition) selects a superset of the filter's rows; ``residual``,
    when set, is the whole filter, to evaluate with :func:`evaluate` on each returned row
    (``{id, doc_id, metadata}``, the metadata as users see it). ``residual is None`` means
    ``expr`` is exact.
    """

    expr: str | None
    residual: Node | None = None


def compile_filter(
    obj: object,
    *,
    dialect: Dialect | str = Dialect.MILVUS,
    fields: FieldNames = FieldNames(),
    columns: Iterable[Column] = (),
) -> str | None:
    """Compile a filter (``None``, dict, node, or a raw expression ``str``) to a Milvus
    expression for ``dialect``; ``None`` means no filter.

    A ``str`` is the escape hatch: a raw Milvus expression, returned stripped and unchecked.
    Everything else is validated fully; :class:`FilterError` says what to change (also for a
    part the dialect cannot express exactly: :func:`plan_filter` splits those instead).
    ``columns`` are the keys stored as scalar columns (typed metadata fields, the tenant).
    """
    return _compile(obj, _Ctx(Dialect(dialect), fields, {c.name: c for c in columns})).expr


def plan_filter(
    obj: object,
    *,
    dialect: Dialect | str = Dialect.MILVUS,
    fields: FieldNames = FieldNames(),
    columns: Iterable[Column] = (),
) -> FilterPlan:
    """Like :func:`compile_filter`, but a part the dialect cannot express (NOT, EXISTS on
    Milvus Lite 2.5) is sent relaxed to a superset and the filter comes back as the residual
    to evaluate client-side. Raises :class:`FilterError` only for filters invalid everywhere.

    Example:
        >>> plan_filter({"k": {"$exists": True}}, dialect="lite25")
        FilterPlan(expr=None, residual=Exists(key='k'))
    """
    ctx = _Ctx(Dialect(dialect), fields, {c.name: c for c in columns}, relax=True)
    return _compile(obj, ctx)


def _compile(obj: object, ctx: _Ctx) -> FilterPlan:
    if isinstance(obj, str):
        return FilterPlan(obj.strip() or None)
    node = parse_filter(obj)
    if node is None:
        return FilterPlan(None)
    out = _emit(node, False, ctx)
    residual = node if ctx.relaxed else None
    if out is True:
        # relaxed to everything: send nothing, check every row client-side
        return FilterPlan(None if residual else true_expr(ctx.fields)[1:-1], residual)
    if out is False:
        return FilterPlan(false_expr(ctx.fields)[1:-1], None)
    return FilterPlan(out.text[1:-1] if out.op else out.text, residual)


def _combine(parts: Iterable[_Out], op: Literal["and", "or"]) -> _Out:
    absorbing = op == "or"  # True absorbs an "or", False absorbs an "and"
    kept: list[_Expr] = []
    for part in parts:
        if part is absorbing:
            return absorbing
        if isinstance(part, _Expr):
            kept.append(part)
    if not kept:
        return not absorbing
    if len(kept) == 1:
        return kept[0]
    return _Expr("(" + f" {op} ".join(p.inner(op) for p in kept) + ")", op)


def _emit(node: Node, negate: bool, ctx: _Ctx) -> _Out:
    if isinstance(node, Not):
        return _emit(node.child, not negate, ctx)
    if isinstance(node, And | Or):
        op: Literal["and", "or"] = "and" if isinstance(node, And) != negate else "or"
        return _combine((_emit(c, negate, ctx) for c in node.children), op)
    try:
        if isinstance(node, Substring):
            return _emit_substring(node, negate, ctx)
        if node.key in SCALAR_KEYS:
            return _emit_scalar(node, negate, ctx)
        column = ctx.columns.get(node.key.split(".", 1)[0])
        if column is not None:
            return _emit_column(node, negate, ctx, column)
        return _emit_json(node, negate, ctx)
    except Inexpressible:
        if not ctx.relax:
            raise
        ctx.relaxed.append(True)
        return True


def _emit_substring(node: Substring, negate: bool, ctx: _Ctx) -> _Out:
    """``like "%value%"`` where it is exact or (positive) a superset; see :mod:`substring`."""
    op = "$icontains_text" if node.ignore_case else "$contains_text"
    found = None if node.ignore_case else like_pattern(node.value)
    if found is None or (negate and not found[1]):
        raise Inexpressible(
            f"{op} {node.value!r} on {node.key!r} has no exact Milvus expression (no "
            "case-insensitive LIKE; '%', '_' and '\\' are wildcards on some engines): "
            "filter through a store, which checks it client-side"
        )
    pattern, exact = found
    null: _Out = False
    if node.key in SCALAR_KEYS:
        if node.key == "doc_id" and not ctx.fields.has_doc_id:
            raise FilterError("this collection has no doc_id field: filter on a metadata key")
        if node.key == "id" and ctx.fields.id_type == "int64":
            raise Inexpressible(f"{op} on an INT64 primary key: checked client-side")
        target = ctx.fields.scalar(node.key)
    elif (col := ctx.columns.get(node.key.split(".", 1)[0])) is not None:
        if node.key != col.name or col.array or col.element != "varchar":
            return negate  # never a string there
        target, null = col.name, _is_null(col, ctx)
    else:
        target = ctx.path(node.key)
        null = _Expr(f"not exists {target}")
    like = _Expr(f"{target} like {ctx.lit(pattern)}")
    if not negate:
        if not exact:
            if not ctx.relax:
                raise Inexpressible(f"{op} {node.value!r}: checked client-side")
            ctx.relaxed.append(True)
        return like
    if ctx.dialect is Dialect.LITE25:
        raise _lite25_error(f"a negated {op} on {node.key!r}")
    return _combine([null, _Expr(f"not ({like.text})")], "or")


def _emit_scalar(node: Compare | In | Contains | Exists, negate: bool, ctx: _Ctx) -> _Out:
    name = ctx.fields.scalar(node.key)
    if node.key == "doc_id" and not ctx.fields.has_doc_id:
        raise FilterError("this collection has no doc_id field: filter on a metadata key")
    int_id = node.key == "id" and ctx.fields.id_type == "int64"

    def lit(value: Scalar) -> str:
        return int_id_literal(value) if int_id else ctx.lit(value)

    if isinstance(node, Exists):
        return not negate
    if isinstance(node, In):
        if not node.values:
            return negate
        items = ", ".join(lit(v) for v in node.values)
        return _Expr(f"{name} {'not in' if negate else 'in'} [{items}]")
    if isinstance(node, Contains):  # pragma: no cover - rejected by Contains itself
        raise FilterError(f"{node.key!r} is a string field, not an array")
    op = INVERSE_OP[node.op] if negate else node.op
    return _Expr(f"{name} {OP_SYMBOL[op]} {lit(node.value)}")


def _lite25_error(clause: str) -> FilterError:
    return Inexpressible(
        f"{clause} needs NOT or EXISTS on a metadata key, which the embedded Milvus Lite 2.5 "
        f"engine (a local .db file) does not have, so it cannot be compiled exactly there. "
        f"A Milvus server supports it (the Milvus Lite 3 server, Milvus, Zilliz Cloud); "
        f"or use a positive condition (e.g. {{'year': {{'$lte': 2020}}}} instead of "
        f"{{'$not': {{'year': {{'$gt': 2020}}}}}}, which also leaves out rows without the key)"
    )


def _emit_json(node: Compare | In | Contains | Exists, negate: bool, ctx: _Ctx) -> _Out:
    path = ctx.path(node.key)
    lite = ctx.dialect is Dialect.LITE25
    if isinstance(node, Exists):
        if lite:
            what = "'$exists' (or $eq/$ne None)"
            raise _lite25_error(f"{what} on {node.key!r}")
        return _Expr(f"not exists {path}" if negate else f"exists {path}")
    if isinstance(node, In):
        if not node.values:
            return negate
        if not negate:
            return _combine((_Expr(f"{path} == {ctx.lit(v)}") for v in node.values), "or")
        inner = _combine((_Expr(f"{path} != {ctx.lit(v)}") for v in node.values), "and")
        if lite or not isinstance(inner, _Expr):
            return inner
        return _Expr(f"(not exists {path} or {inner.inner('or')})", "or")
    if isinstance(node, Contains):
        if node.mode == "any" and not node.values:
            return negate
        if len(node.values) == 1 and not _negative(node.values[0]):
            text = f"json_contains({path}, {ctx.lit(node.values[0])})"
        else:
            items = ", ".join(ctx.lit(v) for v in node.values)
            text = f"json_contains_{node.mode}({path}, [{items}])"
        if not negate:
            return _Expr(text)
        if lite:
            op = "$contains" if len(node.values) == 1 and node.mode == "all" else f"${node.mode}"
            raise _lite25_error(f"a negated {op} on {node.key!r}")
        return _Expr(f"not ({text})")
    value = ctx.lit(node.value)
    if node.op in ("$eq", "$ne"):
        if (node.op == "$eq") != negate:
            return _Expr(f"{path} == {value}")
        if lite:
            return _Expr(f"{path} != {value}")
        return _Expr(f"(not exists {path} or {path} != {value})", "or")
    comparison = f"{path} {OP_SYMBOL[node.op]} {value}"
    if not negate:
        return _Expr(comparison)
    if lite:
        raise _lite25_error(f"a negated {node.op} on {node.key!r}")
    other_kind = (
        f'{path} >= ""' if isinstance(node.value, int | float) else (f"{path} < 0 or {path} >= 0")
    )
    return _Expr(f"(not exists {path} or not ({comparison}) or {other_kind})", "or")


# --- scalar columns (typed metadata keys, the tenant) -------------------------------------


def _is_null(col: Column, ctx: _Ctx) -> _Out:
    if not col.nullable:
        return False
    if ctx.dialect is Dialect.LITE25:
        return _Expr(f'{ctx.fields.metadata}["{NULLS_KEY}"]["{col.name}"] == true')
    return _Expr(f"{col.name} is null")


def _not_null(col: Column, ctx: _Ctx) -> _Out:
    if not col.nullable:
        return True
    if ctx.dialect is Dialect.LITE25:  # its != matches a missing key
        return _Expr(f'{ctx.fields.metadata}["{NULLS_KEY}"]["{col.name}"] != true')
    return _Expr(f"{col.name} is not null")


def _column_value(col: Column, value: Scalar) -> Scalar | None:
    """``value`` as the column's type, or None when no stored value can equal it."""
    kind = "bool" if isinstance(value, bool) else "str" if isinstance(value, str) else "number"
    if kind != _COLUMN_KIND[col.element]:
        return None
    if col.element == "int64":
        f = float(value)
        if not f.is_integer() or abs(f) >= 2**63:
            return None
        return int(value)
    if col.element == "double":
        return float(value)
    return value


_BOUNDS = frozenset({"$gt", "$gte", "$lt", "$lte"})


def _negative(value: Scalar) -> bool:
    """A negative number: the Milvus Lite 3 server's parser refuses ``json_contains(P, -5)``
    ("unexpected token '-'", measured) but takes ``json_contains_all(P, [-5])``."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value < 0


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int_bound(op: str, value: float) -> tuple[CompareOp, int] | bool:
    """``x <op> value`` over int64 ``x`` as an int comparison, or a constant."""
    v = float(value)
    if v >= 2**63:
        return op in ("$lt", "$lte")
    if v < -(2**63):
        return op in ("$gt", "$gte")
    if op == "$gt":
        return "$gt", math.floor(v)
    if op == "$lte":
        return "$lte", math.floor(v)
    return ("$gte" if op == "$gte" else "$lt"), math.ceil(v)


def _emit_column(
    node: Compare | In | Contains | Exists, negate: bool, ctx: _Ctx, col: Column
) -> _Out:
    lite = ctx.dialect is Dialect.LITE25
    if node.key != col.name or (isinstance(node, Compare | In) and col.array):
        # a path below a scalar, or a scalar test on an array: never true for a stored value;
        # the outcome is the one for a missing key
        return evaluate(node, {}) != negate
    if isinstance(node, Exists):
        return _is_null(col, ctx) if negate else _not_null(col, ctx)
    positive: _Out
    zero_passes: bool
    if isinstance(node, Contains):
        if not col.array:
            return negate  # a scalar is never an array holding something
        vals = [v for v in (_column_value(col, x) for x in node.values) if v is not None]
        if node.mode == "all" and len(vals) < len(node.values):
            return negate
        if not vals:
            return negate
        if len(vals) == 1 and not _negative(vals[0]):
            text = f"array_contains({col.name}, {ctx.lit(vals[0])})"
        else:
            text = f"array_contains_{node.mode}({col.name}, [{', '.join(map(ctx.lit, vals))}])"
        if not negate:
            return _Expr(text)  # the zero value [] holds nothing: no null test needed
        if lite:
            raise _lite25_error(f"a negated ${node.mode} on the typed array {col.name!r}")
        return _combine([_is_null(col, ctx), _Expr(f"not ({text})")], "or")
    if isinstance(node, In):
        vals = list(
            dict.fromkeys(v for v in (_column_value(col, x) for x in node.values) if v is not None)
        )
        if not vals:
            return negate
        items = ", ".join(ctx.lit(v) for v in vals)
        zero_passes = any(v == _ZERO[col.element] for v in vals)
        op_text = "not in" if negate else "in"
        positive = _Expr(f"{col.name} {op_text} [{items}]")
    else:
        value = _column_value(col, node.value)
        op = node.op
        if value is None and col.element == "int64" and _is_number(node.value) and op in _BOUNDS:
            bound = _int_bound(op, float(node.value))
            if bound is True:  # every present value holds
                return _is_null(col, ctx) if negate else _not_null(col, ctx)
            if bound is False:  # no value holds
                return negate
            op, value = bound
        if value is None:
            # another kind (or a non-integral number for an int64 column): $eq matches nothing
            return (op == "$ne") != negate
        if op in ("$eq", "$ne"):
            eq = (op == "$eq") != negate
            sym = "==" if eq else "!="
            zero_passes = (value == _ZERO[col.element]) == eq
            text = f"{col.name} {sym} {ctx.lit(value)}"
            if eq:
                return _guard(_Expr(text), zero_passes, col, ctx, positive_form=True)
            return _guard(_Expr(text), zero_passes, col, ctx, positive_form=False)
        real_op = INVERSE_OP[op] if negate else op
        zero_passes = _holds(real_op, _ZERO[col.element], value)
        text = f"{col.name} {OP_SYMBOL[real_op]} {ctx.lit(value)}"
        return _guard(_Expr(text), zero_passes, col, ctx, positive_form=not negate)
    return _guard(positive, zero_passes == (not negate), col, ctx, positive_form=not negate)


def _holds(op: str, a: Scalar, b: Scalar) -> bool:
    x, y = a, b
    return bool(
        {"$gt": x > y, "$gte": x >= y, "$lt": x < y, "$lte": x <= y}[op]  # type: ignore[operator]
    )


def _guard(expr: _Expr, zero_passes: bool, col: Column, ctx: _Ctx, *, positive_form: bool) -> _Out:
    """A column comparison made exact for missing values.

    ``positive_form``: the leaf means "present and holds" (a missing value must fail), else
    "missing or holds" (a missing value must pass). Servers compare nulls to unknown (fails);
    on LITE25 a missing value is the zero value, which passes when ``zero_passes``.
    """
    if not col.nullable:
        return expr
    lite = ctx.dialect is Dialect.LITE25
    if positive_form:
        if lite and zero_passes:
            return _combine([expr, _not_null(col, ctx)], "and")
        return expr
    if lite and zero_passes:
        return expr
    return _combine([expr, _is_null(col, ctx)], "or")


def filter_key(filter: object) -> Hashable | None:
    """A hashable key equal for filters that compile the same (a dict's keys in order, each
    value with its type: ``1``, ``1.0`` and ``True`` differ), or ``None`` for a filter with
    a value of another kind (not cached: compiled every time)."""
    if filter is None or isinstance(filter, str | bool | int | float):
        return (type(filter).__name__, filter)
    if isinstance(filter, dict):
        items: list[tuple[str, Hashable]] = []
        for k, v in filter.items():
            sub = filter_key(v)
            if not isinstance(k, str) or sub is None:
                return None
            items.append((k, sub))
        return ("dict", tuple(items))
    if isinstance(filter, list | tuple):
        subs = [filter_key(v) for v in filter]
        if any(x is None for x in subs):
            return None
        return (type(filter).__name__, tuple(subs))
    return None
