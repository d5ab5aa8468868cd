"""``wire.decode`` reads a search answer as pymilvus's ``SearchResult`` does (issue 27).

Answers are built as protobuf (``SearchResultData``) with every field type milvus-rag's
collections return (scalars, nullable scalars, JSON, nullable JSON, float vectors) and some
it does not decode itself (dynamic JSON, arrays, sparse vectors, nullable vectors): decode
gives exactly the rows pymilvus gives, or ``None`` (pymilvus then decodes)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pymilvus.client.search_result import SearchResult
from pymilvus.client.types import DataType
from pymilvus.grpc_gen import schema_pb2

from milvus_rag.client import wire

F32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
SCALARS: dict[DataType, tuple[str, Any]] = {
    DataType.VARCHAR: ("string_data", st.text(max_size=8)),
    DataType.INT64: ("long_data", st.integers(-(2**63), 2**63 - 1)),
    DataType.INT32: ("int_data", st.integers(-(2**31), 2**31 - 1)),
    DataType.INT8: ("int_data", st.integers(-128, 127)),
    DataType.BOOL: ("bool_data", st.booleans()),
    DataType.FLOAT: ("float_data", F32),
    DataType.DOUBLE: ("double_data", st.floats(allow_nan=False)),
}
JSONS = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=5),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
    max_leaves=6,
)
KINDS = [*[t.name for t in SCALARS], "JSON", "FLOAT_VECTOR", "DYNAMIC", "ARRAY", "SPARSE"]
DECODED_HERE = {*(t.name for t in SCALARS), "JSON", "FLOAT_VECTOR"}


@st.composite
def field(draw: st.DrawFn, name: str, n: int) -> tuple[schema_pb2.FieldData, bool]:
    """One column of ``n`` rows, and whether decode reads it itself."""
    kind = draw(st.sampled_from(KINDS))
    nullable = draw(st.booleans())
    valid = [draw(st.booleans()) for _ in range(n)] if nullable else []
    fd = schema_pb2.FieldData(field_name=name)
    if kind in {t.name for t in SCALARS}:
        t = DataType[kind]
        attr, values = SCALARS[t]
        fd.type = t
        getattr(fd.scalars, attr).data.extend(draw(st.lists(values, min_size=n, max_size=n)))
        fd.valid_data.extend(valid)
        return fd, True
    if kind in ("JSON", "DYNAMIC"):
        fd.type = DataType.JSON
        fd.is_dynamic = kind == "DYNAMIC"
        docs = draw(
            st.lists(
                st.dictionaries(st.text(max_size=4), JSONS, max_size=3), min_size=n, max_size=n
            )
        )
        fd.scalars.json_data.data.extend(
            [json.dumps(d).encode() if not valid or valid[i] else b"" for i, d in enumerate(docs)]
        )
        fd.valid_data.extend(valid)
        return fd, kind == "JSON"
    if kind == "FLOAT_VECTOR":
        fd.type = DataType.FLOAT_VECTOR
        fd.vectors.dim = 3
        rows = draw(st.sampled_from([n, n, n, max(n - 1, 0)]))  # a row without its vector
        fd.vectors.float_vector.data.extend(
            draw(st.lists(F32, min_size=3 * rows, max_size=3 * rows))
        )
        if nullable:  # nullable vectors are stored packed: pymilvus decodes them
            fd.valid_data.extend(valid)
        return fd, (not nullable or n == 0) and rows == n  # no rows: no null to pack
    if kind == "ARRAY":
        fd.type = DataType.ARRAY
        fd.scalars.array_data.element_type = DataType.INT64
        for _ in range(n):
            fd.scalars.array_data.data.add().long_data.data.extend(
                draw(st.lists(st.integers(-5, 5), max_size=3))
            )
        return fd, False
    fd.type = DataType.SPARSE_FLOAT_VECTOR
    fd.vectors.dim = 10
    fd.vectors.sparse_float_vector.dim = 10
    for _ in range(n):
        fd.vectors.sparse_float_vector.contents.append(b"")
    return fd, False


@st.composite
def answers(draw: st.DrawFn) -> tuple[schema_pb2.SearchResultData, bool]:
    topks = draw(st.lists(st.integers(0, 4), min_size=1, max_size=3))
    n = sum(topks)
    res = schema_pb2.SearchResultData(num_queries=len(topks), top_k=max(topks), topks=topks)
    res.scores.extend(draw(st.lists(F32, min_size=n, max_size=n)))
    if draw(st.booleans()):
        res.ids.str_id.data.extend([f"id{i}" for i in range(n)])
    else:
        res.ids.int_id.data.extend(list(range(100, 100 + n)))
    res.primary_field_name = draw(st.sampled_from(["", "id", "pk"]))
    here = True
    for j in range(draw(st.integers(0, 4))):
        fd, ours = draw(field(f"f{j}", n))
        res.fields_data.append(fd)
        res.output_fields.append(fd.field_name)
        here = here and ours
    return res, here


def pymilvus_rows(res: schema_pb2.SearchResultData) -> list[list[dict[str, Any]]]:
    return [[dict(h) for h in hits] for hits in SearchResult(res, -1)]


@settings(max_examples=300, deadline=None)
@given(answers())
def test_decode_reads_what_pymilvus_reads(answer: tuple[schema_pb2.SearchResultData, bool]) -> None:
    res, decoded_here = answer
    ours = wire.decode(res)
    if not decoded_here:
        assert ours is None  # pymilvus decodes it
        return
    assert ours == pymilvus_rows(res)
    as_arrays = wire.decode(res, arrays=True)
    assert as_arrays is not None
    for hits in as_arrays:
        for h in hits:
            for name, value in h["entity"].items():
                if isinstance(value, np.ndarray):
                    assert value.dtype == np.float32 and value.flags.writeable
                    h["entity"][name] = value.tolist()
    assert as_arrays == ours


def test_float_rows_reads_the_packed_encoding() -> None:
    vec = schema_pb2.VectorField(dim=3)
    assert wire.float_rows(vec.float_vector, 3) is None  # no rows
    values = np.arange(300, dtype=np.float32) / 7  # a length of two varint bytes
    vec.float_vector.data.extend(values.tolist())
    rows = wire.float_rows(vec.float_vector, 3)
    assert rows is not None and rows.shape == (100, 3)
    assert np.array_equal(rows.ravel(), values)
    assert wire.float_rows(vec.float_vector, 7) is None  # 300 cells are not rows of 7


def test_decode_keeps_types_and_order() -> None:
    res = schema_pb2.SearchResultData(num_queries=2, top_k=2, topks=[2, 1], primary_field_name="id")
    res.scores.extend([0.5, 0.25, 0.125])
    res.ids.str_id.data.extend(["a", "b", "c"])
    fd = res.fields_data.add(field_name="metadata", type=DataType.JSON)
    fd.scalars.json_data.data.extend([b'{"x": 1}', b'{"x": [2]}', b"{}"])
    vec = res.fields_data.add(field_name="dense", type=DataType.FLOAT_VECTOR)
    vec.vectors.dim = 2
    vec.vectors.float_vector.data.extend([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    assert wire.decode(res) == [
        [
            {"id": "a", "distance": 0.5, "entity": {"metadata": {"x": 1}, "dense": [1.0, 2.0]}},
            {"id": "b", "distance": 0.25, "entity": {"metadata": {"x": [2]}, "dense": [3.0, 4.0]}},
        ],
        [{"id": "c", "distance": 0.125, "entity": {"metadata": {}, "dense": [5.0, 6.0]}}],
    ]
