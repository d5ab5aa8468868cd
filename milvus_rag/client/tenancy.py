"""Tenants: which tenant a call is for, and the one filter scope every data call uses.

A collection with ``tenant_field`` is multi-tenant: every data call names its tenant
(``tenant="acme"``, or a store view bound to one) or passes ``all_tenants=True``; otherwise
:class:`ConfigError`, before any I/O. :func:`scope` is the single function every read, count,
delete, search and iteration calls: it turns (tenant, user filter) into the expression sent to
Milvus plus the residual the client evaluates, with the tenant clause ANDed *outside* the user's
filter, so no user filter (on the tenant key, ``$or``, ``$not`` or a raw string) can widen it.

Raw expression strings on a tenant collection are accepted only when they are one
self-contained expression: string literals closed, parentheses balanced and never closing one
they did not open (checked by :func:`check_raw_expression`); then they are ANDed in parentheses
(``tenant == "acme" and (raw)``), which can only narrow. Anything else raises FilterError.

Example:
    >>> s = scope(Tenancy("tenant"), "acme", False, {"year": 2020}, dialect="milvus")
    >>> s.expr
    'tenant == "acme" and (metadata["year"] == 2020)'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from milvus_rag.client.errors import ConfigError, FilterError
from milvus_rag.client.filter_tree import Node, evaluate
from milvus_rag.client.filters import (
    Column,
    Dialect,
    FieldNames,
    FilterPlan,
    plan_filter,
    string_literal,
)
from milvus_rag.client.records import Record

TENANT_MAX_LENGTH = 256


@dataclass(frozen=True)
class Tenancy:
    """The tenant setting of one collection: ``field`` is None for a single-tenant one.

    ``pending``: no ``tenant_field`` was configured and the collection's schema is not read
    yet (it may have one to adopt): a tenant named now is checked as a value only, and the
    call is scoped once the schema is known (the store reads it before any data call).
    """

    field: str | None = None
    pending: bool = False

    @property
    def enabled(self) -> bool:
        return self.field is not None

    def column(self) -> Column | None:
        return Column(self.field, "varchar", nullable=False) if self.field else None


def check_tenant(tenant: object) -> str:
    """A tenant value: a non-empty str of at most 256 UTF-8 bytes, no control characters."""
    if not isinstance(tenant, str) or not tenant.strip():
        raise ConfigError(f"tenant must be a non-empty str, got {tenant!r}")
    try:
        n = len(tenant.encode("utf-8"))
    except UnicodeEncodeError:
        raise ConfigError("tenant is not valid unicode (lone surrogate)") from None
    if n > TENANT_MAX_LENGTH:
        raise ConfigError(f"tenant is {n} bytes in UTF-8, at most {TENANT_MAX_LENGTH}")
    if any(not c.isprintable() for c in tenant):
        raise ConfigError(f"tenant {tenant!r} holds a control character; use printable text")
    return tenant


def resolve(tenancy: Tenancy, tenant: str | None, all_tenants: bool, operation: str) -> str | None:
    """The tenant a call is scoped to (``None``: every row). Raises ConfigError."""
    if not isinstance(all_tenants, bool):
        raise ConfigError(f"all_tenants must be True or False, got {all_tenants!r}")
    if tenant is not None and all_tenants:
        raise ConfigError(f"{operation}: pass tenant= or all_tenants=True, not both")
    if not tenancy.enabled:
        if tenancy.pending:
            return None if tenant is None else check_tenant(tenant)
        if tenant is not None:
            raise ConfigError(
                f"{operation}: tenant={tenant!r} given, but the collection has no tenant "
                "field: create it with tenant_field='tenant' (a new collection) to use tenants"
            )
        return None
    if tenant is None:
        if all_tenants:
            return None
        raise ConfigError(
            f"{operation}: this collection is multi-tenant (tenant_field={tenancy.field!r}): "
            "pass tenant='...' (or use store.for_tenant('...')), or all_tenants=True to reach "
            "every tenant's rows"
        )
    return check_tenant(tenant)


def check_raw_expression(expr: str) -> str:
    """``expr`` if it is one self-contained expression (see the module doc), else FilterError."""
    depth = 0
    quote: str | None = None
    escaped = False
    for i, ch in enumerate(expr):
        if quote is not None:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FilterError(
                    f"raw filter expression closes a parenthesis it did not open (at {i}): on "
                    "a multi-tenant collection a raw expression must be one self-contained "
                    "expression; use a filter dict instead"
                )
    if quote is not None or depth != 0:
        raise FilterError(
            "raw filter expression has an unclosed string or parenthesis: on a multi-tenant "
            "collection a raw expression must be one self-contained expression"
        )
    return expr


@dataclass(frozen=True)
class Scope:
    """The expression one data call sends, and the residual the client checks per row.

    ``tenant`` is the tenant the call is bound to (``None``: all tenants, or no tenant field).
    """

    expr: str | None
    residual: Node | None = None
    tenant: str | None = None
    fields: FieldNames = dataclasses.field(default_factory=FieldNames)

    def admits(self, record: Record) -> bool:
        """Whether a row the backend returned passes the residual (always, without one)."""
        if self.residual is None:
            return True
        row = {
            self.fields.id: record.id,
            self.fields.doc_id: record.doc_id,
            self.fields.metadata: record.metadata,
        }
        return evaluate(self.residual, row, self.fields)


def scope(
    tenancy: Tenancy,
    tenant: str | None,
    all_tenants: bool,
    filter: object,
    *,
    dialect: Dialect | str,
    fields: FieldNames | None = None,
    columns: Iterable[Column] = (),
    operation: str = "search",
) -> Scope:
    """Validate the tenant and the filter of one call; the expression + residual to run."""
    dialect = Dialect(dialect)
    bound = resolve(tenancy, tenant, all_tenants, operation)
    cols = list(columns)
    col = tenancy.column()
    if col is not None:
        cols.append(col)
    if isinstance(filter, str) and tenancy.enabled and filter.strip():
        check_raw_expression(filter)
    plan: FilterPlan = plan_filter(
        filter, dialect=dialect, fields=fields or FieldNames(), columns=cols
    )
    names = fields or FieldNames()
    if bound is None or not tenancy.enabled:  # pending: scoped again once the schema is read
        return Scope(plan.expr, plan.residual, None, names)
    clause = tenant_clause(tenancy, bound, dialect)
    expr = clause if plan.expr is None else f"{clause} and ({plan.expr})"
    return Scope(expr, plan.residual, bound, names)


def tenant_clause(tenancy: Tenancy, tenant: str, dialect: Dialect | str) -> str:
    """``tenant == "acme"`` for the tenant field."""
    return f"{tenancy.field} == {string_literal(check_tenant(tenant), Dialect(dialect))}"


def and_tenant(expr: str, tenant: str | None, tenancy: Tenancy, dialect: Dialect | str) -> str:
    """``expr`` (one of ours, e.g. ``id in [...]``) restricted to ``tenant`` if any."""
    if tenant is None or not tenancy.enabled:
        return expr
    return f"{tenant_clause(tenancy, tenant, dialect)} and ({expr})"
