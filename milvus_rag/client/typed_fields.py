"""Typed metadata fields: hot metadata keys stored as real scalar columns.

``metadata_fields={"year": "int64", "source": "varchar", "score": "double", "draft": "bool",
"tags": "array<varchar>"}`` makes those keys columns; every other key stays in the JSON field.
Users still read and write one metadata dict: :func:`split_metadata` maps it to columns + JSON
for a write, :func:`join_metadata` maps a stored row back. Pure: no I/O.

A missing value (key absent or ``None``): Milvus servers store a null (the columns are
nullable). The embedded Milvus Lite 2.5 engine has no nullable fields (measured: "MilvusLite
doesn't support nullable"), so there the column holds the type's zero value (``0``, ``0.0``,
``""``, ``false``, ``[]``) and the JSON field records the key under :data:`NULLS_KEY`
(``{"_milvus_rag_nulls": {"year": true}}``); reads and filters treat it as missing, exactly as
on a server.

Example:
    >>> fields = parse_metadata_fields({"year": "int64", "tags": "array<varchar>"})
    >>> cols, rest = split_metadata(fields, {"year": 2020, "lang": "en"}, nullable=True)
    >>> cols, rest
    ({'year': 2020, 'tags': None}, {'lang': 'en'})
    >>> join_metadata(fields, {**cols, "metadata": rest}, "metadata")
    {'lang': 'en', 'year': 2020}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from milvus_rag.client.errors import ConfigError, InvalidInputError

ScalarType: TypeAlias = Literal["int64", "double", "varchar", "bool"]
SCALAR_TYPES: tuple[ScalarType, ...] = ("int64", "double", "varchar", "bool")
#: JSON key recording which typed keys are missing, on backends without nullable fields.
NULLS_KEY = "_milvus_rag_nulls"
VARCHAR_MAX = 65535
ARRAY_MAX_CAPACITY = 4096
ARRAY_VARCHAR_MAX = 4096
_INT64_MAX = 2**63 - 1
_SPEC = re.compile(r"^(?:(int64|double|varchar|bool)|array<(int64|double|varchar|bool)>)$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_ZERO: dict[str, Any] = {"int64": 0, "double": 0.0, "varchar": "", "bool": False}


@dataclass(frozen=True)
class TypedField:
    """One typed metadata key: its column name (the key itself) and its type.

    ``element`` is the scalar type, ``array`` says whether the column is an array of it.
    """

    name: str
    element: ScalarType
    array: bool = False

    @property
    def spec(self) -> str:
        """The canonical spelling, e.g. ``"int64"`` or ``"array<varchar>"``."""
        return f"array<{self.element}>" if self.array else self.element

    @property
    def zero(self) -> Any:
        """What the column holds for a missing value where nulls are not available."""
        return [] if self.array else _ZERO[self.element]


def parse_metadata_fields(spec: Mapping[str, str] | None) -> tuple[TypedField, ...]:
    """Validate ``{"key": "type"}`` (types: int64, double, varchar, bool, array<one of them>)."""
    if spec is None:
        return ()
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"metadata_fields must be a dict such as {{'year': 'int64', 'tags': "
            f"'array<varchar>'}}, got {type(spec).__name__}"
        )
    out: list[TypedField] = []
    for name, kind in spec.items():
        if not isinstance(name, str) or not _KEY.match(name):
            raise ConfigError(
                f"metadata_fields key {name!r} is invalid: a typed key becomes a column, so use "
                f"letters, digits and '_' (starting with a letter or '_'), no dots"
            )
        m = _SPEC.match(kind.strip().lower()) if isinstance(kind, str) else None
        if m is None:
            raise ConfigError(
                f"metadata_fields[{name!r}] = {kind!r} is not a type: use one of "
                f"{', '.join(SCALAR_TYPES)} or array<...> of one of them, e.g. 'array<varchar>'"
            )
        scalar, element = m.group(1), m.group(2)
        out.append(
            TypedField(name, element or scalar, array=element is not None)  # type: ignore[arg-type]
        )
    return tuple(out)


def canonical(spec: Mapping[str, str] | None) -> dict[str, str]:
    """``metadata_fields`` in canonical spelling (validated)."""
    return {f.name: f.spec for f in parse_metadata_fields(spec)}


# --- values -------------------------------------------------------------------------------


def _type_error(field: TypedField, value: object, where: str) -> InvalidInputError:
    return InvalidInputError(
        f"{where}: metadata[{field.name!r}] is a typed field of type {field.spec}, got "
        f"{type(value).__name__} {value!r:.80}; convert it, or leave the key out (missing)"
    )


def _check_scalar(field: TypedField, value: object, where: str) -> Any:
    kind = field.element
    if kind == "bool":
        if isinstance(value, bool):
            return value
    elif kind == "int64":
        if isinstance(value, int) and not isinstance(value, bool):
            if not -_INT64_MAX - 1 <= value <= _INT64_MAX:
                raise InvalidInputError(
                    f"{where}: metadata[{field.name!r}] = {value} is outside the int64 range"
                )
            return int(value)
    elif kind == "double":
        if isinstance(value, int | float) and not isinstance(value, bool):
            f = float(value)
            if not math.isfinite(f):
                raise InvalidInputError(
                    f"{where}: metadata[{field.name!r}] = {value!r}: a double must be finite"
                )
            return f
    elif isinstance(value, str):
        limit = ARRAY_VARCHAR_MAX if field.array else VARCHAR_MAX
        try:
            n = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidInputError(
                f"{where}: metadata[{field.name!r}] is not valid unicode (lone surrogate)"
            ) from None
        if n > limit:
            raise InvalidInputError(
                f"{where}: metadata[{field.name!r}] is {n} bytes in UTF-8, over the typed "
                f"field's limit of {limit}"
            )
        return value
    raise _type_error(field, value, where)


def check_value(field: TypedField, value: object, where: str = "record") -> Any:
    """The value normalised for the column (``None``: missing); raises InvalidInputError."""
    if value is None:
        return None
    if not field.array:
        return _check_scalar(field, value, where)
    if not isinstance(value, list | tuple):
        raise _type_error(field, value, where)
    if len(value) > ARRAY_MAX_CAPACITY:
        raise InvalidInputError(
            f"{where}: metadata[{field.name!r}] has {len(value)} elements, over the typed "
            f"array's capacity of {ARRAY_MAX_CAPACITY}"
        )
    return [_check_scalar(field, v, f"{where} (an element)") for v in value]


# --- rows ---------------------------------------------------------------------------------


def split_metadata(
    fields: tuple[TypedField, ...],
    metadata: Mapping[str, Any],
    *,
    nullable: bool,
    where: str = "record",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(columns, json)`` for one row: typed keys become columns, the rest stays JSON.

    Without ``nullable``, a missing typed value is stored as the type's zero value and listed
    under :data:`NULLS_KEY` in the JSON. Raises :class:`InvalidInputError` for a wrong type.
    """
    if NULLS_KEY in metadata:
        raise InvalidInputError(
            f"{where}: the metadata key {NULLS_KEY!r} is reserved by milvus-rag; rename it"
        )
    rest = dict(metadata)
    columns: dict[str, Any] = {}
    nulls: dict[str, bool] = {}
    for f in fields:
        value = check_value(f, rest.pop(f.name, None), where)
        if value is None and not nullable:
            nulls[f.name] = True
            value = f.zero
        columns[f.name] = value
    if nulls:
        rest[NULLS_KEY] = nulls
    return columns, rest


def join_metadata(
    fields: tuple[TypedField, ...], entity: Mapping[str, Any], metadata_field: str
) -> dict[str, Any]:
    """The user's metadata dict of a stored row: JSON keys plus the present typed keys."""
    raw = entity.get(metadata_field)
    out = dict(raw) if isinstance(raw, Mapping) else {}
    nulls = out.pop(NULLS_KEY, None)
    missing = set(nulls) if isinstance(nulls, Mapping) else set()
    for f in fields:
        value = entity.get(f.name)
        if value is None or f.name in missing:
            continue
        if f.array:
            value = list(value)
        elif f.element == "double":
            value = float(value)
        out[f.name] = value
    return out
