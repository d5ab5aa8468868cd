"""The primary-key cursor of ``iterate`` (pure parts, and the page loop over a reference
query function that keeps Milvus's iterator contract: the smallest ids after the cursor)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from milvus_rag.client.errors import ConfigError
from milvus_rag.client.filters import Dialect
from milvus_rag.client.iterate import (
    ITERATOR_OPTIONS,
    MAX_BATCH,
    check_batch_size,
    next_cursor,
    page_filter,
    pages,
    session_ts,
)


class Page(list[dict[str, Any]]):
    """A result list with ``extra``, as pymilvus returns."""

    extra: dict[str, Any]


class Reference:
    """Rows by id; answers a page filter the way the iterator contract says."""

    def __init__(self, ids: Sequence[str], ts: int = 0) -> None:
        self.ids = sorted(set(ids))
        self.ts = ts
        self.calls: list[tuple[str, int, dict[str, Any]]] = []

    async def query(self, flt: str, limit: int, options: dict[str, Any]) -> Page:
        self.calls.append((flt, limit, options))
        m = re.match(r'^id > ("(?:[^"\\]|\\.)*")', flt)
        after = json.loads(m.group(1)) if m else None
        rows = [i for i in self.ids if after is None or i > after][:limit]
        page = Page({"id": i} for i in rows)
        page.extra = {"iterator_session_ts": self.ts}
        return page


def walk(ref: Reference, batch_size: int, expr: str | None = None) -> list[list[str]]:
    async def run() -> list[list[str]]:
        out = []
        async for page in pages(ref.query, expr=expr, id_field="id", batch_size=batch_size):
            out.append([str(r["id"]) for r in page])
        return out

    return asyncio.run(run())


def test_page_filter_puts_the_cursor_first_and_escapes_it() -> None:
    assert page_filter(None, "id", None) == ""
    assert page_filter("x == 1", "id", None) == "x == 1"
    assert page_filter(None, "pk", "a") == 'pk > "a"'
    assert page_filter("x == 1", "id", 'a"b\\c') == 'id > "a\\"b\\\\c" and (x == 1)'
    assert page_filter(None, "id", "a", Dialect.LITE25).startswith("id > ")


def test_batch_size_bounds() -> None:
    assert check_batch_size(1) == 1 and check_batch_size(MAX_BATCH) == MAX_BATCH
    for bad in (0, MAX_BATCH + 1, 1.5, True, "10"):
        with pytest.raises(ConfigError, match="batch_size"):
            check_batch_size(bad)


def test_cursor_is_the_largest_id_of_the_page() -> None:
    rows: list[Mapping[str, Any]] = [{"id": "b"}, {"id": "c"}, {"id": "a"}]
    assert next_cursor(rows, "id") == "c"


def test_session_ts_is_read_from_the_result_extra() -> None:
    page = Page()
    page.extra = {"iterator_session_ts": 42}
    assert session_ts(page) == 42
    page.extra = {}
    assert session_ts(page) == 0
    assert session_ts([]) == 0


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(
        st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=6)
        | st.sampled_from(['a"b', "a\\b", "x\ny"]),
        max_size=120,
    ),
    batch_size=st.integers(1, 50),
)
def test_every_id_once_in_order(ids: list[str], batch_size: int) -> None:
    ref = Reference(ids)
    got = [i for page in walk(ref, batch_size) for i in page]
    assert got == sorted(set(ids))
    assert all(len(p) <= batch_size for p in walk(Reference(ids), batch_size))


def test_iterator_options_every_page_and_the_snapshot_after_the_first() -> None:
    ref = Reference([f"{i:03d}" for i in range(7)], ts=99)
    assert [len(p) for p in walk(ref, 3, expr="k == 1")] == [3, 3, 1]
    assert len(ref.calls) == 4  # ends on the first empty page
    first, *later = ref.calls
    assert first[0] == "k == 1" and first[2] == dict(ITERATOR_OPTIONS)
    for flt, limit, options in later:
        assert flt.endswith(" and (k == 1)") and limit == 3
        assert options == {**ITERATOR_OPTIONS, "guarantee_timestamp": 99}


def test_no_snapshot_where_the_backend_reports_no_session_ts() -> None:
    ref = Reference(["a", "b", "c"], ts=0)
    walk(ref, 2)
    assert all("guarantee_timestamp" not in options for _, _, options in ref.calls)


def test_a_short_page_does_not_end_the_walk() -> None:
    class Short(Reference):
        async def query(self, flt: str, limit: int, options: dict[str, Any]) -> Page:
            page = await super().query(flt, limit, options)
            return Page(page[:1]) if page else page  # reduce_stop_for_best may answer fewer

    got = [i for p in walk(Short(["a", "b", "c", "d"]), 3) for i in p]
    assert got == ["a", "b", "c", "d"]


class IntReference:
    """An INT64 key: the page filter must carry an int literal, answered in int order."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = sorted(set(ids))

    async def query(self, flt: str, limit: int, options: dict[str, Any]) -> Page:
        m = re.match(r"^pk > (-?\d+)$", flt)
        assert flt == "" or m, f"not an int cursor: {flt!r}"
        after = int(m.group(1)) if m else None
        page = Page({"pk": i} for i in self.ids if after is None or i > after)
        del page[limit:]
        page.extra = {}
        return page


@settings(max_examples=40, deadline=None)
@given(
    ids=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=80)
    | st.just([9, 10, 11, 99, 100, 470852629289762816]),
    batch_size=st.integers(1, 20),
)
def test_an_int64_key_pages_by_value_with_int_literals(ids: list[int], batch_size: int) -> None:
    ref = IntReference(ids)

    async def run() -> list[int]:
        out: list[int] = []
        async for page in pages(
            ref.query, expr=None, id_field="pk", batch_size=batch_size, id_type="int64"
        ):
            out.extend(int(r["pk"]) for r in page)
        return out

    assert asyncio.run(run()) == sorted(set(ids))
    assert page_filter("x == 1", "pk", "10", id_type="int64") == "pk > 10 and (x == 1)"
    assert next_cursor([{"pk": 9}, {"pk": 10}], "pk", "int64") == "10"  # "9" > "10" as text


@settings(max_examples=60, deadline=None)
@given(
    ids=st.lists(st.text('abc"\\', min_size=1, max_size=4), max_size=60),
    after=st.text('abc"\\', max_size=4),
    batch_size=st.integers(1, 20),
)
def test_a_walk_resumed_after_an_id_returns_exactly_the_greater_ids(
    ids: list[str], after: str, batch_size: int
) -> None:
    ref = Reference(ids)

    async def run() -> list[str]:
        got: list[str] = []
        async for page in pages(
            ref.query, expr=None, id_field="id", batch_size=batch_size, after=after
        ):
            got.extend(str(r["id"]) for r in page)
        return got

    assert asyncio.run(run()) == [i for i in sorted(set(ids)) if i > after]
    if ref.calls:  # the cursor is on the first request already
        assert ref.calls[0][0] == page_filter(None, "id", after)
