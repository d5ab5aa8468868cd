"""The grouping of a ranking into documents, and client-side deepening (pure, no Milvus)."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from milvus_rag import ConfigError, SearchRequest
from milvus_rag.client.grouping import (
    Grouping,
    check_grouping,
    deepen_groups,
    group_hits,
    group_key,
    settled,
)
from milvus_rag.client.records import Hit, Record


def _hits(docs: list[str]) -> list[Hit]:
    """A ranking: hit i (score decreasing) is a chunk of document docs[i]."""
    n = len(docs)
    return [
        Hit(f"c{i}", float(n - i), float(n - i), Record(f"c{i}", "t", doc_id=d))
        for i, d in enumerate(docs)
    ]


rankings = st.lists(st.sampled_from("abcdefg"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(rankings, st.integers(1, 5), st.integers(1, 4), st.booleans())
def test_groups_are_distinct_best_chunks_in_order(
    docs: list[str], k: int, size: int, strict: bool
) -> None:
    hits = _hits(docs)
    g = Grouping("doc_id", size, strict)
    out = group_hits(hits, g, k)
    # each group's hits are contiguous, in ranking order, and its best ones
    order = [h.record.doc_id for h in out]
    groups = list(dict.fromkeys(order))
    assert len(groups) <= k
    for d in groups:
        members = [h.id for h in out if h.record.doc_id == d]
        best = [h.id for h in hits if h.record.doc_id == d][:size]
        assert members == best
        first = order.index(d)
        assert order[first : first + len(members)] == [d] * len(members)
        if strict:
            assert len(members) == size
    # groups in the order of their best hit, the first k eligible ones
    eligible = [d for d in dict.fromkeys(docs) if not strict or docs.count(d) >= size]
    assert groups == eligible[:k]
    # k groups when enough exist
    assert len(groups) == min(k, len(eligible))


@settings(max_examples=100, deadline=None)
@given(rankings, st.integers(1, 4), st.integers(1, 3), st.booleans(), st.integers(1, 8))
def test_deepening_gives_the_groups_of_the_whole_ranking(
    docs: list[str], k: int, size: int, strict: bool, start: int
) -> None:
    hits = _hits(docs)
    g = Grouping("doc_id", size, strict)
    asked: list[int] = []

    async def fetch(n: int) -> list[Hit]:
        asked.append(n)
        return hits[:n]

    out = asyncio.run(deepen_groups(fetch, g, k, start=start))
    assert [h.id for h in out] == [h.id for h in group_hits(hits, g, k)]
    assert asked == sorted(asked)  # deeper each time


def test_settled_only_when_the_first_groups_are_full() -> None:
    g = Grouping("doc_id", 2)
    assert not settled(_hits(["a", "b", "b"]), g, 2)  # a has one chunk so far
    assert settled(_hits(["a", "b", "b", "a", "c"]), g, 2)
    assert not settled(_hits(["a", "a"]), g, 2)  # one group only


def test_group_key_reads_columns_and_metadata() -> None:
    r = Record("x", "t", metadata={"lang": "en", "src": {"kind": "pdf"}, "tags": ["a"]}, doc_id="d")
    assert group_key(r, "doc_id") == "d"
    assert group_key(r, "id") == "x"
    assert group_key(r, "lang") == "en"
    assert group_key(r, "src.kind") == "pdf"
    assert group_key(r, "tags") == '["a"]'
    assert group_key(r, "missing") is None


def test_request_grouping_defaults_and_errors() -> None:
    assert SearchRequest(text="q").grouping is None
    assert SearchRequest(text="q", group_by=True).grouping == Grouping("doc_id", 1, False)
    assert SearchRequest(text="q", group_size=3).grouping == Grouping("doc_id", 3, False)
    assert SearchRequest(text="q", group_by="lang", strict_group_size=True).grouping == Grouping(
        "lang", 1, True
    )
    for bad in (
        {"group_size": 0},
        {"group_size": True},
        {"group_by": ""},
        {"group_by": 3},
        {"strict_group_size": "yes"},
        {"group_by": False, "group_size": 2},
        {"k": 100, "group_size": 200},
    ):
        with pytest.raises(ConfigError):
            SearchRequest(text="q", **bad)  # type: ignore[arg-type]
    assert check_grouping(False, None, False, 4) is None
