"""Issue 27: a search's rows become LangChain Documents and LlamaIndex TextNodes without
pydantic validating them again (``integrations.models``). The invariant that rests on: the
object built is the one validation builds, field for field, in the same order, with the same
fields set, for every row (plain, llama-written with its private data, with a vector)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.documents import Document
from langchain_core.load import dumpd
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from pydantic import BaseModel, field_validator

from milvus_rag import ConfigError, Record
from milvus_rag.client.records import PRIVATE_KEY, public_metadata
from milvus_rag.integrations.langchain import documents
from milvus_rag.integrations.langchain.documents import record_to_document, records_to_documents
from milvus_rag.integrations.llama_index import nodes
from milvus_rag.integrations.llama_index.nodes import node_to_record, record_to_node
from milvus_rag.integrations.models import ModelBuilder, model_builder

scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=4)
)
json_value = st.recursive(
    scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
metadata = st.dictionaries(st.text(max_size=5), json_value, max_size=4)
ids = st.text(min_size=1, max_size=8)


def same(fast: BaseModel, validated: BaseModel) -> None:
    """Equal as pydantic sees them and as a user does: values, their order, the fields set,
    repr, dumps."""
    assert type(fast) is type(validated)
    assert fast == validated
    assert list(fast.__dict__) == list(validated.__dict__)
    assert fast.model_fields_set == validated.model_fields_set
    assert fast.__pydantic_extra__ == validated.__pydantic_extra__
    assert fast.__pydantic_private__ == validated.__pydantic_private__
    assert repr(fast) == repr(validated)
    assert fast.model_dump() == validated.model_dump()
    assert fast.model_dump(exclude_unset=True) == validated.model_dump(exclude_unset=True)


@settings(max_examples=200, deadline=None)
@given(ids, st.text(max_size=20), metadata, st.booleans())
def test_a_rows_document_is_the_validated_one(
    id: str, text: str, meta: dict[str, Any], private: bool
) -> None:
    stored = {**meta, PRIVATE_KEY: {"class": "TextNode"}} if private else meta
    doc = record_to_document(Record(id=id, text=text, metadata=stored))
    same(doc, Document(id=id, page_content=text, metadata=public_metadata(stored)))
    assert dumpd(doc) == dumpd(Document(id=id, page_content=text, metadata=meta))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(ids, st.text(max_size=8), metadata), max_size=5))
def test_a_searchs_documents_are_each_rows_document(rows: list[tuple[str, str, Any]]) -> None:
    records = [Record(id=i, text=t, metadata=m) for i, t, m in rows]
    many = records_to_documents(records)
    for fast, validated in zip(many, [record_to_document(r) for r in records], strict=True):
        same(fast, validated)
    assert len(many) == len(records)


def validated_node(record: Record, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as m:
        m.setattr(nodes, "_TEXT_NODE", None)  # every node validated by its class
        return record_to_node(record)


vectors = st.none() | st.lists(st.floats(-1, 1, width=32), min_size=1, max_size=4)


@settings(max_examples=200, deadline=None)
@given(ids, st.text(max_size=20), metadata, st.text(max_size=4), vectors)
def test_a_plain_rows_node_is_the_validated_one(
    id: str, text: str, meta: dict[str, Any], doc_id: str, vector: list[float] | None
) -> None:
    record = Record(id=id, text=text, metadata=meta, doc_id=doc_id, vector=vector)
    with pytest.MonkeyPatch.context() as mp:
        same(record_to_node(record), validated_node(record, mp))


@settings(max_examples=200, deadline=None)
@given(
    ids,
    st.text(max_size=20),
    metadata,
    st.none() | st.integers(0, 99),
    st.lists(st.text(max_size=3), max_size=2),
    st.sampled_from(["{key}: {value}", "{key}={value}"]),
    st.booleans(),
    vectors,
)
def test_a_llama_rows_node_is_the_validated_one(
    id: str,
    text: str,
    meta: dict[str, Any],
    start: int | None,
    excluded: list[str],
    template: str,
    source: bool,
    vector: list[float] | None,
) -> None:
    rels = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id="doc")} if source else {}
    node = TextNode(
        id_=id,
        text=text,
        metadata=meta,
        start_char_idx=start,
        excluded_llm_metadata_keys=excluded,
        metadata_template=template,
        relationships=rels,
        embedding=vector,
    )
    # as a search returns it: the metadata through JSON (the private data included)
    written = node_to_record(node)
    record = Record(
        id=written.id,
        text=written.text,
        metadata=json.loads(json.dumps(written.metadata)),
        doc_id=written.doc_id,
        vector=vector,
    )
    with pytest.MonkeyPatch.context() as mp:
        fast, validated = record_to_node(record), validated_node(record, mp)
    same(fast, validated)
    assert fast == node


def test_fast_objects_do_not_share_their_defaults() -> None:
    a = record_to_node(Record(id="a", text="x"))
    b = record_to_node(Record(id="b", text="y"))
    a.excluded_llm_metadata_keys.append("k")
    a.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id="d")
    assert b.excluded_llm_metadata_keys == [] and b.relationships == {}
    record = Record(id="c", text="z", metadata={"k": [1]})
    record_to_document(record).metadata["k2"] = 1
    record_to_node(record).metadata["k2"] = 1
    assert record.metadata == {"k": [1]}  # the row's own dict is not the object's


def test_a_value_of_another_type_is_validated_by_its_class() -> None:
    doc = record_to_document(Record(id=7, text="x"))  # type: ignore[arg-type]
    assert doc.id == "7"  # coerced by the class, as before
    with pytest.raises(ValueError):  # the class's own error: its keys are str
        record_to_node(Record(id="n", text="x", metadata={1: "a"}))  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        record_to_document(Record(id="a", text=None))  # type: ignore[arg-type]


def test_builders_are_refused_for_classes_that_validate_more() -> None:
    class Checked(BaseModel):
        name: str

        @field_validator("name")
        @classmethod
        def upper(cls, v: str) -> str:
            return v.upper()

    class Shared(BaseModel):
        tags: list[str] = []

    for cls in (Checked, Shared):
        with pytest.raises(ConfigError):
            ModelBuilder(cls)
        assert model_builder(cls) is None
    assert documents._DOCUMENT is not None and nodes._TEXT_NODE is not None  # both in use
