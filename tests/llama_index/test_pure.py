"""Pure parts of the LlamaIndex integration: node <-> Record mapping, filter conversion."""

from __future__ import annotations

import pytest
from llama_index.core.schema import (
    Document,
    IndexNode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from milvus_rag import FilterError, InvalidInputError, Record
from milvus_rag.client.filters import Dialect, compile_filter, evaluate
from milvus_rag.client.records import PRIVATE_KEY
from milvus_rag.integrations.llama_index.filters import metadata_filters_to_dict
from milvus_rag.integrations.llama_index.nodes import node_to_record, record_to_node
from tests.cases.filters import FILTER_ROWS

F = FilterOperator


def mf(*filters: MetadataFilter | MetadataFilters, condition: str = "and") -> MetadataFilters:
    return MetadataFilters(filters=list(filters), condition=FilterCondition(condition))


def leaf(key: str, value: object, op: FilterOperator = F.EQ) -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=op)


def rich_node() -> TextNode:
    return TextNode(
        id_="n1",
        text="Hello world, a chunk.",
        embedding=[0.5, 0.5],
        metadata={"source": "a.pdf", "page": 3, "tags": ["x"], "nested": {"a": 1}},
        relationships={
            NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc-1", metadata={"k": "v"}),
            NodeRelationship.PREVIOUS: RelatedNodeInfo(node_id="n0"),
            NodeRelationship.CHILD: [RelatedNodeInfo(node_id="c1"), RelatedNodeInfo(node_id="c2")],
        },
        start_char_idx=10,
        end_char_idx=31,
        excluded_embed_metadata_keys=["page"],
        excluded_llm_metadata_keys=["source"],
        metadata_template="{key}=>{value}",
        metadata_separator=" | ",
        text_template="META {metadata_str}\n\n{content}",
        mimetype="text/markdown",
    )


# --- nodes ------------------------------------------------------------------------------


def test_node_to_record_layout() -> None:
    rec = node_to_record(rich_node())
    assert (rec.id, rec.text, rec.doc_id, list(rec.vector)) == (
        "n1",
        "Hello world, a chunk.",
        "doc-1",
        [0.5, 0.5],
    )
    private = rec.metadata.pop(PRIVATE_KEY)
    assert rec.metadata == rich_node().metadata  # user metadata stored as is
    assert private["class"] == "TextNode"
    assert private["start"] == 10 and private["end"] == 31
    assert private["mimetype"] == "text/markdown"
    assert set(private["relationships"]) == {"1", "2", "5"}


def test_node_round_trip_is_exact() -> None:
    node = rich_node()
    back = record_to_node(node_to_record(node))
    assert type(back) is TextNode
    for attr in (
        "node_id",
        "text",
        "metadata",
        "ref_doc_id",
        "relationships",
        "start_char_idx",
        "end_char_idx",
        "excluded_embed_metadata_keys",
        "excluded_llm_metadata_keys",
        "metadata_template",
        "metadata_separator",
        "text_template",
        "mimetype",
        "embedding",
    ):
        assert getattr(back, attr) == getattr(node, attr), attr
    assert back.hash == node.hash
    from llama_index.core.schema import MetadataMode

    assert back.get_content(MetadataMode.LLM) == node.get_content(MetadataMode.LLM)
    assert back.get_content(MetadataMode.EMBED) == node.get_content(MetadataMode.EMBED)


def test_defaults_are_not_written() -> None:
    rec = node_to_record(TextNode(id_="a", text="t", embedding=[1.0]))
    assert rec.metadata == {PRIVATE_KEY: {"class": "TextNode"}} and rec.doc_id == ""


def test_document_and_index_node_round_trip() -> None:
    doc = Document(id_="d", text="a document", metadata={"m": 1}, embedding=[1.0, 0.0])
    back = record_to_node(node_to_record(doc))
    assert type(back) is Document and back.text == "a document" and back.metadata == {"m": 1}
    inode = IndexNode(id_="i", text="summary", index_id="other-index", embedding=[1.0])
    back2 = record_to_node(node_to_record(inode))
    assert type(back2) is IndexNode and back2.index_id == "other-index"


def test_row_without_private_key_is_a_plain_text_node() -> None:
    rec = Record(
        id="lc-1", text="from langchain", metadata={"doc_id": "D", "k": [1, 2]}, doc_id="D"
    )
    node = record_to_node(rec)
    assert type(node) is TextNode
    assert (node.node_id, node.text, node.metadata) == (
        "lc-1",
        "from langchain",
        {"doc_id": "D", "k": [1, 2]},
    )
    assert node.ref_doc_id == "D"
    assert record_to_node(Record(id="x", text="t")).ref_doc_id is None


def test_private_key_never_shown_and_reserved() -> None:
    rec = node_to_record(rich_node())
    assert PRIVATE_KEY not in record_to_node(rec).metadata
    with pytest.raises(InvalidInputError, match="reserved"):
        node_to_record(TextNode(text="t", metadata={PRIVATE_KEY: 1}, embedding=[1.0]))


# --- filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filters,expected",
    [
        (None, None),
        (mf(), None),
        (mf(leaf("a", 1)), {"a": {"$eq": 1}}),
        (mf(leaf("a", "x", F.NE)), {"a": {"$ne": "x"}}),
        (mf(leaf("a", None)), {"a": {"$exists": False}}),
        (mf(leaf("a", None, F.NE)), {"a": {"$exists": True}}),
        (
            mf(leaf("a", 2.5, F.GT), leaf("b", "k", F.LTE)),
            {"$and": [{"a": {"$gt": 2.5}}, {"b": {"$lte": "k"}}]},
        ),
        (
            mf(leaf("a", 1, F.GTE), leaf("a", 3, F.LT), condition="or"),
            {"$or": [{"a": {"$gte": 1}}, {"a": {"$lt": 3}}]},
        ),
        (mf(leaf("a", ["x", "y"], F.IN)), {"a": {"$in": ["x", "y"]}}),
        (mf(leaf("a", [1, 2], F.NIN)), {"a": {"$nin": [1, 2]}}),
        (mf(leaf("t", ["x"], F.ANY)), {"t": {"$any": ["x"]}}),
        (mf(leaf("t", ["x", "y"], F.ALL)), {"t": {"$all": ["x", "y"]}}),
        (mf(leaf("t", "x", F.CONTAINS)), {"t": {"$contains": "x"}}),
        (mf(leaf("t", None, F.IS_EMPTY)), {"t": {"$exists": False}}),
        (mf(leaf("a", 1), condition="not"), {"$not": {"a": {"$eq": 1}}}),
        (
            mf(leaf("a", 1), leaf("b", 2), condition="not"),
            {"$not": {"$or": [{"a": {"$eq": 1}}, {"b": {"$eq": 2}}]}},
        ),
        (
            mf(mf(leaf("a", 1), mf(leaf("b", 2), condition="not"), condition="or"), leaf("c", 3)),
            {
                "$and": [
                    {"$or": [{"a": {"$eq": 1}}, {"$not": {"b": {"$eq": 2}}}]},
                    {"c": {"$eq": 3}},
                ]
            },
        ),
        # empty nested groups are "no constraint", folded like LlamaIndex's reference filter
        (mf(mf(), leaf("a", 1)), {"a": {"$eq": 1}}),
        (mf(mf(), leaf("a", 1), condition="or"), None),
        (mf(mf(), condition="not"), {"id": {"$in": []}}),
    ],
)
def test_metadata_filters_to_dict(filters: MetadataFilters | None, expected: object) -> None:
    assert metadata_filters_to_dict(filters) == expected


@pytest.mark.parametrize(
    "bad,match",
    [
        (leaf("a", "x", F.TEXT_MATCH), "TEXT_MATCH.*EQ.*CONTAINS.*SPARSE"),
        (leaf("a", "x", F.TEXT_MATCH_INSENSITIVE), "TEXT_MATCH_INSENSITIVE"),
        (leaf("a", ["x"], F.EQ), "list is not a value"),
        (leaf("a", None, F.GT), "number or a str"),
        (leaf("a", "x", F.IN), "list of values"),
        (leaf("a", "x", F.ANY), "CONTAINS"),
        (leaf("a", ["x"], F.CONTAINS), "ANY / ALL"),
    ],
)
def test_inexpressible_filters_raise(bad: MetadataFilter, match: str) -> None:
    with pytest.raises(FilterError, match=match):
        metadata_filters_to_dict(mf(bad))
    with pytest.raises(FilterError):  # nested, and under NOT: never dropped
        metadata_filters_to_dict(mf(leaf("b", 1), mf(bad, condition="not"), condition="or"))


def test_invalid_keys_are_rejected_by_the_core() -> None:
    d = metadata_filters_to_dict(mf(leaf('a"] or 1==1', 1)))
    with pytest.raises(FilterError):
        compile_filter(d)


def test_is_empty_semantics() -> None:
    """IS_EMPTY: the key is missing or null; [] and "" are values (documented)."""
    d = metadata_filters_to_dict(mf(leaf("tags", None, F.IS_EMPTY)))
    got = {r["id"] for r in FILTER_ROWS if evaluate(d, r)}
    assert got == {r["id"] for r in FILTER_ROWS if r["metadata"].get("tags") is None}
    assert "r03" not in got  # tags == []
    with pytest.raises(FilterError, match=r"Milvus Lite 2\.5"):
        compile_filter(d, dialect=Dialect.LITE25)
    assert compile_filter(d, dialect=Dialect.MILVUS) == 'not exists metadata["tags"]'
