"""Milvus expression literals: escaped strings per parser dialect, scalar values, id lists.

Pure: no I/O, no pymilvus. :mod:`milvus_rag.client.filters` compiles filters with these.

String literals: ``\\`` and ``"`` are escaped; every other character, tabs and control
characters included, is written as it is (Milvus Lite 3 rejects ``\\u`` and ``\\x`` escapes).
Only line breaks differ: ``MILVUS`` writes ``\\n`` and ``\\r``; the Milvus Lite 2.5 parser reads
``\\n`` as ``n``, so ``LITE25`` writes a backslash before a literal line feed (or CR LF) and
rejects a lone carriage return. Pass the dialect to :func:`string_literal` and
:func:`ids_expr` when a value may hold a line break.

Example:
    >>> string_literal('say "hi"')
    '"say \\\\"hi\\\\""'
    >>> ids_expr(["a", "b"])
    'id in ["a", "b"]'
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import Enum

from milvus_rag.client.errors import FilterError
from milvus_rag.client.filter_tree import FieldNames, Scalar, check_text


class Inexpressible(FilterError):
    """A valid filter part that one dialect cannot express exactly (see :func:`plan_filter`)."""


class Dialect(str, Enum):
    """Which Milvus expression parser the filter is compiled for."""

    #: The embedded milvus-lite 2.5 engine (a local ``.db`` file): no NOT, no EXISTS.
    LITE25 = "lite25"
    #: A Milvus server: the Milvus Lite 3.x gRPC server, Milvus, Zilliz Cloud.
    MILVUS = "milvus"


def string_literal(value: str, dialect: Dialect | str = Dialect.MILVUS) -> str:
    """The double-quoted, escaped Milvus string literal for ``value``."""
    dialect = Dialect(dialect)
    check_text(value, "string literal")
    out: list[str] = ['"']
    if dialect is Dialect.LITE25:
        if re.search(r"\r(?!\n)", value):
            raise Inexpressible(
                f"the embedded Milvus Lite 2.5 engine cannot express a carriage return that is "
                f"not followed by a line feed in a string ({value!r}); a Milvus server can"
            )
        for ch in value:
            if ch in '\\"':
                out.append("\\" + ch)
            elif ch == "\r":
                out.append("\\\r")  # always followed by "\n", written as is
            elif ch == "\n":
                out.append("\n" if out[-1] == "\\\r" else "\\\n")
            else:
                out.append(ch)
    else:
        escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"}
        out.extend(escapes.get(ch, ch) for ch in value)
    out.append('"')
    return "".join(out)


def literal(value: Scalar, dialect: Dialect) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return string_literal(value, dialect)


def false_expr(fields: FieldNames) -> str:
    zero = "0" if fields.id_type == "int64" else '""'
    return f"({fields.id} == {zero} and {fields.id} != {zero})"


def true_expr(fields: FieldNames) -> str:
    zero = "0" if fields.id_type == "int64" else '""'
    return f"({fields.id} == {zero} or {fields.id} != {zero})"


def int_id_literal(value: object) -> str:
    """An INT64 primary key literal from a str (or int) id."""
    text = str(value).strip() if isinstance(value, str | int) else ""
    if isinstance(value, bool) or not re.fullmatch(r"-?[0-9]{1,19}", text):
        raise FilterError(
            f"this collection's ids are int64: {value!r} is not an integer id; pass the "
            "id's digits, e.g. '470851970806317056'"
        )
    return str(int(text))


def ids_expr(
    ids: Iterable[str],
    fields: FieldNames = FieldNames(),
    *,
    dialect: Dialect | str = Dialect.MILVUS,
) -> str:
    """``id in ["a", "b"]`` for the primary key field (constant false for no ids)."""
    dialect = Dialect(dialect)
    items: list[str] = []
    for i in ids:
        if fields.id_type == "int64":
            items.append(int_id_literal(i))
            continue
        if not isinstance(i, str):
            raise FilterError(f"ids are strings, got {i!r}")
        items.append(string_literal(i, dialect))
    if not items:
        return false_expr(fields)
    return f"{fields.id} in [{', '.join(items)}]"
