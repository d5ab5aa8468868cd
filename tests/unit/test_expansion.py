"""Reassembling a document from its chunks' positions, and windows around a hit (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from milvus_rag import ConfigError
from milvus_rag.client.expansion import expand_hit, position, reassemble
from milvus_rag.client.records import PRIVATE_KEY, Record


@st.composite
def chunked(draw: st.DrawFn) -> tuple[str, list[Record]]:
    """A document and a random chunking of it that covers it, chunks overlapping by a random
    amount (at most the chunk), shuffled."""
    doc = draw(st.text(min_size=1, max_size=300))
    chunks: list[Record] = []
    start = 0
    while True:
        size = draw(st.integers(1, 40))
        end = min(len(doc), start + size)
        chunks.append(Record(f"c{start}", doc[start:end], metadata={"start_index": start}))
        if end == len(doc):
            break
        overlap = draw(st.integers(0, end - start - 1))
        start = end - overlap
    return doc, draw(st.permutations(chunks))


@settings(max_examples=300, deadline=None)
@given(chunked())
def test_reassembles_a_document_exactly(case: tuple[str, list[Record]]) -> None:
    doc, chunks = case
    assert reassemble(chunks) == doc
    hit = chunks[len(chunks) // 2]
    whole = expand_hit(hit, chunks, window=None)
    assert whole.text == doc
    a, b = whole.span
    assert whole.text[a:b] == hit.text  # the matched chunk is marked where it is


@settings(max_examples=200, deadline=None)
@given(chunked(), st.integers(0, 3))
def test_window_is_a_contiguous_slice_of_the_document(
    case: tuple[str, list[Record]], window: int
) -> None:
    doc, chunks = case
    ordered = sorted(chunks, key=lambda c: c.metadata["start_index"])
    for i, hit in enumerate(ordered):
        e = expand_hit(hit, chunks, window=window)
        assert [c.id for c in e.chunks] == [
            c.id for c in ordered[max(0, i - window) : i + window + 1]
        ]
        first = e.chunks[0].metadata["start_index"]
        assert doc[first : first + len(e.text)] == e.text
        a, b = e.span
        assert e.text[a:b] == hit.text
        assert e.matched == hit.id


def test_positions_from_every_writer() -> None:
    assert position(Record("a", "t", metadata={"start_index": 5})) == ("start", 5)
    assert position(Record("a", "t", metadata={PRIVATE_KEY: {"start": 7}})) == ("start", 7)
    assert position(Record("a", "t", metadata={"chunk_index": 2})) == ("rank", 2)
    assert position(Record("a", "t", metadata={"start_index": -1})) is None
    assert position(Record("a", "t")) is None


def test_ranks_join_with_newlines_and_gaps_with_a_space() -> None:
    by_rank = [Record(str(i), t, metadata={"chunk_index": i}) for i, t in enumerate("xyz")]
    assert reassemble(by_rank[::-1]) == "x\ny\nz"
    gap = [
        Record("a", "ab", metadata={"start_index": 0}),
        Record("b", "de", metadata={"start_index": 3}),
    ]
    assert reassemble(gap) == "ab de"


def test_refuses_chunks_without_positions() -> None:
    with pytest.raises(ConfigError, match="no position"):
        reassemble([Record("a", "t"), Record("b", "u", metadata={"start_index": 1})])
    mixed = [
        Record("a", "t", metadata={"start_index": 0}),
        Record("b", "u", metadata={"chunk_index": 1}),
    ]
    with pytest.raises(ConfigError, match="mix"):
        reassemble(mixed)
    with pytest.raises(ConfigError, match="window"):
        expand_hit(mixed[0], mixed, window=-1)
