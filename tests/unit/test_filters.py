"""Filters: the case table against the oracle, exact compiled forms per dialect, validation."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest

from milvus_rag.client.errors import ConfigError, FilterError
from milvus_rag.client.filters import (
    And,
    Compare,
    Contains,
    Dialect,
    Exists,
    FieldNames,
    FilterPlan,
    In,
    Not,
    Or,
    compile_filter,
    evaluate,
    ids_expr,
    parse_filter,
    plan_filter,
    string_literal,
)
from milvus_rag.client.literals import Inexpressible
from tests.cases.filters import (
    ALL_IDS,
    FILTER_CASES,
    FILTER_ROWS,
    INVALID_FILTERS,
    FilterCase,
    case_id,
)

L25 = Dialect.LITE25
SRV = Dialect.MILVUS


def _select(filter: Any) -> frozenset[str]:
    return frozenset(r["id"] for r in FILTER_ROWS if evaluate(filter, r))


# --- the shared case table ------------------------------------------------------------------


def test_case_table_shape() -> None:
    assert len(FILTER_ROWS) >= 12
    assert len({r["id"] for r in FILTER_ROWS}) == len(FILTER_ROWS)
    assert len(FILTER_CASES) >= 50
    assert len({c.name for c in FILTER_CASES}) == len(FILTER_CASES)
    assert len(INVALID_FILTERS) >= 20
    for case in FILTER_CASES:
        assert case.expected_ids <= ALL_IDS, case.name


def test_case_table_covers_every_operator() -> None:
    seen: set[str] = set()

    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k.startswith("$"):
                    seen.add(k)
                walk(v)
        elif isinstance(obj, list):
            for v in obj:
                walk(v)

    for case in FILTER_CASES:
        walk(case.filter)
    ops = "$eq $ne $gt $gte $lt $lte $in $nin $contains $any $all $exists $and $or $not"
    ops += " $contains_text $icontains_text"
    assert set(ops.split()) <= seen


@pytest.mark.parametrize("case", FILTER_CASES, ids=lambda c: c.name)
def test_evaluate_matches_hand_written_ids(case: FilterCase) -> None:
    assert _select(case.filter) == case.expected_ids


@pytest.mark.parametrize("case", FILTER_CASES, ids=lambda c: c.name)
def test_not_is_the_exact_complement(case: FilterCase) -> None:
    assert _select({"$not": case.filter} if case.filter else None) == (
        ALL_IDS - case.expected_ids if case.filter else ALL_IDS
    )


@pytest.mark.parametrize("case", FILTER_CASES, ids=lambda c: c.name)
def test_case_compiles_per_dialect(case: FilterCase) -> None:
    try:
        milvus = compile_filter(case.filter, dialect=SRV)
    except Inexpressible as err:  # a substring match with no exact pattern: client-side
        assert "client-side" in str(err)
        assert plan_filter(case.filter, dialect=SRV).residual is not None
        milvus = plan_filter(case.filter, dialect=SRV).expr
    else:
        assert (milvus is None) == (not case.filter)
    if milvus is not None:
        # Milvus Lite 3 rejects `in` on a JSON path: only the scalar fields use it.
        assert not re.search(r"\]\s+(not\s+)?in\s+\[", milvus)
    plan = plan_filter(case.filter, dialect=L25)
    try:
        exact = compile_filter(case.filter, dialect=L25)
    except FilterError as err:  # NOT / EXISTS on a metadata key: sent relaxed + a residual
        said = str(err)
        assert ("Milvus Lite 2.5" in said and "server" in said) or "client-side" in said
        assert plan.residual is not None
    else:
        assert plan == FilterPlan(exact) and (exact is None) == (not case.filter)
    lite = plan.expr
    if lite is not None:
        # Milvus Lite 2.5 has neither NOT nor EXISTS nor IS NULL on JSON.
        text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', lite, flags=re.S)
        assert not re.search(r"\bnot\b(?!\s+in\b)|\bexists\b|\bis\s+null\b|!\(", text)


@pytest.mark.parametrize("filter", INVALID_FILTERS, ids=case_id)
@pytest.mark.parametrize("dialect", list(Dialect))
def test_invalid_filters_raise(filter: Any, dialect: Dialect) -> None:
    with pytest.raises(FilterError):
        compile_filter(filter, dialect=dialect)


@pytest.mark.parametrize("filter", INVALID_FILTERS, ids=case_id)
def test_invalid_filters_raise_in_parse_and_evaluate(filter: Any) -> None:
    with pytest.raises(FilterError):
        parse_filter(filter)
    with pytest.raises(FilterError):
        evaluate(filter, FILTER_ROWS[0])


# --- exact compiled forms --------------------------------------------------------------------

P = 'metadata["k"]'
FORMS: list[tuple[str, Any, str | None, str | None]] = [
    # name, filter, LITE25, MILVUS (None: FilterError on that dialect)
    ("eq", {"k": "v"}, f'{P} == "v"', f'{P} == "v"'),
    ("eq_number", {"k": 2.5}, f"{P} == 2.5", f"{P} == 2.5"),
    ("eq_bool", {"k": True}, f"{P} == true", f"{P} == true"),
    ("ne", {"k": {"$ne": 1}}, f"{P} != 1", f"not exists {P} or {P} != 1"),
    ("not_eq", {"$not": {"k": False}}, f"{P} != false", f"not exists {P} or {P} != false"),
    ("not_ne", {"$not": {"k": {"$ne": "v"}}}, f'{P} == "v"', f'{P} == "v"'),
    ("gt", {"k": {"$gt": 5}}, f"{P} > 5", f"{P} > 5"),
    (
        "range",
        {"k": {"$gte": -1.5, "$lt": 10}},
        f"{P} >= -1.5 and {P} < 10",
        f"{P} >= -1.5 and {P} < 10",
    ),
    (
        "not_gt_number",
        {"k": {"$not": {"$gt": 5}}},
        None,
        f'not exists {P} or not ({P} > 5) or {P} >= ""',
    ),
    (
        "not_lte_str",
        {"$not": {"k": {"$lte": "m"}}},
        None,
        f'not exists {P} or not ({P} <= "m") or {P} < 0 or {P} >= 0',
    ),
    (
        "in",
        {"k": {"$in": ["a", 1, 1.0, 2.5]}},
        f'{P} == "a" or {P} == 1 or {P} == 2.5',
        f'{P} == "a" or {P} == 1 or {P} == 2.5',
    ),
    ("in_one", {"k": {"$in": ["a"]}}, f'{P} == "a"', f'{P} == "a"'),
    (
        "nin",
        {"k": {"$nin": ["a", "b"]}},
        f'{P} != "a" and {P} != "b"',
        f'not exists {P} or ({P} != "a" and {P} != "b")',
    ),
    ("in_empty", {"k": {"$in": []}}, 'id == "" and id != ""', 'id == "" and id != ""'),
    ("nin_empty", {"k": {"$nin": []}}, 'id == "" or id != ""', 'id == "" or id != ""'),
    ("contains", {"k": {"$contains": "x"}}, f'json_contains({P}, "x")', f'json_contains({P}, "x")'),
    (
        "any",
        {"k": {"$any": ["x", 2]}},
        f'json_contains_any({P}, ["x", 2])',
        f'json_contains_any({P}, ["x", 2])',
    ),
    (
        "all",
        {"k": {"$all": ["x", "y"]}},
        f'json_contains_all({P}, ["x", "y"])',
        f'json_contains_all({P}, ["x", "y"])',
    ),
    ("all_one", {"k": {"$all": ["x"]}}, f'json_contains({P}, "x")', f'json_contains({P}, "x")'),
    ("not_contains", {"$not": {"k": {"$contains": "x"}}}, None, f'not (json_contains({P}, "x"))'),
    ("exists", {"k": {"$exists": True}}, None, f"exists {P}"),
    ("eq_none", {"k": None}, None, f"not exists {P}"),
    ("ne_none", {"k": {"$ne": None}}, None, f"exists {P}"),
    ("dotted", {"a.b c.d": 1}, 'metadata["a"]["b c"]["d"] == 1', 'metadata["a"]["b c"]["d"] == 1'),
    ("id", {"id": "x"}, 'id == "x"', 'id == "x"'),
    ("id_in", {"id": {"$in": ["a", "b"]}}, 'id in ["a", "b"]', 'id in ["a", "b"]'),
    ("id_nin", {"id": {"$nin": ["a"]}}, 'id not in ["a"]', 'id not in ["a"]'),
    ("not_doc_id_gt", {"$not": {"doc_id": {"$gt": "d"}}}, 'doc_id <= "d"', 'doc_id <= "d"'),
    ("id_exists", {"id": {"$exists": True}}, 'id == "" or id != ""', 'id == "" or id != ""'),
    (
        "or_de_morgan",
        {"$not": {"$or": [{"k": 1}, {"id": "x"}]}},
        f'{P} != 1 and id != "x"',
        f'(not exists {P} or {P} != 1) and id != "x"',
    ),
    (
        "nested_groups",
        {"$or": [{"k": 1, "id": "x"}, {"doc_id": "d"}]},
        f'({P} == 1 and id == "x") or doc_id == "d"',
        f'({P} == 1 and id == "x") or doc_id == "d"',
    ),
    (
        "flatten",
        {"$and": [{"k": 1}, {"$and": [{"id": "a"}, {"doc_id": "b"}]}]},
        f'{P} == 1 and id == "a" and doc_id == "b"',
        f'{P} == 1 and id == "a" and doc_id == "b"',
    ),
    ("fold_constants", {"$or": [{"k": {"$in": []}}, {"id": "x"}]}, 'id == "x"', 'id == "x"'),
    (
        "injection",
        {"k": 'x" or id != "'},
        f'{P} == "x\\" or id != \\""',
        f'{P} == "x\\" or id != \\""',
    ),
    ("unicode", {"k": "café 日本"}, f'{P} == "café 日本"', f'{P} == "café 日本"'),
    ("newline", {"k": "a\nb\tc"}, f'{P} == "a\\\nb\tc"', f'{P} == "a\\nb\tc"'),
    (
        "contains_negative",  # the Lite 3 server's parser refuses json_contains(P, -5)
        {"k": {"$contains": -5}},
        f"json_contains_all({P}, [-5])",
        f"json_contains_all({P}, [-5])",
    ),
    ("substring", {"k": {"$contains_text": "ab"}}, f'{P} like "%ab%"', f'{P} like "%ab%"'),
    (
        "not_substring",
        {"$not": {"k": {"$contains_text": "ab"}}},
        None,
        f'not exists {P} or not ({P} like "%ab%")',
    ),
    ("id_substring", {"id": {"$contains_text": "a"}}, 'id like "%a%"', 'id like "%a%"'),
    ("not_id_substring", {"$not": {"id": {"$contains_text": "a"}}}, None, 'not (id like "%a%")'),
]


def test_substring_patterns_never_carry_a_wildcard_of_the_user() -> None:
    from milvus_rag.client.substring import like_pattern

    assert like_pattern("abc") == ("%abc%", True)
    assert like_pattern("50%_off\\x") == ("%50%off%x%", False)
    assert like_pattern("") is None and like_pattern("%_\\") is None
    # a superset pattern is sent with the exact check as the residual; never negated
    plan = plan_filter({"k": {"$contains_text": "a_b"}}, dialect=SRV)
    assert plan.expr == f'{P} like "%a%b%"' and plan.residual is not None
    plan = plan_filter({"$not": {"k": {"$contains_text": "a_b"}}}, dialect=SRV)
    assert plan.expr is None and plan.residual is not None
    plan = plan_filter({"k": {"$icontains_text": "AB"}, "n": 1}, dialect=SRV)
    assert plan.expr == 'metadata["n"] == 1' and plan.residual is not None


@pytest.mark.parametrize(("name", "filter", "lite", "milvus"), FORMS, ids=[f[0] for f in FORMS])
def test_exact_forms(name: str, filter: Any, lite: str | None, milvus: str | None) -> None:
    for dialect, expected in ((L25, lite), (SRV, milvus)):
        if expected is None:
            with pytest.raises(FilterError, match=r"Milvus Lite 2\.5"):
                compile_filter(filter, dialect=dialect)
        else:
            assert compile_filter(filter, dialect=dialect) == expected


def test_default_dialect_is_milvus_and_strings_are_accepted() -> None:
    assert compile_filter({"k": {"$exists": True}}) == f"exists {P}"
    assert compile_filter({"k": 1}, dialect="lite25") == f"{P} == 1"


def test_custom_field_names() -> None:
    fields = FieldNames(id="pk", doc_id="ref", metadata="meta")
    f = {"id": "a", "doc_id": {"$in": ["r"]}, "x.y": {"$in": []}}
    assert compile_filter({"id": "a", "doc_id": {"$in": ["r"]}, "x.y": 1}, fields=fields) == (
        'pk == "a" and ref in ["r"] and meta["x"]["y"] == 1'
    )
    assert compile_filter(f, fields=fields) == 'pk == "" and pk != ""'
    row = {"pk": "a", "ref": "r", "meta": {"x": {"y": 1}}}
    assert evaluate({"id": "a", "doc_id": "r", "x.y": 1}, row, fields)
    assert ids_expr(["a"], fields) == 'pk in ["a"]'


@pytest.mark.parametrize("name", ["", "1a", "a-b", "a b", 'a"', "$meta", "a.b"])
def test_invalid_field_names(name: str) -> None:
    with pytest.raises(ConfigError):
        FieldNames(metadata=name)


def test_raw_string_escape_hatch_and_empty_filters() -> None:
    assert compile_filter('  metadata["a"] > 1 \n') == 'metadata["a"] > 1'
    assert compile_filter("   ") is None
    assert compile_filter(None) is None
    assert compile_filter({}) is None
    assert parse_filter(None) is None
    assert parse_filter({}) is None
    assert evaluate(None, FILTER_ROWS[0])
    assert evaluate({}, FILTER_ROWS[0])


def test_lite25_error_says_what_to_do() -> None:
    with pytest.raises(FilterError) as err:
        compile_filter({"$not": {"year": {"$gt": 2020}}}, dialect=L25)
    message = str(err.value)
    assert "'year'" in message and "NOT or EXISTS" in message
    assert "Milvus server" in message or "server" in message


# --- string literals and id lists ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "milvus", "lite"),
    [
        ("plain", '"plain"', '"plain"'),
        ('q"uote', '"q\\"uote"', '"q\\"uote"'),
        ("back\\slash", '"back\\\\slash"', '"back\\\\slash"'),
        ("x\\", '"x\\\\"', '"x\\\\"'),
        ('x"\' or id != "', '"x\\"\' or id != \\""', '"x\\"\' or id != \\""'),
        ("é 日本 😀", '"é 日本 😀"', '"é 日本 😀"'),
        ("a\nb", '"a\\nb"', '"a\\\nb"'),
        ("a\r\nb", '"a\\r\\nb"', '"a\\\r\nb"'),
        ("t\tb", '"t\tb"', '"t\tb"'),
        ("c\x01\x00\x7f", '"c\x01\x00\x7f"', '"c\x01\x00\x7f"'),
        ("\\u00e9", '"\\\\u00e9"', '"\\\\u00e9"'),
        ("", '""', '""'),
    ],
)
def test_string_literal(value: str, milvus: str, lite: str) -> None:
    assert string_literal(value) == milvus
    assert string_literal(value, Dialect.MILVUS) == milvus
    assert string_literal(value, Dialect.LITE25) == lite


def test_string_literal_rejects_what_cannot_be_expressed() -> None:
    with pytest.raises(FilterError, match="carriage return"):
        string_literal("a\rb", Dialect.LITE25)
    assert string_literal("a\rb") == '"a\\rb"'
    with pytest.raises(FilterError, match="surrogate"):
        string_literal("\ud800")
    with pytest.raises(FilterError, match="carriage return"):
        compile_filter({"k": "a\r"}, dialect=L25)


def test_ids_expr() -> None:
    assert ids_expr(["a", 'b"c', "d\\"]) == 'id in ["a", "b\\"c", "d\\\\"]'
    assert ids_expr(iter(["x"])) == 'id in ["x"]'
    assert ids_expr([]) == '(id == "" and id != "")'
    assert ids_expr(["a\nb"], dialect=Dialect.LITE25) == 'id in ["a\\\nb"]'
    with pytest.raises(FilterError):
        ids_expr(["a", 1])  # type: ignore[list-item]


# --- node tree ---------------------------------------------------------------------------------


def test_parse_builds_the_node_tree() -> None:
    node = parse_filter(
        {"year": {"$gte": 2020, "$nin": [1]}, "$or": [{"a": None}, {"t": {"$any": ["x"]}}]}
    )
    assert node == And(
        (
            And((Compare("year", "$gte", 2020), Not(In("year", (1,))))),
            Or((Not(Exists("a")), Contains("t", ("x",), "any"))),
        )
    )
    assert parse_filter({"k": {"$exists": False}}) == Not(Exists("k"))
    assert parse_filter({"k": {"$contains": 1}}) == Contains("k", (1,), "all")
    assert parse_filter({"$and": [{"k": 1}]}) == Compare("k", "$eq", 1)
    assert parse_filter(node) is node


def test_nodes_validate_and_are_immutable() -> None:
    node = In("k", ["a", "a", 1, 1.0, True])  # type: ignore[arg-type]
    assert node.values == ("a", 1, True)  # deduplicated by kind and value, tuple
    assert hash(node) == hash(In("k", ("a", 1, True)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.key = "x"  # type: ignore[misc]
    with pytest.raises(FilterError):
        Compare("k", "$gt", True)
    with pytest.raises(FilterError):
        Compare("k", "$like", "x")  # type: ignore[arg-type]
    with pytest.raises(FilterError):
        Compare("id", "$eq", 1)
    with pytest.raises(FilterError):
        Contains("k", ())
    with pytest.raises(FilterError):
        Contains("k", ("x",), "some")  # type: ignore[arg-type]
    with pytest.raises(FilterError):
        And(())
    with pytest.raises(FilterError):
        Or(({"k": 1},))  # type: ignore[arg-type]
    with pytest.raises(FilterError):
        Not({"k": 1})  # type: ignore[arg-type]
    with pytest.raises(FilterError):
        Exists("a..b")


def test_nodes_compile_and_evaluate() -> None:
    node = Or((Compare("k", "$lt", 3), Not(Exists("k"))))
    assert compile_filter(node) == f"{P} < 3 or not exists {P}"
    assert evaluate(node, {"id": "a", "metadata": {"k": 1}})
    assert evaluate(node, {"id": "a", "metadata": {}})
    assert not evaluate(node, {"id": "a", "metadata": {"k": 5}})


# --- evaluate() details ----------------------------------------------------------------------


def _row(**metadata: Any) -> dict[str, Any]:
    return {"id": "r", "doc_id": "", "metadata": metadata}


@pytest.mark.parametrize(
    ("filter", "metadata", "expected"),
    [
        ({"k": True}, {"k": 1}, False),
        ({"k": 1}, {"k": True}, False),
        ({"k": 1}, {"k": 1.0}, True),
        ({"k": "1"}, {"k": 1}, False),
        ({"k": {"$gt": 0}}, {"k": True}, False),
        ({"k": {"$gt": 0}}, {"k": "5"}, False),
        ({"k": {"$lt": "b"}}, {"k": "a"}, True),
        ({"k": {"$ne": 1}}, {"k": None}, True),
        ({"k": {"$exists": True}}, {"k": None}, False),
        ({"k": {"$exists": True}}, {"k": []}, True),
        ({"k": {"$contains": 1}}, {"k": [True]}, False),
        ({"k": {"$contains": 1}}, {"k": [1.0]}, True),
        ({"k": {"$contains": "x"}}, {"k": "x"}, False),
        ({"k": {"$all": ["x", "y"]}}, {"k": ["y", "x"]}, True),
        ({"k": {"$any": ["x", "y"]}}, {"k": ["z"]}, False),
        ({"k": {"$in": [1, "a"]}}, {"k": "a"}, True),
        ({"k": {"$nin": [1, "a"]}}, {}, True),
        ({"k.j": 1}, {"k": [1]}, False),
        ({"k.j": {"$ne": 1}}, {"k": "s"}, True),
        ({"k": [1][0]}, {"k": {"j": 1}}, False),
    ],
)
def test_evaluate_semantics(filter: Any, metadata: dict[str, Any], expected: bool) -> None:
    assert evaluate(filter, _row(**metadata)) is expected


def test_evaluate_reads_metadata_json_text() -> None:
    assert evaluate({"a.b": 2}, {"id": "r", "doc_id": "", "metadata": '{"a": {"b": 2}}'})
