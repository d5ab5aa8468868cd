"""Adopting a milvus-rag collection's own tenant field and typed metadata fields.

A store opened without ``tenant_field`` / ``metadata_fields`` on a collection that has them
takes them from its schema, as it takes the metric and the layout: the tenant field is the
partition key (servers) or, where there is none (Milvus Lite 2.5 has no partition keys), the
one non-nullable VARCHAR column of the tenant's length (256 bytes; typed VARCHAR columns are
65,535); every other extra column is a typed metadata field. A setting the caller did pass is
kept, and ``check_compatible`` names the field where it contradicts the schema. Pure.

Example:
    >>> by_name = {"tenant": {"type": 21, "params": {"max_length": 256}},
    ...            "year": {"type": 5, "nullable": True}}
    >>> tenant_column(by_name, None, {"tenant": "varchar", "year": "int64"})
    'tenant'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the VARCHAR length milvus-rag gives a tenant field (``tenancy.TENANT_MAX_LENGTH``)
TENANT_LENGTH = 256
_VARCHAR = 21


def _max_length(f: Mapping[str, Any]) -> int | None:
    params = f.get("params") or {}
    raw: Any = params.get("max_length", f.get("max_length"))
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def tenant_column(
    by_name: Mapping[str, Mapping[str, Any]],
    partition_key: str | None,
    columns: Mapping[str, str],
) -> str | None:
    """The tenant field among a milvus-rag collection's extra ``columns``, if any."""
    if partition_key is not None:
        return partition_key if partition_key in columns else None
    found = [
        n
        for n, spec in columns.items()
        if spec == "varchar"
        and not by_name[n].get("nullable")
        and _max_length(by_name[n]) == TENANT_LENGTH
    ]
    return found[0] if len(found) == 1 else None
