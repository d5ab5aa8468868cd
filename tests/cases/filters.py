"""Shared filter cases: rows, filters and the ids each filter must return, written by hand.

Used by the pure unit tests (``evaluate``) and by the integration tests of the core, LangChain
and LlamaIndex stores on every backend: insert ``FILTER_ROWS`` (``id``, ``doc_id`` and
``metadata``; any text and vectors will do), then each case's filter must return exactly
``expected_ids``, on every backend: where the embedded Milvus Lite 2.5 engine cannot express a
part (NOT or EXISTS on a metadata key), the core evaluates it client-side.

The rows keep two engine limits out of the way (both documented in
``milvus_rag.client.filters``): no key holds both bools and numbers (the Milvus Lite 3 server
compares ``true == 1``), and no key used under a negated range holds an array or an object.

Self-contained: stdlib only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FilterCase:
    """One filter and the ids of ``FILTER_ROWS`` it selects."""

    name: str
    filter: Any
    expected_ids: frozenset[str]


def _row(id: str, doc_id: str, metadata: dict[str, Any]) -> dict[str, Any]:
    return {"id": id, "doc_id": doc_id, "metadata": metadata}


FILTER_ROWS: list[dict[str, Any]] = [
    _row(
        "r01",
        "d1",
        {
            "source": "a.pdf",
            "year": 2020,
            "lang": "en",
            "tags": ["x", "y"],
            "draft": False,
            "score": 0.5,
            "author": {"name": "Ann", "age": 41},
        },
    ),
    _row(
        "r02",
        "d1",
        {
            "source": "b.pdf",
            "year": 2021,
            "lang": "de",
            "tags": ["y", "z"],
            "draft": True,
            "score": 1,
            "author": {"name": "Bob", "age": 35},
        },
    ),
    _row(
        "r03",
        "d2",
        {
            "source": 'q"uote.pdf',
            "year": 2019,
            "lang": "fr",
            "tags": [],
            "score": 2.5,
            "author": {"name": "O'Brien"},
        },
    ),
    _row(
        "r04",
        "d2",
        {"source": "back\\slash", "year": "2021", "lang": "en", "draft": None, "nums": [1, 2, 3]},
    ),
    _row(
        "r05",
        "d3",
        {"source": "café 日本", "year": 2022.0, "lang": None, "tags": ["x"], "nums": [2.5, 4]},
    ),
    _row("r06", "", {}),
    _row(
        "r07",
        "d4",
        {
            "source": "line\nbreak\ttab",
            "year": 2018,
            "tags": ["x", "z"],
            "score": -3,
            "draft": False,
        },
    ),
    _row(
        "r08",
        "d4",
        {"source": 'x" or id != "', "lang": "de", "author": {"name": "Ann"}, "nums": ["1", 2]},
    ),
    _row(
        "r09", "d5", {"source": "a.pdf", "lang": "EN", "tags": "x", "author": "Ann", "year": 2024}
    ),
    _row(
        "r10", 'd"6', {"year": 2023, "score": 10, "tags": ["y"], "lang": "日本語", "rating": "10"}
    ),
    _row(
        "r11",
        "d\\7",
        {
            "source": "ctl\x01bell\x07",
            "score": 0,
            "draft": True,
            "author": {"name": "Zoë", "age": None},
        },
    ),
    _row(
        "r12",
        "d7",
        {
            "source": "",
            "year": -5,
            "score": 1.5,
            "tags": ["x", "y", "z"],
            "nested": {"a": {"b": "deep"}},
        },
    ),
    _row("r13", "d8", {"source": "A.PDF", "nested": {"a": {"b": 1}}, "score": 2}),
    _row("r14", "d8", {"nested": {"a": "flat"}, "year": 2020.5, "lang": "en"}),
]

ALL_IDS: frozenset[str] = frozenset(r["id"] for r in FILTER_ROWS)


def _ids(*ids: str) -> frozenset[str]:
    out = frozenset(ids)
    assert out <= ALL_IDS, out - ALL_IDS
    return out


def _all_but(*ids: str) -> frozenset[str]:
    return ALL_IDS - _ids(*ids)


_C = FilterCase

FILTER_CASES: list[FilterCase] = [
    # --- $eq and its shorthand; kinds never mix --------------------------------------
    _C("eq_str", {"source": "a.pdf"}, _ids("r01", "r09")),
    _C("eq_str_is_case_sensitive", {"source": "A.PDF"}, _ids("r13")),
    _C("eq_int_not_numeric_string", {"year": 2021}, _ids("r02")),
    _C("eq_numeric_string_not_int", {"year": "2021"}, _ids("r04")),
    _C("eq_int_matches_float", {"year": 2022}, _ids("r05")),
    _C("eq_float_matches_int", {"score": 1.0}, _ids("r02")),
    _C("eq_explicit_op", {"lang": {"$eq": "fr"}}, _ids("r03")),
    _C("eq_negative", {"score": -3}, _ids("r07")),
    _C("eq_zero", {"score": 0}, _ids("r11")),
    _C("eq_true", {"draft": True}, _ids("r02", "r11")),
    _C("eq_false", {"draft": False}, _ids("r01", "r07")),
    _C("eq_string_not_array", {"tags": "x"}, _ids("r09")),
    _C("eq_string_not_object", {"author": "Ann"}, _ids("r09")),
    _C("eq_empty_string", {"source": ""}, _ids("r12")),
    _C(
        "eq_none_is_missing",
        {"draft": None},
        _all_but("r01", "r02", "r07", "r11"),
    ),
    _C(
        "eq_op_none_is_missing",
        {"lang": {"$eq": None}},
        _ids("r05", "r06", "r07", "r11", "r12", "r13"),
    ),
    # --- $ne: the complement of $eq, rows without the key included ---------------------
    _C("ne_str", {"lang": {"$ne": "en"}}, _all_but("r01", "r04", "r14")),
    _C("ne_bool", {"draft": {"$ne": True}}, _all_but("r02", "r11")),
    _C("ne_int_keeps_numeric_string", {"year": {"$ne": 2021}}, _all_but("r02")),
    _C(
        "ne_none_is_exists",
        {"draft": {"$ne": None}},
        _ids("r01", "r02", "r07", "r11"),
    ),
    # --- ranges -------------------------------------------------------------------------
    _C("gt_number_skips_strings", {"year": {"$gt": 2020}}, _ids("r02", "r05", "r09", "r10", "r14")),
    _C("gte_lte_between", {"year": {"$gte": 2019, "$lte": 2021}}, _ids("r01", "r02", "r03", "r14")),
    _C("lt_float", {"score": {"$lt": 1.5}}, _ids("r01", "r02", "r07", "r11")),
    _C("lt_negative", {"year": {"$lt": 0}}, _ids("r12")),
    _C(
        "lte_big_float",
        {"score": {"$lte": 1e20}},
        _ids("r01", "r02", "r03", "r07", "r10", "r11", "r12", "r13"),
    ),
    _C("gt_str", {"source": {"$gt": "b"}}, _ids("r02", "r03", "r04", "r05", "r07", "r08", "r11")),
    _C("lte_str_skips_numbers", {"year": {"$lte": "2021"}}, _ids("r04")),
    _C("range_and_ne", {"score": {"$gt": 0, "$ne": 1}}, _ids("r01", "r03", "r10", "r12", "r13")),
    # --- $in / $nin ---------------------------------------------------------------------
    _C("in_str", {"lang": {"$in": ["en", "de"]}}, _ids("r01", "r02", "r04", "r08", "r14")),
    _C("in_mixed_kinds", {"year": {"$in": [2019, "2021", 2022.0]}}, _ids("r03", "r04", "r05")),
    _C("in_bool", {"draft": {"$in": [True]}}, _ids("r02", "r11")),
    _C("in_empty", {"lang": {"$in": []}}, _ids()),
    _C("nin_str", {"lang": {"$nin": ["en", "de"]}}, _all_but("r01", "r02", "r04", "r08", "r14")),
    _C("nin_mixed_kinds", {"year": {"$nin": [2020, "2021"]}}, _all_but("r01", "r04")),
    _C("nin_bool", {"draft": {"$nin": [False]}}, _all_but("r01", "r07")),
    _C("nin_empty", {"lang": {"$nin": []}}, ALL_IDS),
    # --- arrays -------------------------------------------------------------------------
    _C("contains_str", {"tags": {"$contains": "x"}}, _ids("r01", "r05", "r07", "r12")),
    _C("contains_int", {"nums": {"$contains": 2}}, _ids("r04", "r08")),
    _C("contains_float", {"nums": {"$contains": 2.5}}, _ids("r05")),
    _C("contains_numeric_string", {"nums": {"$contains": "1"}}, _ids("r08")),
    _C("any", {"tags": {"$any": ["z", "w"]}}, _ids("r02", "r07", "r12")),
    _C("any_empty", {"tags": {"$any": []}}, _ids()),
    _C("all", {"tags": {"$all": ["x", "y"]}}, _ids("r01", "r12")),
    # --- $exists ------------------------------------------------------------------------
    _C(
        "exists_true",
        {"author": {"$exists": True}},
        _ids("r01", "r02", "r03", "r08", "r09", "r11"),
    ),
    _C(
        "exists_false_null_is_missing",
        {"lang": {"$exists": False}},
        _ids("r05", "r06", "r07", "r11", "r12", "r13"),
    ),
    _C(
        "exists_nested_null",
        {"author.age": {"$exists": True}},
        _ids("r01", "r02"),
    ),
    # --- dotted paths -------------------------------------------------------------------
    _C("dotted_eq", {"author.name": "Ann"}, _ids("r01", "r08")),
    _C("dotted_ne_parent_not_object", {"author.name": {"$ne": "Ann"}}, _all_but("r01", "r08")),
    _C("dotted_gt", {"author.age": {"$gt": 36}}, _ids("r01")),
    _C("dotted_single_quote", {"author.name": "O'Brien"}, _ids("r03")),
    _C("dotted_unicode", {"author.name": "Zoë"}, _ids("r11")),
    _C("deep_path", {"nested.a.b": "deep"}, _ids("r12")),
    _C("deep_path_gte_skips_string", {"nested.a.b": {"$gte": 1}}, _ids("r13")),
    _C("deep_path_ne", {"nested.a.b": {"$ne": 1}}, _all_but("r13")),
    _C("path_to_string_value", {"nested.a": "flat"}, _ids("r14")),
    _C(
        "deep_path_missing",
        {"nested.a.b": {"$exists": False}},
        _all_but("r12", "r13"),
    ),
    # --- id / doc_id --------------------------------------------------------------------
    _C("id_eq", {"id": "r03"}, _ids("r03")),
    _C("id_in", {"id": {"$in": ["r01", "r05", "zz"]}}, _ids("r01", "r05")),
    _C("id_nin", {"id": {"$nin": ["r01", "r02"]}}, _all_but("r01", "r02")),
    _C("id_lt", {"id": {"$lt": "r03"}}, _ids("r01", "r02")),
    _C("id_exists", {"id": {"$exists": True}}, ALL_IDS),
    _C("not_id_in", {"$not": {"id": {"$in": ["r01"]}}}, _all_but("r01")),
    _C("doc_id_empty", {"doc_id": ""}, _ids("r06")),
    _C("doc_id_quote", {"doc_id": 'd"6'}, _ids("r10")),
    _C("doc_id_backslash", {"doc_id": "d\\7"}, _ids("r11")),
    _C("doc_id_gt", {"doc_id": {"$gt": "d4"}}, _ids("r09", "r11", "r12", "r13", "r14")),
    _C(
        "not_doc_id_gt",
        {"$not": {"doc_id": {"$gt": "d4"}}},
        _ids("r01", "r02", "r03", "r04", "r05", "r06", "r07", "r08", "r10"),
    ),
    # --- escaping -----------------------------------------------------------------------
    _C("value_double_quote", {"source": 'q"uote.pdf'}, _ids("r03")),
    _C("value_backslash", {"source": "back\\slash"}, _ids("r04")),
    _C("value_unicode", {"source": "café 日本"}, _ids("r05")),
    _C("value_unicode_cjk", {"lang": "日本語"}, _ids("r10")),
    _C("value_newline_tab", {"source": "line\nbreak\ttab"}, _ids("r07")),
    _C("value_control_chars", {"source": "ctl\x01bell\x07"}, _ids("r11")),
    _C("injection_eq", {"source": 'x" or id != "'}, _ids("r08")),
    _C("injection_ne", {"source": {"$ne": 'x" or id != "'}}, _all_but("r08")),
    _C("injection_id_in", {"id": {"$in": ['r01" or id != "']}}, _ids()),
    _C("injection_backslash_quote", {"source": 'back\\" or id != "'}, _ids()),
    _C("injection_bracket", {"source": '"] or metadata["lang'}, _ids()),
    # --- logic --------------------------------------------------------------------------
    _C("empty_filter", {}, ALL_IDS),
    _C("and_implicit", {"source": "a.pdf", "lang": "en"}, _ids("r01")),
    _C(
        "and_explicit",
        {"$and": [{"year": {"$gte": 2020}}, {"tags": {"$contains": "y"}}]},
        _ids("r01", "r02", "r10"),
    ),
    _C(
        "or_contains_or_not_true",
        {"$or": [{"tags": {"$contains": "x"}}, {"$not": {"draft": True}}]},
        _all_but("r02", "r11"),
    ),
    _C("or_with_empty_in", {"$or": [{"lang": {"$in": []}}, {"id": "r02"}]}, _ids("r02")),
    _C("and_with_empty_nin", {"$and": [{"lang": {"$nin": []}}, {"id": "r02"}]}, _ids("r02")),
    _C("not_eq", {"$not": {"lang": "en"}}, _all_but("r01", "r04", "r14")),
    _C("field_not_eq", {"lang": {"$not": {"$eq": "en"}}}, _all_but("r01", "r04", "r14")),
    _C(
        "not_in",
        {"$not": {"lang": {"$in": ["en", "de"]}}},
        _all_but("r01", "r02", "r04", "r08", "r14"),
    ),
    _C(
        "not_nin",
        {"$not": {"lang": {"$nin": ["en", "de"]}}},
        _ids("r01", "r02", "r04", "r08", "r14"),
    ),
    _C("double_not", {"$not": {"$not": {"source": "a.pdf"}}}, _ids("r01", "r09")),
    _C(
        "not_or_de_morgan",
        {"$not": {"$or": [{"lang": "en"}, {"draft": True}]}},
        _all_but("r01", "r02", "r04", "r11", "r14"),
    ),
    _C(
        "not_and_de_morgan",
        {"$not": {"$and": [{"source": "a.pdf"}, {"lang": "en"}]}},
        _all_but("r01"),
    ),
    _C(
        "not_three_levels",
        {
            "$not": {
                "$or": [{"$and": [{"lang": "en"}, {"$not": {"source": "a.pdf"}}]}, {"doc_id": "d4"}]
            }
        },
        _all_but("r04", "r07", "r08", "r14"),
    ),
    # --- negations that need NOT / EXISTS on a metadata key ----------------------------
    _C(
        "field_not_gt",
        {"score": {"$not": {"$gt": 1}}},
        _ids("r01", "r02", "r04", "r05", "r06", "r07", "r08", "r09", "r11", "r14"),
    ),
    _C(
        "not_gt_keeps_strings_and_missing",
        {"$not": {"year": {"$gt": 2020}}},
        _all_but("r02", "r05", "r09", "r10", "r14"),
    ),
    _C(
        "not_gt_str",
        {"$not": {"source": {"$gt": "b"}}},
        _all_but("r02", "r03", "r04", "r05", "r07", "r08", "r11"),
    ),
    _C(
        "not_gte_str_keeps_numbers",
        {"$not": {"year": {"$gte": "2000"}}},
        _all_but("r04"),
    ),
    _C(
        "not_contains",
        {"$not": {"tags": {"$contains": "x"}}},
        _all_but("r01", "r05", "r07", "r12"),
    ),
    _C(
        "field_not_any",
        {"tags": {"$not": {"$any": ["x", "y"]}}},
        _all_but("r01", "r02", "r05", "r07", "r10", "r12"),
    ),
    _C(
        "not_all",
        {"$not": {"tags": {"$all": ["x", "y"]}}},
        _all_but("r01", "r12"),
    ),
    _C(
        "not_exists",
        {"$not": {"author": {"$exists": True}}},
        _all_but("r01", "r02", "r03", "r08", "r09", "r11"),
    ),
    _C(
        "not_three_levels_with_range",
        {
            "$or": [
                {"$not": {"$and": [{"year": {"$gte": 2020}}, {"$not": {"lang": "de"}}]}},
                {"id": "r06"},
            ]
        },
        _all_but("r01", "r05", "r09", "r10", "r14"),
    ),
    # --- substrings: $contains_text (case-sensitive), $icontains_text (lower-cased) -------
    _C("contains_text", {"source": {"$contains_text": ".pdf"}}, _ids("r01", "r02", "r03", "r09")),
    _C(
        "icontains_text",
        {"source": {"$icontains_text": ".PDF"}},
        _ids("r01", "r02", "r03", "r09", "r13"),
    ),
    _C("contains_text_quote", {"source": {"$contains_text": '"'}}, _ids("r03", "r08")),
    _C("contains_text_backslash", {"source": {"$contains_text": "\\"}}, _ids("r04")),
    _C("contains_text_underscore_is_literal", {"source": {"$contains_text": "a_pdf"}}, _ids()),
    _C("contains_text_percent_is_literal", {"source": {"$contains_text": "%pdf"}}, _ids()),
    _C("contains_text_unicode", {"source": {"$contains_text": "日本"}}, _ids("r05")),
    _C(
        "contains_text_empty_matches_every_string",
        {"source": {"$contains_text": ""}},
        _all_but("r06", "r10", "r14"),
    ),
    _C("contains_text_only_strings", {"year": {"$contains_text": "202"}}, _ids("r04")),
    _C(
        "icontains_text_lang", {"lang": {"$icontains_text": "En"}}, _ids("r01", "r04", "r09", "r14")
    ),
    _C(
        "contains_text_nested_path",
        {"author.name": {"$contains_text": "n"}},
        _ids("r01", "r03", "r08"),
    ),
    _C(
        "contains_text_id",
        {"id": {"$contains_text": "1"}},
        _ids("r01", "r10", "r11", "r12", "r13", "r14"),
    ),
    _C("contains_text_doc_id_backslash", {"doc_id": {"$contains_text": "\\"}}, _ids("r11")),
    _C(
        "not_contains_text",
        {"$not": {"source": {"$contains_text": "pdf"}}},
        _all_but("r01", "r02", "r03", "r09"),
    ),
    _C(
        "field_not_icontains_text",
        {"source": {"$not": {"$icontains_text": "a.pdf"}}},
        _all_but("r01", "r09", "r13"),
    ),
    _C(
        "contains_text_in_or",
        {"$or": [{"source": {"$contains_text": "café"}}, {"lang": {"$icontains_text": "DE"}}]},
        _ids("r02", "r05", "r08"),
    ),
]


def case_id(value: Any) -> str:
    """A case's test id: its repr, with no memory address (pytest-xdist workers must collect
    the same ids)."""
    return "object()" if type(value) is object else repr(value)


#: Filters that must raise FilterError (on every dialect, before any I/O).
INVALID_FILTERS: list[Any] = [
    {"source": {"$contains_text": 1}},
    {"source": {"$icontains_text": None}},
    {"$foo": 1},
    {"$gt": 1},
    {"a": {"$foo": 1}},
    {"a": {"$eq": 1, "b": 2}},
    {"a": {"b": 1}},
    {"a": {}},
    {"a": [1, 2]},
    {"a": (1, 2)},
    {"a": float("nan")},
    {"a": {"$gt": float("inf")}},
    {"a": 2**63},
    {"a": {"$in": [-(2**63)]}},
    {"a": b"bytes"},
    {"a": "\ud800"},
    {"a": {"$gt": True}},
    {"a": {"$lt": None}},
    {"a": {"$gte": [1]}},
    {"a": {"$in": "x"}},
    {"a": {"$in": [[1]]}},
    {"a": {"$in": [None]}},
    {"a": {"$nin": {"x": 1}}},
    {"a": {"$contains": [1]}},
    {"a": {"$any": "x"}},
    {"a": {"$all": []}},
    {"a": {"$exists": 1}},
    {"a": {"$exists": None}},
    {"a": {"$not": 5}},
    {"a": {"$not": {}}},
    {"a": {"$or": [{"$eq": 1}]}},
    {"": 1},
    {".a": 1},
    {"a.": 1},
    {"a..b": 1},
    {'a"b': 1},
    {"a'b": 1},
    {"a\\b": 1},
    {"a[0]": 1},
    {"a\nb": 1},
    {"a.0": 1},
    {1: "x"},
    {"id": 5},
    {"id": {"$in": ["a", 1]}},
    {"doc_id": {"$gt": 1}},
    {"id": {"$contains": "x"}},
    {"$and": []},
    {"$and": {}},
    {"$or": [1]},
    {"$or": [{}]},
    {"$not": []},
    {"$not": {}},
    5,
    ["a"],
    object(),
]
