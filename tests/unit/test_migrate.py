"""The pure parts of ``milvus-rag migrate``: which rows of a page still need writing, the
target's settings, the stats and their count check, and the command line."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from milvus_rag.cli.parser import build_parser
from milvus_rag.client.records import Record
from milvus_rag.client.schema import CollectionInfo
from milvus_rag.transfer.migrate import (
    MigrateStats,
    plan_page,
    resolve_endpoints,
    same_record,
    same_vector,
    target_options,
)


def rec(i: int, **kw: Any) -> Record:
    base: dict[str, Any] = {
        "id": f"r{i}",
        "text": f"text {i}",
        "vector": [float(i), 1.0],
        "metadata": {"i": i, "tags": ["a"]},
        "doc_id": "",
    }
    base.update(kw)
    return Record(**base)


@pytest.mark.parametrize(
    "change",
    [
        {"text": "other"},
        {"metadata": {"i": 0, "tags": ["b"]}},
        {"metadata": {}},
        {"doc_id": "d"},
        {"vector": [0.0, 1.5]},
        {"vector": [0.0, 1.0, 0.0]},
        {"vector": None},
    ],
)
def test_a_row_that_differs_in_anything_is_written_again(change: dict[str, Any]) -> None:
    old = rec(0)
    assert not same_record(old, rec(0, **change))
    assert plan_page([old], [rec(0, **change)]) == [old]


def test_equal_content_is_skipped_whatever_the_key_order_or_array_type() -> None:
    a = rec(1, metadata={"a": 1, "b": {"x": [1, 2]}}, vector=np.array([1.0, 2.0]))
    b = rec(1, metadata={"b": {"x": [1, 2]}, "a": 1}, vector=[1.0, 2.0])
    assert same_record(a, b)
    assert plan_page([a], [b]) == []
    # float32 is what Milvus stores: a float64 that rounds to the same float32 is equal
    assert same_vector([0.1], np.float32([0.1]))
    assert not same_vector([0.1], [0.2])
    assert same_vector(None, None) and not same_vector(None, [0.0])


def test_missing_rows_are_written_in_page_order() -> None:
    page = [rec(i) for i in range(5)]
    assert [r.id for r in plan_page(page, [rec(1), rec(3)])] == ["r0", "r2", "r4"]
    assert plan_page(page, []) == page
    assert plan_page([], [rec(0)]) == []


@given(
    st.lists(st.integers(0, 30), unique=True, max_size=20),
    st.lists(st.integers(0, 30), unique=True, max_size=20),
    st.lists(st.integers(0, 30), max_size=5),
)
def test_after_writing_the_plan_a_second_plan_is_empty(
    source_ids: list[int], held_ids: list[int], stale: list[int]
) -> None:
    """The resume invariant: what the plan leaves out is already equal in the target, so
    writing the plan makes the target hold the page, and planning again writes nothing."""
    page = [rec(i) for i in source_ids]
    target = {f"r{i}": rec(i, text="stale") if i in stale else rec(i) for i in held_ids}
    todo = plan_page(page, target.values())
    assert all(r.id not in target or not same_record(r, target[r.id]) for r in todo)
    skipped = [r for r in page if r not in todo]
    assert all(same_record(r, target[r.id]) for r in skipped)
    target.update({r.id: r for r in todo})
    assert plan_page(page, target.values()) == []


def info(**kw: Any) -> CollectionInfo:
    base: dict[str, Any] = {
        "name": "c",
        "dim": 8,
        "metric": "IP",
        "has_bm25": False,
        "field_names": ("pk", "text", "vector"),
        "text_max_length": 65535,
        "id_max_length": 65535,
    }
    base.update(kw)
    return CollectionInfo(**base)


def test_target_takes_the_source_dim_metric_and_an_id_length_that_fits() -> None:
    assert target_options(info()) == {"dim": 8, "metric": "IP", "id_max_length": 65535}
    assert target_options(info(id_max_length=64, metric="L2"))["id_max_length"] == 512


def test_stats_count_check() -> None:
    s = MigrateStats(read=3, written=1, unchanged=2, source_count=3, target_count=3)
    assert s.counts_match
    assert "1 written, 2 already there" in s.summary() and "differ" not in s.summary()
    bad = MigrateStats(read=3, written=3, source_count=3, target_count=4)
    assert not bad.counts_match and "the counts differ" in bad.summary()
    assert not MigrateStats().counts_match  # nothing counted yet: not a match


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["migrate", *argv])


def test_parser_requires_from_and_to() -> None:
    with pytest.raises(SystemExit):
        parse("--from", "a")
    args = parse("--from", "a", "--to", "b", "--uri", "x.db", "--batch-size", "50")
    assert (args.from_name, args.to_name, args.uri, args.to_uri) == ("a", "b", "x.db", None)
    assert args.batch_size == 50 and not args.no_progress


def test_endpoints_default_to_the_source_and_tokens_do_not_leak_to_another_uri(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MILVUS_URI", raising=False)
    monkeypatch.setenv("MILVUS_TOKEN", "secret")
    args = parse("--from", "a", "--to", "b", "--uri", "http://h:19530")
    assert resolve_endpoints(args) == ("http://h:19530", "secret", "http://h:19530", "secret")
    other = parse("--from", "a", "--to", "b", "--uri", "http://h:19530", "--to-uri", "http://o:1")
    assert resolve_endpoints(other)[3] == ""  # another server gets no token unless given
    local = parse("--from", "a", "--to", "b", "--uri", "http://h:19530", "--to-uri", "n.db")
    assert resolve_endpoints(local)[2:] == ("n.db", "")
    given_token = parse("--from", "a", "--to", "b", "--to-uri", "http://o:1", "--to-token", "t")
    assert resolve_endpoints(given_token)[3] == "t"
