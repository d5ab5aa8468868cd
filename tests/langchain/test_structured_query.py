"""The structured-query translator (issue 23, finding 8): every comparator and operator of
``langchain_core.structured_query`` maps to the filter dict, and a translated query selects
the rows the reference evaluator says on a real store (every backend)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.structured_query import (
    Comparator,
    Comparison,
    Operation,
    Operator,
    StructuredQuery,
)

from milvus_rag import FilterError
from milvus_rag.client.filters import evaluate
from milvus_rag.integrations.langchain import MilvusVectorStore
from milvus_rag.integrations.langchain.structured_query import MilvusRAGTranslator
from tests.backends import Backend
from tests.cases.filters import FILTER_ROWS
from tests.conftest import new_name
from tests.fakes import FakeLangChainEmbeddings

T = MilvusRAGTranslator()
C, OP = Comparator, Operator


def cmp(op: Comparator, key: str, value: Any) -> Comparison:
    return Comparison(comparator=op, attribute=key, value=value)


COMPARISONS: list[tuple[Comparison, dict[str, Any]]] = [
    (cmp(C.EQ, "lang", "en"), {"lang": {"$eq": "en"}}),
    (cmp(C.NE, "lang", "en"), {"lang": {"$ne": "en"}}),
    (cmp(C.GT, "year", 2020), {"year": {"$gt": 2020}}),
    (cmp(C.GTE, "year", 2020), {"year": {"$gte": 2020}}),
    (cmp(C.LT, "score", 1.5), {"score": {"$lt": 1.5}}),
    (cmp(C.LTE, "score", 1.5), {"score": {"$lte": 1.5}}),
    (cmp(C.IN, "lang", ["en", "de"]), {"lang": {"$in": ["en", "de"]}}),
    (cmp(C.IN, "lang", "en"), {"lang": {"$in": ["en"]}}),
    (cmp(C.NIN, "lang", ["en"]), {"lang": {"$nin": ["en"]}}),
    (
        cmp(C.CONTAIN, "tags", "x"),
        {"$or": [{"tags": {"$contains_text": "x"}}, {"tags": {"$contains": "x"}}]},
    ),
    (cmp(C.CONTAIN, "nums", 2), {"nums": {"$contains": 2}}),
    (cmp(C.LIKE, "source", "%pdf%"), {"source": {"$contains_text": "pdf"}}),
    (cmp(C.LIKE, "source", "a_b"), {"source": {"$contains_text": "a_b"}}),
    (
        cmp(C.GT, "day", {"type": "date", "date": "2024-01-31"}),
        {"day": {"$gt": "2024-01-31"}},
    ),
]


@pytest.mark.parametrize(("comparison", "expected"), COMPARISONS, ids=lambda x: repr(x)[:60])
def test_every_comparator(comparison: Comparison, expected: dict[str, Any]) -> None:
    assert comparison.accept(T) == expected


def test_every_operator_and_the_query() -> None:
    a, b = cmp(C.EQ, "lang", "en"), cmp(C.GT, "year", 2020)
    assert Operation(operator=OP.AND, arguments=[a, b]).accept(T) == {
        "$and": [{"lang": {"$eq": "en"}}, {"year": {"$gt": 2020}}]
    }
    assert Operation(operator=OP.OR, arguments=[a, b]).accept(T) == {
        "$or": [{"lang": {"$eq": "en"}}, {"year": {"$gt": 2020}}]
    }
    assert Operation(operator=OP.NOT, arguments=[a]).accept(T) == {"$not": {"lang": {"$eq": "en"}}}
    assert Operation(operator=OP.NOT, arguments=[a, b]).accept(T) == {
        "$not": {"$or": [{"lang": {"$eq": "en"}}, {"year": {"$gt": 2020}}]}
    }
    assert Operation(operator=OP.AND, arguments=[a]).accept(T) == {"lang": {"$eq": "en"}}
    assert T.visit_structured_query(StructuredQuery(query="q", filter=None)) == ("q", {})
    assert T.visit_structured_query(StructuredQuery(query="q", filter=a)) == (
        "q",
        {"filter": {"lang": {"$eq": "en"}}},
    )
    with pytest.raises(FilterError, match="str pattern"):
        cmp(C.LIKE, "source", 3).accept(T)


QUERIES = [
    cmp(C.LIKE, "source", "pdf"),
    cmp(C.CONTAIN, "tags", "x"),
    cmp(C.CONTAIN, "source", "日本"),
    Operation(
        operator=OP.OR,
        arguments=[cmp(C.GTE, "year", 2022), cmp(C.IN, "lang", ["fr", "de"])],
    ),
    Operation(
        operator=OP.NOT,
        arguments=[
            Operation(operator=OP.AND, arguments=[cmp(C.NE, "lang", "en"), cmp(C.LT, "score", 2)])
        ],
    ),
    Operation(
        operator=OP.AND, arguments=[cmp(C.NIN, "doc_id", ["d1"]), cmp(C.LIKE, "source", '"')]
    ),
]


@pytest.fixture(scope="module")
def rows_store(backend: Backend) -> Iterator[MilvusVectorStore]:
    store = MilvusVectorStore(
        embedding=FakeLangChainEmbeddings(dim=16),
        uri=backend.uri,
        token=backend.token or None,
        collection_name=new_name("lcsq"),
        retrieval_mode="dense",
    )
    store.add_documents(
        [
            Document(
                id=r["id"],
                page_content=f"row {r['id']}",
                metadata={**r["metadata"], "doc_id": r["doc_id"]},
            )
            for r in FILTER_ROWS
        ]
    )
    yield store
    store.drop()
    store.close()


@pytest.mark.integration
@pytest.mark.parametrize("query", QUERIES, ids=lambda q: repr(q)[:60])
def test_translated_queries_select_the_oracles_rows(
    rows_store: MilvusVectorStore, query: Any
) -> None:
    text, kwargs = T.visit_structured_query(StructuredQuery(query="row", filter=query))
    expected = {r["id"] for r in FILTER_ROWS if evaluate(kwargs["filter"], r)}
    assert expected, "a case that selects nothing tests nothing"
    got = rows_store.similarity_search(text, k=len(FILTER_ROWS), **kwargs)
    assert {d.id for d in got} == expected
