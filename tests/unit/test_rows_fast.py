"""Issue 27: search hits are built in bulk, and a collection whose metadata is its JSON field
alone takes each row's decoded metadata as it is. The invariant that rests on: whichever way
a row is read, its Record is the one :class:`RecordReader` makes of it, for every layout."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymilvus.client.search_result import Hit as PymilvusHit

from milvus_rag import CollectionConfig
from milvus_rag.client import rows
from milvus_rag.client.typed_fields import NULLS_KEY

CONFIGS = {
    "plain": CollectionConfig(dim=2),
    "no doc_id": CollectionConfig(dim=2, doc_id_field=None),
    "typed": CollectionConfig(dim=2, metadata_fields={"year": "int64"}),
    "tenant": CollectionConfig(dim=2, tenant_field="tenant"),
    "dynamic": CollectionConfig(dim=2, metadata_field=None, dynamic_field=True),
    "int64 ids": CollectionConfig(dim=2, id_type="int64"),
}

scalar = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=4))
metadata = st.dictionaries(st.sampled_from(["a", "b", "year", NULLS_KEY]), scalar, max_size=3)


@st.composite
def entities(draw: Any) -> dict[str, Any]:
    e: dict[str, Any] = {"text": draw(st.one_of(st.none(), st.text(max_size=5)))}
    if draw(st.booleans()):  # the id comes in the entity, or only beside it
        e["id"] = draw(st.one_of(st.text(max_size=4), st.integers(0, 99)))
    e["doc_id"] = draw(st.one_of(st.none(), st.text(max_size=3)))
    e["metadata"] = draw(st.one_of(metadata, st.none(), st.integers()))
    e["year"] = draw(st.one_of(st.none(), st.integers(0, 3000)))
    e["tenant"] = draw(st.one_of(st.none(), st.sampled_from(["t1", "t2"])))
    e["dense"] = draw(st.one_of(st.none(), st.just([0.6, 0.8])))
    return e


def _expected(cfg: CollectionConfig, hit: dict[str, Any], keep: bool) -> Any:
    entity = dict(hit["entity"])
    entity.setdefault(cfg.id_field, hit["id"])
    return rows.RecordReader(cfg).record(entity, vectors=keep)


@pytest.mark.parametrize("name", list(CONFIGS))
@settings(max_examples=60, deadline=None)
@given(ents=st.lists(entities(), max_size=4), keep=st.booleans(), wrap=st.booleans())
def test_hits_records_are_the_readers(
    name: str, ents: list[dict[str, Any]], keep: bool, wrap: bool
) -> None:
    cfg = CONFIGS[name]
    hits = [{"id": f"h{i}", "distance": 0.5 - i / 10, "entity": e} for i, e in enumerate(ents)]
    expected = [_expected(cfg, h, keep) for h in hits]
    # pymilvus's own hit type (a dict with a Python get()) as well as plain dicts
    result = [[PymilvusHit(h, pk_name="id") for h in hits]] if wrap else [hits]
    got = rows.Rows(cfg, result, keep)
    assert got.records == expected
    assert got.distances == [h["distance"] for h in hits]
    assert got.vectors == [h["entity"].get("dense") for h in hits]
    dense = rows.dense_hits(cfg, result, keep)
    assert [h.record for h in dense] == expected
    assert [h.id for h in dense] == [r.id for r in expected]


def test_plain_metadata_is_taken_not_copied_and_nulls_key_never_shown() -> None:
    """The plain layout's metadata dict is the row's own (no copy per hit); a row whose JSON
    records typed nulls goes through the reader, which drops the bookkeeping key."""
    cfg = CONFIGS["plain"]
    meta = {"a": 1}
    got = rows.Rows(cfg, [[{"id": "x", "distance": 1.0, "entity": {"metadata": meta}}]])
    assert got.records[0].metadata is meta
    nulls = {"a": 1, NULLS_KEY: {"year": True}}
    got = rows.Rows(cfg, [[{"id": "x", "distance": 1.0, "entity": {"metadata": nulls}}]])
    assert got.records[0].metadata == {"a": 1}
    assert rows.Rows(cfg, []).records == [] and rows.Rows(cfg, [[]]).records == []
