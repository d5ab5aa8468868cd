"""The Ray pipeline's pure parts: documents -> rows with content-hash ids, rows -> records,
the encoder spec, and the refusal of a Milvus Lite file (no Ray runtime is started here)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from milvus_rag import ConfigError, InvalidInputError
from milvus_rag.ingest import chunk_id
from milvus_rag.ray.rows import limits_for, prepare_documents, to_records
from milvus_rag.ray.spec import EncoderSpec


def batch(**columns: list[object]) -> dict[str, np.ndarray]:
    out = {}
    for name, values in columns.items():
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        out[name] = arr
    return out


def test_ids_are_the_cli_content_hash_of_doc_id_and_text() -> None:
    rows = prepare_documents(batch(text=["a b", "c"], doc_id=["d1", None]))
    assert list(rows["id"]) == [chunk_id("d1", "a b"), chunk_id("", "c")]
    assert list(rows["doc_id"]) == ["d1", ""]
    assert list(rows["metadata"]) == ["{}", "{}"]


def test_given_ids_are_kept_and_empty_ones_hashed() -> None:
    rows = prepare_documents(batch(text=["x", "y"], id=["mine", ""]))
    assert list(rows["id"]) == ["mine", chunk_id("", "y")]


def test_duplicates_in_a_batch_are_kept_once_the_last_wins() -> None:
    rows = prepare_documents(
        batch(text=["same", "other", "same"], metadata=['{"v": 1}', None, '{"v": 3}'])
    )
    assert len(rows["id"]) == 2
    by_id = dict(zip(rows["id"], rows["metadata"]))
    assert json.loads(by_id[chunk_id("", "same")]) == {"v": 3}


def test_metadata_as_json_string_or_dict_from_arrow_structs() -> None:
    struct_row = {"a": np.int64(1), "tags": np.array(["x", "y"]), "missing": None}
    rows = prepare_documents(batch(text=["p", "q"], metadata=['{"k": [1, 2]}', struct_row]))
    assert [json.loads(m) for m in rows["metadata"]] == [
        {"k": [1, 2]},
        {"a": 1, "tags": ["x", "y"]},
    ]


@pytest.mark.parametrize(
    ("docs", "expected"),
    [
        (batch(text=["ok", ""], id=["good", "bad-1"]), r"id='bad-1'.*text is empty"),
        (batch(text=["ok", "   "], doc_id=["d", "paper-7"]), r"doc_id='paper-7'.*text is empty"),
        (batch(text=["ok", None], id=["a", "b"]), r"id='b'.*text must be a str"),
        (batch(text=["ok", "t"], id=["a", "b"], metadata=[None, "[1, 2]"]), r"id='b'.*JSON object"),
        (batch(text=["ok", "t"], id=["a", "b"], metadata=[None, "oops"]), r"id='b'.*not JSON"),
        (batch(text=["ok", "t"], id=["a", "b"], metadata=[None, 7]), r"id='b'.*got int"),
        (batch(text=["ok", "x" * 70000], id=["a", "long"]), r"id='long'.*max_length"),
    ],
)
def test_a_bad_document_is_named(docs: dict[str, np.ndarray], expected: str) -> None:
    with pytest.raises(InvalidInputError, match=expected):
        prepare_documents(docs, limits_for(None))


def test_no_text_column_says_how_to_fix_it() -> None:
    with pytest.raises(ConfigError, match="rename_columns"):
        prepare_documents(batch(body=["x"]))


def test_empty_batches_give_empty_columns() -> None:
    rows = prepare_documents({})
    assert all(len(v) == 0 for v in rows.values()) and set(rows) >= {"id", "text"}
    assert to_records({}) == []


def test_rows_round_trip_to_records() -> None:
    rows = prepare_documents(batch(text=["t1"], doc_id=["d"], metadata=['{"n": 1}']))
    rows["vector"] = np.ones((1, 3), dtype=np.float32)
    (rec,) = to_records(rows)
    assert (rec.id, rec.text, rec.doc_id, rec.metadata) == (
        chunk_id("d", "t1"),
        "t1",
        "d",
        {"n": 1},
    )
    assert np.asarray(rec.vector).tolist() == [1.0, 1.0, 1.0]


def test_records_need_the_vector_column() -> None:
    rows = prepare_documents(batch(text=["t1"]))
    with pytest.raises(ConfigError, match="embed_documents"):
        to_records(rows)


texts = st.lists(st.text(min_size=1, max_size=30).filter(str.strip), min_size=1, max_size=30)


@given(texts, st.integers(min_value=1, max_value=30))
def test_ids_do_not_depend_on_how_documents_are_batched(docs: list[str], cut: int) -> None:
    doc_ids = [f"d{i % 3}" for i in range(len(docs))]
    whole = prepare_documents(batch(text=docs, doc_id=doc_ids))["id"]
    parts = [
        prepare_documents(batch(text=docs[i : i + cut], doc_id=doc_ids[i : i + cut]))["id"]
        for i in range(0, len(docs), cut)
    ]
    assert set(whole) == {i for p in parts for i in p}
    assert set(whole) == {chunk_id(d, t) for d, t in zip(doc_ids, docs)}


def test_encoder_spec_is_validated() -> None:
    with pytest.raises(ConfigError, match="module:callable"):
        EncoderSpec(factory="nocolon")
    with pytest.raises(ConfigError, match="not used with factory"):
        EncoderSpec(factory="tests.fakes:HashEncoder", device="cuda")
    with pytest.raises(ConfigError, match="batch_size"):
        EncoderSpec(batch_size=0)
    with pytest.raises(ConfigError, match="cannot be imported"):
        EncoderSpec(factory="tests.fakes:Nope").build()


def test_encoder_spec_builds_a_factory_encoder() -> None:
    enc = EncoderSpec(factory="tests.fakes:HashEncoder", options={"dim": 8}).build()
    assert enc.dim == 8 and enc.encode_documents(["a b"]).shape == (1, 8)


def test_a_milvus_lite_file_is_refused_before_any_ray_work(tmp_path: Path) -> None:
    import ray

    from milvus_rag.ray import MilvusDatasink, ingest_dataset

    db = str(tmp_path / "x.db")
    with pytest.raises(ConfigError, match="Milvus Lite file"):
        MilvusDatasink(db, collection_name="c")
    with pytest.raises(ConfigError, match="Milvus Lite file"):
        ingest_dataset(object(), db, collection_name="c")  # type: ignore[arg-type]
    assert not ray.is_initialized()


def test_ingest_dataset_refuses_a_sink_and_a_target_together() -> None:
    from milvus_rag.ray import MilvusDatasink, ingest_dataset

    sink = MilvusDatasink("http://127.0.0.1:1", collection_name="c")
    with pytest.raises(ConfigError, match="either sink="):
        ingest_dataset(object(), "http://127.0.0.1:1", sink=sink)  # type: ignore[arg-type]


def test_the_vector_dim_is_read_from_the_dataset_schema() -> None:
    import pyarrow as pa

    from milvus_rag.ray.sink import dim_of_schema

    assert dim_of_schema(pa.schema([("vector", pa.list_(pa.float32(), 5))])) == 5
    assert dim_of_schema(pa.schema([("vector", pa.list_(pa.float32()))])) is None
    assert dim_of_schema(pa.schema([("text", pa.string())])) is None
    assert dim_of_schema(None) is None  # Ray's tensor type: the integration tests


def test_a_milvus_rag_error_is_found_inside_ray_errors() -> None:
    from ray.exceptions import RayTaskError

    from milvus_rag.ray.pipeline import milvus_error_of

    cause = InvalidInputError("document id='x': text is empty")
    wrapped = RayTaskError("fn", "traceback", cause).as_instanceof_cause()
    try:
        raise RuntimeError("job failed") from wrapped
    except RuntimeError as outer:
        assert milvus_error_of(outer) is cause
    assert milvus_error_of(RuntimeError("other")) is None


def test_start_index_column_goes_into_metadata() -> None:
    """Chunks a Ray job writes can carry their position (what expansion reassembles from)."""
    rows = prepare_documents(
        {
            "text": np.array(["a b", "c d"], dtype=object),
            "doc_id": np.array(["d", "d"], dtype=object),
            "start_index": np.array([0, 4]),
        }
    )
    assert [json.loads(m)["start_index"] for m in rows["metadata"]] == [0, 4]
    with pytest.raises(InvalidInputError, match="start_index"):
        prepare_documents({"text": np.array(["x"], dtype=object), "start_index": np.array([-1])})
