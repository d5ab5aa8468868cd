"""The export file format (pure): rows to JSON lines and back, headers, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from milvus_rag.client.errors import InvalidInputError
from milvus_rag.client.records import Record
from milvus_rag.transfer.jsonl import HEADER_KEY, batched, parse_line, read_lines, record_to_line

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    rid=st.text(min_size=1, max_size=20),
    text=st.text(max_size=50),
    doc_id=st.text(max_size=10),
    metadata=st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    vector=st.lists(st.floats(-1e6, 1e6, width=32), min_size=1, max_size=6),
)
def test_a_row_survives_the_round_trip(
    rid: str, text: str, doc_id: str, metadata: dict[str, object], vector: list[float]
) -> None:
    rec = Record(id=rid, text=text, vector=vector, metadata=metadata, doc_id=doc_id)
    back = parse_line(record_to_line(rec, with_vectors=True), 1)
    assert (back.id, back.text, back.doc_id, back.metadata) == (rid, text, doc_id, metadata)
    assert np.array_equal(np.asarray(back.vector, np.float32), np.asarray(vector, np.float32))
    plain = parse_line(record_to_line(rec, with_vectors=False), 1)
    assert plain.vector is None and plain.metadata == metadata


def test_header_is_optional_and_blank_lines_are_skipped() -> None:
    row = json.dumps({"id": "a", "text": "t"})
    header, rows = read_lines([json.dumps({HEADER_KEY: 1, "dim": 4}), "", row])
    assert header == {HEADER_KEY: 1, "dim": 4} and [r.id for r in rows] == ["a"]
    header, rows = read_lines(["\n", row, row.replace('"a"', '"b"')])
    assert header is None and [r.id for r in rows] == ["a", "b"]
    assert read_lines([])[0] is None


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("not json", "line 3: not JSON"),
        ("[1]", "line 3: expected a JSON object"),
        ('{"id": 1, "text": "t"}', "line 3: 'id' and 'text' must be strings"),
        ('{"id": "a", "text": "t", "extra": 1}', "unknown key(s) ['extra']"),
        ('{"id": "a", "text": "t", "metadata": []}', "'metadata' must be an object"),
        ('{"id": "a", "text": "t", "vector": ["x"]}', "'vector' must be a list of numbers"),
    ],
)
def test_bad_lines_name_the_line(line: str, error: str) -> None:
    with pytest.raises(InvalidInputError) as e:
        parse_line(line, 3)
    assert error in str(e.value)


def test_unknown_format_version_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="format version 2"):
        read_lines([json.dumps({HEADER_KEY: 2})])


def test_exporting_vectors_needs_them() -> None:
    with pytest.raises(InvalidInputError, match="no vector"):
        record_to_line(Record(id="a", text="t"), with_vectors=True)


def test_batched() -> None:
    recs = [Record(id=str(i), text="t") for i in range(5)]
    assert [len(b) for b in batched(recs, 2)] == [2, 2, 1]
