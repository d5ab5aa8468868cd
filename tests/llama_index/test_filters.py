"""The shared filter table (tests/cases/filters.py) through LlamaIndex ``MetadataFilters``,
on every backend, via ``query`` and ``get_nodes``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from llama_index.core.bridge.pydantic import ValidationError
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)

from milvus_rag.client.filters import evaluate
from milvus_rag.integrations.llama_index import MilvusVectorStore
from milvus_rag.integrations.llama_index.filters import metadata_filters_to_dict
from tests.backends import Backend
from tests.cases.filters import ALL_IDS, FILTER_CASES, FILTER_ROWS, FilterCase
from tests.llama_index.conftest import DIM, drop_and_close, open_store

F = FilterOperator
AND, OR, NOT = FilterCondition.AND, FilterCondition.OR, FilterCondition.NOT


class NotExpressible(Exception):
    """The dict filter has no equivalent in LlamaIndex MetadataFilters."""


_OPS = {
    "$eq": F.EQ,
    "$ne": F.NE,
    "$gt": F.GT,
    "$gte": F.GTE,
    "$lt": F.LT,
    "$lte": F.LTE,
    "$in": F.IN,
    "$nin": F.NIN,
    "$contains": F.CONTAINS,
    "$any": F.ANY,
    "$all": F.ALL,
}


def to_llama(filter: dict[str, Any]) -> MetadataFilters | None:
    """The MetadataFilters equivalent to a filter of the core's dict language.

    ``$exists True`` is ``NE None`` and ``$exists False`` is ``EQ None`` (exact, by the core's
    definition); ``{"$not": {"$or": [...]}}`` is LlamaIndex's NOT with several filters.
    Raises :class:`NotExpressible` where MetadataFilters has no equivalent (bool values, lists
    mixing strings and numbers: ``MetadataFilter.value`` takes neither).
    """
    if not filter:
        return None
    node = _node(filter)
    return node if isinstance(node, MetadataFilters) else MetadataFilters(filters=[node])


def _node(d: dict[str, Any]) -> MetadataFilter | MetadataFilters:
    parts = _clauses(d)
    return parts[0] if len(parts) == 1 else MetadataFilters(filters=parts, condition=AND)


def _clauses(d: dict[str, Any]) -> list[MetadataFilter | MetadataFilters]:
    out: list[MetadataFilter | MetadataFilters] = []
    for key, value in d.items():
        if key in ("$and", "$or"):
            out.append(
                MetadataFilters(
                    filters=[_node(x) for x in value], condition=AND if key == "$and" else OR
                )
            )
        elif key == "$not":
            if list(value) == ["$or"]:  # NOT with several filters: none of them holds
                out.append(MetadataFilters(filters=[_node(x) for x in value["$or"]], condition=NOT))
            else:
                out.append(MetadataFilters(filters=[_node(value)], condition=NOT))
        else:
            out.extend(_field(key, value))
    return out


def _field(key: str, value: Any) -> list[MetadataFilter | MetadataFilters]:
    if not (isinstance(value, dict) and value and all(k.startswith("$") for k in value)):
        return [_leaf(key, value, F.EQ)]
    out: list[MetadataFilter | MetadataFilters] = []
    for op, arg in value.items():
        if op == "$not":
            inner = _field(key, arg)
            group = inner if len(inner) == 1 else [MetadataFilters(filters=inner, condition=AND)]
            out.append(MetadataFilters(filters=group, condition=NOT))
        elif op == "$exists":
            out.append(_leaf(key, None, F.NE if arg else F.EQ))
        else:
            out.append(_leaf(key, arg, _OPS[op]))
    return out


def _leaf(key: str, value: Any, op: FilterOperator) -> MetadataFilter:
    try:
        return MetadataFilter(key=key, value=value, operator=op)
    except ValidationError:
        raise NotExpressible(f"{key} {op.name} {value!r}") from None


#: Cases of the table with no MetadataFilters equivalent, and why: listed, never skipped
#: silently (``test_not_expressible_list_is_exact`` checks the list).
NOT_EXPRESSIBLE = {
    "eq_true": "bool value",
    "eq_false": "bool value",
    "ne_bool": "bool value",
    "in_bool": "bool value",
    "nin_bool": "bool value",
    "in_mixed_kinds": "list mixing numbers and strings",
    "nin_mixed_kinds": "list mixing numbers and strings",
    "or_contains_or_not_true": "bool value",
    "not_or_de_morgan": "bool value",
}

#: Extra cases on LlamaIndex-only forms (expected ids written by hand from FILTER_ROWS).
_C = FilterCase
EXTRA_CASES: list[tuple[FilterCase, MetadataFilters]] = [
    (
        _C("li_not_several", None, ALL_IDS - {"r01", "r04", "r09", "r14"}),
        MetadataFilters(
            filters=[
                MetadataFilter(key="lang", value="en"),
                MetadataFilter(key="source", value="a.pdf"),
            ],
            condition=NOT,
        ),
    ),
    (
        _C("li_not_one", None, ALL_IDS - {"r01", "r09"}),
        MetadataFilters(filters=[MetadataFilter(key="source", value="a.pdf")], condition=NOT),
    ),
    (
        _C(
            "li_is_empty",
            None,
            frozenset({"r04", "r06", "r08", "r11", "r13", "r14"}),
        ),
        MetadataFilters(filters=[MetadataFilter(key="tags", value=None, operator=F.IS_EMPTY)]),
    ),
    (
        _C(
            "li_not_is_empty",
            None,
            frozenset({"r01", "r02", "r03", "r05", "r07", "r09", "r10", "r12"}),
        ),
        MetadataFilters(
            filters=[MetadataFilter(key="tags", value=None, operator=F.IS_EMPTY)], condition=NOT
        ),
    ),
    (
        _C("li_nested_or_and", None, frozenset({"r01", "r02", "r10", "r12"})),
        MetadataFilters(
            filters=[
                MetadataFilter(key="tags", value="y", operator=F.CONTAINS),
                MetadataFilters(
                    filters=[
                        MetadataFilter(key="year", value=2022, operator=F.GT),
                        MetadataFilter(key="score", value=1.5, operator=F.LTE),
                    ],
                    condition=OR,
                ),
            ]
        ),
    ),
    (
        _C("li_ref_doc_id_key", None, frozenset({"r07", "r08"})),
        MetadataFilters(filters=[MetadataFilter(key="doc_id", value="d4")]),
    ),
]

EXPRESSIBLE = [c for c in FILTER_CASES if c.name not in NOT_EXPRESSIBLE]
ALL_LLAMA_CASES: list[tuple[FilterCase, MetadataFilters | None]] = [
    (c, to_llama(c.filter)) for c in EXPRESSIBLE
] + EXTRA_CASES


def test_not_expressible_list_is_exact() -> None:
    failed = set()
    for case in FILTER_CASES:
        try:
            to_llama(case.filter)
        except NotExpressible:
            failed.add(case.name)
    assert failed == set(NOT_EXPRESSIBLE)


@pytest.mark.parametrize("case", EXPRESSIBLE, ids=lambda c: c.name)
def test_conversion_is_equivalent_on_the_oracle(case: FilterCase) -> None:
    """dict -> MetadataFilters -> dict selects the same rows under the core's reference
    semantics (pure: no database)."""
    back = metadata_filters_to_dict(to_llama(case.filter))
    got = {r["id"] for r in FILTER_ROWS if evaluate(back, r)}
    assert got == case.expected_ids


def _nodes() -> list[TextNode]:
    rng = np.random.default_rng(7)
    out = []
    for row in FILTER_ROWS:
        v = rng.normal(size=DIM)
        rels = (
            {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=row["doc_id"])}
            if row["doc_id"]
            else {}
        )
        out.append(
            TextNode(
                id_=row["id"],
                text=f"row {row['id']}",
                metadata=row["metadata"],
                embedding=(v / np.linalg.norm(v)).tolist(),
                relationships=rels,
            )
        )
    return out


@pytest.fixture(scope="module")
def filter_store(backend: Backend) -> Iterator[MilvusVectorStore]:
    store = open_store(backend, dim=DIM)
    assert store.add(_nodes()) == [r["id"] for r in FILTER_ROWS]
    yield store
    drop_and_close(store)


@pytest.mark.integration
@pytest.mark.parametrize("case,filters", ALL_LLAMA_CASES, ids=[c.name for c, _ in ALL_LLAMA_CASES])
def test_filter_case(
    filter_store: MilvusVectorStore,
    backend: Backend,
    case: FilterCase,
    filters: MetadataFilters | None,
) -> None:
    query = VectorStoreQuery(
        query_embedding=[1.0] + [0.0] * (DIM - 1),
        similarity_top_k=len(FILTER_ROWS),
        filters=filters,
    )
    result = filter_store.query(query)
    assert set(result.ids or []) == case.expected_ids
    assert {n.node_id for n in filter_store.get_nodes(filters=filters)} == case.expected_ids
    # and by id: the intersection of the ids asked and the filter
    some = ["r01", "r04", "r09", "r12", "nope"]
    got = filter_store.get_nodes(node_ids=some, filters=filters)
    assert [n.node_id for n in got] == [i for i in some if i in case.expected_ids]
