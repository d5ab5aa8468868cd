"""Pure parts of tenants and typed metadata fields: config, value checks, row mapping, column
filters per dialect, the tenant scope and raw-expression check, schema, deepening."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.errors import (
    ConfigError,
    FilterError,
    InvalidInputError,
    SchemaMismatchError,
)
from milvus_rag.client.filters import Column, Dialect, FilterPlan, compile_filter, plan_filter
from milvus_rag.client.records import Hit, Record
from milvus_rag.client.residual import deepen
from milvus_rag.client.rows import check_rows, to_record, to_row
from milvus_rag.client.schema import (
    CollectionInfo,
    build_schema,
    check_compatible,
    index_specs,
)
from milvus_rag.client.tenancy import (
    Tenancy,
    check_raw_expression,
    resolve,
    scope,
)
from milvus_rag.client.typed_fields import (
    NULLS_KEY,
    TypedField,
    check_value,
    join_metadata,
    parse_metadata_fields,
    split_metadata,
)

L25, SRV = Dialect.LITE25, Dialect.MILVUS
SPEC = {
    "year": "int64",
    "source": "varchar",
    "score": "double",
    "draft": "bool",
    "tags": "array<varchar>",
}
FIELDS = parse_metadata_fields(SPEC)
COLS = [Column(f.name, f.element, f.array) for f in FIELDS]

# --- config -------------------------------------------------------------------------------


def test_config_options_are_validated_and_canonical() -> None:
    cfg = CollectionConfig(
        dim=2, tenant_field="tenant", num_partitions=64, metadata_fields={"Year": "INT64"}
    )
    assert cfg.metadata_fields == {"Year": "int64"}
    assert cfg.typed_fields == (TypedField("Year", "int64"),)
    hash(cfg)  # still hashable


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_partitions": 4}, "needs tenant_field"),
        ({"tenant_field": "t", "num_partitions": 0}, r"\[1, 1024\]"),
        ({"tenant_field": "id"}, "distinct"),
        ({"tenant_field": "bad name"}, "invalid"),
        ({"metadata_fields": {"x": "float"}}, "not a type"),
        ({"metadata_fields": {"a.b": "int64"}}, "no dots"),
        ({"metadata_fields": {"text": "bool"}}, "collide"),
        ({"metadata_fields": {NULLS_KEY: "bool"}}, "collide"),
        ({"tenant_field": "t", "metadata_fields": {"t": "varchar"}}, "collide"),
        ({"metadata_fields": ["year"]}, "must be a dict"),
    ],
)
def test_config_rejects(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        CollectionConfig(dim=2, **kwargs)


# --- values and rows ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "good", "bad"),
    [
        ("int64", [0, -5, 2**63 - 1], [1.0, "1", True, 2**63]),
        ("double", [0.5, 3, -1e300], [float("nan"), float("inf"), "1.0", False]),
        ("varchar", ["", "日本", "x" * 65535], [1, b"x", ["a"], "x" * 65536]),
        ("bool", [True, False], [0, 1, "true"]),
        ("array<varchar>", [[], ["a", "b"], ("c",)], ["a", [1], [None], ["x"] * 4097]),
        ("array<int64>", [[1, 2]], [[1.5], [True]]),
    ],
)
def test_check_value(spec: str, good: list[Any], bad: list[Any]) -> None:
    (field,) = parse_metadata_fields({"k": spec})
    assert check_value(field, None) is None
    for v in good:
        check_value(field, v)
    for v in bad:
        with pytest.raises(InvalidInputError, match="'k'"):
            check_value(field, v)


def test_double_is_read_back_as_float() -> None:
    (field,) = parse_metadata_fields({"s": "double"})
    assert check_value(field, 3) == 3.0 and isinstance(check_value(field, 3), float)


metadata_values = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(
    meta=st.dictionaries(st.sampled_from([*SPEC, "lang", "n"]), metadata_values, max_size=7),
    nullable=st.booleans(),
)
def test_split_join_round_trip_or_raise(meta: dict[str, Any], nullable: bool) -> None:
    """A valid metadata dict comes back as written (minus None values); a wrong-typed typed
    value raises."""
    try:
        cols, rest = split_metadata(FIELDS, meta, nullable=nullable)
    except InvalidInputError:
        assert any(meta.get(f.name) is not None and _not_of(f, meta[f.name]) for f in FIELDS)
        return
    assert set(cols) == set(SPEC)
    if nullable:
        assert NULLS_KEY not in rest
    back = join_metadata(FIELDS, {**cols, "metadata": rest}, "metadata")
    want = {
        k: (float(v) if SPEC.get(k) == "double" else v)
        for k, v in meta.items()
        if not (k in SPEC and v is None)
    }
    assert back == want


def _not_of(f: TypedField, v: Any) -> bool:
    try:
        check_value(f, v)
    except InvalidInputError:
        return True
    return False


def test_missing_typed_values_on_a_backend_without_nulls() -> None:
    cols, rest = split_metadata(FIELDS, {"year": 2020}, nullable=False)
    assert cols == {"year": 2020, "source": "", "score": 0.0, "draft": False, "tags": []}
    assert rest == {NULLS_KEY: {"source": True, "score": True, "draft": True, "tags": True}}
    assert join_metadata(FIELDS, {**cols, "metadata": rest}, "metadata") == {"year": 2020}
    with pytest.raises(InvalidInputError, match="reserved"):
        split_metadata(FIELDS, {NULLS_KEY: 1}, nullable=True)


def test_rows_stamp_the_tenant_and_refuse_conflicts() -> None:
    cfg = CollectionConfig(dim=2, tenant_field="tenant", metadata_fields={"year": "int64"})
    r = Record("a", "t", [1.0, 0.0], {"year": 1, "k": "v"})
    row = to_row(cfg, r, tenant="acme")
    assert row["tenant"] == "acme" and row["year"] == 1 and row["metadata"] == {"k": "v"}
    assert to_record(cfg, row).metadata == {"k": "v", "year": 1, "tenant": "acme"}
    # the metadata may repeat the tenant; a different one, or none with all_tenants: refused
    to_row(cfg, Record("a", "t", [1.0, 0.0], {"tenant": "acme"}), tenant="acme")
    with pytest.raises(InvalidInputError, match="another tenant"):
        to_row(cfg, Record("a", "t", [1.0, 0.0], {"tenant": "evil"}), tenant="acme")
    with pytest.raises(InvalidInputError, match="all_tenants"):
        to_row(cfg, Record("a", "t", [1.0, 0.0]), tenant=None)
    assert to_row(cfg, Record("a", "t", [1.0, 0.0], {"tenant": "b"}))["tenant"] == "b"
    with pytest.raises(InvalidInputError, match=r"record 1 \('bad'\).*int64"):
        check_rows(cfg, [r, Record("bad", "t", None, {"year": "1"})], "acme", True)


# --- filters on columns -------------------------------------------------------------------

FORMS: list[tuple[Any, str | None, str | None]] = [
    # filter, LITE25 (None: relaxed, a residual), MILVUS
    ({"year": 2020}, "year == 2020", "year == 2020"),
    ({"year": 2020.0}, "year == 2020", "year == 2020"),
    ({"year": 2020.5}, 'id == "" and id != ""', 'id == "" and id != ""'),
    ({"year": "2020"}, 'id == "" and id != ""', 'id == "" and id != ""'),
    ({"year": {"$gt": 2020.5}}, "year > 2020", "year > 2020"),
    ({"year": {"$gte": 2020.5}}, "year >= 2021", "year >= 2021"),
    ({"year": {"$lt": 1e30}}, f'metadata["{NULLS_KEY}"]["year"] != true', "year is not null"),
    ({"year": {"$ne": 5}}, "year != 5", "year != 5 or year is null"),
    (
        {"year": {"$ne": 0}},
        f'year != 0 or metadata["{NULLS_KEY}"]["year"] == true',
        "year != 0 or year is null",
    ),
    ({"$not": {"year": {"$gt": 2020}}}, "year <= 2020", "year <= 2020 or year is null"),
    (
        {"year": {"$lt": 1}},
        f'year < 1 and metadata["{NULLS_KEY}"]["year"] != true',
        "year < 1",
    ),
    ({"score": 1}, "score == 1.0", "score == 1.0"),
    ({"draft": True}, "draft == true", "draft == true"),
    ({"source": {"$in": ["a", 1]}}, 'source in ["a"]', 'source in ["a"]'),
    ({"tags": {"$contains": "x"}}, 'array_contains(tags, "x")', 'array_contains(tags, "x")'),
    (
        {"tags": {"$any": ["x", 2]}},
        'array_contains(tags, "x")',
        'array_contains(tags, "x")',
    ),
    ({"tags": {"$all": ["x", 2]}}, 'id == "" and id != ""', 'id == "" and id != ""'),
    (
        {"$not": {"tags": {"$contains": "x"}}},
        None,
        'tags is null or not (array_contains(tags, "x"))',
    ),
    ({"tags": "x"}, 'id == "" and id != ""', 'id == "" and id != ""'),
    ({"year": {"$exists": False}}, f'metadata["{NULLS_KEY}"]["year"] == true', "year is null"),
    ({"year.sub": 1}, 'id == "" and id != ""', 'id == "" and id != ""'),
]


@pytest.mark.parametrize(("filter", "lite", "srv"), FORMS, ids=repr)
def test_column_forms(filter: Any, lite: str | None, srv: str | None) -> None:
    assert compile_filter(filter, dialect=SRV, columns=COLS) == srv
    plan = plan_filter(filter, dialect=L25, columns=COLS)
    if lite is None:
        assert plan.residual is not None
        with pytest.raises(FilterError, match=r"Milvus Lite 2\.5"):
            compile_filter(filter, dialect=L25, columns=COLS)
    else:
        assert plan == FilterPlan(lite)


def test_plan_relaxes_only_what_lite25_lacks() -> None:
    f = {"$and": [{"year": 2020}, {"k": {"$exists": True}}]}
    assert plan_filter(f, dialect=L25, columns=COLS).expr == "year == 2020"
    assert plan_filter(f, dialect=L25, columns=COLS).residual is not None
    assert plan_filter(f, dialect=SRV, columns=COLS).residual is None
    # an $or with an inexpressible branch relaxes the whole $or
    g = {"$or": [{"year": 2020}, {"k": {"$exists": True}}]}
    assert plan_filter(g, dialect=L25).expr is None
    with pytest.raises(FilterError):  # invalid everywhere stays an error
        plan_filter({"k": {"$regex": "x"}}, dialect=L25)


# --- tenants ------------------------------------------------------------------------------

T = Tenancy("tenant")


def test_resolve() -> None:
    assert resolve(T, "a", False, "get") == "a"
    assert resolve(T, None, True, "get") is None
    assert resolve(Tenancy(), None, False, "get") is None
    with pytest.raises(ConfigError, match="multi-tenant"):
        resolve(T, None, False, "get")
    with pytest.raises(ConfigError, match="not both"):
        resolve(T, "a", True, "get")
    with pytest.raises(ConfigError, match="no tenant field"):
        resolve(Tenancy(), "a", False, "get")
    # no tenant_field configured and the schema not read yet: a tenant is checked as a value
    # and the call is scoped once the schema is known (issue 23, finding 3)
    pending = Tenancy(pending=True)
    assert resolve(pending, "a", False, "get") == "a"
    assert resolve(pending, None, False, "get") is None
    with pytest.raises(ConfigError):
        resolve(pending, "a\nb", False, "get")
    assert scope(pending, "a", False, {"k": 1}, dialect="milvus").expr == 'metadata["k"] == 1'
    for bad in ("", " ", 5, "a\nb", "x" * 257):
        with pytest.raises(ConfigError):
            resolve(T, bad, False, "get")  # type: ignore[arg-type]


HOSTILE = [
    {"tenant": "b"},
    {"$or": [{"tenant": "b"}, {"tenant": {"$ne": "a"}}]},
    {"$not": {"tenant": "a"}},
    {"tenant": {"$in": ["a", "b"]}},
    {"k": 'x" or tenant != "'},
    'tenant == "b"',
    'id != "" or tenant != "a"',
]


@pytest.mark.parametrize("filter", HOSTILE, ids=repr)
@pytest.mark.parametrize("dialect", [L25, SRV])
def test_the_tenant_clause_is_outside_the_user_filter(filter: Any, dialect: Dialect) -> None:
    s = scope(T, "a", False, filter, dialect=dialect)
    assert s.tenant == "a"
    assert s.expr is not None and s.expr.startswith('tenant == "a" and (')
    assert s.expr.endswith(")")
    check_raw_expression(s.expr[len('tenant == "a" and ') :])  # one parenthesised group


@pytest.mark.parametrize(
    "raw",
    [
        'id != "") or (id != ""',
        'id != "" ) or tenant != "a" or (id == ""',
        'id == "x',
        "id == 'x",
        '(id != ""',
        'id == "\\\\") or (id != ""',  # an escaped backslash closes the string
    ],
)
def test_a_raw_expression_that_could_escape_is_refused(raw: str) -> None:
    with pytest.raises(FilterError, match="self-contained"):
        scope(T, "a", False, raw, dialect=SRV)
    assert scope(Tenancy(), None, False, raw, dialect=SRV).expr == raw.strip()


def test_raw_expressions_with_quotes_and_parentheses_inside_strings_pass() -> None:
    raw = 'metadata["k"] == "a) or (b" or (id in ["(", \'\\\')\'])'
    assert check_raw_expression(raw) == raw
    # one string literal (Milvus's grammar reads \" as an escape, as this check does)
    assert check_raw_expression('id == "\\") or (id != \\""')


# --- schema -------------------------------------------------------------------------------


def test_schema_per_dialect() -> None:
    cfg = CollectionConfig(dim=2, tenant_field="tenant", metadata_fields=SPEC)
    for dialect, pk, nullable in ((SRV, True, True), (L25, False, False)):
        fields = {f.name: f for f in build_schema(cfg, {"type": "standard"}, dialect).fields}
        assert bool(fields["tenant"].is_partition_key) is pk
        assert bool(getattr(fields["year"], "nullable", False)) is nullable
        assert fields["tags"].element_type is not None
    indexed = {s.field for s in index_specs(cfg)}
    assert {"tenant", "year", "source", "score", "draft"} <= indexed
    assert "tags" not in indexed  # no scalar index on arrays (refused by both backends)


def _info(extra: tuple[tuple[str, str], ...]) -> CollectionInfo:
    base = ("id", "text", "dense", "sparse", "doc_id", "metadata")
    return CollectionInfo(
        name="c",
        dim=2,
        metric="COSINE",
        has_bm25=True,
        field_names=base + tuple(n for n, _ in extra),
        text_max_length=65535,
        id_max_length=512,
        extra_fields=extra,
    )


@pytest.mark.parametrize(
    ("cfg_kwargs", "extra", "field"),
    [
        ({"metadata_fields": {"year": "int64"}}, (), "metadata_fields['year']"),
        ({}, (("year", "int64"),), "metadata_fields['year']"),
        ({"metadata_fields": {"year": "double"}}, (("year", "int64"),), "metadata_fields['year']"),
        ({"tenant_field": "tenant"}, (), "tenant_field['tenant']"),
        ({}, (("tenant", "varchar"),), "metadata_fields['tenant']"),
    ],
)
def test_reopen_check_names_the_field(
    cfg_kwargs: dict[str, Any], extra: tuple[tuple[str, str], ...], field: str
) -> None:
    with pytest.raises(SchemaMismatchError) as err:
        check_compatible(CollectionConfig(dim=2, **cfg_kwargs), _info(extra))
    assert err.value.field == field


def test_reopen_with_the_same_fields_passes() -> None:
    cfg = CollectionConfig(dim=2, tenant_field="tenant", metadata_fields={"year": "int64"})
    check_compatible(cfg, _info((("tenant", "varchar"), ("year", "int64"))))


# --- deepening ----------------------------------------------------------------------------


def test_deepen_fetches_until_enough_pass_or_candidates_run_out() -> None:
    pool = [Hit(str(i), 1.0, 1.0, Record(str(i), "t")) for i in range(100)]
    asked: list[int] = []

    async def fetch(n: int) -> list[Hit]:
        asked.append(n)
        return pool[:n]

    def rare(r: Record) -> bool:
        return int(r.id) % 30 == 0

    got = asyncio.run(deepen(fetch, 3, rare, start=5))
    assert [h.id for h in got] == ["0", "30", "60"] and asked == [5, 20, 80]
    asked.clear()
    got = asyncio.run(deepen(fetch, 10, rare, start=5))
    assert [h.id for h in got] == ["0", "30", "60", "90"] and asked == [5, 20, 80, 320]
